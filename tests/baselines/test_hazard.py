"""The pooled discrete-time hazard logit of a panel recovers the simulator's known hazard.

Recovery is checked where the model is the true one: the panel is simulated without country and
region effects (the pooled logit has none; with them it estimates population-averaged
coefficients, smaller in size, see ``test_baselines.py``), and the truth is restated on the
standardisation the fit learns from the panel's rows (:meth:`SimulatedPanel.hazard_truth`).
Two designs, as in ``test_baselines.py``:

* oracle: latent social capital in the ``sc_score`` column, the simulator's own design: every
  baseline hazard and coefficient must be recovered;
* observed: the item average, a noisy measure of latent social capital: its coefficients are
  attenuated (checked to be), and the terms that go with latent social capital in the
  simulator (``peripheral``, ``prior_cluster``: regions differ in social capital) are left out of
  the check, since they absorb the part of its effect the noisy score misses.

Pass rule: every estimate within the family-wise (Bonferroni over the module's checks) 95% band
of the truth, and no more 95% intervals missing the truth than the 95th percentile of
Binomial(k, 0.05). The seed is fixed, so the outcome is deterministic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom, norm

from clusterpreneur import tables
from clusterpreneur.study import baselines
from clusterpreneur.study.measures import add_measures
from clusterpreneur.study.panel import PanelParams, simulate_panel
from clusterpreneur.study.predictors import STUDY_TERMS

SC_TERMS = ("sc_score", "sc_score:peripheral")
WITH_SOCIAL_CAPITAL = ("peripheral", "prior_cluster")
N_CHECKS = 3 + len(STUDY_TERMS) + 3 + len(STUDY_TERMS) - len(SC_TERMS) - len(WITH_SOCIAL_CAPITAL)
Z_BAND = float(norm.ppf(1 - 0.05 / (2 * N_CHECKS)))


@pytest.fixture(scope="module")
def large_panel():
    """8,000 initiatives in 200 countries over three waves (about 14,000 rows), no group effects."""
    return simulate_panel(8000, 200, seed=515, params=PanelParams(sigma_country=0.0, sigma_region=0.0))


def _compare(fit: baselines.BaselineFit, truth: dict, terms: list[str]) -> pd.DataFrame:
    t = fit.table[fit.table["scale"] != "original"].set_index("term")
    flat = {**{f"wave {w}": a for w, a in truth["baseline"].items()}, **truth["coefficients"]}
    out = t.loc[terms, ["estimate", "std_error", "ci_lower", "ci_upper"]].astype(float)
    out["truth"] = [flat[name] for name in terms]
    out["z"] = (out["estimate"] - out["truth"]) / out["std_error"]
    out["covered"] = (out["ci_lower"] <= out["truth"]) & (out["truth"] <= out["ci_upper"])
    return out


def _assert_recovered(cmp: pd.DataFrame) -> None:
    assert (cmp["z"].abs() < Z_BAND).all(), cmp
    assert (~cmp["covered"]).sum() <= binom.ppf(0.95, len(cmp), 0.05), cmp


def test_oracle_design_recovers_every_hazard_parameter(large_panel):
    frame = add_measures(large_panel.data)
    frame["sc_score"] = large_panel.latent["sc_latent"].to_numpy()
    fit = baselines.fit_hazard_logit(frame)
    assert fit.converged and fit.warnings == []
    terms = ["wave 1", "wave 2", "wave 3", *(t.name for t in STUDY_TERMS)]
    _assert_recovered(_compare(fit, large_panel.hazard_truth(), terms))


def test_observed_design_recovers_the_hazard_and_attenuates_social_capital(large_panel):
    fit = baselines.fit_hazard_logit(large_panel.data)
    skip = set(SC_TERMS) | set(WITH_SOCIAL_CAPITAL)
    terms = ["wave 1", "wave 2", "wave 3", *(t.name for t in STUDY_TERMS if t.name not in skip)]
    truth = large_panel.hazard_truth()
    _assert_recovered(_compare(fit, truth, terms))
    sc = _compare(fit, truth, list(SC_TERMS))
    assert ((sc["estimate"] > 0) & (sc["estimate"] < sc["truth"])).all(), sc  # attenuated, right sign
    assert sc.loc["sc_score", "ci_upper"] < sc.loc["sc_score", "truth"]


def test_hazard_table_is_tidy_with_both_scales_and_waves(large_panel):
    fit = baselines.fit_hazard_logit(large_panel.data.iloc[:3000])
    table = fit.table
    assert list(table.columns) == list(tables.COLUMNS)
    assert set(table["model"]) == {"hazard_logit"} and set(table["outcome"]) == {"takeoff"}
    std = table[table["scale"] == "standardised"]
    assert std["term"].tolist()[:3] == ["wave 1", "wave 2", "wave 3"] and "Intercept" not in set(std["term"])
    original = table[table["scale"] == "original"]
    # the waves have no original scale; a 0/1 term has one scale, its own
    zero_one = {"peripheral", "anchor_firm", "public_private", "prior_cluster"}
    assert set(original["term"]) == {t.name for t in STUDY_TERMS} - zero_one
    assert set(table.loc[table["scale"] == "unscaled", "term"]) == zero_one
    assert (table["n"] == 3000).all() and table["p_value"].between(0, 1).all()


def test_fit_baselines_on_a_panel_fits_the_hazard_not_the_cross_section(large_panel):
    panel = large_panel.data.iloc[:600]
    results = baselines.fit_baselines(panel)
    models = set(results.table.loc[results.table["outcome"] == "takeoff", "model"])
    assert models == {"hazard_logit"}
    assert {"ordered_logit", "mixedlm"} <= set(results.table["model"])


def test_the_hazard_needs_a_panel(small_survey):
    with pytest.raises(ValueError, match="needs a panel"):
        baselines.fit_hazard_logit(small_survey.data)
    one_wave = small_survey.data.assign(wave=np.nan)
    with pytest.raises(ValueError, match="needs a panel"):
        baselines.fit_hazard_logit(one_wave)
