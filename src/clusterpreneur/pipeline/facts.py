"""The numbers the paper's sentences quote, gathered from the steps' artefacts.

The report's templates write the sentences; this module only collects what they need, as plain
dictionaries (no text is assembled here beyond names).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clusterpreneur.pipeline.exhibits import Sources
from clusterpreneur.pipeline.steps.hypotheses import TAKEOFF


def data_facts(src: Sources) -> dict[str, Any]:
    source = src.json("data", "source.json") or {}
    data = src.summary("data")
    desc = src.summary("descriptives")
    n = data.get("initiatives", 0)
    return {
        **source,
        "sha256_short": (source.get("sha256") or "")[:12],
        "n": n,
        "regions": data.get("regions"),
        "countries": data.get("countries"),
        "peripheral": desc.get("peripheral"),
        "core": n - desc["peripheral"] if "peripheral" in desc else None,
        "takeoff_share": desc.get("takeoff_share"),
        "variables_with_missing": desc.get("variables_with_missing", 0),
        "cells_missing": desc.get("cells_missing", 0),
    }


def unit_text(scale: str) -> str:
    """The original-scale unit of a hypothesis row in words ("actor type x peripheral (0/1)")."""
    from clusterpreneur.study.predictors import TERM_LABELS, UNITS

    parts = []
    for piece in scale.split(" per ", 1)[-1].split(" x "):
        if piece.startswith("unit of "):
            c = piece.removeprefix("unit of ")
            parts.append(UNITS.get(c, TERM_LABELS.get(c, c)))
        elif piece.startswith("SD of latent"):
            parts.append("SD of the latent trait")
        elif piece.endswith(" (0/1)"):
            c = piece.removesuffix(" (0/1)")
            parts.append(f"{TERM_LABELS.get(c, c)} (0/1)")
        else:
            parts.append(piece)
    return " × ".join(parts)


def where_text(term: str, table: pd.DataFrame) -> str:
    """Where the coefficient of a main effect applies, when it also enters an interaction with a
    0/1 component of ``table`` (0/1 components are not centred): "in non-peripheral regions"."""
    from clusterpreneur.study.predictors import AT_ZERO, term_label

    if ":" in term:
        return ""
    places = []
    for name, scale in zip(table["term"], table["scale"], strict=True):
        parts = name.split(":")
        if term not in parts or len(parts) == 1:
            continue
        for other in parts:
            if other != term and f"{other} (0/1)" in str(scale):
                places.append(AT_ZERO.get(other, f"where {term_label(other)} is 0"))
    return " and ".join(dict.fromkeys(places))


def _truth(src: Sources) -> dict[str, float]:
    truth = src.json("data", "truth.json") or {}
    return truth.get("params", {}).get("coefficients", {})


def hypothesis_facts(src: Sources) -> dict[str, Any]:
    """Per hypothesis under the reference model (take-off): verdict and evidence per term; the
    verdicts of the other models; the simulation's true values when the data are simulated."""
    from clusterpreneur.study.predictors import HYPOTHESES, term_label

    table = src.csv("hypotheses", "hypotheses.csv")
    answers = src.csv("hypotheses", "answers.csv")
    ref = src.reference
    out: dict[str, Any] = {"reference": ref, "items": [], "models": [], "reportable": False}
    if table is None or table.empty or ref is None or not src.reportable(ref):
        return out
    out["reportable"] = True
    truth = _truth(src)
    take = table[table["outcome"] == TAKEOFF]
    out["models"] = list(dict.fromkeys(take["model"]))
    ref_rows = take[take["model"] == ref]
    for hyp, g in ref_rows.groupby("hypothesis", sort=True):
        short, claim = HYPOTHESES.get(hyp, (hyp, ""))
        ans = answers[
            (answers["model"] == ref) & (answers["hypothesis"] == hyp) & (answers["outcome"] == TAKEOFF)
        ]
        others = answers[
            (answers["hypothesis"] == hyp) & (answers["outcome"] == TAKEOFF) & (answers["model"] != ref)
        ]
        ratings = answers[(answers["hypothesis"] == hyp) & (answers["outcome"] != TAKEOFF)]
        verdict = ans["verdict"].iloc[0] if len(ans) else ""
        out["items"].append(
            {
                "id": hyp,
                "short": short,
                "claim": claim,
                "verdict": verdict,
                "terms": [
                    {
                        "term": r["term"],
                        "label": term_label(r["term"]),
                        "where": where_text(r["term"], ref_rows),
                        "positive": r["expected_sign"] == "+",
                        "prob": r["prob_direction"],
                        "median_std": r["median_std"],
                        "lower_std": r["ci_lower_std"],
                        "upper_std": r["ci_upper_std"],
                        "median": r["median"],
                        "lower": r["ci_lower"],
                        "upper": r["ci_upper"],
                        "unit": unit_text(str(r["scale"])),
                        # every component 0/1: never standardised, one scale (per unit)
                        "unscaled": all(p.endswith("(0/1)") for p in unit_text(str(r["scale"])).split(" × ")),
                        "verdict": r["verdict"],
                        "truth": truth.get(r["term"]),
                    }
                    for _, r in g.iterrows()
                ],
                "same": [m for m, v in zip(others["model"], others["verdict"], strict=True) if v == verdict],
                "different": [
                    {"model": m, "verdict": v}
                    for m, v in zip(others["model"], others["verdict"], strict=True)
                    if v != verdict
                ],
                "ratings": [
                    {"outcome": o, "verdict": v}
                    for o, v in zip(ratings["outcome"], ratings["verdict"], strict=True)
                ],
            }
        )
    counts = pd.Series([i["verdict"] for i in out["items"]]).value_counts()
    out["counts"] = {k: int(v) for k, v in counts.items()}
    return out


