"""The model ladder M1-M6 of STUDY.md section 4, as named :class:`ModelSpec` instances.

Every rung uses the shared predictor statement :data:`clusterpreneur.study.predictors.STUDY_TERMS`
(no second list); M5 adds board-composition coordinates on top of it.

- **M1** varying intercepts by country and region (nested; about 2.5 initiatives per region);
  how each level is sampled is chosen automatically (:mod:`clusterpreneur.models.parametrize`).
- **M2** M1 + a breadth slope varying by country (the simulator's generating structure);
  the cross-level interactions of H2 / H3 are already terms of STUDY_TERMS.
- **M3** M2 with social capital as a latent variable measured by its four ordinal items
  (graded response), replacing ``sc_score`` in ``sc_score`` and ``sc_score:peripheral``.
- **M4** the three performance ratings as cumulative logits over dim ``outcome`` sharing one
  effect per initiative, given take-off and the facilitator (terms beside STUDY_TERMS, see
  :data:`M4`), same groups.
- **M5** M2 + the three ILR board coordinates, board diversity and their exploratory
  interactions with peripherality under a regularised horseshoe (breadth is already in).
- **M6** the discrete-time hazard of take-off on a panel of survey waves (person-period rows:
  one per initiative and wave at risk, outcome take-off in the interval ending at that wave):
  one baseline log-odds per wave (``intercept`` over dim ``wave``), STUDY_TERMS at their values
  in that wave (time-varying where they vary: involvement, breadth, social capital, firms,
  anchor firm, age), varying intercepts by country and region. Logit link, as the statsmodels
  ``hazard_logit`` baseline and the panel simulator (a cloglog link would suit grouped
  continuous time; with about 30% take-off per interval the two differ little and the logit
  keeps one link across the ladder).
- **G1** firm growth (a continuous log ratio): a gaussian model with varying intercepts by country
  and region on the study terms plus take-off, the Bayesian twin of the ``mixedlm`` baseline
  (:func:`clusterpreneur.study.growth.growth_comparison` sets them side by side). Not a take-off
  rung: the report's LOO comparison, forest plot and cases leave it out.
"""

from __future__ import annotations

from clusterpreneur.models.spec import DEFAULT_PRIORS, GroupLevel, LatentSpec, ModelSpec, VaryingSlope
from clusterpreneur.study.baselines import GROWTH, GROWTH_EXTRA
from clusterpreneur.study.codebook import RATINGS, SC_ITEMS, WAVE
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
    terms=(*STUDY_TERM_NAMES, "takeoff", "facilitator"),
    description="performance ratings given take-off and the facilitator: cumulative logits sharing one "
    "effect per initiative",
)
"""M4 models the ratings **conditional on take-off** (and the facilitator): both enter its linear
predictor as 0/1 terms beside STUDY_TERMS, and the three ratings of an initiative share **one
initiative effect** ``u_initiative ~ Normal(0, sigma_initiative)`` (a varying intercept per
initiative over its repeated ratings, the standard multilevel model of several ordinal items of
one unit).

Why one shared effect, not an effect per rating with correlations (an LKJ prior, as before):
each initiative gives one rating per outcome, so the outcome-specific part of its effect is
confounded with the logistic error; only the covariance between outcomes (``sigma^2 rho``) is
identified by the data, the variances only weakly, by the shape of the link. The posterior ran along
a ridge (scale up, correlation down, cutpoints and coefficients inflated by ``sqrt(1 + unique
variance / (pi^2 / 3))``) to ``sigma_initiative`` near 3 with correlation near 0.1, on the shipped
survey (truth 0.8 and 0.5) and even on simulated surveys without any outcome-specific effect: a
prior-data conflict, poor ESS and about half the initiatives with a high Pareto k. With one shared effect
the outcome-specific parts are absorbed by the logistic error (every coefficient slightly
attenuated), ``sigma_initiative`` is the shared part, identified by the ratings' association,
and it is recovered (:func:`clusterpreneur.study.simulate.ratings_truth` states the truth on this
scale).

Why conditional, not a joint model of take-off and ratings sharing the initiative effect: in the
study's design (and the simulator) the ratings are assessments made *after* take-off is known and
depend on it directly; there is no common latent cause of both beyond the predictors, so a shared
effect would be unidentified from one take-off per initiative and would bend M1's take-off
estimates towards the ratings. Conditioning states the design's own structure, matches the
statsmodels ordered-logit baselines and keeps the take-off rungs (M1-M3, M5) as they are. Left
out, take-off's large effect on all three ratings (an initiative-level shift shared by the
three) had to be absorbed by the initiative effects, whose scale then sat far in the tail of its
prior (a prior-data conflict) and made every initiative influential for PSIS-LOO."""

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

M6 = ModelSpec(
    name="M6",
    outcome="takeoff",
    family="bernoulli",
    terms=STUDY_TERM_NAMES,
    groups=GROUPS,
    baseline=WAVE,
    hypotheses=HYPOTHESIS_SIGNS,
    description="discrete-time hazard of take-off over survey waves: baseline per wave, STUDY_TERMS, groups",
    **STUDY_NAMES,
)

LADDER: dict[str, ModelSpec] = {"M1": M1, "M2": M2, "M3": M3, "M4": M4, "M5": M5, "M6": M6}
PANEL_MODELS: tuple[str, ...] = tuple(m for m, s in LADDER.items() if s.baseline is not None)
"""Rungs fitted on a panel of survey waves (person-period rows), not on the cross-section."""

SUMMARIES: dict[str, str] = {
    "M1": "intercepts varying by country and by region",
    "M2": "M1 and a breadth effect varying by country",
    "M3": "M2 with social capital a latent trait of its four items",
    "M4": "the three ratings as ordinal outcomes sharing an initiative effect, given take-off",
    "M5": "M2 and board composition, shrinkage on its interactions",
    "M6": "take-off hazard over survey waves (panel): a baseline per wave",
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
