"""The paper's tables and figures, built from the steps' artefacts (:class:`Sources`).

Each table builder returns a tidy frame (written as CSV) and a :class:`~.typeset.ReaderTable`
(what the reader sees), each figure builder the figure files a step drew; ``None`` when the
exhibit does not apply to this run, :class:`Withheld` when its estimates come from a fit that
failed the convergence gate, :class:`NotRun` when the step it needs did not run. Titles,
captions and order are in :mod:`clusterpreneur.pipeline.paper`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from clusterpreneur.pipeline.artefacts import read_csv, read_json
from clusterpreneur.pipeline.cache import CacheEntry
from clusterpreneur.pipeline.typeset import Column, ReaderTable, interval, number, typeset


@dataclass(frozen=True)
class Withheld:
    """An exhibit deliberately not shown, and why."""

    reason: str


@dataclass(frozen=True)
class NotRun:
    """An exhibit whose step did not run in this configuration."""

    reason: str = "the step it needs did not run (a model or check that is not configured)"


@dataclass(frozen=True)
class TableResult:
    data: pd.DataFrame
    reader: ReaderTable


@dataclass(frozen=True)
class FigureFile:
    """One drawn figure: its file stem in the output folder, a panel title, PNG and SVG bytes."""

    stem: str
    panel: str
    png: bytes
    svg: bytes | None


class Sources:
    """The run's step entries and configuration, as the exhibits read them."""

    def __init__(self, entries: Mapping[str, CacheEntry], config):
        self.entries = entries
        self.config = config

    def entry(self, step: str) -> CacheEntry | None:
        return self.entries.get(step)

    def csv(self, step: str, name: str) -> pd.DataFrame | None:
        e = self.entries.get(step)
        if e is None or not e.has(name) or e.file(name).stat().st_size <= 1:
            return None
        return read_csv(e.file(name))

    def per_model(self, kind: str, name: str) -> pd.DataFrame | None:
        """CSV ``name`` of step ``<kind>:<M>`` of every model, stacked (None when there is none)."""
        parts = [self.csv(f"{kind}:{m}", name) for m in self.models]
        parts = [p for p in parts if p is not None and len(p)]
        return pd.concat(parts, ignore_index=True) if parts else None

    def per_model_figures(self, name: str) -> list[FigureFile]:
        """Figure ``name`` of every model's diagnostics step, as ``<name>_<M>``."""
        figs = [self.figure(f"diagnostics:{m}", name, f"{name}_{m}", m) for m in self.models]
        return [f for f in figs if f]

    def json(self, step: str, name: str) -> Any:
        e = self.entries.get(step)
        return None if e is None or not e.has(name) else read_json(e.file(name))

    def summary(self, step: str) -> dict[str, Any]:
        e = self.entries.get(step)
        return {} if e is None else dict(e.summary)

    def figure(self, step: str, name: str, stem: str, panel: str = "") -> FigureFile | None:
        e = self.entries.get(step)
        if e is None or not e.has(f"{name}.png"):
            return None
        svg = e.file(f"{name}.svg").read_bytes() if e.has(f"{name}.svg") else None
        return FigureFile(stem, panel, e.file(f"{name}.png").read_bytes(), svg)

    @property
    def models(self) -> list[str]:
        return list(self.config.fitted_models)

    @property
    def reference(self) -> str | None:
        return self.config.reference_model

    def gate(self, model: str) -> bool | None:
        """Did ``model`` pass the convergence gate? None when it was not checked."""
        s = self.json(f"diagnostics:{model}", "summary.json")
        return None if s is None else bool(s.get("passed"))

    def reportable(self, model: str) -> bool:
        return self.config.override_gate or self.gate(model) is not False

    def withheld(self, models: list[str]) -> Withheld:
        return Withheld(
            f"Estimates of {', '.join(models)} are withheld: the fit failed the convergence gate "
            "(Appendix A, Table A1 says why). Sample longer (draws / tune in analysis/study.toml) or, to "
            "report them flagged anyway, set [diagnostics] override_gate = true."
        )


