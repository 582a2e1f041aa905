"""Step ``cases``: the North Jutland cases and the what-if scenarios under the reference model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clusterpreneur.pipeline.artefacts import read_frame, write_csv
from clusterpreneur.pipeline.cache import CacheEntry
from clusterpreneur.pipeline.step import RunContext, StepBase
from clusterpreneur.pipeline.steps.data import CASES
from clusterpreneur.pipeline.steps.estimates import load_step_fit

TABLE = "cases.csv"


def row_labels(table: pd.DataFrame) -> list[str]:
    return [f"{c.split('-', 1)[-1]}: {s}" for c, s in zip(table["case"], table["scenario"], strict=True)]


def plot_cases(table: pd.DataFrame):
    """Take-off probability of each case and scenario (left) and the change from the case as
    coded (right, paired per draw), with 95% intervals."""
    import matplotlib as mpl

    from clusterpreneur.diagnostics.plots import STYLE, new_figure, plot_intervals

    labels = row_labels(table)
    fig = new_figure(7.2, 0.36 * len(table) + 1.3)
    with mpl.rc_context(STYLE):
        left, right = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [1, 1]})
        prob = pd.DataFrame(
            {
                "label": labels,
                "group": "p",
                "estimate": table["mean"],
                "lower": table["ci_lower"],
                "upper": table["ci_upper"],
            }
        )
        plot_intervals(left, prob, xlabel="Probability of take-off\n(mean, 95% interval)", reference=None)
        left.set_xlim(0, 1)
        diff = pd.DataFrame(
            {
                "label": labels,
                "group": "d",
                "estimate": table["diff_mean"],
                "lower": table["diff_lower"],
                "upper": table["diff_upper"],
            }
        )
        diff.loc[table["scenario"].eq("as coded").to_numpy(), ["estimate", "lower", "upper"]] = np.nan
        plot_intervals(right, diff, xlabel="Change from as coded\n(mean, 95% interval)")
        right.tick_params(labelleft=False)
    return fig


@dataclass
class CasesStep(StepBase):
    """:func:`clusterpreneur.study.cases.case_predictions` with the reference model."""

    model: str = ""
    seed: int = 0

    def params(self) -> Any:
        return {"reference": self.model, "seed": self.seed}

    def validate(self, ctx: RunContext) -> None:
        """The cases load and every scenario gives a valid row (before anything is sampled)."""
        from clusterpreneur.study.cases import check_scenarios, validate_rows
        from clusterpreneur.study.datasets import north_jutland_cases
        from clusterpreneur.study.readers import load_survey

        if ctx.cases_path is not None:
            cases = load_survey(ctx.cases_path)
        else:
            cases = validate_rows(north_jutland_cases(), "shipped North Jutland cases")
        check_scenarios(cases)

    def run(self, ctx: RunContext, upstream: Mapping[str, CacheEntry], out: Path) -> dict[str, Any]:
        from clusterpreneur.diagnostics.plots import save_figure
        from clusterpreneur.study.cases import case_predictions

        fitted = load_step_fit(upstream, self.model)
        cases = read_frame(upstream["data"].file(CASES))
        table = case_predictions(fitted, cases, seed=self.seed)
        table.insert(2, "model", self.model)
        write_csv(out / TABLE, table)
        save_figure(plot_cases(table), out / "cases")
        return {"rows": len(table), "model": self.model}
