"""Seeded simulator of survey panels with a known discrete-time hazard of take-off.

A panel follows initiatives over survey waves (one row per initiative and wave, the codebook's
``wave`` column). The Greenbook's survey ran in 2003 and again about a decade later (2012); the
default panel has three waves five years apart, 2003, 2008 and 2013 (:class:`PanelParams`
``wave_years``), so every interval between waves has the same length and the per-wave baseline
hazards are comparable. Generating process, each step a parameter of :class:`PanelParams`:

1. Initiatives, regions and countries, and every initiative's characteristics when it is first
   surveyed, come from :func:`~clusterpreneur.study.simulate.simulate_survey` (its calibrated
   process, with its seed). Each initiative enters the panel in one wave (``entry_shares``); a
   later entrant is the same kind of initiative, its start year moved by the years between the
   first wave and its own, so its age at entry is as in the survey.
2. Between waves, what can change changes: each actor type's involvement moves one step up or
   down (``involve_change``; breadth and the public-private mix follow), latent social capital
   drifts (``sc_drift_sd``) and its four Likert items are answered anew, the number of firms
   grows (``firms_growth_mean``, ``firms_growth_sd``; ``firm_growth`` is the log ratio to the
   previous wave), an anchor firm may arrive (``anchor_arrival``), the life-cycle stage never
   goes back; age grows with ``survey_year``. Region, country, start year, initiator, previous
   cluster, board and organisation stay.
3. Take-off in the interval that ends at wave ``k`` (for an initiative at risk: entered, not yet
   taken off, not dropped out) is Bernoulli with
   ``logit P = baseline_hazard[k] + X beta + u_country + u_region``, ``X`` the standardised
   design of :data:`~clusterpreneur.study.predictors.STUDY_TERMS` with latent social capital
   for ``sc_score`` (as in the survey simulator), standardised over the initiatives at entry:
   the survey's own standardiser. Take-off is absorbing: the initiative leaves the panel.
4. An initiative that did not take off drops out before the next wave with probability
   ``dropout`` (at random: non-informative censoring); the last wave censors the rest.
5. The performance ratings of each row follow the survey's rating model with that row's
   take-off, at the survey's cutpoints.

The truth (``SimulatedPanel.truth``, saved as JSON) holds the baseline hazard per wave, the
standardised coefficients, the group scales and effects and the standardiser they act on;
:meth:`SimulatedPanel.hazard_truth` restates them on the standardisation a fit learns from the
rows it uses, so recovery can be checked directly. Same arguments, same bytes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

from clusterpreneur.standardize import Standardizer
from clusterpreneur.study.codebook import ACTORS, WAVE, as_codebook_dtypes
from clusterpreneur.study.measures import add_measures
from clusterpreneur.study.predictors import STUDY_TERMS, component_columns, design_matrix, restate
from clusterpreneur.study.simulate import (
    SimulatedSurvey,
    SimulationParams,
    likert_items,
    performance_ratings,
    simulate_survey,
)

PANEL_GENERATOR_VERSION = "1.0.0"
"""Bump when the panel's generating process changes: a shipped panel must then be regenerated."""


def _hazard_coefficients() -> dict[str, float]:
    """The survey simulator's coefficients, with a linear slope on log firms (0.3) for the
    critical-mass threshold that the survey adds outside the design: the hazard stays in the
    family the models state (linear in the study terms on the logit scale)."""
    return dict(SimulationParams().coefficients, log_firms=0.3)


@dataclass(frozen=True)
class PanelParams:
    """Every parameter of the panel's generating process (see the module docstring)."""

    survey: SimulationParams = field(default_factory=SimulationParams)
    """Characteristics at entry (its ``survey_year`` is replaced by the first wave's year)."""
    wave_years: tuple[int, ...] = (2003, 2008, 2013)
    entry_shares: tuple[float, ...] = (0.6, 0.25, 0.15)
    """Share of the initiatives first surveyed in each wave."""
    baseline_hazard: tuple[float, ...] = (-2.0, -1.7, -1.9)
    """Log-odds of take-off in the interval ending at each wave, at the centre of the design and
    group effects zero (not published: about 30% of those at risk take off per five years)."""
    coefficients: dict[str, float] = field(default_factory=_hazard_coefficients)
    """Standardised coefficients of STUDY_TERMS."""
    sigma_country: float = 0.5
    sigma_region: float = 0.35
    dropout: float = 0.15
    involve_change: float = 0.25
    sc_drift_sd: float = 0.3
    firms_growth_mean: float = 0.1
    firms_growth_sd: float = 0.25
    anchor_arrival: float = 0.08

    def __post_init__(self) -> None:
        k = len(self.wave_years)
        if k < 2 or list(self.wave_years) != sorted(set(self.wave_years)):
            raise ValueError(f"wave_years must be two or more increasing years, not {self.wave_years}")
        if len(self.entry_shares) != k or len(self.baseline_hazard) != k:
            raise ValueError(f"entry_shares and baseline_hazard need one value per wave ({k})")
        if abs(sum(self.entry_shares) - 1) > 1e-9 or min(self.entry_shares) < 0:
            raise ValueError(f"entry_shares must be non-negative and sum to one, not {self.entry_shares}")
        unknown = set(self.coefficients) - {t.name for t in STUDY_TERMS}
        if unknown:
            raise ValueError(f"coefficients of unknown terms {sorted(unknown)}")


