"""The study's predictor statement, shared by the baselines, the Bayesian models and the simulator.

There is exactly one list of predictors (:data:`STUDY_TERMS`); everything that needs a
design matrix calls :func:`design_matrix` with it (or with a user's own terms).
"""

from __future__ import annotations

import itertools
import math

import pandas as pd

from clusterpreneur.models.build import design_frame
from clusterpreneur.models.hypotheses import original_scale_factor as original_scale_factor
from clusterpreneur.models.spec import Term as Term
from clusterpreneur.models.spec import component_columns as component_columns
from clusterpreneur.standardize import Standardizer
from clusterpreneur.study.measures import add_measures

STUDY_TERMS: tuple[Term, ...] = (
    Term("involve_research", description="research actors' involvement (0-4)"),
    Term("involve_policy", description="policy actors' involvement (0-4), at the mean age"),
    Term("involve_industry", description="industry actors' involvement (0-4)"),
    Term("involve_finance", description="finance/business-service actors' involvement (0-4)"),
    Term(
        "breadth",
        "H1",
        +1,
        "number of active actor types beyond their separate effects, in non-peripheral regions",
    ),
    Term("peripheral", description="less-favoured / peripheral region, at mean breadth and social capital"),
    Term("breadth:peripheral", "H2", +1, "breadth matters more in peripheral regions"),
    Term("sc_score", "H3", +1, "social capital, in non-peripheral regions"),
    Term("sc_score:peripheral", "H3", +1, "social capital offsets peripherality"),
    Term("log_firms", "H4", +1, "critical mass: log number of firms"),
    Term("anchor_firm", "H4", +1, "a large anchor firm is present"),
    Term("public_private", "H5", +1, "public and private clusterpreneurs mixed"),
    Term("age", description="initiative age in years, at mean policy involvement"),
    Term("involve_policy:age", "H6", -1, "policy actors' role shrinks with age"),
    Term("prior_cluster", description="a previous successful cluster in the region"),
)
"""The study's take-off predictors; ``name`` of an interaction joins components by ':'.

A main effect that also enters an interaction is the effect where the other component is zero
on the standardised scale (see :func:`design_matrix`): at the mean of a continuous component, and
in non-peripheral regions when the other component is ``peripheral`` (a 0/1 column is not
centred). The descriptions say so.
"""

STUDY_TERM_NAMES: tuple[str, ...] = tuple(t.name for t in STUDY_TERMS)

TERM_LABELS: dict[str, str] = {
    "intercept": "intercept",
    "involve_research": "research involvement",
    "involve_policy": "policy involvement",
    "involve_industry": "industry involvement",
    "involve_finance": "finance involvement",
    "breadth": "breadth",
    "peripheral": "peripheral region",
    "sc_score": "social capital",
    "log_firms": "log firms",
    "anchor_firm": "anchor firm",
    "public_private": "public-private mix",
    "age": "age",
    "prior_cluster": "previous cluster",
    "board_diversity": "board diversity",
    "ilr_research": "board: research vs rest (ILR)",
    "ilr_policy": "board: policy vs industry, finance (ILR)",
    "ilr_industry_finance": "board: industry vs finance (ILR)",
}
"""Readers' names of the predictor components (and the intercept)."""

UNITS: dict[str, str] = {
    "involve_research": "involvement point",
    "involve_policy": "involvement point",
    "involve_industry": "involvement point",
    "involve_finance": "involvement point",
    "breadth": "actor type",
    "sc_score": "scale point",
    "log_firms": "e-fold (x 2.7) of firms",
    "age": "year",
    "lfr_index": "index point",
    "board_diversity": "Blau point",
}
"""The original unit of each continuous component (0/1 components: the unit is the switch)."""


AT_ZERO: dict[str, str] = {"peripheral": "in non-peripheral regions"}
"""Where a 0/1 component is 0, in words: a main effect whose interaction partner is this
component is the effect there (0/1 columns are not centred; see :func:`design_matrix`)."""


def term_label(name: str) -> str:
    """A reader's name for a term, group-level scale or family parameter: components joined by ' × '."""
    from clusterpreneur.models.families import parameter_label

    if (label := parameter_label(name)) is not None:
        return label
    if name.startswith("sigma_"):
        return f"SD of {name.removeprefix('sigma_').replace('_', ' ')} effects"
    return " × ".join(TERM_LABELS.get(c, c.replace("_", " ")) for c in name.split(":"))


