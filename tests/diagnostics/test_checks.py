"""Predictive checks, LOO comparison with Pareto k by initiative, prior sensitivity flags, figures."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from clusterpreneur.diagnostics import compare_models, plots, ppc, prior_sensitivity, sensitivity_tables
from clusterpreneur.diagnostics.compare import loo_with_pareto_k


def test_calibration_of_loo_probabilities(logistic_fits):
    idata = logistic_fits["full"]
    elpd, _ = loo_with_pareto_k(idata, var_name="takeoff")
    y = np.asarray(idata["observed_data"]["takeoff"].values)
    p = ppc.loo_probability(y, np.asarray(elpd.elpd_i))
    assert np.all((p > 0) & (p < 1))
    assert np.allclose(np.where(y == 1, p, 1 - p), np.exp(np.asarray(elpd.elpd_i)))
    cal = ppc.calibration(y, p, seed=1)
    assert cal.brier == pytest.approx(cal.mcb - cal.dsc + cal.unc)
    assert np.all(np.diff(cal.table["calibrated"]) >= -1e-12)  # isotonic
    assert (cal.table["lower"] <= cal.table["upper"]).all()
    assert cal.mcb_p > 0.05  # the true model is calibrated


def test_calibration_detects_miscalibration():
    """Outcomes drawn from p are calibrated; the same outcomes against overconfident
    probabilities are not (known truth, seeded)."""
    rng = np.random.default_rng(4)
    p = rng.uniform(0.05, 0.95, size=400)
    y = (rng.uniform(size=400) < p).astype(int)
    good = ppc.calibration(y, p, seed=2)
    bad = ppc.calibration(y, np.clip(0.5 + 1.8 * (p - 0.5), 0.001, 0.999), seed=2)
    assert good.mcb_p > 0.01 and bad.mcb_p < 0.01
    assert bad.mcb > 2 * good.mcb
    again = ppc.calibration(y, p, seed=2)
    pd.testing.assert_frame_equal(good.table, again.table)  # seeded


def test_category_counts(ordinal_fit):
    assert ppc.family_of(ordinal_fit, "rating") == "ordinal"
    obs = np.asarray(ordinal_fit["observed_data"]["rating"].values)
    reps = np.asarray(ordinal_fit["posterior_predictive"]["rating"].values).reshape(-1, obs.size)
    table = ppc.category_counts(obs, reps)
    assert list(table["category"]) == [0, 1, 2, 3]
    assert table["observed"].sum() == 80
    assert (table["lower"] <= table["predicted"]).all() and (table["predicted"] <= table["upper"]).all()
    assert not table["outside"].all()
    shifted = ppc.category_counts(np.minimum(obs + 2, 3), reps)  # answers moved up: misfit
    assert shifted["outside"].sum() >= 2


def test_compare_stacking_prefers_true_model(logistic_fits):
    comp = compare_models(logistic_fits)
    assert comp.table.index[0] == "full"
    assert {"rank", "elpd_diff", "weight", "elpd", "se"} <= set(comp.table.columns)
    assert comp.table["weight"].sum() == pytest.approx(1.0, abs=1e-6)
    assert list(comp.high_k.columns) == ["model", "observation", "pareto_k", "threshold"]
    assert "Best model" in comp.message()


def test_high_pareto_k_named_by_initiative(logistic_fits):
    # with a threshold of -inf every observation is "high": labels must be the initiative ids
    _, high = loo_with_pareto_k(logistic_fits["full"], k_threshold=-np.inf, model="full")
    assert len(high) == 80
    assert high["observation"].str.startswith("CI").all()
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


FOREST = pd.DataFrame(
    {
        "label": ["intercept", "breadth", "trust"] * 2,
        "group": ["Bayes M1"] * 3 + ["logit"] * 3,
        "estimate": [0.1, 0.5, -0.2, 0.12, 0.45, -0.25],
        "lower": [-0.2, 0.2, -0.5, -0.1, 0.2, -0.6],
        "upper": [0.4, 0.8, 0.1, 0.3, 0.7, 0.1],
    }
)


def plotted(ax) -> pd.DataFrame:
    """Points and interval ends an errorbar plot drew: (x, lower, upper) per marker."""
    rows = []
    for container in ax.containers:
        line, _, (bars,) = container
        for x, seg in zip(line.get_xdata(), bars.get_segments(), strict=True):
            rows.append(
                {"estimate": x, "lower": seg[0][0], "upper": seg[1][0], "group": container.get_label()}
            )
    return pd.DataFrame(rows)


def test_forest_draws_the_numbers_it_is_given():
    fig = plots.plot_forest(FOREST, xlabel="log-odds")
    ax = fig.axes[0]
    drawn = plotted(ax)
    for col in ("estimate", "lower", "upper"):
        assert sorted(drawn[col]) == pytest.approx(sorted(FOREST[col]))
    assert ax.get_xlabel() == "log-odds"
    assert any(line.get_xdata()[0] == 0 for line in ax.lines)  # the zero line
    assert [t.get_text() for t in ax.get_yticklabels()] == ["trust", "breadth", "intercept"]


def test_convergence_figure_prints_the_gate_numbers(good_fit):
    from clusterpreneur.diagnostics import check_convergence
    from clusterpreneur.pipeline.steps.diagnostics import convergence_panels

    gate = check_convergence(good_fit)
    panels = convergence_panels(good_fit, gate.table, k=3)
    assert [p["label"] for p in panels] == list(gate.table.sort_values("ess_bulk")["parameter"][:3])
    fig = plots.plot_convergence(panels)
    texts = [ax.get_ylabel() for ax in fig.axes]
    for p in panels:
        assert any(f"R-hat {p['r_hat']:.3f}" in t and f"{p['ess_bulk']:,.0f}" in t for t in texts)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 2  # one title per column, none per panel: nothing overlaps


def test_rank_band_holds_converged_chains():
    """The simultaneous band holds about 95% of chains of independent draws (known truth)."""
    rng = np.random.default_rng(0)
    grid = np.linspace(0, 1, 41)[1:-1]
    lower, upper = plots.rank_ecdf_band(200, 4, grid, seed=1)
    inside = 0
    for _ in range(200):
        ranks = np.argsort(np.argsort(rng.normal(size=800))).reshape(4, 200)
        ecdf = (ranks[:, :, None] < np.floor(grid * 800)).mean(axis=1) - grid
        inside += int(np.all((ecdf >= lower) & (ecdf <= upper), axis=1).sum())
    assert 0.9 < inside / 800 < 0.99


def test_figures_saved_as_png_and_svg(tmp_path):
    paths = plots.save_figure(plots.plot_forest(FOREST, xlabel="x"), tmp_path / "forest")
    assert [p.suffix for p in paths] == [".png", ".svg"]
    png = (tmp_path / "forest.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (tmp_path / "forest.svg").read_bytes()[:2000]
    assert not list(tmp_path.glob(".*"))  # no temporary files left
    again = plots.save_figure(plots.plot_forest(FOREST, xlabel="x"), tmp_path / "again")
    assert again[0].read_bytes() == png and again[1].read_bytes() == paths[1].read_bytes()  # same bytes
    width = int.from_bytes(png[16:20], "big")
    assert width == pytest.approx(6.8 * plots.DPI, abs=2)  # 200 dpi


def _path_points(svg: str) -> list[list[tuple[float, float]]]:
    """Every path's points in absolute coordinates (absolute M/L/C and relative l, z)."""
    out = []
    for d in re.findall(r'\sd="([^"]*)"', svg):
        tokens = re.findall(r"[MLlCz]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", d)
        points, x, y, start, i, op = [], 0.0, 0.0, (0.0, 0.0), 0, "M"
        while i < len(tokens):
            if tokens[i] in "MLlCz":
                op, i = tokens[i], i + 1
                if op == "z":
                    x, y = start
                continue
            n = 6 if op == "C" else 2
            values = [float(v) for v in tokens[i : i + n]]
            i += n
            pairs = list(zip(values[::2], values[1::2], strict=True))
            if op == "l":
                pairs = [(x + pairs[0][0], y + pairs[0][1])]
            points += pairs
            x, y = pairs[-1]
            if op == "M":
                start = (x, y)
        out.append(points)
    return out


