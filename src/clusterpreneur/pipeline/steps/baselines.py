"""Step ``baselines``: the statsmodels baselines of every outcome (tidy table)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clusterpreneur.pipeline.artefacts import read_frame
from clusterpreneur.pipeline.cache import CacheEntry
from clusterpreneur.pipeline.step import RunContext, StepBase
from clusterpreneur.pipeline.steps.data import SURVEY

TABLE = "baselines.csv"


@dataclass
class BaselinesStep(StepBase):
    """Logit / probit with country-clustered SE, GLM, ordered logits, mixed models (seeded VB)."""

    seed: int = 0

    def params(self) -> Any:
        return {"seed": self.seed}

    def run(self, ctx: RunContext, upstream: Mapping[str, CacheEntry], out: Path) -> dict[str, Any]:
        from clusterpreneur import tables
        from clusterpreneur.io import write_atomic
        from clusterpreneur.study.baselines import fit_baselines

        results = fit_baselines(read_frame(upstream["data"].file(SURVEY)), seed=self.seed)
        write_atomic(out / TABLE, tables.to_csv_bytes(results.table))
        return {
            "models": int(results.table[["outcome", "model"]].drop_duplicates().shape[0]),
            "warnings": len(results.warnings),
        }