HYPOTHESES: dict[str, tuple[str, str]] = {
    "H1": ("composition and synergy", "take-off rises with the breadth of clusterpreneur involvement"),
    "H2": ("regional moderation", "breadth matters more in peripheral regions"),
    "H3": ("social capital", "social capital raises take-off and partly offsets a peripheral location"),
    "H4": ("critical mass", "more firms and a large anchor firm raise take-off"),
    "H5": ("legitimacy", "initiatives mixing public and private clusterpreneurs take off more often"),
    "H6": ("life cycle", "the policy actors' role shrinks as the initiative ages"),
}
"""Each hypothesis of :data:`STUDY_TERMS`: (short name, the claim in words)."""


def terms_from_names(names: list[str] | tuple[str, ...]) -> tuple[Term, ...]:
    """Look up study terms by name; unknown names become plain terms without a hypothesis."""
    known = {t.name: t for t in STUDY_TERMS}
    return tuple(known.get(n, Term(n)) for n in names)


def design_matrix(
    df: pd.DataFrame,
    terms: tuple[Term, ...] = STUDY_TERMS,
    standardizer: Standardizer | None = None,
) -> tuple[pd.DataFrame, Standardizer]:
    """Standardised design matrix (one column per term, no intercept) and its standardiser.

    Components are standardised first (binary ones only kept 0/1); an interaction is the
    product of its standardised components. So a main effect that also enters an interaction is
    its effect where the other component is zero on this scale: at the mean of a continuous
    component, but at 0 of a binary one (``breadth`` and ``sc_score`` are their effects in
    non-peripheral regions, since ``peripheral`` is 0/1). Missing inputs stay missing (NaN) for
    the caller to drop or impute.
    """
    cols = component_columns(terms)
    frame = df if all(c in df for c in cols) else add_measures(df)
    missing = [c for c in cols if c not in frame]
    if missing:
        raise KeyError(f"predictor columns not found in the data: {missing}")
    comp = frame[cols].astype("float64")
    std = standardizer if standardizer is not None else Standardizer.fit(comp, cols)
    return design_frame(terms, std.transform(comp)), std


HYPOTHESIS_SIGNS: dict[str, dict] = {
    t.name: {"sign": t.sign, "label": t.hypothesis, "description": t.description}
    for t in STUDY_TERMS
    if t.hypothesis is not None
}
"""The study terms' hypotheses as a spec's ``hypotheses`` (term -> sign, label, description)."""


def restate(
    coefficients: dict[str, float], terms: tuple[Term, ...], source: Standardizer, target: Standardizer
) -> tuple[dict[str, float], float]:
    """The same linear predictor on another standardisation: the coefficients of ``terms`` on the
    design standardised by ``target`` and the shift of the intercept.

    ``sum_t b_t prod_c (x_c - m_c) / s_c`` (centres ``m`` and scales ``s`` of ``source``) is
    rewritten exactly as ``shift + sum_t b'_t prod_c (x_c - m'_c) / s'_c`` (``target``), since
    ``(x - m) / s = (s' / s) (x - m') / s' + (m' - m) / s``. A term's product expands into its
    sub-products, so each of those must be a term too (the study terms' are: every interaction's
    components are terms); otherwise ValueError. Used to state a simulation's truth on the
    standardisation a fit learnt from its own rows.
    """
    index = {frozenset(t.components): t.name for t in terms}
    out = dict.fromkeys(index.values(), 0.0)
    shift = 0.0
    for t in terms:
        b = float(coefficients.get(t.name, 0.0))
        comps = t.components
        slope = [target.scale[c] / source.scale[c] for c in comps]
        offset = [(target.center[c] - source.center[c]) / source.scale[c] for c in comps]
        for keep in itertools.product((True, False), repeat=len(comps)):
            part = b * math.prod(a if k else d for a, d, k in zip(slope, offset, keep, strict=True))
            if part == 0.0:
                continue
            kept = frozenset(c for c, k in zip(comps, keep, strict=True) if k)
            if not kept:
                shift += part
            elif kept in index:
                out[index[kept]] += part
            else:
                raise ValueError(
                    f"{t.name} cannot be restated on another centring: its part {':'.join(sorted(kept))} "
                    "is not a term"
                )
    return out, shift