# --------------------------------------------------------------------------- data


def descriptives(src: Sources):
    t = src.csv("descriptives", "descriptives.csv")
    if t is None:
        return NotRun()
    from clusterpreneur.study.descriptives import GROUPS

    cols = [Column("label", "Variable")]
    for g, label in GROUPS:
        cols += [
            Column(f"{g}_n", "N", "int", label),
            Column(f"{g}_mean", "Mean", "num2", label),
            Column(f"{g}_sd", "SD", "num2", label),
        ]
    return TableResult(t, typeset("descriptives", t, cols, stub="label"))


def missingness(src: Sources):
    t = src.csv("descriptives", "missingness.csv")
    if t is None or t.empty:
        return None
    cols = [
        Column("variable", "Variable"),
        Column("description", "Question"),
        Column("missing", "Missing answers", "int"),
        Column("share", "Share", "pct"),
    ]
    return TableResult(t, typeset("missingness", t, cols, stub="variable"))


# --------------------------------------------------------------------------- methods


def ladder(src: Sources):
    from clusterpreneur.study.ladder import LADDER, SUMMARIES

    rows = []
    for m in src.models:
        spec = LADDER.get(m)
        fit = src.summary(f"model:{m}")
        gate = src.gate(m)
        s = src.config.settings_for(m)
        rows.append(
            {
                "model": m,
                "outcome": ", ".join(spec.outcomes) if spec else "",
                "adds": SUMMARIES.get(m, spec.description if spec else ""),
                "parametrization": _parametrization_text(fit.get("parametrization", "")),
                "draws": f"{s.chains} x {s.draws:,} ({s.tune:,} tuning)",
                "gate": {True: "passed", False: "FAILED", None: "not checked"}[gate],
                "reference": "yes" if m == src.reference else "",
            }
        )
    if not rows:
        return None
    t = pd.DataFrame(rows)
    cols = [
        Column("model", "Model"),
        Column("outcome", "Outcome"),
        Column("adds", "What it adds"),
        Column("parametrization", "Sampled as"),
        Column("draws", "Chains x draws"),
        Column("gate", "Convergence gate"),
    ]
    return TableResult(t, typeset("ladder", t, cols, stub="model"))


def _parametrization_text(recorded: str) -> str:
    """``{"region": "laplace", "fixed_effects": "qr"}`` as "region laplace; fixed effects qr"."""
    if not recorded:
        return ""
    how = json.loads(recorded)
    return "; ".join(f"{k.replace('_', ' ')} {v}" for k, v in how.items())


# --------------------------------------------------------------------------- results


def hypothesis_rows(src: Sources) -> pd.DataFrame | None:
    return src.csv("hypotheses", "hypotheses.csv")


def hypotheses(src: Sources):
    """The reference model's hypotheses with verdicts, both scales."""
    t = hypothesis_rows(src)
    ref = src.reference
    if t is None or ref is None:
        return NotRun()
    if not src.reportable(ref):
        return src.withheld([ref])
    from clusterpreneur.study.predictors import term_label

    sub = t[(t["model"] == ref)].copy()
    if sub.empty:
        return NotRun()
    sub["row"] = [f"{h} {term_label(x)}" for h, x in zip(sub["hypothesis"], sub["term"], strict=True)]
    sub["std"] = [number(v) for v in sub["median_std"]]
    sub["std_ci"] = [interval(a, b) for a, b in zip(sub["ci_lower_std"], sub["ci_upper_std"], strict=True)]
    sub["orig"] = [number(v, 3) for v in sub["median"]]
    sub["orig_ci"] = [interval(a, b, 3) for a, b in zip(sub["ci_lower"], sub["ci_upper"], strict=True)]
    from clusterpreneur.pipeline.facts import unit_text

    sub["unit"] = ["per " + unit_text(s) for s in sub["scale"]]
    sub["needed"] = [f"{v:.4f}" for v in sub["threshold"]]
    multi = sub["outcome"].nunique() > 1
    cols = [
        Column("row", "Hypothesis and term"),
        *([Column("outcome", "Outcome")] if multi else []),
        Column("expected_sign", "Sign"),
        Column("prob_direction", "P(direction)", "prob"),
        Column("needed", "Threshold", "num3"),
        Column("std", "Median", "num2", "Standardised: log-odds per SD"),
        Column("std_ci", "95% interval", "num2", "Standardised: log-odds per SD"),
        Column("orig", "Median", "num3", "Original units: log-odds per unit"),
        Column("orig_ci", "95% interval", "num3", "Original units: log-odds per unit"),
        Column("unit", "Unit", "text", "Original units: log-odds per unit"),
        Column("verdict", "Verdict"),
    ]
    return TableResult(sub, typeset("hypotheses", sub, cols, stub="row", notes=chance_notes(sub)))


