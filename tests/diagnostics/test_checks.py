"""PPC numbers, LOO comparison with Pareto k by initiative, prior sensitivity flags, figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clusterpreneur.diagnostics import compare_models, plots, ppc, prior_sensitivity, sensitivity_tables
from clusterpreneur.diagnostics.compare import loo_with_pareto_k


def test_binary_calibration(logistic_fits):
    cal = ppc.binary_calibration(logistic_fits["full"], "takeoff")
    assert 0 < cal["brier"] < 0.25
    assert cal["miscalibration"] < 0.2
    assert np.all(np.diff(cal["table"]["p_calibrated"]) >= -1e-12)  # isotonic


def test_ordinal_frequencies(ordinal_fit):
    assert ppc.family_of(ordinal_fit, "rating") == "ordinal"
    table = ppc.ordinal_frequencies(ordinal_fit, "rating")
    assert list(table["category"]) == [0, 1, 2, 3]
    assert table["observed"].sum() == 80
    assert not table["outside"].all()


def test_loo_pit_check(logistic_fits):
    res = ppc.loo_pit_check(logistic_fits["full"], "takeoff")
    assert 0 <= res["p_value"] <= 1


def test_compare_stacking_prefers_true_model(logistic_fits):
    comp = compare_models(logistic_fits)
    assert comp.table.index[0] == "full"
    assert {"rank", "elpd_diff", "weight", "elpd", "se"} <= set(comp.table.columns)
    assert comp.table["weight"].sum() == pytest.approx(1.0, abs=1e-6)
    assert list(comp.high_k.columns) == ["model", "initiative", "pareto_k", "threshold"]
    assert "Best model" in comp.message()


def test_high_pareto_k_named_by_initiative(logistic_fits):
    # with a threshold of -inf every observation is "high": labels must be the initiative ids
    _, high = loo_with_pareto_k(logistic_fits["full"], k_threshold=-np.inf, model="full")
    assert len(high) == 80
    assert high["initiative"].str.startswith("CI").all()
    assert high["pareto_k"].is_monotonic_decreasing


def test_prior_sensitivity_flags(good_fit, logistic_fits):
    table = prior_sensitivity(good_fit)
    assert {"parameter", "prior", "likelihood", "diagnosis", "prior_data_conflict", "weak_likelihood"} <= set(
        table.columns
    )
    assert table["prior_data_conflict"].dtype == bool
    stacked = sensitivity_tables(logistic_fits)
    assert list(stacked["model"].unique()) == ["full", "no_x1"]
    # no_x1 has x1 set to 0: its beta[x1] is informed by the prior only -> weak likelihood
    row = stacked[(stacked["model"] == "no_x1") & (stacked["parameter"] == "beta[x1]")].iloc[0]
    assert row["likelihood"] < 0.05 and row["weak_likelihood"]


def test_prior_sensitivity_needs_groups(funnel_fit):
    with pytest.raises(ValueError, match="log_prior"):
        prior_sensitivity(funnel_fit)


def test_figures_build_without_drawing(good_fit, logistic_fits, ordinal_fit):
    out = plots.plot_convergence(good_fit, var_names=["mu", "tau"], backend="none")
    assert set(out) == {"trace", "rank"}
    plots.plot_ppc(logistic_fits["full"], "takeoff", backend="none")
    plots.plot_ppc(ordinal_fit, "rating", backend="none")
    plots.plot_loo_pit(logistic_fits["full"], "takeoff", backend="none")


FOREST = pd.DataFrame(
    {
        "outcome": "takeoff",
        "model": ["bayes_M1"] * 3 + ["logit"] * 3,
        "term": ["intercept", "breadth", "trust"] * 2,
        "estimate": [0.1, 0.5, -0.2, 0.12, 0.45, -0.25],
        "ci_lower": [-0.2, 0.2, -0.5, -0.1, 0.2, -0.6],
        "ci_upper": [0.4, 0.8, 0.1, 0.3, 0.7, 0.1],
    }
)


def test_forest_datasets_keep_given_intervals():
    ds, interval, point = plots.forest_datasets(FOREST)
    assert dict(ds["takeoff"].sizes) == {"chain": 1, "draw": 3, "model": 2, "term": 3}
    assert float(interval["takeoff"].sel(model="logit", term="trust", ci_bound="lower")) == -0.6
    assert float(point["takeoff"].sel(model="bayes_M1", term="breadth")) == 0.5
    plots.plot_forest_comparison(FOREST, backend="none")
    with pytest.raises(ValueError, match="ci_upper"):
        plots.forest_datasets(FOREST.drop(columns="ci_upper"))


def test_figures_saved_as_png_and_svg(tmp_path, good_fit):
    paths = [
        *plots.save_figure(plots.plot_forest_comparison(FOREST, backend="matplotlib"), tmp_path / "forest")
    ]
    pcs = plots.plot_convergence(good_fit, tmp_path / "eight", var_names=["mu", "tau"], backend="matplotlib")
    assert set(pcs) == {"trace", "rank"}
    paths += [tmp_path / "eight_trace.png", tmp_path / "eight_rank.svg"]
    for p in paths:
        assert p.exists() and p.stat().st_size > 1000
    assert (tmp_path / "forest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (tmp_path / "forest.svg").read_bytes()[:2000]
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def test_sbc_ecdf_plot(tmp_path):
    import xarray as xr

    from clusterpreneur.diagnostics.sbc import assemble_ranks, uniformity_table

    rng = np.random.default_rng(0)
    sims = [
        {
            "index": i,
            "n_ranks": 49,
            "ranks": {"mu": {"dims": [], "coords": {}, "rank": int(rng.integers(50))}},
        }
        for i in range(30)
    ]
    ranks = assemble_ranks(sims)
    assert isinstance(ranks, xr.DataTree)
    table = uniformity_table(ranks)
    assert list(table["quantity"]) == ["mu"]
    plots.plot_sbc_ecdf(ranks, backend="none")
    saved = plots.plot_sbc_ecdf(ranks, tmp_path / "sbc", backend="matplotlib")
    assert [p.suffix for p in saved] == [".png", ".svg"]