@dataclass
class SimulatedPanel(SimulatedSurvey):
    """A simulated panel (``data``: one row per initiative and wave), the latent values of each
    row (``latent``: social capital, hazard) and the true parameters (``truth``)."""

    def save(self, directory: str | Path, stem: str = "panel") -> dict[str, str]:
        """Write data, latent values and truth; return ``{file name: SHA-256}``."""
        return super().save(directory, stem)

    def hazard_truth(self, rows: pd.Index | None = None) -> dict:
        """The true hazard restated on the standardisation learnt from ``rows`` of ``data`` (default:
        all), with latent social capital for ``sc_score``: what a fit standardising those rows
        itself estimates. Returns ``{"baseline": {wave: log-odds}, "coefficients": {term: b}}``."""
        hazard = self.truth["hazard"]
        data = self.data if rows is None else self.data.loc[rows]
        frame = _truth_frame(data, self.latent.loc[data.index, "sc_latent"].to_numpy())
        target = Standardizer.fit(frame, component_columns(STUDY_TERMS))
        source = Standardizer.from_dict(hazard["standardizer"])
        coefs, shift = restate(hazard["coefficients_standardised"], STUDY_TERMS, source, target)
        baseline = {int(w): a + shift for w, a in hazard["baseline"].items()}
        return {"baseline": baseline, "coefficients": coefs}


def _truth_frame(data: pd.DataFrame, sc_latent: np.ndarray) -> pd.DataFrame:
    """Measures of ``data`` with latent social capital in place of the item average."""
    frame = add_measures(data)
    frame["sc_score"] = sc_latent
    return frame


def simulate_panel(
    n_initiatives: int = 400,
    n_countries: int = 30,
    seed: int = 20034,
    params: PanelParams | None = None,
) -> SimulatedPanel:
    """Simulate a panel of ``n_initiatives`` initiatives in ``n_countries`` countries over the waves
    of ``params`` (default :class:`PanelParams`). Same arguments, same output, to the byte."""
    p = params if params is not None else PanelParams()
    years = np.asarray(p.wave_years)
    n_waves = years.size
    base = simulate_survey(
        n_initiatives, n_countries, seed=seed, params=replace(p.survey, survey_year=int(years[0]))
    )
    rng = np.random.default_rng([seed, 2])  # the panel's own stream, independent of the survey's
    n = n_initiatives
    state = base.data.drop(columns=["takeoff", "firm_growth"]).copy()
    for col in state.columns:
        if col not in ("initiative_id", "region_id", "country_id"):
            state[col] = state[col].astype("float64")
    sc = base.latent["sc_latent"].to_numpy().copy()

    entry = rng.choice(n_waves, size=n, p=np.asarray(p.entry_shares))
    moved = years[entry] - years[0]
    state["start_year"] += moved
    state["formalised_year"] += moved

    # the hazard's design is standardised as the survey's at entry: its truth standardiser
    std = Standardizer.from_dict(base.truth["takeoff"]["standardizer"])
    beta = np.array([p.coefficients.get(t.name, 0.0) for t in STUDY_TERMS])
    countries, country_code = np.unique(state["country_id"].to_numpy(str), return_inverse=True)
    regions, region_code = np.unique(state["region_id"].to_numpy(str), return_inverse=True)
    u_country = rng.normal(0, p.sigma_country, countries.size)
    u_region = rng.normal(0, p.sigma_region, regions.size)
    cutpoints = base.truth["ratings"]["cutpoints"]

    alive = np.ones(n, dtype=bool)  # neither taken off nor dropped out
    log_firms = np.log(state["n_firms"].to_numpy())
    waves, latent = [], []
    for k in range(n_waves):
        if k > 0:
            alive &= ~((entry < k) & (rng.uniform(size=n) < p.dropout))  # leave before this wave, at random
            firm_growth = _evolve(rng, state, sc, log_firms, (entry < k) & alive, int(years[k]), p)
        else:
            firm_growth = np.full(n, np.nan)
        at_risk = (entry <= k) & alive
        if not at_risk.any():
            continue
        rows = state[at_risk].copy()
        rows["survey_year"] = float(years[k])
        rows[WAVE] = k + 1
        rows["firm_growth"] = np.where(entry[at_risk] < k, firm_growth[at_risk], np.nan)
        X, _ = design_matrix(_truth_frame(rows, sc[at_risk]), STUDY_TERMS, std)
        eta = (
            p.baseline_hazard[k]
            + X.to_numpy() @ beta
            + u_country[country_code[at_risk]]
            + u_region[region_code[at_risk]]
        )
        takeoff = (rng.uniform(size=eta.size) < expit(eta)).astype(int)
        rows["takeoff"] = takeoff
        sc_std = (sc[at_risk] - std.center["sc_score"]) / std.scale["sc_score"]
        ratings, _ = performance_ratings(
            rng, takeoff, sc_std, rows["facilitator"].to_numpy(), p.survey, cutpoints=cutpoints
        )
        for name, values in ratings.items():
            rows[name] = values
        waves.append(rows)
        latent.append(
            pd.DataFrame(
                {
                    "initiative_id": rows["initiative_id"].to_numpy(),
                    WAVE: k + 1,
                    "sc_latent": np.round(sc[at_risk], 6),
                    "hazard_eta": np.round(eta, 6),
                    "hazard_prob": np.round(expit(eta), 6),
                }
            )
        )
        alive[np.flatnonzero(at_risk)[takeoff == 1]] = False  # take-off is absorbing

    data = pd.concat(waves, ignore_index=True)
    order = np.lexsort((data[WAVE].to_numpy(), data["initiative_id"].to_numpy(str)))
    data = as_codebook_dtypes(data.iloc[order].reset_index(drop=True))
    latent_df = pd.concat(latent, ignore_index=True).iloc[order].reset_index(drop=True)
    truth = {
        "generator": "clusterpreneur.study.panel.simulate_panel",
        "generator_version": PANEL_GENERATOR_VERSION,
        "seed": seed,
        "n_initiatives": n,
        "n_countries": n_countries,
        "n_regions": int(regions.size),
        "n_rows": len(data),
        "waves": {str(k + 1): int(y) for k, y in enumerate(years)},
        "params": json.loads(json.dumps(asdict(p))),  # plain Python numbers
        "hazard": {
            "baseline": {str(k + 1): float(a) for k, a in enumerate(p.baseline_hazard)},
            "coefficients_standardised": {t.name: float(b) for t, b in zip(STUDY_TERMS, beta, strict=True)},
            "sigma_country": p.sigma_country,
            "sigma_region": p.sigma_region,
            "standardizer": std.to_dict(),
            "note": "logit P(take-off in the interval ending at wave k | at risk) = baseline[k] + "
            "coefficients . (standardised design of STUDY_TERMS, latent social capital (latent "
            "column sc_latent) for sc_score) + country effect + region effect; SimulatedPanel."
            "hazard_truth restates it on the standardisation of the rows a fit uses",
            "country_effects": dict(zip(countries.tolist(), np.round(u_country, 6).tolist(), strict=True)),
            "region_effects": dict(zip(regions.tolist(), np.round(u_region, 6).tolist(), strict=True)),
        },
        "ratings": {"cutpoints": cutpoints},
    }
    return SimulatedPanel(data=data, latent=latent_df, truth=truth)