def chance_notes(sub: pd.DataFrame) -> list[str]:
    """The table's note: how many claims would cross a threshold by chance with no real effect."""
    notes = []
    for outcome, g in sub.groupby("outcome", sort=False):
        m, first = int(g["claims"].iloc[0]), float(g["threshold"].max())
        of = f" ({outcome})" if sub["outcome"].nunique() > 1 else ""
        bound = m * (1 - first)
        notes.append(
            f"Expected by chance{of}: were no hypothesis true, each P(direction) would be uniform, so "
            f"{g['expected_by_chance'].iloc[0]:.2g} of these {m} claims would have a 95% interval on "
            f"the predicted side and {m} × (1 − {first:.5g}) = {bound:.2g} would exceed the first "
            f"threshold: the chance of any false 'supported' among them is at most {bound:.0%}."
        )
    return notes


def verdict_matrix(src: Sources):
    """Combined verdict of each hypothesis under every reportable model and outcome."""
    t = src.csv("hypotheses", "answers.csv")
    if t is None or t.empty:
        return NotRun()
    from clusterpreneur.study.predictors import HYPOTHESES

    t = t.copy()
    t["column"] = [
        m if o == "takeoff" else f"{m}: {o}" for m, o in zip(t["model"], t["outcome"], strict=True)
    ]
    wide = t.pivot_table(index="hypothesis", columns="column", values="verdict", aggfunc="first", sort=False)
    wide = wide.reindex(sorted(wide.index)).reset_index()
    wide.insert(1, "claim", [HYPOTHESES.get(h, ("", ""))[0] for h in wide["hypothesis"]])
    order = list(dict.fromkeys(t["column"]))
    cols = [Column("hypothesis", "Hypothesis"), Column("claim", "")]
    for c in order:
        spanner = "Take-off" if ":" not in c else "Performance ratings (M4)"
        label = c.split(": ", 1)[-1].replace("perf_", "").replace("_", " ")
        cols.append(Column(c, label, "text", spanner))
    data = t.drop(columns="column")
    return TableResult(data, typeset("verdicts", wide, cols, stub="hypothesis"))


def forest_figure(src: Sources):
    ref = src.reference
    if src.entry("forest") is None:
        return NotRun()
    if ref is not None and not src.reportable(ref):
        return src.withheld([ref])
    fig = src.figure("forest", "forest", "forest")
    return [fig] if fig else NotRun()


def hypotheses_figure(src: Sources):
    if src.entry("hypotheses") is None:
        return NotRun()
    ref = src.reference
    if ref is not None and not src.reportable(ref):
        return src.withheld([ref])
    fig = src.figure("hypotheses", "hypotheses", "hypotheses")
    return [fig] if fig else None


