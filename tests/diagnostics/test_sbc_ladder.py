"""SBC of the ladder's rungs: every reported rung is wired (its simulated data reach the model it
fits), one simulation runs through ``fit_model`` (the reported fits' own path), and the saved
results have what the report's appendix reads."""

from __future__ import annotations

import json

import numpy as np
import pymc as pm
import pytest

from clusterpreneur.diagnostics.sbc import REPORTED_RUNGS, SBCSettings, ladder_problem, simulate_one


def _observed_values(model) -> dict[str, np.ndarray]:
    out = {}
    for rv in model.observed_RVs:
        value = model.rvs_to_values[rv]
        out[rv.name] = np.asarray(value.data if hasattr(value, "data") else value.eval()).ravel()
    return out


@pytest.mark.parametrize("rung", REPORTED_RUNGS)
def test_every_reported_rung_fits_its_simulated_data(rung):
    factory, data, to_data, names, fitter = ladder_problem(rung, 60)
    model = factory(data)
    assert {"beta", "sigma_country", "sigma_region"} <= set(names)
    prior = pm.sample_prior_predictive(draws=1, model=model, random_seed=3)
    draw = prior["prior_predictive"]
    simulated = {rv.name: draw[rv.name].values[0, 0].ravel() for rv in model.observed_RVs}
    refit = _observed_values(factory(to_data(data, simulated)))
    assert set(refit) == set(simulated)
    for name, values in simulated.items():  # every outcome and item (M3), as the fitted model sees it
        assert np.array_equal(refit[name], values.astype(refit[name].dtype)), name
    assert "fit_ladder" in repr(fitter)


def test_one_m6_simulation_through_fit_model():
    factory, data, to_data, names, fitter = ladder_problem("M6", 40)
    settings = SBCSettings(draws=50, tune=100, chains=2, n_ranks=49, sampler="pymc", target_accept=None)
    res = simulate_one(0, factory, data, base_seed=9, settings=settings, observed_to_data=to_data,
                       var_names=names, fitter=fitter)  # fmt: skip
    assert set(res["ranks"]) == {*names, "log_likelihood"}
    assert len(res["ranks"]["intercept"]["rank"]) == 3  # one baseline per wave
    ranks = np.concatenate([np.ravel(r["rank"]) for r in res["ranks"].values()])
    assert ranks.min() >= 0 and ranks.max() <= 49
    json.dumps(res)  # cached as JSON


@pytest.mark.parametrize("rung", ["M3", "M4"])
def test_the_simulator_draws_ordered_cutpoints_as_the_model_states(rung):
    """Forward sampling ignores the ordered transform; the SBC draw is made by rejection."""
    from clusterpreneur.diagnostics.sbc import prior_draw

    factory, data, *_ = ladder_problem(rung, 60)
    draw = prior_draw(pm, factory(data), np.random.default_rng(2))
    ordered = [v for v in draw["prior"].data_vars if v.startswith(("difficulty_", "cutpoints_"))]
    assert ordered
    for name in ordered:
        assert (np.diff(draw["prior"][name].values[0, 0]) > 0).all(), name