def forest_facts(src: Sources) -> dict[str, Any]:
    t = src.csv("forest", "forest.csv")
    if t is None or t.empty:
        return {}
    groups = list(dict.fromkeys(t["group"]))
    if len(groups) < 2:
        return {}
    a = t[t["group"] == groups[0]].set_index("term")
    b = t[t["group"] == groups[1]].set_index("term")
    common = a.index.intersection(b.index)
    same = int((np.sign(a.loc[common, "estimate"]) == np.sign(b.loc[common, "estimate"])).sum())
    wa = (a.loc[common, "upper"] - a.loc[common, "lower"]).to_numpy()
    wb = (b.loc[common, "upper"] - b.loc[common, "lower"]).to_numpy()
    return {
        "bayes": groups[0],
        "classical": groups[1],
        "terms": len(common),
        "same_sign": same,
        "width_ratio": float(np.median(wa / wb)) if len(common) else None,
    }


def comparison_facts(src: Sources) -> dict[str, Any]:
    t = src.csv("comparison", "comparison.csv")
    if t is None or "elpd" not in t or t["elpd"].isna().all():
        return {}
    t = t.dropna(subset=["elpd"]).sort_values("elpd", ascending=False)
    best = t.iloc[0]
    rows = [
        {"model": r["model"], "diff": r.get("elpd_diff"), "dse": r.get("dse"), "weight": r.get("weight")}
        for _, r in t.iloc[1:].iterrows()
    ]
    close = [r["model"] for r in rows if pd.notna(r["dse"]) and abs(r["diff"]) < 2 * r["dse"]]
    return {
        "best": best["model"],
        "best_weight": best.get("weight"),
        "others": rows,
        "close": close,
        "n": len(t),
    }


def case_facts(src: Sources) -> dict[str, Any]:
    t = src.csv("cases", "cases.csv")
    ref = src.reference
    if t is None or t.empty or ref is None or not src.reportable(ref):
        return {}
    coded = t[t["scenario"] == "as coded"]
    scen = t[t["scenario"] != "as coded"].sort_values("diff_mean", ascending=False)
    return {
        "model": ref,
        "coded": coded.to_dict("records"),
        "scenarios": scen.to_dict("records"),
        "case": scen["case"].iloc[0] if len(scen) else None,
    }


def diagnostics_facts(src: Sources) -> dict[str, Any]:
    out: dict[str, Any] = {"failed": [], "high_k": [], "sensitivity": {}}
    for m in src.models:
        s = src.json(f"diagnostics:{m}", "summary.json")
        if s is None:
            continue
        if not s.get("passed"):
            out["failed"].append({"model": m, "checks": s.get("failed_checks", [])})
        loo = src.csv(f"diagnostics:{m}", "loo.csv")
        if loo is not None and len(loo):
            share = float(loo["n_high_k"].sum() / loo["n"].sum())
            if share > 0:
                out["high_k"].append({"model": m, "share": share, "count": int(loo["n_high_k"].sum())})
        sens = src.csv(f"diagnostics:{m}", "sensitivity.csv")
        if sens is not None and len(sens):
            out["sensitivity"][m] = {
                "parameters": len(sens),
                "flagged": int(sens["prior_data_conflict"].sum()),
                "in_tail": int((sens["prior_data_conflict"] & (sens["prior_z"].abs() >= 2)).sum()),
                "weak": int(sens["weak_likelihood"].sum()),
                "contraction": float(sens["contraction"].median())
                if sens["contraction"].notna().any()
                else None,
            }
    sens = out["sensitivity"]
    out["flagged_total"] = sum(v["flagged"] for v in sens.values())
    out["parameters_total"] = sum(v["parameters"] for v in sens.values())
    out["in_tail_total"] = sum(v["in_tail"] for v in sens.values())
    out["weak_total"] = sum(v["weak"] for v in sens.values())
    return out


def method_facts(src: Sources) -> dict[str, Any]:
    from clusterpreneur.diagnostics.gate import ConvergenceThresholds
    from clusterpreneur.models.spec import DEFAULT_PRIORS
    from clusterpreneur.study.predictors import STUDY_TERMS

    table = src.csv("hypotheses", "hypotheses.csv")
    if table is not None and "claims" in table and len(table):
        claims = int(table["claims"].max())  # the family the rule judged: one model, one outcome
    else:
        claims = sum(t.hypothesis is not None for t in STUDY_TERMS)
    return {
        "priors": DEFAULT_PRIORS,
        "gate": ConvergenceThresholds(),
        "baselines": src.entry("baselines") is not None,
        "claims": claims,
    }