def comparison(src: Sources):
    t = src.csv("comparison", "comparison.csv")
    if t is None:
        return NotRun()
    for c in ("elpd_diff", "dse", "weight", "p", "elpd", "se", "rank"):
        if c not in t:
            t[c] = pd.NA
    t["rank"] = pd.to_numeric(t["rank"], errors="coerce") + 1  # readers count from 1 (ArviZ from 0)
    if "note" not in t:
        t["note"] = ""
    t["note"] = [
        "failed the convergence gate" if src.gate(m) is False and not n else n
        for m, n in zip(t["model"], t["note"].fillna(""), strict=True)
    ]
    t = t[[c for c in ("model", "rank", "elpd", "se", "elpd_diff", "dse", "p", "weight", "note") if c in t]]
    cols = [
        Column("model", "Model"),
        Column("rank", "Rank", "int"),
        Column("elpd", "ELPD-LOO", "num1"),
        Column("se", "SE", "num1"),
        Column("elpd_diff", "Difference to best", "num1"),
        Column("dse", "SE of difference", "num1"),
        Column("p", "Effective parameters", "num1"),
        Column("weight", "Stacking weight", "num2"),
        Column("note", "Note"),
    ]
    return TableResult(t, typeset("comparison", t, cols, stub="model"))


def cases(src: Sources):
    t = src.csv("cases", "cases.csv")
    ref = src.reference
    if t is None:
        return NotRun()
    if ref is not None and not src.reportable(ref):
        return src.withheld([ref])
    t = t.copy()
    t["p_ci"] = [interval(a, b) for a, b in zip(t["ci_lower"], t["ci_upper"], strict=True)]
    coded = t["scenario"].eq("as coded")
    t["d"] = [number(v) if not c else "" for v, c in zip(t["diff_mean"], coded, strict=True)]
    t["d_ci"] = [
        interval(a, b) if not c else ""
        for a, b, c in zip(t["diff_lower"], t["diff_upper"], coded, strict=True)
    ]
    cols = [
        Column("case", "Case"),
        Column("scenario", "Scenario"),
        Column("mean", "Mean", "num2", "Probability of take-off"),
        Column("p_ci", "95% interval", "num2", "Probability of take-off"),
        Column("d", "Mean", "num2", "Change from the case as coded"),
        Column("d_ci", "95% interval", "num2", "Change from the case as coded"),
        Column("p_increase", "P(increase)", "prob", "Change from the case as coded"),
        Column("group_status", "Country / region"),
    ]
    return TableResult(t, typeset("cases", t, cols, group="case", stub="scenario"))


def cases_figure(src: Sources):
    ref = src.reference
    if src.entry("cases") is None:
        return NotRun()
    if ref is not None and not src.reportable(ref):
        return src.withheld([ref])
    fig = src.figure("cases", "cases", "cases")
    return [fig] if fig else NotRun()


# --------------------------------------------------------------------------- appendix


def _diag_summaries(src: Sources) -> list[dict[str, Any]]:
    out = []
    for m in src.models:
        s = src.json(f"diagnostics:{m}", "summary.json")
        if s is not None:
            out.append(s)
    return out


def gate(src: Sources):
    rows = _diag_summaries(src)
    if not rows:
        return NotRun()
    t = pd.DataFrame(rows)
    t["verdict"] = ["passed" if p else "FAILED" for p in t["passed"]]
    t["why"] = ["; ".join(p) if isinstance(p, list) else "" for p in t.get("failed_checks", [[]] * len(t))]
    cols = [
        Column("model", "Model"),
        Column("verdict", "Gate"),
        Column("max_r_hat", "Largest R-hat", "num3"),
        Column("within_chance", "R-hat > 1.01 by chance", "int"),
        Column("min_ess_bulk", "Smallest bulk ESS", "int"),
        Column("min_ess_tail", "Smallest tail ESS", "int"),
        Column("divergences", "Divergences", "int"),
        Column("min_bfmi", "Smallest E-BFMI", "num2"),
        Column("n_parameters", "Elements checked", "int"),
        Column("why", "What failed"),
    ]
    keep = [c for c in cols if c.name in t]
    data = t.drop(columns=[c for c in ("problems", "failed_checks", "why") if c in t])
    return TableResult(data, typeset("gate", t, keep, stub="model"))


