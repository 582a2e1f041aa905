"""The report shows the diagnostics package's tables and figures for every fit, failing or not."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from clusterpreneur.pipeline import run_study
from clusterpreneur.pipeline.outputs import PAPER, plan, predictive_checks
from clusterpreneur.pipeline.runner import RunContext

# section id -> what it must hold ("table" or the figure file stems, by model M1 of the tiny run)
REQUIRED = {
    "diagnostics": "table",  # convergence gate
    "comparison": "table",  # diagnostics.compare_models, stacking weights
    "loo": "table",  # initiatives with high Pareto k
    "sensitivity": "table",  # power-scaling prior sensitivity with flags
    "ppc_checks": "table",
    "forest": ("forest",),  # diagnostics.plots.plot_forest_comparison
    "ppc": ("ppc_M1_takeoff",),  # PAV calibration for take-off
    "convergence": ("rank_M1", "trace_M1"),
    "loo_pit": ("loo_pit_M1_takeoff",),
}


def sections(html: str) -> dict[str, str]:
    """The report's ``<h2 id=...>`` sections: id -> HTML up to the next heading."""
    parts = re.split(r'<h2 id="([^"]+)">', html)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def check_diagnostics_sections(out: Path, skip: tuple[str, ...] = ()) -> None:
    html = (out / "report.html").read_text()
    found = sections(html)
    for name, what in REQUIRED.items():
        if name in skip:
            continue
        assert name in found, f"report has no section {name!r}"
        body = found[name]
        assert 'class="missing"' not in body, f"section {name!r} is missing: {body[:300]}"
        if what == "table":
            assert "<table>" in body and "<tbody><tr>" in body, name
            assert len(pd.read_csv(out / "tables" / f"{name}.csv")) > 0
        else:
            assert body.count("data:image/png;base64,") == len(what), name
            for stem in what:
                assert (out / "figures" / f"{stem}.png").read_bytes().startswith(b"\x89PNG"), stem


def test_report_has_the_diagnostics_tables_and_figures(tiny_run):
    _, result, _ = tiny_run
    check_diagnostics_sections(result.out_dir)
    out = result.out_dir / "tables"
    cmp = pd.read_csv(out / "comparison.csv")
    assert {"model", "elpd", "se", "weight"} <= set(cmp.columns)
    assert cmp["weight"].sum() == pytest.approx(1.0)
    loo = pd.read_csv(out / "loo.csv", keep_default_na=False)
    assert {"model", "outcome", "pareto_k_max", "k_threshold", "n_high_k", "high_k_initiatives"} <= set(
        loo.columns
    )
    row = loo.iloc[0]
    assert row["n_high_k"] == len([x for x in str(row["high_k_initiatives"]).split(", ") if x])
    sens = pd.read_csv(out / "sensitivity.csv")
    assert {"model", "parameter", "prior", "likelihood", "prior_data_conflict", "weak_likelihood"} <= set(
        sens.columns
    )
    assert not sens["parameter"].str.contains("initiative|^z_", regex=True).any()
    ppc = pd.read_csv(out / "ppc_checks.csv")
    assert ppc.loc[0, "family"] == "binary" and 0 <= ppc.loc[0, "loo_pit_p"] <= 1
    diag = pd.read_csv(out / "diagnostics.csv")
    assert {"passed", "high_pareto_k", "prior_data_conflict", "weak_likelihood"} <= set(diag.columns)


def test_failing_fit_withholds_estimates_but_shows_its_diagnostics(tiny_run, tmp_path):
    """M1 of the tiny run fails the gate (100 draws): without override its estimates are withheld,
    its diagnostics are still all there (from the cache: nothing reruns)."""
    config, _, cache = tiny_run
    strict = config.with_changes(override_gate=False)
    result = run_study(strict, tmp_path / "out", cache_dir=cache, progress=False)
    assert all(r.cached for r in result.records)
    assert (
        result.manifest["steps"][[s["name"] for s in result.manifest["steps"]].index("diagnostics:M1")][
            "summary"
        ]["passed"]
        is False
    )
    found = sections(result.report.read_text())
    assert "withheld" in found["ladder"] and "withheld" in found["forest"]
    check_diagnostics_sections(result.out_dir, skip=("forest",))  # estimates: gated


def test_steps_running_diagnostics_have_its_source_in_their_key(tiny_run):
    config, _, _ = tiny_run
    ctx = RunContext(config, Path(config.survey), None, None, {"survey": "x"})
    code = {s.name: s.code for s in plan(config, ctx)}
    for name in ("diagnostics:M1", "comparison", "forest"):
        assert "clusterpreneur.diagnostics" in code[name], name
    assert {e.name for e in PAPER} >= set(REQUIRED)


def _fake_fit(obs: np.ndarray, rep: np.ndarray) -> xr.DataTree:
    """Minimal DataTree for PPC / LOO-PIT: posterior, replicates, log-likelihood, observed."""
    chains, draws, n = rep.shape
    rng = np.random.default_rng(0)
    dims = ("chain", "draw", "initiative")
    coords = {"initiative": [f"I{i}" for i in range(n)]}
    return xr.DataTree.from_dict(
        {
            "posterior": xr.Dataset({"mu": (("chain", "draw"), rng.normal(size=(chains, draws)))}),
            "posterior_predictive": xr.Dataset({"y": (dims, rep)}, coords=coords),
            "log_likelihood": xr.Dataset(
                {"y": (dims, -np.abs(rng.normal(1.5, 0.3, size=rep.shape)))}, coords=coords
            ),
            "observed_data": xr.Dataset({"y": (("initiative",), obs)}, coords=coords),
        }
    )


@pytest.mark.parametrize("family", ["ordinal", "binary"])
def test_predictive_checks_suit_the_family(family, tmp_path):
    rng = np.random.default_rng(1)
    hi = 5 if family == "ordinal" else 1
    lo = 1 if family == "ordinal" else 0
    obs = rng.integers(lo, hi + 1, size=40)
    rep = rng.integers(lo, hi + 1, size=(2, 50, 40))
    summary: dict = {}
    table = predictive_checks(_fake_fit(obs, rep), "MX", ["y"], tmp_path, summary)
    assert summary == {}
    assert table.loc[0, "family"] == family
    if family == "ordinal":  # numbers behind the rootogram
        assert table.loc[0, "categories"] == 5 and "categories_outside_89" in table
    else:  # PAV calibration
        assert {"brier", "miscalibration"} <= set(table.columns)
    assert 0 <= table.loc[0, "loo_pit_p"] <= 1
    for kind in ("ppc", "loo_pit"):
        assert (tmp_path / f"{kind}_y.png").read_bytes().startswith(b"\x89PNG")
