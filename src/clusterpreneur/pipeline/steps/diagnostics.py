"""Step ``diagnostics:<M>``: every check of one fit, as tables and the figures drawn from them.

:func:`diagnose` is the one function behind this step and ``clusterpreneur diagnose --out``:

- convergence gate (``gate.csv``: R-hat, ESS per parameter element) and a trace / rank figure of
  the elements with the smallest bulk ESS (``convergence.png``; numbers in ``convergence.csv``);
- PSIS-LOO per outcome (``loo.csv``) and the initiatives whose Pareto k is above the threshold
  (``high_k.csv``);
- binary outcomes: calibration of the LOO predictive probabilities (``calibration_<y>.csv``,
  ``calibration_<y>.png``); ordinal outcomes: observed against predicted answers per category
  (``counts_<y>.csv``, one ``counts.png``); the scores of both in ``ppc.csv``;
- power-scaling prior sensitivity of the headline parameters with the prior's and the
  posterior's mean and SD, so that a flag can be read (``sensitivity.csv``).

Every check after the gate is reported when it fails, never fatal: a fit that fails the gate
needs these most. ``summary.json`` holds the headline numbers.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clusterpreneur.pipeline.artefacts import quiet, read_netcdf, write_csv, write_json
from clusterpreneur.pipeline.cache import CacheEntry
from clusterpreneur.pipeline.step import RunContext, StepBase
from clusterpreneur.pipeline.steps.model import FIT, PREDICTIVE, outcomes_of

logger = logging.getLogger("clusterpreneur.pipeline")

MAX_PANELS = 8
"""Parameter elements in the trace / rank figure (those with the smallest bulk ESS)."""
SUMMARY = "summary.json"


def headline_parameters(idata) -> list[str]:
    """The model's own parameters: posterior variables without the observation dimension (the
    spec's ``obs_dim``; ``initiative`` in the study) that are neither group effects (``u_*``) nor
    their standardised offsets (``z_*``); per-group and per-observation latents would add hundreds
    of rows to the sensitivity table."""
    post = idata["posterior"].to_dataset()
    spec = json.loads(str(idata.attrs.get("spec_json", "{}")))
    obs = spec.get("obs_dim", "initiative")
    return [v for v in post.data_vars if obs not in post[v].dims and not v.startswith(("z_", "u_"))]


def failed_checks(gate) -> list[str]:
    """The gate's failed checks in a few words each, with how many elements or chains failed."""
    t = gate.table
    out = []
    for col, what in (("rhat_ok", "R-hat"), ("ess_bulk_ok", "bulk ESS"), ("ess_tail_ok", "tail ESS")):
        bad = int((~t[col]).sum())
        if bad:
            out.append(f"{what} ({bad} element{'s' if bad != 1 else ''})")
    if not gate.divergences_ok:
        out.append(f"{gate.n_divergences} divergent transition{'s' if gate.n_divergences != 1 else ''}")
    if not gate.bfmi_ok:
        out.append(f"E-BFMI ({int((gate.bfmi < gate.thresholds.bfmi_min).sum())} chains)")
    if not gate.treedepth_ok:
        high = int((gate.treedepth > gate.thresholds.treedepth_max_share).sum())
        out.append(f"maximum tree depth ({high} chain{'s' if high != 1 else ''})")
    return out


def element_draws(post, label: str) -> np.ndarray:
    """Draws (chain x draw) of the parameter element named ``label`` in the gate's table."""
    from clusterpreneur.diagnostics.gate import flat_labels

    name = label.split("[", 1)[0]
    da = post[name].transpose("chain", "draw", ...)
    labels = [x.replace(" ", "") for x in flat_labels(da.isel(chain=0, draw=0, drop=True).rename(name))]
    flat = np.asarray(da.values, dtype=float).reshape(da.sizes["chain"], da.sizes["draw"], -1)
    return flat[:, :, labels.index(label.replace(" ", ""))]