def convergence_figures(src: Sources):
    return src.per_model_figures("convergence") or NotRun()


def loo(src: Sources):
    t = src.per_model("diagnostics", "loo.csv")
    if t is None:
        return NotRun()
    high = src.per_model("diagnostics", "high_k.csv")
    if high is None:
        high = pd.DataFrame(columns=["model", "outcome", "initiative"])
    shown = []
    for _, r in t.iterrows():
        ids = high[(high["model"] == r["model"]) & (high["outcome"] == r["outcome"])]["initiative"].astype(
            str
        )
        text = ", ".join(ids.head(3))
        if len(ids) > 3:
            text += f" and {len(ids) - 3} more"
        shown.append(text)
    t["worst"] = shown
    t["share_high"] = t["n_high_k"] / t["n"]
    cols = [
        Column("model", "Model"),
        Column("outcome", "Outcome"),
        Column("elpd_loo", "ELPD-LOO", "num1"),
        Column("se", "SE", "num1"),
        Column("p_loo", "Effective parameters", "num1"),
        Column("pareto_k_max", "Largest k", "num2", "Pareto k"),
        Column("k_threshold", "Threshold", "num2", "Pareto k"),
        Column("n_high_k", "Above", "int", "Pareto k"),
        Column("share_high", "Share", "pct", "Pareto k"),
        Column("worst", "Initiatives with the largest k", "text", "Pareto k"),
    ]
    data = t.drop(columns=["worst"])
    return TableResult(data, typeset("loo", t, cols, stub="model"))


def ppc_scores(src: Sources):
    t = src.per_model("diagnostics", "ppc.csv")
    if t is None:
        return NotRun()
    binary = t[t["family"] == "binary"]
    if binary.empty:
        return None
    cols = [
        Column("model", "Model"),
        Column("outcome", "Outcome"),
        Column("brier", "Brier score", "num3"),
        Column("mcb", "Miscalibration (MCB)", "num3"),
        Column("mcb_p", "p (MCB under calibration)", "num2"),
        Column("dsc", "Discrimination (DSC)", "num3"),
        Column("unc", "Uncertainty (UNC)", "num3"),
    ]
    return TableResult(binary, typeset("calibration", binary, cols, stub="model"))


def calibration_figures(src: Sources):
    figs = []
    for m in src.models:
        e = src.entry(f"diagnostics:{m}")
        if e is None:
            continue
        for p in sorted(e.path.glob("calibration_*.png")):
            y = p.stem.removeprefix("calibration_")
            f = src.figure(f"diagnostics:{m}", p.stem, f"calibration_{m}_{y}", f"{m}, {y}")
            if f:
                figs.append(f)
    return figs or None


def category_counts(src: Sources):
    parts = []
    for m in src.models:
        e = src.entry(f"diagnostics:{m}")
        if e is None:
            continue
        for p in sorted(e.path.glob("counts_*.csv")):
            t = read_csv(p)
            t.insert(0, "outcome", p.stem.removeprefix("counts_"))
            t.insert(0, "model", m)
            parts.append(t)
    if not parts:
        return None
    from clusterpreneur.study.codebook import CODEBOOK

    t = pd.concat(parts, ignore_index=True)
    t["meaning"] = [
        CODEBOOK[o].labels.get(int(c), "") if o in CODEBOOK else ""
        for o, c in zip(t["outcome"], t["category"], strict=True)
    ]
    t["group"] = [f"{m}: {o}" for m, o in zip(t["model"], t["outcome"], strict=True)]
    t["answer"] = [f"{c} {m}".strip() for c, m in zip(t["category"], t["meaning"], strict=True)]
    t["pred_ci"] = [interval(a, b, 0) for a, b in zip(t["lower"], t["upper"], strict=True)]
    t["flag"] = ["outside" if o else "" for o in t["outside"]]
    cols = [
        Column("group", "Model and rating"),
        Column("answer", "Answer"),
        Column("observed", "Observed", "int"),
        Column("predicted", "Predicted mean", "num1"),
        Column("pred_ci", "95% predictive interval", "int"),
        Column("flag", "Observed outside"),
    ]
    data = t.drop(columns=["group", "answer", "pred_ci", "flag"])
    return TableResult(data, typeset("counts", t, cols, group="group", stub="answer"))


