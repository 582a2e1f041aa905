"""Session-scoped fitted models for the model-ladder tests: every fit runs once per session.

Fits use ``sampler="pymc"`` (faster to compile than nutpie for tiny models) and few draws.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from clusterpreneur.models import fit_model
from clusterpreneur.study.ladder import LADDER
from clusterpreneur.study.simulate import simulate_survey

RECOVERY_SIZE = {"n_initiatives": 400, "n_countries": 40, "seed": 3}


@pytest.fixture(scope="session")
def recovery_survey():
    """400 initiatives in 40 countries, default scenario (no missing values)."""
    return simulate_survey(**RECOVERY_SIZE)


@pytest.fixture(scope="session")
def m1_fit(recovery_survey):
    """M1 on the recovery survey: 2 chains x 500 draws (about 30 s with compilation)."""
    return fit_model(
        LADDER["M1"], recovery_survey.data, draws=500, tune=500, chains=2, seed=11, sampler="pymc"
    )


@pytest.fixture(scope="session")
def mcar_survey():
    """120 initiatives, 12 countries, 10% item non-response completely at random."""
    return simulate_survey(n_initiatives=120, n_countries=12, seed=7, scenario="mcar")


@pytest.fixture(scope="session")
def m2_small_fit(mcar_survey):
    """A tiny M2 fit with imputed predictors, for save/load/predict tests."""
    return fit_model(LADDER["M2"], mcar_survey.data, draws=150, tune=150, chains=2, seed=5, sampler="pymc")


@pytest.fixture(scope="session")
def m1_noncentred_fit(recovery_survey):
    """M1 as m1_fit but every level non-centred and plain fixed effects (the reference
    parametrisation the automatic one is compared with)."""
    spec = LADDER["M1"]
    plain = spec.with_overrides(
        groups=tuple(replace(g, parametrization="non-centred") for g in spec.groups), fixed_effects="plain"
    )
    return fit_model(plain, recovery_survey.data, draws=500, tune=500, chains=2, seed=11, sampler="pymc")
