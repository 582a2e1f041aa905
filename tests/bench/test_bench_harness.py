"""Fast checks of the benchmark harness bookkeeping (no sampling, no timing assertions)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def harness():
    spec = importlib.util.spec_from_file_location("bench_harness", ROOT / "benchmarks" / "harness.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_harness"] = mod
    spec.loader.exec_module(mod)
    return mod


def _result(wall, ess_by_var, grads, comparable=None, harness=None, **extra):
    return {
        "status": "ok",
        "wall_s": wall,
        "ess": harness.ess_summary(ess_by_var, comparable),
        "grad_evals": {"posterior": grads, "warmup": None},
        "peak_rss_mib": 500.0,
        "gate": {"passed": True},
        **extra,
    }


def test_ess_summary_takes_the_minimum_over_elements_and_ignores_nan(harness):
    per = {"beta": np.array([900.0, 400.0]), "sigma": np.array([np.nan, 700.0]), "z": np.array([50.0])}
    s = harness.ess_summary(per, comparable=["beta", "sigma"])
    assert s["min_all"] == 50.0 and s["worst_all"] == "z"
    assert s["min_comparable"] == 400.0 and s["worst_comparable"] == "beta"
    assert s["n_elements"] == 5


def test_ess_summary_without_comparable_set_uses_everything(harness):
    s = harness.ess_summary({"a": [10.0, 20.0]})
    assert s["min_comparable"] == s["min_all"] == 10.0


def test_peer_ratios_are_package_over_peer(harness):
    pkg = _result(10.0, {"beta": [1000.0]}, 50_000.0, harness=harness)
    peer = _result(20.0, {"beta": [500.0]}, 80_000.0, harness=harness)
    r = harness.peer_ratios(pkg, peer)
    assert r["wall_time"] == pytest.approx(0.5)
    assert r["min_ess"] == pytest.approx(2.0)
    assert r["ess_per_s"] == pytest.approx(4.0)  # (1000/10) / (500/20)
    assert r["ess_per_core_s"] == pytest.approx(4.0)  # no core_s: the whole wall time
    assert harness.grads_per_effective_draw(pkg) == pytest.approx(50.0)
    pkg["core_s"] = 5.0  # build + compile + sample; the rest was log-likelihood and log-prior
    assert harness.peer_ratios(pkg, peer)["ess_per_core_s"] == pytest.approx(8.0)


def test_missing_figures_give_no_ratio(harness):
    assert harness.ratio(1.0, None) is None
    assert harness.ratio(1.0, 0.0) is None
    assert harness.peer_ratios({"status": "timeout"}, {"wall_s": 3.0})["ess_per_s"] is None


def test_linearity_slope(harness):
    assert harness.linearity([250, 2500, 25000], [1.0, 10.0, 100.0]) == pytest.approx(1.0)
    assert harness.linearity([250], [1.0]) is None


def test_markdown_and_atomic_json_on_a_tiny_result(harness, tmp_path):
    pkg = _result(10.0, {"beta": [1000.0]}, 50_000.0, harness=harness, compile_s=8.0, sample_s=2.0)
    bambi = _result(20.0, {"Intercept": [500.0]}, 80_000.0, harness=harness)
    results = {
        "date": "2026-01-01 00:00 UTC",
        "machine": {
            "cpus": 2,
            "memory_gib": 24.0,
            "cpu_model": "test cpu",
            "platform": "x",
            "python": "3.12",
        },
        "settings": {"draws": 1000, "tune": 1000, "chains": 4, "seed": 1},
        "peer": {
            "250": {
                "runs": {"package": pkg, "bambi (pymc)": bambi},
                "ratios": {"bambi (pymc)": harness.peer_ratios(pkg, bambi)},
                "statsmodels": {"status": "ok", "wall_s": 0.01},
            }
        },
        "scaling": {"runs": {"250": {**pkg, "n_countries": 30}}, "loglog_slope_wall": None},
        "study": {"status": "pending", "note": "no paper session"},
        "experiments": {"bad (n=250)": {"status": "timeout"}},
        "targets": [{"target": "ESS/s >= 3x bambi (pymc) at 250", "measured": 4.0, "met": True}],
    }
    md = harness.render_markdown(results)
    assert "test cpu" in md and "2026-01-01" in md
    assert "| 250 | bambi (pymc) | 0.5 | 2 | 4 |" in md
    assert "pending" in md and "timeout" in md
    out = tmp_path / "sub" / "results.json"
    harness.write_json(out, results)
    assert json.loads(out.read_text())["peer"]["250"]["ratios"]["bambi (pymc)"]["ess_per_s"] == 4.0
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


def test_targets_judge_the_whole_study_by_run_study_and_by_nox_paper():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    nox_paper = {"returncode": 0, "wall_s": 95.0, "cache_mib": 120.0, "report_mib": 3.5}
    study = {"status": "ok", "wall_s": 250.0, "nox_paper": nox_paper}
    targets = {t["target"]: t for t in run.evaluate_targets({"study": study})}
    assert targets["whole study (run_study) <= 300 s"]["met"] is True
    name = "whole study (`nox -s paper -- --force`, warm) < 90 s"
    assert targets[name] == {"target": name, "measured": 95.0, "met": False}
    assert targets["step cache after one run < 150 MiB"]["met"] is True
    assert targets["report.html < 3 MiB"] == {"target": "report.html < 3 MiB", "measured": 3.5, "met": False}
    failed_nox = {**study, "nox_paper": {"returncode": 1, "wall_s": 5.0}}
    targets = {t["target"]: t for t in run.evaluate_targets({"study": failed_nox})}
    assert targets[name]["met"] is False
    assert len(run.evaluate_targets({"study": {"status": "ok", "wall_s": 250.0}})) == 1
