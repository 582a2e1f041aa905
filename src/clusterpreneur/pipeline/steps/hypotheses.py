"""Step ``hypotheses``: a verdict on H1-H6 for every reportable fit, and the figure of the take-off models.

Rows of a fit that failed the convergence gate are left out unless ``override_gate`` is set
(then they are kept and flagged). The verdicts come from one rule
(:mod:`clusterpreneur.models.verdict`), applied here and nowhere else: the claims of each model
and outcome are one family, judged together; the table gains each claim's threshold, the
family's size and how many claims would pass by chance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clusterpreneur.models.verdict import VerdictRule, apply_verdicts, combine_verdicts
from clusterpreneur.pipeline.artefacts import read_csv, read_json, write_csv
from clusterpreneur.pipeline.cache import CacheEntry
from clusterpreneur.pipeline.step import RunContext, StepBase
from clusterpreneur.pipeline.steps.data import TRUTH
from clusterpreneur.pipeline.steps.diagnostics import read_summary
from clusterpreneur.pipeline.steps.estimates import HYPOTHESES

TABLE = "hypotheses.csv"
ANSWERS = "answers.csv"
TAKEOFF = "takeoff"
XLABEL = (
    "Change in the log-odds of take-off per SD of the predictor\n(0/1 predictors: per unit); 95% intervals"
)


def gate_passed(upstream: Mapping[str, CacheEntry], model: str) -> bool | None:
    """Did ``model`` pass the convergence gate? None when it was not checked."""
    entry = upstream.get(f"diagnostics:{model}")
    return None if entry is None else bool(read_summary(entry).get("passed"))


def answers(table: pd.DataFrame) -> pd.DataFrame:
    """One verdict per (model, outcome, hypothesis), combining the verdicts of its terms."""
    rows = []
    for (model, outcome, hyp), g in table.groupby(["model", "outcome", "hypothesis"], sort=False):
        rows.append(
            {
                "model": model,
                "outcome": outcome,
                "hypothesis": hyp,
                "terms": ", ".join(g["term"]),
                "verdict": combine_verdicts(list(g["verdict"])),
                "term_verdicts": ", ".join(g["verdict"]),
            }
        )
    return pd.DataFrame(rows)


def figure_rows(table: pd.DataFrame, truth: dict[str, float] | None) -> pd.DataFrame:
    """Rows for the hypothesis figure: take-off models, standardised scale, the simulation's truth."""
    from clusterpreneur.study.predictors import term_label

    sub = table[table["outcome"] == TAKEOFF]
    rows = pd.DataFrame(
        {
            "label": [
                f"{h} {term_label(t)} ({s})"
                for h, t, s in zip(sub["hypothesis"], sub["term"], sub["expected_sign"], strict=True)
            ],
            "group": sub["model"].to_numpy(),
            "estimate": sub["median_std"].to_numpy(float),
            "lower": sub["ci_lower_std"].to_numpy(float),
            "upper": sub["ci_upper_std"].to_numpy(float),
            "term": sub["term"].to_numpy(),
        }
    )
    if truth:
        rows["truth"] = [truth.get(t, np.nan) for t in rows["term"]]
    return rows


def plot_hypotheses(rows: pd.DataFrame):
    """The hypothesised take-off coefficients of each model with 95% intervals (and the truth)."""
    import matplotlib as mpl

    from clusterpreneur.diagnostics.plots import STYLE, legend_below, new_figure, plot_intervals

    n = rows["label"].nunique()
    fig = new_figure(6.8, 0.42 * n + 1.5)
    with mpl.rc_context(STYLE):
        ax = fig.subplots()
        plot_intervals(ax, rows, xlabel=XLABEL)
        if "truth" in rows:
            labels = list(dict.fromkeys(rows["label"]))
            first = rows.drop_duplicates("label").set_index("label")["truth"]
            y = [len(labels) - 1 - i for i in range(len(labels))]
            ax.plot(
                [first[lab] for lab in labels], y, "x", color="black", ms=6, label="value used to simulate"
            )
        legend_below(fig, ax)
    return fig


@dataclass
class HypothesesStep(StepBase):
    """Verdicts for every reportable fit; the figure of the take-off models."""

    models: tuple[str, ...] = ()
    override_gate: bool = False
    rule: VerdictRule = field(default_factory=VerdictRule)

    def params(self) -> Any:
        return {"models": list(self.models), "override_gate": self.override_gate, "rule": vars(self.rule)}

    def run(self, ctx: RunContext, upstream: Mapping[str, CacheEntry], out: Path) -> dict[str, Any]:
        from clusterpreneur.diagnostics.plots import save_figure

        parts, withheld = [], []
        for m in self.models:
            entry = upstream.get(f"estimates:{m}")
            if entry is None or not entry.has(HYPOTHESES):
                continue
            passed = gate_passed(upstream, m)
            if passed is False and not self.override_gate:
                withheld.append(m)
                continue
            t = read_csv(entry.file(HYPOTHESES))
            t["gate"] = {True: "passed", False: "FAILED (reported: override_gate)", None: "not checked"}[
                passed
            ]
            parts.append(t)
        table = apply_verdicts(pd.concat(parts, ignore_index=True), self.rule) if parts else pd.DataFrame()
        write_csv(out / TABLE, table)
        write_csv(out / ANSWERS, answers(table) if len(table) else pd.DataFrame())
        truth = None
        data = upstream.get("data")
        if data is not None and data.has(TRUTH):
            truth = read_json(data.file(TRUTH)).get("params", {}).get("coefficients")
        if len(table) and (table["outcome"] == TAKEOFF).any():
            save_figure(plot_hypotheses(figure_rows(table, truth)), out / "hypotheses")
        return {"rows": len(table), "withheld": withheld}