def _evolve(
    rng: np.random.Generator,
    state: pd.DataFrame,
    sc: np.ndarray,
    log_firms: np.ndarray,
    moving: np.ndarray,
    year: int,
    p: PanelParams,
) -> np.ndarray:
    """Move the initiatives ``moving`` on to the wave of ``year`` (``state``, ``sc`` and
    ``log_firms`` in place); return the log growth of their number of firms (NaN elsewhere)."""
    n = moving.size
    for a in ACTORS:
        col = f"involve_{a}"
        step = np.where(rng.uniform(size=n) < 0.5, -1.0, 1.0) * (rng.uniform(size=n) < p.involve_change)
        state[col] = np.where(moving, np.clip(state[col] + step, 0, 4), state[col])
    inv = state[[f"involve_{a}" for a in ACTORS]].to_numpy()
    state["involve_industry"] = np.where(moving & (inv.max(axis=1) == 0), 2.0, state["involve_industry"])
    sc += np.where(moving, rng.normal(0, p.sc_drift_sd, n), 0.0)
    items = likert_items(rng, sc, p.survey)
    for item, values in items.items():
        state[item] = np.where(moving, values, state[item])
    before = state["n_firms"].to_numpy().copy()
    log_firms += np.where(moving, rng.normal(p.firms_growth_mean, p.firms_growth_sd, n), 0.0)
    firms = np.maximum(3.0, np.floor(np.exp(log_firms) + 0.5))
    state["n_firms"] = np.where(moving, firms, before)
    state["n_firms_10plus"] = np.where(moving, rng.binomial(firms.astype(int), 0.15), state["n_firms_10plus"])
    arrives = moving & (state["anchor_firm"].to_numpy() == 0) & (rng.uniform(size=n) < p.anchor_arrival)
    state["anchor_firm"] = np.where(arrives, 1.0, state["anchor_firm"])
    age = year - state["start_year"].to_numpy()
    stage = 1 + (age + rng.normal(0, 1.5, n) > 3) + (age + rng.normal(0, 1.5, n) > 8)
    state["lifecycle"] = np.where(moving, np.maximum(state["lifecycle"], stage), state["lifecycle"])
    return np.where(moving, np.round(np.log(state["n_firms"].to_numpy() / before), 4), np.nan)