def counts_figures(src: Sources):
    return src.per_model_figures("counts") or None


def sensitivity(src: Sources):
    t = src.per_model("diagnostics", "sensitivity.csv")
    if t is None:
        return NotRun()
    from clusterpreneur.study.predictors import term_label

    t["name"] = [_parameter_label(p, term_label) for p in t["parameter"]]
    cols = [
        Column("model", "Model"),
        Column("name", "Parameter"),
        Column("prior", "Prior", "num3", "Sensitivity to power-scaling"),
        Column("likelihood", "Likelihood", "num3", "Sensitivity to power-scaling"),
        Column("prior_sd", "Prior SD", "num2", "Prior against posterior"),
        Column("post_sd", "Posterior SD", "num2", "Prior against posterior"),
        Column("contraction", "Contraction", "num2", "Prior against posterior"),
        Column("prior_z", "Shift (prior SDs)", "num2", "Prior against posterior"),
        Column("reading", "Reading"),
    ]
    data = t.drop(columns=["name"])
    return TableResult(data, typeset("sensitivity", t, cols, group="model", stub="name"))


def _parameter_label(parameter: str, term_label) -> str:
    name = parameter.split("[", 1)[0]
    inside = parameter[len(name) + 1 : -1] if "[" in parameter else ""
    if name == "beta":
        parts = inside.split(",")
        return term_label(parts[-1]) + (f" ({parts[0]})" if len(parts) > 1 else "")
    if name.startswith("sigma_") or name == "intercept":
        return term_label(name) + (f" [{inside}]" if inside else "")
    return parameter.replace("_", " ")


def coefficients(src: Sources):
    """Every take-off model's coefficients side by side: posterior mean and 95% interval."""
    from clusterpreneur.study.predictors import term_label

    parts, withheld = [], []
    for m in src.models:
        t = src.csv(f"estimates:{m}", "coefficients.csv")
        if t is None:
            continue
        if not src.reportable(m):
            withheld.append(m)
            continue
        parts.append(t.assign(rung=m))
    if not parts:
        return src.withheld(withheld) if withheld else NotRun()
    t = pd.concat(parts, ignore_index=True)
    takeoff = t[(t["outcome"] == "takeoff") & (t["scale"] != "original")]
    if takeoff.empty:
        return None
    terms = list(dict.fromkeys(takeoff["term"]))
    wide = pd.DataFrame({"term": terms, "label": [term_label(x) for x in terms]})
    cols = [Column("label", "Term")]
    for m in dict.fromkeys(takeoff["rung"]):
        sub = takeoff[takeoff["rung"] == m].set_index("term")
        wide[f"{m}_mean"] = [sub["estimate"].get(x) for x in terms]
        wide[f"{m}_ci"] = [interval(sub["ci_lower"].get(x), sub["ci_upper"].get(x)) for x in terms]
        cols += [Column(f"{m}_mean", "Mean", "num2", m), Column(f"{m}_ci", "95% interval", "num2", m)]
    notes = (f"Not shown (failed the convergence gate): {', '.join(withheld)}.",) if withheld else ()
    return TableResult(t.drop(columns="rung"), typeset("coefficients", wide, cols, stub="label", notes=notes))


