"""Step ``forest``: standardised take-off coefficients of the reference model beside the statsmodels logit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from clusterpreneur.pipeline.artefacts import read_csv, write_csv
from clusterpreneur.pipeline.cache import CacheEntry
from clusterpreneur.pipeline.step import RunContext, StepBase
from clusterpreneur.pipeline.steps.baselines import TABLE as BASELINES
from clusterpreneur.pipeline.steps.estimates import COEFFICIENTS

TABLE = "forest.csv"
LOGIT = "statsmodels logit"
XLABEL = (
    "Change in the log-odds of take-off per SD of the predictor\n(0/1 predictors: per unit); 95% intervals"
)


def forest_table(baselines: pd.DataFrame, bayes: pd.DataFrame, model: str) -> pd.DataFrame:
    """Columns ``term, label, group, estimate, lower, upper``: the logit's estimate and 95% CI
    (country-clustered SE) and the Bayesian posterior mean and 95% interval, per study term."""
    from clusterpreneur.study.predictors import STUDY_TERM_NAMES, term_label

    def pick(t: pd.DataFrame, group: str, model_name: str) -> pd.DataFrame:
        sel = t[t["term"].isin(STUDY_TERM_NAMES) & (t["outcome"] == "takeoff") & (t["model"] == model_name)]
        sel = sel[sel["scale"].isin(("standardised", "unscaled"))]  # a 0/1 term has one scale
        return pd.DataFrame(
            {
                "term": sel["term"].to_numpy(),
                "group": group,
                "estimate": sel["estimate"].to_numpy(dtype=float),
                "lower": sel["ci_lower"].to_numpy(dtype=float),
                "upper": sel["ci_upper"].to_numpy(dtype=float),
            }
        )

    out = pd.concat([pick(bayes, f"Bayes {model}", f"bayes_{model}"), pick(baselines, LOGIT, "logit")])
    order = {t: i for i, t in enumerate(STUDY_TERM_NAMES)}
    out = out.sort_values(
        ["term", "group"], key=lambda s: s.map(order) if s.name == "term" else s, kind="stable"
    )
    out.insert(1, "label", [term_label(t) for t in out["term"]])
    return out.reset_index(drop=True)


@dataclass
class ForestStep(StepBase):
    """Table and figure of the reference model against the statsmodels logit."""

    model: str = ""

    def params(self) -> Any:
        return {"reference": self.model}

    def run(self, ctx: RunContext, upstream: Mapping[str, CacheEntry], out: Path) -> dict[str, Any]:
        from clusterpreneur.diagnostics.plots import plot_forest, save_figure

        baselines = read_csv(upstream["baselines"].file(BASELINES))
        bayes = read_csv(upstream[f"estimates:{self.model}"].file(COEFFICIENTS))
        table = forest_table(baselines, bayes, self.model)
        write_csv(out / TABLE, table)
        save_figure(plot_forest(table, xlabel=XLABEL), out / "forest")
        return {"rows": len(table)}
