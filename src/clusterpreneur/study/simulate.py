"""Seeded simulator of Greenbook-style surveys with known truth.

Generating process (countries -> regions -> initiatives), each step a documented,
tunable parameter of :class:`SimulationParams`:

1. Regions are peripheral with probability ``p_peripheral``; their relative indicators
   (unemployment gap, tertiary / R&D / patent ratios) are drawn around core or peripheral
   levels (North Jutland: +1.7 pp, 1/1.5, 2/3, 2/3). Peripheral regions have lower
   social capital (Morgan 1997) unless they had a previous successful cluster.
2. Latent social capital ``eta`` (region shift + initiative noise) drives the four Likert
   items by a graded-response model (discrimination ``sc_discrimination``, cutpoints
   ``sc_cutpoints``).
3. Involvement of each actor type (0-4), steering-board seats allocated among active
   types, financing, organisation (calibrated to the Greenbook 2003 marginals), firms
   and anchor firms, age and life-cycle stage.
4. Take-off is Bernoulli-logit with varying country and region intercepts, a breadth
   slope varying by country, the study's predictors (:data:`STUDY_TERMS`, standardised,
   with latent social capital in place of the item average) and a critical-mass
   threshold ``mass_effect * logistic((log n_firms - log threshold_firms) / threshold_scale)``
   that encodes H4 on top of the anchor-firm effect.
5. Three performance ratings (1-5) are correlated cumulative-logit outcomes whose top
   cutpoints are solved so that the expected shares rating 4 or 5 are the published
   85% / 89% / 81%; :func:`ratings_truth` restates their truth on the scale of M4.
6. Scenarios: ``default``, ``null_social_capital`` (no social-capital effect),
   ``null_hypotheses`` (every hypothesised effect H1-H6 zero: the terms of :data:`STUDY_TERMS`
   with a hypothesis, the critical-mass threshold and social capital's effect on the ratings;
   the other predictors and the group effects as in ``default``), ``mcar`` and ``mar`` (item
   non-response completely at random, or more in peripheral regions and small clusters) and
   ``unbalanced`` (1 to 8 regions per country, 1 to 61 initiatives per region).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit
from scipy.stats import norm

from clusterpreneur.study.codebook import ACTORS, RATINGS, SC_ITEMS, as_codebook_dtypes
from clusterpreneur.study.measures import add_measures
from clusterpreneur.study.predictors import STUDY_TERMS, design_matrix

GENERATOR_VERSION = "1.0.0"
"""Bump when the generating process changes: shipped data must then be regenerated."""

SCENARIOS = ("default", "null_social_capital", "null_hypotheses", "mcar", "mar", "unbalanced")

RATING_TARGETS = {"perf_competitiveness": 0.85, "perf_growth": 0.89, "perf_goals": 0.81}
"""Greenbook 2003 shares agreeing (rating 4 or 5)."""

MARGINAL_TARGETS = {"facilitator": 0.89, "office": 0.68, "key_individual": 0.40, "members_10plus": 0.95}
"""Greenbook 2003 shares of initiatives with a facilitator, an office, dependence on one
key individual and 10 or more active members."""


@dataclass(frozen=True)
class SimulationParams:
    """Every parameter of the generating process. Defaults give the calibrated default scenario."""

    survey_year: int = 2003
    initiatives_per_region: float = 2.5
    p_peripheral: float = 0.35
    # social capital
    sc_peripheral_shift: float = -0.4
    sc_prior_cluster_shift: float = 0.5
    sc_region_sd: float = 0.4
    sc_discrimination: tuple[float, ...] = (1.6, 1.2, 1.8, 1.0)
    sc_cutpoints: tuple[float, ...] = (-3.0, -1.6, 0.0, 1.8)
    # organisation (Greenbook 2003 marginals)
    p_facilitator: float = 0.89
    p_office: float = 0.68
    p_key_individual: float = 0.40
    p_members_10plus: float = 0.95
    members_log_sd: float = 0.8
    p_initiator: tuple[float, float, float] = (0.35, 0.25, 0.40)  # not published: tunable
    # critical mass
    firms_log_mean: float = np.log(35.0)
    firms_log_sd: float = 0.9
    threshold_firms: float = 30.0  # not published: the threshold is to be estimated
    threshold_scale: float = 0.3
    mass_effect: float = 1.0
    # take-off: intercept, group scales and standardised coefficients of STUDY_TERMS
    intercept: float = -1.4
    sigma_country: float = 0.5
    sigma_region: float = 0.35
    sigma_breadth_country: float = 0.2
    coefficients: dict[str, float] = field(
        default_factory=lambda: {
            "involve_research": 0.2,
            "involve_policy": 0.1,
            "involve_industry": 0.3,
            "involve_finance": 0.1,
            "breadth": 0.5,
            "peripheral": -0.6,
            "breadth:peripheral": 0.4,
            "sc_score": 0.6,
            "sc_score:peripheral": 0.3,
            "log_firms": 0.0,
            "anchor_firm": 0.8,
            "public_private": 0.5,
            "age": 0.3,
            "involve_policy:age": -0.3,
            "prior_cluster": 0.3,
        }
    )
    # performance ratings
    rating_takeoff_effect: float = 1.0
    rating_sc_effect: float = 0.4
    rating_facilitator_effect: float = 0.3
    rating_sd: float = 0.8
    rating_corr: float = 0.5
    rating_gaps: tuple[float, float, float] = (1.6, 1.4, 2.2)  # c3-c1 spacing below/above c3
    # item non-response
    missing_rate: float = 0.0
    missing_mechanism: str = "none"
    # unbalanced groups: regions per country uniform on 1..8, initiatives per region 1..61
    # (heavy-tailed sizes); otherwise about ``initiatives_per_region`` in every region
    unbalanced: bool = False


def scenario_params(scenario: str = "default") -> SimulationParams:
    """Parameters of a named scenario."""
    base = SimulationParams()
    if scenario == "default":
        return base
    if scenario == "null_social_capital":
        coefs = dict(base.coefficients, **{"sc_score": 0.0, "sc_score:peripheral": 0.0})
        return replace(base, coefficients=coefs, rating_sc_effect=0.0)
    if scenario == "null_hypotheses":
        coefs = dict(base.coefficients, **{t.name: 0.0 for t in STUDY_TERMS if t.hypothesis})
        return replace(base, coefficients=coefs, mass_effect=0.0, rating_sc_effect=0.0)
    if scenario == "mcar":
        return replace(base, missing_rate=0.1, missing_mechanism="mcar")
    if scenario == "mar":
        return replace(base, missing_rate=0.1, missing_mechanism="mar")
    if scenario == "unbalanced":
        return replace(base, unbalanced=True)
    raise ValueError(f"unknown scenario {scenario!r}; choose one of {SCENARIOS}")


MISSING_TARGETS = (*SC_ITEMS, "involve_finance", "public_funding", "n_firms_10plus")
"""Columns that item non-response can blank out in the ``mcar`` and ``mar`` scenarios."""


@dataclass
class SimulatedSurvey:
    """A simulated survey, the latent quantities behind it and its true parameters."""

    data: pd.DataFrame
    latent: pd.DataFrame
    truth: dict

    def save(self, directory: str | Path, stem: str = "survey") -> dict[str, str]:
        """Write data, latent values and truth; return ``{file name: SHA-256}``."""
        from clusterpreneur.io import write_atomic

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        files = {
            f"{stem}.csv": to_csv_bytes(self.data),
            f"{stem}_latent.csv": to_csv_bytes(self.latent),
            f"{stem}_truth.json": (json.dumps(self.truth, indent=2, sort_keys=True) + "\n").encode(),
        }
        for name, payload in files.items():
            write_atomic(directory / name, payload)
        return {name: hashlib.sha256(payload).hexdigest() for name, payload in files.items()}


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    """Deterministic CSV encoding (fixed float precision, Unix newlines)."""
    return df.to_csv(index=False, float_format="%.6g", lineterminator="\n").encode()


def _graded(rng: np.random.Generator, eta: np.ndarray, a: float, cuts: np.ndarray) -> np.ndarray:
    """Draw 1..K+1 ordinal responses with P(y > k) = logistic(a * eta - cut_k)."""
    p_above = expit(a * eta[:, None] - cuts[None, :])
    u = rng.uniform(size=(eta.size, 1))
    return 1 + (u < p_above).sum(axis=1)


SC_ITEM_SHIFTS: tuple[float, ...] = (0.0, 0.3, -0.2, 0.4)
"""Shift of each social-capital item's cutpoints (``sc_cutpoints``), in the order of SC_ITEMS."""