def rating_coefficients(src: Sources):
    """Coefficients of the ordinal model, one column pair per rating."""
    from clusterpreneur.study.predictors import term_label

    parts = []
    for m in src.models:
        t = src.csv(f"estimates:{m}", "coefficients.csv")
        if t is not None and src.reportable(m):
            parts.append(t[(t["outcome"] != "takeoff") & (t["scale"] != "original")].assign(rung=m))
    t = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if t.empty:
        return None
    terms = list(dict.fromkeys(t["term"]))
    wide = pd.DataFrame({"label": [term_label(x) for x in terms]})
    cols = [Column("label", "Term")]
    for (m, y), sub in t.groupby(["rung", "outcome"], sort=False):
        sub = sub.set_index("term")
        key = f"{m}_{y}"
        wide[f"{key}_mean"] = [sub["estimate"].get(x) for x in terms]
        wide[f"{key}_ci"] = [interval(sub["ci_lower"].get(x), sub["ci_upper"].get(x)) for x in terms]
        span = f"{m}: {y.replace('perf_', '').replace('_', ' ')}"
        cols += [
            Column(f"{key}_mean", "Mean", "num2", span),
            Column(f"{key}_ci", "95% interval", "num2", span),
        ]
    return TableResult(t.drop(columns="rung"), typeset("rating_coefficients", wide, cols, stub="label"))


def baselines(src: Sources):
    e = src.entry("baselines")
    if e is None:
        return NotRun()
    from clusterpreneur.study.predictors import term_label
    from clusterpreneur.tables import read_table

    t = read_table(e.file("baselines.csv"))
    std = t[t["scale"].isin(("standardised", "unscaled"))].copy()
    one = std["scale"] == "unscaled"  # a 0/1 term: its one scale is its own, shown under original units
    orig = pd.concat([t[t["scale"] == "original"], std[one]]).set_index(["outcome", "model", "term"])
    key = list(zip(std["outcome"], std["model"], std["term"], strict=True))
    std["orig_est"] = [orig["estimate"].get(k) for k in key]
    std["orig_ci"] = [interval(orig["ci_lower"].get(k), orig["ci_upper"].get(k), 3) for k in key]
    std["ci"] = [interval(a, b) for a, b in zip(std["ci_lower"], std["ci_upper"], strict=True)]
    std.loc[one, "estimate"] = float("nan")
    std.loc[one, "ci"] = ""
    std["label"] = [term_label(x) if x != "Intercept" else "intercept" for x in std["term"]]
    std["group"] = [f"{o}: {m.replace('_', ' ')}" for o, m in zip(std["outcome"], std["model"], strict=True)]
    notes = []
    for g, sub in std.groupby("group", sort=False):
        found = sorted({w for w in sub["warnings"].fillna("").astype(str) if w})
        if found:
            notes.append(f"{g}: {'; '.join(found)}")
    cols = [
        Column("group", "Outcome and model"),
        Column("label", "Term"),
        Column("estimate", "Estimate", "num2", "Standardised"),
        Column("ci", "95% CI", "num2", "Standardised"),
        Column("orig_est", "Estimate", "num3", "Original units"),
        Column("orig_ci", "95% CI", "num3", "Original units"),
        Column("p_value", "p-value", "p"),
        Column("n", "N", "int"),
    ]
    notes = ["Warnings of the fits: " + " | ".join(notes)] if notes else []
    if one.any():
        zero_one = ", ".join(term_label(x) for x in dict.fromkeys(std.loc[one, "term"]))
        notes.append(
            f"0/1 predictors, not standardised: {zero_one} (per change from 0 to 1, in original units)."
        )
    return TableResult(t, typeset("baselines", std, cols, group="group", stub="label", notes=notes))


# --------------------------------------------------------------------------- simulation-based calibration


