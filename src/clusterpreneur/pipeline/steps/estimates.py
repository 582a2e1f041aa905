"""Step ``estimates:<M>``: the coefficient table (tidy format) and the hypothesis table of one fit.

Kept apart from the sampling step so that a change to how estimates are tabulated never
re-samples a model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clusterpreneur.pipeline.artefacts import read_frame, write_csv
from clusterpreneur.pipeline.cache import CacheEntry
from clusterpreneur.pipeline.step import RunContext, StepBase
from clusterpreneur.pipeline.steps.data import SURVEY, data_step
from clusterpreneur.pipeline.steps.model import FIT

COEFFICIENTS = "coefficients.csv"
HYPOTHESES = "hypotheses.csv"


def load_step_fit(upstream: Mapping[str, CacheEntry], model: str):
    """The fit of ``model:<model>`` with the survey it was fitted on (checked by ``load_fit``)."""
    from clusterpreneur.models.persist import load_fit

    data = read_frame(upstream[data_step(model)].file(SURVEY))
    return load_fit(upstream[f"model:{model}"].file(FIT), data)


@dataclass
class EstimatesStep(StepBase):
    """Posterior mean, SD and 95% interval of every coefficient; H1-H6 on both scales."""

    model: str = ""
    prob: float = 0.95

    def params(self) -> Any:
        return {"prob": self.prob}

    def run(self, ctx: RunContext, upstream: Mapping[str, CacheEntry], out: Path) -> dict[str, Any]:
        from clusterpreneur.models.hypotheses import coefficient_table, hypothesis_table

        fitted = load_step_fit(upstream, self.model)
        write_csv(out / COEFFICIENTS, coefficient_table(fitted, prob=self.prob))
        hyp = hypothesis_table(fitted, prob=self.prob)
        write_csv(out / HYPOTHESES, hyp)
        return {"hypothesis_rows": len(hyp)}