def likert_items(
    rng: np.random.Generator, sc_latent: np.ndarray, p: SimulationParams
) -> dict[str, np.ndarray]:
    """The four social-capital Likert items (1-5) of latent social capital: a graded-response model."""
    return {
        item: _graded(rng, sc_latent, a, np.asarray(p.sc_cutpoints) + shift)
        for item, a, shift in zip(SC_ITEMS, p.sc_discrimination, SC_ITEM_SHIFTS, strict=True)
    }


def performance_ratings(
    rng: np.random.Generator,
    takeoff: np.ndarray,
    sc_std: np.ndarray,
    facilitator: np.ndarray,
    p: SimulationParams,
    cutpoints: dict[str, list[float]] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, list[float]]]:
    """The three performance ratings (1-5): correlated cumulative logits of take-off, standardised
    social capital and the facilitator. Without ``cutpoints`` the top ones are solved so the
    shares rating 4 or 5 hit :data:`RATING_TARGETS`; returns the ratings and the cutpoints."""
    n, k = takeoff.size, len(RATINGS)
    corr = np.full((k, k), p.rating_corr) + (1 - p.rating_corr) * np.eye(k)
    z = rng.multivariate_normal(np.zeros(k), p.rating_sd**2 * corr, size=n, method="cholesky")
    ratings, cuts_used = {}, {}
    for j, name in enumerate(RATINGS):
        latent = (
            p.rating_takeoff_effect * takeoff
            + p.rating_sc_effect * sc_std
            + p.rating_facilitator_effect * facilitator
            + z[:, j]
        )
        if cutpoints is None:
            c3 = brentq(lambda c, lat=latent, t=RATING_TARGETS[name]: expit(lat - c).mean() - t, -20, 20)
            g1, g2, g4 = p.rating_gaps
            cuts = np.array([c3 - g1 - g2, c3 - g2, c3, c3 + g4])
        else:
            cuts = np.asarray(cutpoints[name], dtype=float)
        cuts_used[name] = cuts.round(6).tolist()
        ratings[name] = 1 + (rng.uniform(size=(n, 1)) < expit(latent[:, None] - cuts[None, :])).sum(axis=1)
    return ratings, cuts_used


