"""The convergence gate fails a funnel with divergences and passes a well-behaved fit."""

from __future__ import annotations

import pandas as pd
import pytest

from clusterpreneur.diagnostics import (
    ConvergenceThresholds,
    GateResult,
    attach_gate,
    check_convergence,
    estimate_table,
    gate_from_datatree,
    require_converged,
)
from clusterpreneur.diagnostics.gate import TREEDEPTH_FLAGS
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
    assert list(result.chain_table().columns) == ["divergences", "bfmi", "treedepth_share"]
    assert result.treedepth_ok and (result.treedepth < 0.05).all()  # PyMC records the flag
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


@pytest.mark.parametrize("flag", TREEDEPTH_FLAGS)  # PyMC/ArviZ, nutpie, NumPyro names
def test_tree_depth_saturation_fails_the_gate(flag, make_constructed_fit):
    result = check_convergence(make_constructed_fit(saturated_share=0.3, flag=flag), label="M9")
    assert not result.passed and not result.treedepth_ok
    assert result.table["ok"].all() and result.divergences_ok and result.bfmi_ok  # only the depth fails
    assert result.treedepth.tolist() == [0.0, 0.0, 0.3, 0.0] and result.max_treedepth == 10
    problems = result.problems()
    assert problems == ["more than 5% of the draws stopped at the maximum tree depth (10) in chain 2 (30%)"]
    assert "maximum tree depth" in " ".join(result.advice())
    assert list(result.chain_table().columns) == ["divergences", "bfmi", "treedepth_share"]
    back = gate_from_datatree(attach_gate(make_constructed_fit(saturated_share=0.3, flag=flag), result))
    assert back.treedepth.tolist() == result.treedepth.tolist() and back.max_treedepth == 10
    assert not back.treedepth_ok


def test_tree_depth_below_the_threshold_passes(make_constructed_fit):
    result = check_convergence(make_constructed_fit(saturated_share=0.04))
    assert result.passed, result.message()
    assert result.treedepth.max() == pytest.approx(0.04)
    strict = check_convergence(
        make_constructed_fit(saturated_share=0.04), ConvergenceThresholds(treedepth_max_share=0.0)
    )
    assert not strict.passed and "tree depth" in strict.message()


def test_tree_depth_not_recorded_is_not_checked(make_constructed_fit):
    idata = make_constructed_fit(saturated_share=0.5)
    stats = idata["sample_stats"].to_dataset().drop_vars("reached_max_treedepth")
    idata["sample_stats"] = stats
    result = check_convergence(idata)
    assert result.passed and result.treedepth.isna().all() and result.max_treedepth is None
    old = result.to_dataset().drop_vars("chain_treedepth")  # a gate saved before the check existed
    assert GateResult.from_dataset(old).treedepth.isna().all()


def test_advice_names_the_options_of_where_it_is_read(funnel_fit):
    result = check_convergence(funnel_fit, label="M3")
    python, cli, config = (result.message(c) for c in ("python", "cli", "config"))
    assert "override=True" in python and "tune=2000" in python and "target_accept=0.95" in python
    assert "--no-gate" in cli and "--tune 2000" in cli and "--target-accept 0.95" in cli
    assert "override=True" not in cli and "tune=2000" not in cli
    assert "override_gate = true" in config and "[sampler]" in config
    assert "--no-gate" not in config
    with pytest.raises(ConvergenceError) as err:
        require_converged(result)
    assert err.value.gate is result and "override=True" in str(err.value)
    with pytest.raises(ValueError, match="unknown context"):
        result.message("notebook")


def test_estimate_table_has_the_gates_numbers(good_fit):
    gate = check_convergence(good_fit)
    table = estimate_table(good_fit, gate, var_names=["mu", "tau"])
    assert table["parameter"].tolist() == ["mu", "tau"]
    post = good_fit["posterior"]
    assert table.loc[0, "mean"] == pytest.approx(float(post["mu"].mean()))
    assert table.loc[1, "sd"] == pytest.approx(float(post["tau"].std(ddof=1)))
    assert (table["eti95_lower"] < table["mean"]).all() and (table["mean"] < table["eti95_upper"]).all()
    own = gate.table.set_index("parameter")
    assert table["r_hat"].tolist() == own.loc[["mu", "tau"], "r_hat"].tolist()
    alone = estimate_table(good_fit, var_names=["mu", "tau"])  # without a gate: the same numbers
    pd.testing.assert_frame_equal(alone, table)
