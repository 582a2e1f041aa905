"""Steps ``kfold:<M>:fold<f>`` and ``kfold:<M>``: K-fold cross-validation by country of one rung
(``[diagnostics] kfold``).

Beside PSIS-LOO (one more initiative of the countries seen; unreliable where many Pareto k are
high), the report gives K-fold by country (:mod:`clusterpreneur.diagnostics.kfold`) for the rungs
``[diagnostics] kfold`` names (initiatives of unseen countries): the rung refitted ``k`` times
without a group of countries, each held-out country scored with its new effects integrated out.
Each fold is a step of its own (``kfold:<M>:fold<f>``, :func:`~clusterpreneur.diagnostics.kfold.score_fold`):
the folds are independent refits, so the runner runs them concurrently and caches each. The
folds sample with the rung's sampler, chains and tuning, at most ``FOLD_DRAWS`` draws per chain: the
held-out density reads :data:`~clusterpreneur.diagnostics.kfold.HELDOUT_DRAWS` evenly spaced draws
of them (an ELPD needs far fewer draws than the reported fit's tails). ``kfold:<M>`` combines
them: ``kfold.csv`` (one row per country) and ``summary.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clusterpreneur.pipeline.artefacts import read_frame, read_json, write_csv, write_frame, write_json
from clusterpreneur.pipeline.cache import CacheEntry
from clusterpreneur.pipeline.step import RunContext, StepBase
from clusterpreneur.pipeline.steps.data import SURVEY

FOLD_DRAWS = 250
"""Draws per chain of a fold's refit: 4 chains give 1,000, of which 400 are read (was 1,000 per
chain, of which 90% were never read)."""
TABLE = "kfold.csv"
SUMMARY = "summary.json"
FOLD_TABLE = "fold.parquet"
FOLD_SUMMARY = "fold.json"


def fold_step(model: str, fold: int) -> str:
    """The name of fold ``fold`` (from 0) of the K-fold of ``model``."""
    return f"kfold:{model}:fold{fold + 1}"


@dataclass
class FoldStep(StepBase):
    """One fold of the K-fold by country of ``spec``: refit without its countries, score them."""

    spec: Any = None
    settings: Any = None  # pipeline.config.SamplerSettings
    k: int = 5
    seed: int = 0
    fold: int = 0

    def params(self) -> Any:
        s = vars(self.settings)
        return {"spec": self.spec.to_dict(), "settings": s, "k": self.k, "seed": self.seed, "fold": self.fold}

    def validate(self, ctx: RunContext) -> None:
        from clusterpreneur.diagnostics.kfold import check_kfold_supported

        check_kfold_supported(self.spec)

    def run(self, ctx: RunContext, upstream: Mapping[str, CacheEntry], out: Path) -> dict[str, Any]:
        from clusterpreneur.diagnostics.kfold import country_folds, score_fold

        s = self.settings
        df = read_frame(upstream["data"].file(SURVEY))
        folds = country_folds(self.spec, df, k=self.k, seed=self.seed)
        part, dropped = score_fold(
            self.spec, df, folds, self.fold, seed=self.seed, draws=min(s.draws, FOLD_DRAWS), tune=s.tune,
            chains=s.chains, sampler=s.sampler,
        )  # fmt: skip
        write_frame(out / FOLD_TABLE, part)
        summary = {"fold": self.fold, "countries": len(part), "dropped": dropped}
        write_json(out / FOLD_SUMMARY, summary)
        return summary


@dataclass
class KFoldStep(StepBase):
    """K-fold by country of ``spec`` (a rung of the ladder): the folds' scores combined."""

    spec: Any = None
    k: int = 5
    model: str = ""  # the rung's name in the configuration (its folds' steps are named by it)

    def params(self) -> Any:
        return {"model": self.model, "k": self.k}

    def validate(self, ctx: RunContext) -> None:
        from clusterpreneur.diagnostics.kfold import check_kfold_supported

        check_kfold_supported(self.spec)

    def run(self, ctx: RunContext, upstream: Mapping[str, CacheEntry], out: Path) -> dict[str, Any]:
        from clusterpreneur.diagnostics.kfold import combine_folds

        folds = [upstream[fold_step(self.model, f)] for f in range(self.k)]
        parts = [read_frame(e.file(FOLD_TABLE)) for e in folds]
        dropped = sum(int(read_json(e.file(FOLD_SUMMARY))["dropped"]) for e in folds)
        res = combine_folds(self.spec.name, parts, self.k, dropped)
        write_csv(out / TABLE, res.table.assign(model=self.spec.name))
        summary = res.summary()
        write_json(out / SUMMARY, summary)
        return summary