LOGISTIC_VARIANCE = np.pi**2 / 3.0
"""Variance of the standard logistic error of a cumulative logit."""


def ratings_truth(p: SimulationParams | None = None) -> dict[str, float | dict[str, float]]:
    """The truth of the ratings on the scale of M4, which gives each initiative one effect shared
    by its three ratings (:data:`clusterpreneur.study.ladder.M4`).

    The generator's initiative effects are ``MVN(0, rating_sd^2 R)`` with correlation
    ``rating_corr`` between the ratings: a shared part with SD ``shared_sd = rating_sd *
    sqrt(rating_corr)`` plus a unique part per rating with SD ``unique_sd = rating_sd *
    sqrt(1 - rating_corr)``. With one answer per rating, the unique part is indistinguishable
    from the logistic error: a cumulative logit with error ``logistic + N(0, unique_sd^2)`` is
    close to one with a logistic error rescaled to the same variance, so on M4's scale every
    latent-scale quantity (coefficients, shared SD, cutpoints) is multiplied by ``attenuation =
    sqrt(LOGISTIC_VARIANCE / (LOGISTIC_VARIANCE + unique_sd^2))`` (0.955 by default). Returns
    those, ``sigma_initiative = shared_sd * attenuation`` and ``coefficients`` (take-off,
    standardised latent social capital as ``sc_score``, facilitator) on M4's scale; the other
    terms' truth is zero. Exact when ``rating_corr`` is 1 (the attenuation is then 1). States
    the generating process of :func:`performance_ratings`; it changes nothing in it.
    """
    p = p or SimulationParams()
    shared = p.rating_sd * np.sqrt(p.rating_corr)
    unique = p.rating_sd * np.sqrt(1.0 - p.rating_corr)
    a = float(np.sqrt(LOGISTIC_VARIANCE / (LOGISTIC_VARIANCE + unique**2)))
    latent = {
        "takeoff": p.rating_takeoff_effect,
        "sc_score": p.rating_sc_effect,
        "facilitator": p.rating_facilitator_effect,
    }
    return {
        "sigma_initiative": float(shared * a),
        "shared_sd": float(shared),
        "unique_sd": float(unique),
        "attenuation": a,
        "coefficients": {k: float(v * a) for k, v in latent.items()},
    }