def _prior_moments(spec, parameter: str) -> tuple[float, float]:
    """Mean and SD of a parameter's prior when it is Normal, HalfNormal or LogNormal; else NaN."""
    name = parameter.split("[", 1)[0]
    term = parameter[len(name) + 1 : -1].split(",")[-1] if "[" in parameter else ""
    if name == "beta" and term not in spec.shrinkage_terms:
        prior = spec.prior("beta")
    elif name in ("intercept", "discrimination"):
        prior = spec.prior(name)
    elif name.startswith("sigma_"):
        prior = spec.prior(name, "sigma")
    else:
        return math.nan, math.nan
    dist = prior.get("dist", "")
    if dist == "Normal":
        return float(prior["mu"]), float(prior["sigma"])
    if dist == "HalfNormal":
        s = float(prior["sigma"])
        return s * math.sqrt(2 / math.pi), s * math.sqrt(1 - 2 / math.pi)
    if dist == "LogNormal":
        mu, s = float(prior["mu"]), float(prior["sigma"])
        return math.exp(mu + s**2 / 2), math.sqrt((math.exp(s**2) - 1) * math.exp(2 * mu + s**2))
    return math.nan, math.nan


def reading(row) -> str:
    """What a prior-sensitivity row means, in words."""
    if row["prior_data_conflict"]:
        if not np.isfinite(row["prior_z"]):
            return "prior and data both shape it"
        if abs(row["prior_z"]) >= 2:
            return "conflict: the posterior sits in the prior's tail"
        return "prior and data both shape it (no conflict)"
    if row["weak_likelihood"]:
        return "the data say little; the prior dominates"
    return "robust to the prior"


def sensitivity_table(idata, name: str) -> pd.DataFrame:
    """Power-scaling sensitivity of the headline parameters with the prior's mean and SD, the
    posterior's, the contraction ``1 - var_post / var_prior`` and ``prior_z`` (posterior mean
    minus prior mean, in prior SDs), and a reading of the flags."""
    from clusterpreneur.diagnostics import prior_sensitivity
    from clusterpreneur.models.spec import ModelSpec

    sens = quiet(prior_sensitivity, idata, var_names=headline_parameters(idata) or None)
    spec = ModelSpec.from_json(idata.attrs["spec_json"])
    post = idata["posterior"].to_dataset()
    rows = []
    for p in sens["parameter"]:
        draws = element_draws(post, p).ravel()
        prior_mean, prior_sd = _prior_moments(spec, p)
        mean, sd = float(draws.mean()), float(draws.std(ddof=1))
        rows.append(
            {
                "prior_mean": prior_mean,
                "prior_sd": prior_sd,
                "post_mean": mean,
                "post_sd": sd,
                "contraction": 1 - sd**2 / prior_sd**2 if prior_sd > 0 else math.nan,
                "prior_z": (mean - prior_mean) / prior_sd if prior_sd > 0 else math.nan,
            }
        )
    out = pd.concat([sens.reset_index(drop=True), pd.DataFrame(rows)], axis=1)
    out["reading"] = [reading(r) for _, r in out.iterrows()]
    out.insert(0, "model", name)
    return out.drop(columns=["diagnosis"])


def convergence_panels(idata, gate_table: pd.DataFrame, k: int = MAX_PANELS) -> list[dict[str, Any]]:
    """The ``k`` parameter elements with the smallest bulk ESS (failing ones first), with draws."""
    post = idata["posterior"].to_dataset()
    order = gate_table.assign(_fail=~gate_table["ok"]).sort_values(
        ["_fail", "ess_bulk"], ascending=[False, True]
    )
    return [
        {
            "label": r["parameter"],
            "draws": element_draws(post, r["parameter"]),
            "r_hat": float(r["r_hat"]),
            "ess_bulk": float(r["ess_bulk"]),
            "ess_tail": float(r["ess_tail"]),
        }
        for _, r in order.head(k).iterrows()
    ]


@dataclass
class Labels:
    """How a report names things: category meanings per outcome, outcome titles."""

    categories: Mapping[str, Mapping[int, str]]
    outcomes: Mapping[str, str]