def test_compact_svg_draws_the_same_points():
    """The compact SVG has every path's points within 0.05 pt of matplotlib's, in far fewer bytes."""
    import io

    import matplotlib as mpl

    rng = np.random.default_rng(3)
    draws = rng.normal(size=(4, 500))
    panels = [{"label": "a", "draws": draws, "r_hat": 1.0, "ess_bulk": 2000.0, "ess_tail": 2000.0}]
    for fig in (plots.plot_convergence(panels), plots.plot_forest(FOREST, xlabel="x")):
        buf = io.BytesIO()
        with mpl.rc_context(plots.STYLE):
            fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
        raw = buf.getvalue().decode()
        compact = plots.compact_svg(raw)
        before, after = _path_points(raw), _path_points(compact)
        assert [len(p) for p in before] == [len(p) for p in after] and sum(map(len, before)) > 50
        pairs = [(u, v) for p, q in zip(before, after, strict=True) for u, v in zip(p, q, strict=True)]
        assert max(abs(a - b) for u, v in pairs for a, b in zip(u, v, strict=True)) <= 0.0501
        words = re.compile(r"<text[^>]*>([^<]*)</text>")
        assert words.findall(raw) == words.findall(compact)
        assert len(compact) < 0.8 * len(raw)


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
    many = [
        {"index": i, "n_ranks": 49, "ranks": {"beta": {"dims": ["term"], "coords": {"term": list(range(55))},
                                                       "rank": [int(r) for r in rng.integers(50, size=55)]}}}
        for i in range(10)
    ]  # fmt: skip
    plots.plot_sbc_ecdf(assemble_ranks(many), backend="none")  # 55 panels (M4 ranks 55): beyond ArviZ's 40
    saved = plots.plot_sbc_ecdf(ranks, tmp_path / "sbc", backend="matplotlib")
    assert [p.suffix for p in saved] == [".png", ".svg"]
