"""Vectorised R-hat / ESS equal ArviZ's, and the gate's chance rule for many elements."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest
import xarray as xr

from clusterpreneur.diagnostics import ConvergenceThresholds, check_convergence
from clusterpreneur.diagnostics.rhat_ess import chain_stats, rhat_chance, within_chain_ess


def _ar1(rng, phi, chains, draws, k):
    """Converged AR(1) chains with unit marginal variance: (chain, draw, element)."""
    x = np.empty((chains, draws, k))
    x[:, 0] = rng.normal(size=(chains, k))
    noise = rng.normal(size=(chains, draws, k)) * np.sqrt(1 - phi**2)
    for t in range(1, draws):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    return x


def _fit(x):
    chains, draws = x.shape[:2]
    post = xr.Dataset({"u": (("chain", "draw", "group"), x)})
    stats = xr.Dataset(
        {
            "diverging": (("chain", "draw"), np.zeros((chains, draws), dtype=bool)),
            "energy": (("chain", "draw"), np.random.default_rng(0).normal(size=(chains, draws))),
        }
    )
    return xr.DataTree.from_dict({"posterior": post, "sample_stats": stats})


@pytest.mark.parametrize("chains, draws", [(4, 400), (2, 301)])
def test_rhat_and_ess_equal_arviz(chains, draws):
    rng = np.random.default_rng(1)
    k = 60
    x = np.concatenate([_ar1(rng, phi, chains, draws, 1) for phi in np.linspace(-0.3, 0.97, k)], axis=2)
    x[:, :, 0] = 2.0  # constant
    x[:, :, 1] = np.round(x[:, :, 1])  # ties
    x[:, :, 2] = rng.integers(0, 2, (chains, draws))  # binary
    x[0, :, 3] += 3.0  # one chain elsewhere
    x[:, :, 4] = np.cumsum(rng.normal(size=(chains, draws)), axis=1)  # random walk
    ds = xr.Dataset({"v": (("chain", "draw", "k"), x)})
    got = chain_stats(x)
    for mine, ref in (
        (got.rhat, az.rhat(ds)["v"].values),
        (got.ess_bulk, az.ess(ds, method="bulk")["v"].values),
        (got.ess_tail, az.ess(ds, method="tail")["v"].values),
    ):
        np.testing.assert_array_equal(np.isfinite(mine), np.isfinite(ref))
        ok = np.isfinite(ref)
        np.testing.assert_allclose(mine[ok], ref[ok], rtol=1e-9)


def test_chance_of_an_rhat_is_calibrated_for_converged_chains():
    """For converged chains the chance value is uniform: 5% of elements fall below 0.05."""
    x = _ar1(np.random.default_rng(5), 0.5, 4, 1000, 3000)
    cs = chain_stats(x)
    within_bulk, within_folded = within_chain_ess(x)
    for rhat, within in ((cs.rhat_bulk, within_bulk), (cs.rhat_folded, within_folded)):
        p = rhat_chance(rhat, within, cs.n_split_chains, cs.split_draws)
        assert 0.035 < np.mean(p < 0.05) < 0.065
        assert 0.45 < np.mean(p < 0.5) < 0.55


@pytest.fixture(scope="module")
def many_converged():
    """4 x 1,000 converged draws of 4,000 effects with ESS ~1,000 (AR(1), phi = 0.6)."""
    return _ar1(np.random.default_rng(0), 0.6, 4, 1000, 4000)


def test_gate_passes_many_converged_elements_that_the_plain_rule_fails(many_converged):
    fit = _fit(many_converged)
    plain = check_convergence(fit, ConvergenceThresholds(rhat_chance_alpha=None))
    assert not plain.passed and (plain.table["r_hat"] > 1.01).sum() > 10  # chance exceedances
    gate = check_convergence(fit)
    assert gate.passed, gate.message()
    assert gate.within_chance() == (gate.table["r_hat"] > 1.01).sum() > 10


def test_gate_still_fails_a_chain_that_disagrees(many_converged):
    x = many_converged.copy()
    x[0, :, 17] += 0.5  # one chain of one element half a standard deviation off
    gate = check_convergence(_fit(x))
    assert not gate.passed
    assert gate.failing_parameters == ["u[17]"]
    assert "beyond chance" in gate.message()