def _loo(idata, name: str, outcomes: list[str], summary: dict[str, Any]):
    from clusterpreneur.diagnostics import loo_with_pareto_k

    rows, high, elpds = [], [], {}
    if "log_likelihood" not in idata.children:
        return rows, high, elpds
    for y in outcomes:
        try:
            elpd, high_k = quiet(loo_with_pareto_k, idata, var_name=y, model=name)
        except Exception as exc:  # LOO is reported, never fatal
            summary[f"loo_error[{y}]"] = f"{type(exc).__name__}: {exc}"
            continue
        elpds[y] = elpd
        k = np.asarray(elpd.pareto_k).ravel()
        rows.append(
            {
                "model": name,
                "outcome": y,
                "elpd_loo": float(elpd.elpd),
                "se": float(elpd.se),
                "p_loo": float(elpd.p),
                "n": int(k.size),
                "pareto_k_max": float(np.nanmax(k)) if k.size else np.nan,
                "k_threshold": float(elpd.good_k),
                "n_high_k": len(high_k),
            }
        )
        high.append(high_k.rename(columns={"observation": "initiative"}).assign(outcome=y))
    return rows, high, elpds


def diagnose(
    idata,
    name: str,
    out: Path,
    *,
    predictive=None,
    labels: Labels | None = None,
    prob: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Every check of one fit into ``out`` (see the module docstring); returns the summary."""
    from clusterpreneur.diagnostics import check_convergence, plots, ppc

    labels = labels or Labels({}, {})
    gate = check_convergence(idata, label=name)
    write_csv(out / "gate.csv", gate.table)
    table = gate.table
    summary: dict[str, Any] = {
        "model": name,
        "passed": bool(gate.passed),
        "n_parameters": len(table),
        "failing_parameters": len(gate.failing_parameters),
        "max_r_hat": float(table["r_hat"].max()) if len(table) else np.nan,
        "min_ess_bulk": float(table["ess_bulk"].min()) if len(table) else np.nan,
        "min_ess_tail": float(table["ess_tail"].min()) if len(table) else np.nan,
        "divergences": int(gate.n_divergences),
        "min_bfmi": float(gate.bfmi.min()) if len(gate.bfmi.dropna()) else np.nan,
        "within_chance": gate.within_chance(),
        "problems": gate.problems(),
        "failed_checks": failed_checks(gate),
    }
    try:
        panels = convergence_panels(idata, table)
        fig = plots.plot_convergence(panels, prob=prob, seed=seed)
        plots.save_figure(fig, out / "convergence")
        write_csv(
            out / "convergence.csv",
            pd.DataFrame([{k: v for k, v in p.items() if k != "draws"} for p in panels]),
        )
    except Exception as exc:
        summary["convergence_figure_error"] = f"{type(exc).__name__}: {exc}"
        logger.warning("trace / rank figure of %s failed: %s", name, exc)

    outcomes = outcomes_of(idata)
    stored = (
        list(idata["log_likelihood"].to_dataset().data_vars) if "log_likelihood" in idata.children else []
    )
    targets = [y for y in outcomes if y in stored]
    loo_rows, high, elpds = _loo(idata, name, targets, summary)
    write_csv(out / "loo.csv", pd.DataFrame(loo_rows))
    cols = ["model", "outcome", "initiative", "pareto_k", "threshold"]
    high_k = pd.concat(high, ignore_index=True)[cols] if high else pd.DataFrame(columns=cols)
    write_csv(out / "high_k.csv", high_k)
    summary["high_pareto_k"] = len(high_k)

    checks, count_panels = [], []
    for y in outcomes:
        family = ppc.family_of(idata, y)
        row: dict[str, Any] = {"model": name, "outcome": y, "family": family}
        try:
            if family == "binary" and y in elpds:
                obs = np.asarray(idata["observed_data"][y].values).ravel()
                p = ppc.loo_probability(obs, np.asarray(elpds[y].elpd_i).ravel())
                cal = ppc.calibration(obs, p, prob=prob, seed=seed)
                write_csv(out / f"calibration_{y}.csv", cal.table)
                row.update(cal.scores())
                fig = plots.plot_calibration(
                    cal,
                    xlabel=f"Predicted probability of {labels.outcomes.get(y, y)} (leave-one-out)",
                    ylabel="Observed share (PAV-calibrated)",
                )
                plots.save_figure(fig, out / f"calibration_{y}")
            elif family == "ordinal" and predictive is not None and y in predictive:
                answers = np.asarray(json.loads(predictive.attrs.get("categories", "{}")).get(y, []))
                obs = np.asarray(idata["observed_data"][y].values).ravel().astype(int)
                reps = np.asarray(predictive[y].values)
                reps = reps.reshape(-1, reps.shape[-1]).astype(int)
                if answers.size:  # the model's codes 0..K-1 back to the answers
                    obs, reps = answers[obs], answers[reps]
                cats = sorted(labels.categories.get(y, {})) or None
                counts = ppc.category_counts(obs, reps, cats, prob=prob)
                write_csv(out / f"counts_{y}.csv", counts)
                row.update(categories=len(counts), categories_outside=int(counts["outside"].sum()))
                count_panels.append((labels.outcomes.get(y, y), counts, labels.categories.get(y, {})))
        except Exception as exc:  # reported, never fatal
            summary[f"ppc_error[{y}]"] = f"{type(exc).__name__}: {exc}"
        checks.append(row)
    if count_panels:
        cats = count_panels[0][2]
        fig = plots.plot_category_counts([(t, c) for t, c, _ in count_panels], cats, prob=prob)
        plots.save_figure(fig, out / "counts")
    write_csv(out / "ppc.csv", pd.DataFrame(checks))

    try:
        sens = sensitivity_table(idata, name)
        write_csv(out / "sensitivity.csv", sens)
        summary["prior_data_conflict"] = int(sens["prior_data_conflict"].sum())
        summary["conflict_in_tail"] = int((sens["prior_data_conflict"] & (sens["prior_z"].abs() >= 2)).sum())
        summary["weak_likelihood"] = int(sens["weak_likelihood"].sum())
    except Exception as exc:
        summary["sensitivity_error"] = f"{type(exc).__name__}: {exc}"
        logger.warning("prior sensitivity of %s failed: %s", name, exc)
    write_json(out / SUMMARY, summary)
    return summary


def study_labels() -> Labels:
    """The study's names for outcomes and their answer categories (from the codebook)."""
    from clusterpreneur.study.codebook import CODEBOOK

    categories = {v.name: dict(v.labels) for v in CODEBOOK.values() if v.labels}
    outcomes = {
        "takeoff": "take-off",
        "perf_competitiveness": "Improved competitiveness",
        "perf_growth": "Cluster growth",
        "perf_goals": "Goals met",
    }
    return Labels(categories, outcomes)


@dataclass
class DiagnosticsStep(StepBase):
    """:func:`diagnose` on the fit of ``model:<model>``."""

    model: str = ""
    prob: float = 0.95
    seed: int = 0

    def params(self) -> Any:
        return {"prob": self.prob, "seed": self.seed}

    def run(self, ctx: RunContext, upstream: Mapping[str, CacheEntry], out: Path) -> dict[str, Any]:
        from clusterpreneur.models.persist import read_fit

        entry = upstream[f"model:{self.model}"]
        idata = read_fit(entry.file(FIT))  # refuses a damaged or edited fit
        predictive = None
        if entry.has(PREDICTIVE):
            predictive = read_netcdf(entry.file(PREDICTIVE))["posterior_predictive"].to_dataset()
        return diagnose(
            idata,
            self.model,
            out,
            predictive=predictive,
            labels=study_labels(),
            prob=self.prob,
            seed=self.seed,
        )


def read_summary(entry: CacheEntry) -> dict[str, Any]:
    return json.loads(entry.file(SUMMARY).read_text())
