"""Shared fixtures: simulated surveys built once per test session."""

from __future__ import annotations

import pandas as pd
import pytest

from clusterpreneur.study.simulate import SimulatedSurvey, simulate_survey


@pytest.fixture(scope="session")
def default_survey() -> SimulatedSurvey:
    """The shipped default survey's generator call (250 initiatives, 30 countries)."""
    from clusterpreneur.study.datasets import DEFAULT_SEED, DEFAULT_SIZE

    return simulate_survey(seed=DEFAULT_SEED, **DEFAULT_SIZE)


@pytest.fixture(scope="session")
def small_survey() -> SimulatedSurvey:
    """A small seeded survey for quick fits (120 initiatives, 12 countries)."""
    return simulate_survey(n_initiatives=120, n_countries=12, seed=7)


@pytest.fixture
def survey_frame(small_survey) -> pd.DataFrame:
    """A fresh copy of the small survey's data, safe to modify in a test."""
    return small_survey.data.copy()
