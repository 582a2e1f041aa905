"""The model ladder M1-M5 of STUDY.md section 4, as named :class:`ModelSpec` instances.

Every rung uses the shared predictor statement :data:`clusterpreneur.study.predictors.STUDY_TERMS`
(no second list); M5 adds board-composition coordinates on top of it.

- **M1** varying intercepts by country and region (nested; about 2.5 initiatives per region);
  how each level is sampled is chosen automatically (:mod:`clusterpreneur.models.parametrize`).
- **M2** M1 + a breadth slope varying by country (the simulator's generating structure);
  the cross-level interactions of H2 / H3 are already terms of STUDY_TERMS.
- **M3** M2 with social capital as a latent variable measured by its four ordinal items
  (graded response), replacing ``sc_score`` in ``sc_score`` and ``sc_score:peripheral``.
- **M4** the three performance ratings as correlated cumulative logits (LKJ prior on the
  correlation of initiative-level effects over dim ``outcome``), same predictors and groups.
- **M5** M2 + the three ILR board coordinates, board diversity and their exploratory
  interactions with peripherality under a regularised horseshoe (breadth is already in).
- **G1** firm growth (a continuous log ratio): a gaussian model with varying intercepts by country
  and region on the study terms plus take-off, the Bayesian twin of the ``mixedlm`` baseline
  (:func:`clusterpreneur.study.growth.growth_comparison` sets them side by side). Not a take-off
  rung: the report's LOO comparison, forest plot and cases leave it out.
"""

from __future__ import annotations

from clusterpreneur.models.spec import DEFAULT_PRIORS, GroupLevel, LatentSpec, ModelSpec, VaryingSlope
from clusterpreneur.study.baselines import GROWTH, GROWTH_EXTRA
from clusterpreneur.study.codebook import RATINGS, SC_ITEMS
from clusterpreneur.study.measures import ILR_NAMES
from clusterpreneur.study.predictors import HYPOTHESIS_SIGNS, STUDY_TERM_NAMES

STUDY_NAMES = {
    "obs_dim": "initiative",
    "id_column": "initiative_id",
    "derived_from": "clusterpreneur.study.measures",
}
"""The study's own names in the core's specs: observations are initiatives with ids in
``initiative_id``; predictors such as ``breadth`` are the study's measures."""

GROUPS = (
    GroupLevel("country", "country_id"),
    GroupLevel("region", "region_id", parent="country"),
)

M1 = ModelSpec(
    name="M1",
    outcome="takeoff",
    family="bernoulli",
    terms=STUDY_TERM_NAMES,
    groups=GROUPS,
    hypotheses=HYPOTHESIS_SIGNS,
    description="varying intercepts by country and region on STUDY_TERMS",
    **STUDY_NAMES,
)

M2 = M1.with_overrides(
    name="M2",
    slopes=(VaryingSlope("breadth", "country"),),
    description="M1 + breadth slope varying by country; H2/H3 cross-level interactions as terms",
)

M3 = M2.with_overrides(
    name="M3",
    latent=LatentSpec("sc_latent", "sc_score", SC_ITEMS),
    description="M2 with latent social capital from its ordinal items (graded response), joint",
)

M4 = M1.with_overrides(
    name="M4",
    outcome=RATINGS,
    family="ordinal",
    description="performance ratings as correlated cumulative logits (LKJ on initiative effects)",
)

_M5_NEW = (*ILR_NAMES, "board_diversity")
_M5_INTERACTIONS = tuple(f"{c}:peripheral" for c in _M5_NEW)

M5 = M2.with_overrides(
    name="M5",
    terms=(*STUDY_TERM_NAMES, *_M5_NEW, *_M5_INTERACTIONS),
    shrinkage_terms=_M5_INTERACTIONS,
    # half-t(3) local scales: lighter tails than the half-Cauchy, no divergences (see build.py)
    priors={"horseshoe": {**DEFAULT_PRIORS["horseshoe"], "local_df": 3.0}},
    description="M2 + ILR board coordinates, breadth and diversity; horseshoe on exploratory interactions",
)

LADDER: dict[str, ModelSpec] = {"M1": M1, "M2": M2, "M3": M3, "M4": M4, "M5": M5}

SUMMARIES: dict[str, str] = {
    "M1": "intercepts varying by country and by region",
    "M2": "M1 and a breadth effect varying by country",
    "M3": "M2 with social capital a latent trait of its four items",
    "M4": "the three ratings as correlated ordinal outcomes",
    "M5": "M2 and board composition, shrinkage on its interactions",
}
"""What each rung adds, in a reader's words (the report's ladder table)."""

# --------------------------------------------------------------------------- firm growth

G1 = ModelSpec(
    name="G1",
    outcome=GROWTH,
    family="gaussian",
    terms=(*STUDY_TERM_NAMES, *(e for e in GROWTH_EXTRA if e not in STUDY_TERM_NAMES)),
    groups=GROUPS,
    impute=(),  # complete cases, the rows of the mixedlm baseline
    description="firm growth, gaussian, varying intercepts by country and region (beside mixedlm)",
    **STUDY_NAMES,
)
LADDER["G1"] = G1
SUMMARIES["G1"] = "firm growth: gaussian, intercepts varying by country and region"