MAX_REGIONS_PER_COUNTRY = 8
MAX_PER_REGION = 61


def _unbalanced_groups(rng, n_initiatives: int, n_countries: int) -> tuple[np.ndarray, np.ndarray]:
    """(country of each region, region of each initiative), both sorted: 1 to 8 regions per
    country, 1 to 61 initiatives per region with log-normal (heavy-tailed) weights."""
    per_country = rng.integers(1, MAX_REGIONS_PER_COUNTRY + 1, n_countries)
    region_country = np.repeat(np.arange(n_countries), per_country)
    n_regions = region_country.size
    if not n_regions <= n_initiatives <= MAX_PER_REGION * n_regions:
        raise ValueError(
            f"{n_initiatives} initiatives do not fit {n_regions} regions of 1 to {MAX_PER_REGION}: "
            "change n_countries"
        )
    weights = rng.lognormal(0.0, 2.5, n_regions)
    sizes = 1 + rng.multinomial(n_initiatives - n_regions, weights / weights.sum())
    while (over := sizes - MAX_PER_REGION).max() > 0:  # move the overflow to regions with room
        extra = int(over.clip(0).sum())
        sizes = sizes.clip(max=MAX_PER_REGION)
        room = (sizes < MAX_PER_REGION).astype(float) * weights
        sizes += rng.multinomial(extra, room / room.sum())
    return region_country, np.repeat(np.arange(n_regions), sizes)


