"""The convergence gate fails a funnel with divergences and passes a well-behaved fit."""

from __future__ import annotations

import pytest

from clusterpreneur.diagnostics import (
    ConvergenceThresholds,
    attach_gate,
    check_convergence,
    gate_from_datatree,
    require_converged,
)
from clusterpreneur.errors import ConvergenceError


def test_gate_fails_centred_funnel(funnel_fit):
    result = check_convergence(funnel_fit, label="centred eight schools")
    assert not result.passed
    assert result.n_divergences > 0
    assert "tau" in result.failing_parameters
    with pytest.raises(ConvergenceError) as err:
        require_converged(result)
    msg = str(err.value)
    assert "tau" in msg and "divergent" in msg
    assert "target_accept" in msg and "non-centred" in msg and "tuning" in msg
    assert "override=True" in msg


def test_override_warns_instead_of_raising(funnel_fit):
    result = check_convergence(funnel_fit)
    with pytest.warns(UserWarning, match="FAILED the convergence gate"):
        assert require_converged(result, override=True) is result


def test_gate_passes_good_fit(good_fit):
    result = check_convergence(good_fit)
    assert result.passed, result.message()
    assert require_converged(result) is result
    assert set(result.table.columns) >= {"parameter", "r_hat", "ess_bulk", "ess_tail", "ok"}
    assert {"mu", "tau", "z[s0]", "theta[s7]"} <= set(result.table["parameter"])
    assert list(result.chain_table().columns) == ["divergences", "bfmi"]
    assert (result.bfmi >= 0.3).all()


def test_thresholds_are_configurable(good_fit):
    strict = ConvergenceThresholds(ess_bulk_min=1e6)
    result = check_convergence(good_fit, strict)
    assert not result.passed
    assert "bulk ESS < 1e+06" in result.message()
    assert result.divergences_ok and result.bfmi_ok


def test_too_few_draws_fail(good_fit):
    short = good_fit.isel(draw=slice(0, 40))
    assert not check_convergence(short).passed


def test_gate_is_stored_with_the_fit(funnel_fit):
    idata = funnel_fit.copy()
    assert gate_from_datatree(idata) is None
    result = check_convergence(idata)
    attach_gate(idata, result)
    back = gate_from_datatree(idata)
    assert back.passed == result.passed
    assert back.failing_parameters == result.failing_parameters
    assert back.thresholds == result.thresholds
    assert back.n_divergences == result.n_divergences
