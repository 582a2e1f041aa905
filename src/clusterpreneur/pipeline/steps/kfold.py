"""Step ``kfold:<M>``: K-fold cross-validation by country of one rung (``[diagnostics] kfold``).

Beside PSIS-LOO (one more initiative of the countries seen; unreliable where many Pareto k are
high), the report gives :func:`clusterpreneur.diagnostics.kfold.kfold_by_country` for the rungs
``[diagnostics] kfold`` names (initiatives of unseen countries): the rung refitted ``k`` times
without a group of countries, each held-out country scored with its new effects integrated out.
The folds sample with the rung's sampler and chains, at most ``FOLD_DRAWS`` draws (an ELPD needs
far fewer draws than the reported fit's tails). Writes ``kfold.csv`` (one row per country) and
``summary.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clusterpreneur.pipeline.artefacts import read_frame, write_csv, write_json
from clusterpreneur.pipeline.cache import CacheEntry
from clusterpreneur.pipeline.step import RunContext, StepBase
from clusterpreneur.pipeline.steps.data import SURVEY

FOLD_DRAWS = 1000
TABLE = "kfold.csv"
SUMMARY = "summary.json"


@dataclass
class KFoldStep(StepBase):
    """K-fold by country of ``spec`` (a rung of the ladder) on the survey."""

    spec: Any = None
    settings: Any = None  # pipeline.config.SamplerSettings
    k: int = 5
    seed: int = 0

    def params(self) -> Any:
        return {"spec": self.spec.to_dict(), "settings": vars(self.settings), "k": self.k, "seed": self.seed}

    def validate(self, ctx: RunContext) -> None:
        from clusterpreneur.diagnostics.kfold import _check

        _check(self.spec)

    def run(self, ctx: RunContext, upstream: Mapping[str, CacheEntry], out: Path) -> dict[str, Any]:
        from clusterpreneur.diagnostics.kfold import kfold_by_country

        s = self.settings
        df = read_frame(upstream["data"].file(SURVEY))
        res = kfold_by_country(
            self.spec, df, k=self.k, seed=self.seed, draws=min(s.draws, FOLD_DRAWS), tune=s.tune,
            chains=s.chains, sampler=s.sampler,
        )  # fmt: skip
        write_csv(out / TABLE, res.table.assign(model=self.spec.name))
        summary = res.summary()
        write_json(out / SUMMARY, summary)
        return summary
