"""The study's predictor statement, shared by the baselines, the Bayesian models and the simulator.

There is exactly one list of predictors (:data:`STUDY_TERMS`); everything that needs a
design matrix calls :func:`design_matrix` with it (or with a user's own terms).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from clusterpreneur.standardize import Standardizer
from clusterpreneur.study.measures import add_measures


@dataclass(frozen=True)
class Term:
    """One predictor: a derived measure or the product (interaction) of several."""

    name: str
    hypothesis: str | None = None
    sign: int = 0
    description: str = ""

    @property
    def components(self) -> tuple[str, ...]:
        return tuple(self.name.split(":"))

    @property
    def is_interaction(self) -> bool:
        return len(self.components) > 1


STUDY_TERMS: tuple[Term, ...] = (
    Term("involve_research", description="research actors' involvement (0-4)"),
    Term("involve_policy", description="policy actors' involvement (0-4)"),
    Term("involve_industry", description="industry actors' involvement (0-4)"),
    Term("involve_finance", description="finance/business-service actors' involvement (0-4)"),
    Term("breadth", "H1", +1, "number of active actor types beyond their separate effects"),
    Term("peripheral", description="less-favoured / peripheral region"),
    Term("breadth:peripheral", "H2", +1, "breadth matters more in peripheral regions"),
    Term("sc_score", "H3", +1, "social capital"),
    Term("sc_score:peripheral", "H3", +1, "social capital offsets peripherality"),
    Term("log_firms", "H4", +1, "critical mass: log number of firms"),
    Term("anchor_firm", "H4", +1, "a large anchor firm is present"),
    Term("public_private", "H5", +1, "public and private clusterpreneurs mixed"),
    Term("age", description="initiative age in years"),
    Term("involve_policy:age", "H6", -1, "policy actors' role shrinks with age"),
    Term("prior_cluster", description="a previous successful cluster in the region"),
)
"""The study's take-off predictors; ``name`` of an interaction joins components by ':'."""

STUDY_TERM_NAMES: tuple[str, ...] = tuple(t.name for t in STUDY_TERMS)


def terms_from_names(names: list[str] | tuple[str, ...]) -> tuple[Term, ...]:
    """Look up study terms by name; unknown names become plain terms without a hypothesis."""
    known = {t.name: t for t in STUDY_TERMS}
    return tuple(known.get(n, Term(n)) for n in names)


def component_columns(terms: tuple[Term, ...]) -> list[str]:
    """The distinct measure columns the terms are built from, in order of first use."""
    return list(dict.fromkeys(c for t in terms for c in t.components))


def design_matrix(
    df: pd.DataFrame,
    terms: tuple[Term, ...] = STUDY_TERMS,
    standardizer: Standardizer | None = None,
) -> tuple[pd.DataFrame, Standardizer]:
    """Standardised design matrix (one column per term, no intercept) and its standardiser.

    Components are standardised first (binary ones only kept 0/1); an interaction is the
    product of its standardised components, so main effects are effects at the mean of the
    other components. Missing inputs stay missing (NaN) for the caller to drop or impute.
    """
    cols = component_columns(terms)
    frame = df if all(c in df for c in cols) else add_measures(df)
    missing = [c for c in cols if c not in frame]
    if missing:
        raise KeyError(f"predictor columns not found in the data: {missing}")
    comp = frame[cols].astype("float64")
    std = standardizer if standardizer is not None else Standardizer.fit(comp, cols)
    z = std.transform(comp)
    out = pd.DataFrame(index=df.index)
    for t in terms:
        out[t.name] = np.prod([z[c].to_numpy() for c in t.components], axis=0)
    return out, std


def original_scale_factor(term: Term, standardizer: Standardizer) -> float:
    """Divide a standardised coefficient by this to get the effect per original unit."""
    return float(np.prod([standardizer.scale[c] for c in term.components]))
