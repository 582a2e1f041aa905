"""Firm growth: the gaussian model G1 beside its MixedLM baseline, and where it sits in the plan."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from clusterpreneur.models import fit_model, prepare
from clusterpreneur.study.baselines import GROWTH_EXTRA, fit_mixedlm_growth
from clusterpreneur.study.growth import growth_comparison
from clusterpreneur.study.ladder import G1, LADDER
from clusterpreneur.study.predictors import STUDY_TERM_NAMES, STUDY_TERMS, original_scale_factor


def test_g1_is_the_gaussian_twin_of_the_mixedlm_baseline():
    assert LADDER["G1"] is G1 and G1.family == "gaussian" and G1.outcome == "firm_growth"
    assert G1.terms == (*STUDY_TERM_NAMES, *GROWTH_EXTRA)
    assert [g.name for g in G1.groups] == ["country", "region"]


class _Fit:
    """A stand-in fit whose posterior is centred on given original-scale coefficients."""

    def __init__(self, df, coefficients: dict[str, float], variances: dict[str, float], sd=0.01):
        prep = prepare(G1, df)
        self.spec, self.standardizer = G1, prep.standardizer
        rng = np.random.default_rng(0)
        beta = [
            coefficients[t.name] * original_scale_factor(t, prep.standardizer) + sd * rng.standard_normal(800)
            for t in G1.term_objects
        ]
        dims = ("chain", "draw")
        post = {"beta": ((*dims, "term"), np.stack(beta, axis=-1).reshape(2, 400, -1))}
        for name, var in variances.items():
            post[f"sigma_{name}"] = (dims, np.sqrt(var) + 1e-3 * rng.standard_normal((2, 400)))
        self.idata = xr.DataTree.from_dict({"posterior": xr.Dataset(post, coords={"term": list(G1.terms)})})


def test_comparison_states_both_models_per_original_unit(default_survey):
    df = default_survey.data
    base = fit_mixedlm_growth(df, STUDY_TERMS, extra=GROWTH_EXTRA).table
    orig = base[base["scale"].isin(("original", "unscaled"))].set_index("term")["estimate"].to_dict()
    variances = {n: 0.01 for n in ("country", "region", "residual")}
    table = growth_comparison(_Fit(df, orig, variances), df)
    coef = table[table["scale"] == "original"]
    assert list(coef["term"]) == list(G1.terms)
    # the posterior is centred on the baseline: the conversion to original units is exact
    assert np.all(
        np.abs(coef["bayes_mean"] - coef["mixedlm_estimate"]) < 0.003 * np.maximum(coef["bayes_sd"], 1)
    )
    assert np.all(coef["bayes_lower"] < coef["bayes_upper"])
    assert set(table.loc[table["scale"] == "variance", "term"]) == {
        "var(country)",
        "var(region)",
        "var(residual)",
    }
    assert table.attrs["interval"] == 0.95


@pytest.mark.slow
def test_g1_agrees_with_mixedlm_on_the_shipped_survey(default_survey):
    df = default_survey.data
    fit = fit_model(G1, df, draws=1000, tune=1000, chains=4, seed=1, sampler="pymc")
    table = growth_comparison(fit, df)
    coef = table[table["scale"] == "original"]
    assert np.all(np.abs(coef["difference_in_sd"]) < 0.5)  # measured: all below 0.13
    resid = table.set_index("term").loc["var(residual)"]
    assert abs(resid["difference_in_sd"]) < 2