def sbc(src: Sources):
    """One row per rung with saved SBC results: simulations, the verdict, what was flagged, when."""
    if src.entry("sbc") is None:  # the study names no SBC results ([diagnostics] sbc)
        return None
    t = src.csv("sbc", "sbc.csv")
    if t is None:
        return NotRun("no saved simulation-based calibration results: run nox -s sbc")
    t = t.copy()
    stale = t["stale"].astype(bool) if "stale" in t else pd.Series(False, index=t.index)
    was = t["passed_when_run"] if "passed_when_run" in t else t["passed"]
    t["verdict"] = [
        f"stale (spec changed; {'calibrated' if w else 'NOT calibrated'} when run)" if s
        else ("calibrated" if p else "NOT calibrated")
        for s, w, p in zip(stale, was, t["passed"], strict=True)
    ]  # fmt: skip
    t["flagged"] = t["flagged"].astype(object).where(t["flagged"].notna(), "")
    t["when"] = t["finished_utc"].fillna("").str[:16].str.replace("T", " ") + " UTC"
    tune = t["tune"] if "tune" in t else pd.Series([None] * len(t), index=t.index)
    t["fit"] = [
        f"{s}, {c} chains, {'' if pd.isna(w) else f'{int(w)} + '}{d} draws"
        for s, c, w, d in zip(t["sampler"], t["chains"], tune, t["draws"], strict=True)
    ]
    size = t["initiatives"] if "initiatives" in t else pd.Series([None] * len(t), index=t.index)
    t["survey"] = ["the study's" if pd.isna(n) else f"{int(n)} simulated" for n in size]
    cols = [
        Column("model", "Model"),
        Column("simulations", "Simulations", "int"),
        Column("failed", "Failed fits", "int"),
        Column("quantities", "Quantities tested", "int"),
        Column("with_divergences", "Simulations with divergences", "int"),
        Column("verdict", "Verdict"),
        Column("flagged", "Non-uniform ranks"),
        Column("fit", "Sampler, chains, tune + draws"),
        Column("survey", "Survey"),
        Column("when", "Finished"),
    ]
    notes = []
    if stale.any():
        notes.append(
            f"Stale: {', '.join(t.loc[stale, 'model'])}: the rung's specification changed after the run, "
            "so its result no longer speaks for the reported fit; rerun nox -s sbc for it."
        )
    missing = uncalibrated_rungs(src.config.fitted_models, t["model"])
    if missing:
        notes.append(
            f"Not calibrated: {', '.join(missing)} (no saved run); "
            f"nox -s sbc -- 200 --model {','.join(missing)} runs them."
        )
    return TableResult(t, typeset("sbc", t, cols, stub="model", notes=notes))


def uncalibrated_rungs(fitted, with_results) -> list[str]:
    """The ladder's rungs among ``fitted`` that have no saved SBC run (in ``fitted`` order)."""
    from clusterpreneur.study.ladder import LADDER

    done = set(with_results)
    return [m for m in fitted if m in LADDER and m not in done]


def sbc_figures(src: Sources):
    rungs = src.summary("sbc").get("rungs", [])
    figs = [src.figure("sbc", f"sbc_ecdf_{m}", f"sbc_ecdf_{m}", m) for m in rungs]
    return [f for f in figs if f] or None


def kfold(src: Sources):
    """ELPD of K-fold cross-validation by country, beside PSIS-LOO of the same fit."""
    rows = [src.json(f"kfold:{m}", "summary.json") for m in src.config.kfold]
    rows = [r for r in rows if r]
    if not rows:
        return None
    t = pd.DataFrame(rows)
    loo = src.per_model("diagnostics", "loo.csv")
    if loo is not None:
        total = loo.groupby("model")["elpd_loo"].sum()
        high = loo.groupby("model")["n_high_k"].sum()
        t["elpd_loo"] = [total.get(m) for m in t["model"]]
        t["n_high_k"] = [high.get(m) for m in t["model"]]
    cols = [
        Column("model", "Model"),
        Column("method", "Folds"),
        Column("countries", "Countries", "int"),
        Column("initiatives", "Initiatives", "int"),
        Column("elpd_kfold", "ELPD (K-fold)", "num1"),
        Column("se", "SE", "num1"),
    ]
    if "elpd_loo" in t:
        cols += [Column("elpd_loo", "ELPD-LOO", "num1"), Column("n_high_k", "High Pareto k", "int")]
    return TableResult(t, typeset("kfold", t, cols, stub="model"))
