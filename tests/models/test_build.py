"""PyMC model building: names, dims, imputation, latent and ordinal rungs, prior predictive."""

from __future__ import annotations

import numpy as np
import pytest

from clusterpreneur.errors import SpecError
from clusterpreneur.models import build_model, prepare, sample_prior_predictive
from clusterpreneur.models.build import parametrization
from clusterpreneur.models.parametrize import PARAMETRIZATIONS
from clusterpreneur.study.codebook import RATINGS, SC_ITEMS
from clusterpreneur.study.ladder import LADDER


@pytest.mark.parametrize("name", list(LADDER))
def test_every_rung_builds(name, mcar_survey):
    """Building is cheap (nothing compiled); log densities are exercised by the fits. The panel
    rung (M6) builds on a small panel's person-period rows."""
    from clusterpreneur.study.ladder import PANEL_MODELS
    from clusterpreneur.study.panel import simulate_panel

    data = simulate_panel(60, 6, seed=3).data if name in PANEL_MODELS else mcar_survey.data
    model = build_model(LADDER[name], data)
    assert np.isfinite(model.initial_point()["beta" if name != "M5" else "beta_main"]).all()
    for dim in ("initiative", "country", "region", "term", "component"):
        assert dim in model.coords
    assert "beta" in model.named_vars


def test_m1_names_and_effects(small_survey):
    model = build_model(LADDER["M1"], small_survey.data)
    free = {rv.name for rv in model.free_RVs}
    assert {"fixed_qr", "sigma_country", "z_country", "sigma_region", "z_region"} <= free  # auto
    assert {"intercept", "beta", "u_country", "u_region"} <= set(model.named_vars) - free  # deterministic
    assert model.named_vars_to_dims["beta"] == ("term",)
    assert model.named_vars_to_dims["takeoff"] == ("initiative",)
    assert [rv.name for rv in model.observed_RVs] == ["takeoff"]


def test_centered_option(small_survey):
    from dataclasses import replace

    spec = LADDER["M1"]
    spec = spec.with_overrides(groups=(replace(spec.groups[0], parametrization="centred"), spec.groups[1]))
    model = build_model(spec, small_survey.data)
    free = {rv.name for rv in model.free_RVs}
    assert "u_country" in free and "z_country" not in free


def test_m2_has_varying_breadth_slope(small_survey):
    model = build_model(LADDER["M2"], small_survey.data)
    assert {"sigma_breadth_country", "z_breadth_country", "u_breadth_country"} <= set(model.named_vars)


def test_imputation_counts_and_variables(mcar_survey):
    df = mcar_survey.data
    prep = prepare(LADDER["M1"], df)
    assert prep.imputed["involve_finance"] == int(df["involve_finance"].isna().sum()) > 0
    model = build_model(LADDER["M1"], df, prepared=prep)
    assert "involve_finance_imputed" in {rv.name for rv in model.free_RVs}
    assert len(model.coords["involve_finance_missing"]) == prep.imputed["involve_finance"]
    assert len(model.coords["initiative"]) == len(df)  # nothing dropped


def test_m3_latent_measurement_model(mcar_survey):
    model = build_model(LADDER["M3"], mcar_survey.data)
    assert model.coords["item"] == SC_ITEMS
    assert {"sc_latent", "discrimination", *(f"cutpoints_{i}" for i in SC_ITEMS)} <= set(model.named_vars)
    observed = {rv.name for rv in model.observed_RVs}
    assert observed == {"takeoff", *SC_ITEMS}
    # missing items are skipped, not imputed
    n_obs = {rv.name: int(rv.shape.eval()[0]) for rv in model.observed_RVs if rv.name in SC_ITEMS}
    df = mcar_survey.data
    assert n_obs == {i: int(df[i].notna().sum()) for i in SC_ITEMS}


def test_m4_ratings_share_one_initiative_effect(small_survey):
    model = build_model(LADDER["M4"], small_survey.data)
    assert model.coords["outcome"] == RATINGS
    assert {rv.name for rv in model.observed_RVs} == set(RATINGS)
    assert model.named_vars_to_dims["u_initiative"] == ("initiative",)  # one effect, all three ratings
    assert not {"chol_outcome", "corr_outcome", "corr_outcome_cpc"} & set(model.named_vars)
    assert model.named_vars_to_dims["beta"] == ("outcome", "term")
    assert parametrization(LADDER["M4"], small_survey.data)["initiative"] in PARAMETRIZATIONS  # chosen


def test_m5_shrinkage_and_board_terms(small_survey):
    model = build_model(LADDER["M5"], small_survey.data)
    assert {"hs_tau", "hs_lambda", "hs_c2", "beta_main", "z_shrunk"} <= set(model.named_vars)
    assert "ilr_research" in model.coords["term"] and "board_diversity" in model.coords["term"]
    assert model.named_vars_to_dims["beta"] == ("term",)


def test_observed_override_for_sbc(small_survey):
    df = small_survey.data
    y = np.zeros(len(df))
    model = build_model(LADDER["M1"], df, observed=y)
    assert np.all(model.rvs_to_values[model["takeoff"]].data == 0)
    with pytest.raises(SpecError, match="shape"):
        build_model(LADDER["M1"], df, observed=np.zeros(3))


def test_prior_predictive_from_the_same_spec(small_survey):
    prior = sample_prior_predictive(LADDER["M2"], small_survey.data, draws=50, seed=1)
    y = prior["prior_predictive"]["takeoff"]
    assert y.shape == (1, 50, len(small_survey.data))
    assert set(np.unique(y.values)) <= {0, 1}
    again = sample_prior_predictive(LADDER["M2"], small_survey.data, draws=50, seed=1)
    np.testing.assert_array_equal(again["prior"]["beta"].values, prior["prior"]["beta"].values)


def test_nutpie_freezes_small_data(small_survey, monkeypatch):
    """Frozen data: a warm fit of the same data finds its graph in the cache and nutpie's wrapper
    has no shared array to compile for; large arrays stay data."""
    from clusterpreneur.models import fit

    model = build_model(LADDER["M1"], small_survey.data)
    assert fit.nutpie_compile_kwargs(model) == {"freeze_model": True}
    monkeypatch.setattr(fit, "FREEZE_MAX_BYTES", model["design"].get_value().nbytes - 1)
    assert fit.nutpie_compile_kwargs(model) == {"freeze_model": False}
