"""Shared fixtures: simulated surveys built once per test session."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

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


def constructed_fit(
    *, saturated_share: float = 0.0, shifted_chain: bool = False, flag: str = "reached_max_treedepth", seed=0
) -> xr.DataTree:
    """A fit built by hand (no sampler): iid draws of ``intercept``, ``beta[term]`` and
    ``sigma_country``, 4 chains x 1000 draws, with ``sample_stats`` (no divergences, E-BFMI near
    2). ``saturated_share`` of chain 2's draws are flagged (as ``flag``) at the maximum tree depth
    (10); ``shifted_chain`` moves chain 0 of ``beta`` by 1, so R-hat fails."""
    rng = np.random.default_rng(seed)
    chains, draws, terms = 4, 1000, ["breadth", "sc_score", "age"]
    beta = rng.normal(size=(chains, draws, len(terms)))
    if shifted_chain:
        beta[0] += 1.0
    dims = ("chain", "draw")
    posterior = xr.Dataset(
        {"intercept": (dims, rng.normal(-1, 0.2, size=(chains, draws))),
         "beta": ((*dims, "term"), beta),
         "sigma_country": (dims, np.abs(rng.normal(0.5, 0.1, size=(chains, draws))))},
        coords={"chain": np.arange(chains), "draw": np.arange(draws), "term": terms},
    )  # fmt: skip
    hit = np.zeros((chains, draws), dtype=bool)
    hit[2, : int(saturated_share * draws)] = True
    depth = np.where(hit, 10, rng.integers(2, 6, size=(chains, draws)))
    stats = xr.Dataset(
        {"diverging": (dims, np.zeros((chains, draws), dtype=bool)),
         "energy": (dims, rng.normal(size=(chains, draws))),
         flag: (dims, hit),
         "depth" if flag == "maxdepth_reached" else "tree_depth": (dims, depth)},
        coords={"chain": np.arange(chains), "draw": np.arange(draws)},
    )  # fmt: skip
    return xr.DataTree.from_dict({"posterior": posterior, "sample_stats": stats})


@pytest.fixture(scope="session")
def make_constructed_fit():
    """Factory of hand-built fits (see :func:`constructed_fit`)."""
    return constructed_fit