def simulate_survey(
    n_initiatives: int = 250,
    n_countries: int = 30,
    seed: int = 20031,
    scenario: str = "default",
    params: SimulationParams | None = None,
) -> SimulatedSurvey:
    """Simulate a survey of ``n_initiatives`` cluster initiatives in ``n_countries`` countries.

    Same arguments, same output, to the byte. ``params`` overrides the scenario's parameters.
    """
    if n_countries < 1 or n_initiatives < n_countries:
        raise ValueError("need at least one country and at least one initiative per country")
    p = params if params is not None else scenario_params(scenario)
    rng = np.random.default_rng(seed)

    # countries -> regions -> initiatives, every group non-empty
    if p.unbalanced:
        region_country, init_region = _unbalanced_groups(rng, n_initiatives, n_countries)
        n_regions = region_country.size
    else:
        n_regions = max(n_countries, round(n_initiatives / p.initiatives_per_region))
        region_country = np.concatenate(
            [np.arange(n_countries), rng.integers(0, n_countries, n_regions - n_countries)]
        )
        region_country.sort()
        init_region = np.concatenate(
            [np.arange(n_regions), rng.integers(0, n_regions, n_initiatives - n_regions)]
        )
        init_region.sort()
    init_country = region_country[init_region]
    country_ids = [f"C{c + 1:03d}" for c in range(n_countries)]
    region_ids = [f"{country_ids[region_country[r]]}-R{r + 1:04d}" for r in range(n_regions)]

    # regions
    periph = rng.uniform(size=n_regions) < p.p_peripheral
    unemp_gap = np.where(periph, 1.6, -0.4) + rng.normal(0, 0.7, n_regions)
    tertiary = np.exp(np.where(periph, np.log(1 / 1.5), np.log(1.1)) + rng.normal(0, 0.12, n_regions))
    rnd = np.exp(np.where(periph, np.log(2 / 3), np.log(1.15)) + rng.normal(0, 0.25, n_regions))
    patent = np.exp(np.where(periph, np.log(2 / 3), np.log(1.15)) + rng.normal(0, 0.3, n_regions))
    prior_cluster = rng.uniform(size=n_regions) < np.where(periph, 0.2, 0.3)
    university = rng.uniform(size=n_regions) < np.where(periph, 0.7, 0.9)
    sc_region = (
        p.sc_peripheral_shift * periph
        + p.sc_prior_cluster_shift * prior_cluster
        + rng.normal(0, p.sc_region_sd, n_regions)
    )

    n = n_initiatives
    r = init_region
    pr = periph[r].astype(float)

    # latent social capital and its Likert items
    sc_latent = sc_region[r] + rng.normal(0, np.sqrt(1 - p.sc_region_sd**2), n)
    items = likert_items(rng, sc_latent, p)

    # initiator, involvement, board
    initiator = 1 + rng.choice(3, size=n, p=np.asarray(p.p_initiator))
    public_init = initiator == 1
    p_active = {
        "research": 0.55 + 0.3 * university[r],
        "policy": 0.7 + 0.2 * public_init + 0.05 * pr,
        "industry": 0.92 - 0.15 * public_init,
        "finance": 0.4 + 0.1 * (initiator == 2),
    }
    q_intensity = {
        "research": np.full(n, 0.45),
        "policy": 0.35 + 0.35 * public_init,
        "industry": 0.55 + 0.2 * (initiator == 2),
        "finance": np.full(n, 0.3),
    }
    involve = {}
    for a in ACTORS:
        active = rng.uniform(size=n) < p_active[a]
        involve[a] = np.where(active, 1 + rng.binomial(3, q_intensity[a]), 0)
    none_active = sum(involve[a] > 0 for a in ACTORS) == 0
    involve["industry"] = np.where(none_active, 2, involve["industry"])
    seats = 5 + rng.poisson(5, n)
    weights = np.column_stack([involve[a].astype(float) ** 1.5 for a in ACTORS])
    weights /= weights.sum(axis=1, keepdims=True)
    board = np.vstack([rng.multinomial(seats[i], weights[i]) for i in range(n)])

    # organisation and financing
    facilitator = rng.uniform(size=n) < p.p_facilitator
    office = rng.uniform(size=n) < p.p_office
    key_individual = rng.uniform(size=n) < p.p_key_individual
    # log-normal members with P(n_members >= 10) = p_members_10plus
    members_mu = np.log(9.5) - p.members_log_sd * norm.ppf(1 - p.p_members_10plus)
    n_members = np.maximum(1, np.floor(np.exp(members_mu + rng.normal(0, p.members_log_sd, n)) + 0.5))
    public_funding = rng.beta(np.where(public_init, 6, 3), np.where(public_init, 2, 3))
    member_fees = (1 - public_funding) * rng.beta(2, 3, n)

    # phase
    age = 1 + rng.poisson(4.5, n)
    start_year = p.survey_year - age
    formalised = office & (rng.uniform(size=n) < 0.9)
    formalised_year = np.where(formalised, start_year + rng.binomial(age, 0.3), np.nan)
    lifecycle = 1 + (age + rng.normal(0, 1.5, n) > 3).astype(int) + (age + rng.normal(0, 1.5, n) > 8)

    # critical mass
    log_n_firms = p.firms_log_mean - 0.3 * pr + rng.normal(0, p.firms_log_sd, n)
    n_firms = np.maximum(3, np.floor(np.exp(log_n_firms) + 0.5)).astype(int)
    n_firms_10plus = rng.binomial(n_firms, 0.15)
    anchor = rng.uniform(size=n) < expit(-1.2 + 0.9 * (np.log(n_firms) - 3.5) - 0.5 * pr)
    venture = rng.uniform(size=n) < expit(-0.6 - 0.5 * pr)

    df = pd.DataFrame(
        {
            "initiative_id": [f"CI{i + 1:05d}" for i in range(n)],
            "region_id": [region_ids[k] for k in r],
            "country_id": [country_ids[c] for c in init_country],
            "survey_year": np.full(n, p.survey_year),
            **{f"involve_{a}": involve[a] for a in ACTORS},
            **{f"board_{a}": np.round(board[:, j] / seats, 6) for j, a in enumerate(ACTORS)},
            "board_seats": seats,
            "initiator": initiator,
            "facilitator": facilitator.astype(int),
            "key_individual": key_individual.astype(int),
            "office": office.astype(int),
            "formalised_year": formalised_year,
            "public_funding": np.round(public_funding, 4),
            "member_fees": np.round(member_fees, 4),
            "n_members": n_members.astype(int),
            **items,
            "prior_cluster": prior_cluster[r].astype(int),
            "peripheral": periph[r].astype(int),
            "unemp_gap": np.round(unemp_gap[r], 3),
            "tertiary_ratio": np.round(tertiary[r], 4),
            "rnd_ratio": np.round(rnd[r], 4),
            "patent_ratio": np.round(patent[r], 4),
            "n_firms": n_firms,
            "n_firms_10plus": n_firms_10plus,
            "anchor_firm": anchor.astype(int),
            "university": university[r].astype(int),
            "venture_capital": venture.astype(int),
            "start_year": start_year,
            "lifecycle": lifecycle,
        }
    )

    # take-off: the shared predictor statement, with latent social capital
    truth_frame = add_measures(df)
    truth_frame["sc_score"] = sc_latent
    X, std = design_matrix(truth_frame, STUDY_TERMS)
    beta = np.array([p.coefficients[t.name] for t in STUDY_TERMS])
    u_country = rng.normal(0, p.sigma_country, n_countries)
    u_region = rng.normal(0, p.sigma_region, n_regions)
    b_country = rng.normal(0, p.sigma_breadth_country, n_countries)
    mass = p.mass_effect * expit((np.log(n_firms) - np.log(p.threshold_firms)) / p.threshold_scale)
    eta = (
        p.intercept
        + u_country[init_country]
        + u_region[r]
        + b_country[init_country] * X["breadth"].to_numpy()
        + X.to_numpy() @ beta
        + mass
    )
    takeoff = (rng.uniform(size=n) < expit(eta)).astype(int)
    df["takeoff"] = takeoff

    # performance ratings: correlated cumulative logits, top cutpoints calibrated
    sc_std = (sc_latent - sc_latent.mean()) / sc_latent.std()
    ratings, rating_cuts = performance_ratings(rng, takeoff, sc_std, facilitator, p)
    for name, values in ratings.items():
        df[name] = values

    # firm growth between waves
    df["firm_growth"] = np.round(
        0.05 + 0.15 * takeoff + 0.05 * sc_std + rng.normal(0, 0.05, n_regions)[r] + rng.normal(0, 0.2, n),
        4,
    )

    df = _apply_nonresponse(df, p, rng)
    df = as_codebook_dtypes(df)
    latent_df = pd.DataFrame(
        {
            "initiative_id": df["initiative_id"],
            "sc_latent": np.round(sc_latent, 6),
            "takeoff_eta": np.round(eta, 6),
            "takeoff_prob": np.round(expit(eta), 6),
        }
    )
    truth = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "scenario": scenario if params is None else "custom",
        "n_initiatives": n,
        "n_countries": n_countries,
        "n_regions": n_regions,
        "params": _jsonable(asdict(p)),
        "takeoff": {
            "intercept": p.intercept,
            "coefficients_standardised": dict(p.coefficients),
            "sigma_country": p.sigma_country,
            "sigma_region": p.sigma_region,
            "sigma_breadth_country": p.sigma_breadth_country,
            "standardizer": std.to_dict(),
            "note": "coefficients act on the standardised design of STUDY_TERMS built with latent "
            "social capital (column sc_latent) in place of sc_score; a threshold term "
            "mass_effect * logistic((log n_firms - log threshold_firms) / threshold_scale) is added",
            "country_effects": dict(zip(country_ids, np.round(u_country, 6).tolist(), strict=True)),
            "region_effects": dict(zip(region_ids, np.round(u_region, 6).tolist(), strict=True)),
            "country_breadth_slopes": dict(zip(country_ids, np.round(b_country, 6).tolist(), strict=True)),
        },
        "ratings": {"cutpoints": rating_cuts, "targets": RATING_TARGETS},
    }
    return SimulatedSurvey(data=df, latent=latent_df, truth=truth)


def _apply_nonresponse(df: pd.DataFrame, p: SimulationParams, rng: np.random.Generator) -> pd.DataFrame:
    if p.missing_mechanism == "none" or p.missing_rate == 0:
        return df
    out = df.copy()
    n = len(df)
    for col in MISSING_TARGETS:
        if p.missing_mechanism == "mcar":
            prob = np.full(n, p.missing_rate)
        elif p.missing_mechanism == "mar":
            # more non-response in peripheral regions and small clusters (both observed)
            score = 1.0 * df["peripheral"].to_numpy() - 0.5 * (np.log(df["n_firms"]) - np.log(35))
            base = np.log(p.missing_rate / (1 - p.missing_rate)) - 0.4
            prob = expit(base + score)
        else:
            raise ValueError(f"unknown missing_mechanism {p.missing_mechanism!r}")
        out[col] = out[col].astype("float64").mask(rng.uniform(size=n) < prob)
    return out


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return obj
