"""Session-scoped tiny fits for the diagnostics tests (PyMC's own NUTS: fastest to compile)."""

from __future__ import annotations

import pymc as pm
import pytest

from clusterpreneur.diagnostics import toy

SAMPLE = {"nuts_sampler": "pymc", "cores": 1, "progressbar": False, "compute_convergence_checks": False}


def _complete(idata, model, seed):
    """Add log_likelihood, log_prior and posterior_predictive groups, as the model ladder does."""
    pm.compute_log_likelihood(idata, model=model, progressbar=False)
    pm.stats.compute_log_prior(idata, model=model, progressbar=False)
    pm.sample_posterior_predictive(
        idata, model=model, random_seed=seed, extend_inferencedata=True, progressbar=False
    )
    return idata


@pytest.fixture(scope="session")
def funnel_fit():
    """Centred eight schools, short tuning, low target acceptance: divergences, bad R-hat/ESS."""
    model = toy.eight_schools(centred=True)
    return pm.sample(draws=300, tune=100, chains=2, target_accept=0.6, random_seed=1, model=model, **SAMPLE)


@pytest.fixture(scope="session")
def good_fit():
    """Non-centred eight schools, enough tuning and draws, high target acceptance."""
    model = toy.eight_schools(centred=False)
    idata = pm.sample(
        draws=1000, tune=1000, chains=2, target_accept=0.95, random_seed=2, model=model, **SAMPLE
    )
    return _complete(idata, model, 2)


@pytest.fixture(scope="session")
def logistic_fits():
    """Two nested logistic regressions on the same data (full, and intercept-and-x2 only)."""
    data = toy.logistic_data()
    full = toy.logistic_regression(data)
    fits = {}
    idata = pm.sample(draws=500, tune=500, chains=2, random_seed=3, model=full, **SAMPLE)
    fits["full"] = _complete(idata, full, 3)
    weak = data.assign(x1=0.0)
    small = toy.logistic_regression(weak)
    idata = pm.sample(draws=500, tune=500, chains=2, random_seed=4, model=small, **SAMPLE)
    fits["no_x1"] = _complete(idata, small, 4)
    return fits


@pytest.fixture(scope="session")
def ordinal_fit():
    data = toy.ordinal_data()
    model = toy.ordinal_model(data)
    idata = pm.sample(draws=300, tune=300, chains=2, random_seed=5, model=model, **SAMPLE)
    return _complete(idata, model, 5)
