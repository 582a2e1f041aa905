"""The pipeline: outputs and report, manifest, caching (no resampling), reproducibility."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

import clusterpreneur.models as cm
from clusterpreneur.pipeline import load_config, run_study
from clusterpreneur.pipeline.outputs import PAPER, WHAT_IF

TABLES = (
    "descriptives",
    "baselines",
    "ladder",
    "hypotheses",
    "comparison",
    "diagnostics",
    "cases",
    "loo",
    "sensitivity",
    "ppc_checks",
)
FIGURES = ("forest", "ppc_M1_takeoff", "cases", "rank_M1", "trace_M1", "loo_pit_M1_takeoff")


def test_report_has_every_table_and_figure_and_opens_offline(tiny_run):
    _, result, _ = tiny_run
    out = result.out_dir
    html = result.report.read_text()
    assert html.rstrip().endswith("</html>")
    for entry in PAPER:
        assert entry.title in html
    assert "Not produced in this run" not in html
    assert html.count("data:image/png;base64,") == len(FIGURES)
    # nothing is fetched: no external scripts, style sheets, images or fonts
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "<script" not in html and "<link" not in html
    for name in TABLES:
        for ext in ("csv", "md", "tex"):
            assert (out / "tables" / f"{name}.{ext}").stat().st_size > 0
        assert len(pd.read_csv(out / "tables" / f"{name}.csv")) > 0
    for name in FIGURES:
        assert (out / "figures" / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    assert "\\begin{longtable}" in (out / "tables.tex").read_text()
    cases = pd.read_csv(out / "tables" / "cases.csv")
    assert set(cases["scenario"]) == {"as coded", *WHAT_IF}
    assert set(cases["case"]) == {"DNK-Biomedico", "DNK-WirelessICT"}
    assert cases["mean"].between(0, 1).all()


def test_manifest(tiny_run):
    config, result, _ = tiny_run
    m = json.loads((result.out_dir / "manifest.json").read_text())
    assert m == json.loads(json.dumps(result.manifest, default=str))
    assert len(m["data"]["survey_sha256"]) == 64
    assert m["seeds"] == {"M1": config.seed}
    assert m["versions"]["pymc"] and m["versions"]["python"]
    assert "commit" in m["git"]
    names = [s["name"] for s in m["steps"]]
    assert names[:3] == ["data", "descriptives", "baselines"]
    assert {"model:M1", "diagnostics:M1", "comparison", "forest", "cases"} <= set(names)
    assert all(s["seconds"] >= 0 and len(s["key"]) == 64 for s in m["steps"])
    assert m["sampled"] == ["model:M1"]
    for rel, digest in m["outputs"].items():
        assert len(digest) == 64 and (result.out_dir / rel).is_file()


def test_unchanged_rerun_does_no_sampling(tiny_run, tmp_path, monkeypatch):
    config, first, cache = tiny_run

    def no_sampling(*args, **kwargs):
        raise AssertionError("fit_model was called on an unchanged rerun")

    monkeypatch.setattr(cm, "fit_model", no_sampling)
    again = run_study(config, tmp_path / "out", cache_dir=cache, progress=False)
    assert all(r.cached for r in again.records)
    assert again.sampled == [] and again.manifest["sampled"] == []
    assert [r.key for r in again.records] == [r.key for r in first.records]
    for name in TABLES:
        assert (tmp_path / "out" / "tables" / f"{name}.csv").read_bytes() == (
            first.out_dir / "tables" / f"{name}.csv"
        ).read_bytes()


def test_changed_setting_reruns_exactly_its_dependents(tiny_run, tmp_path, monkeypatch):
    config, _, cache = tiny_run
    monkeypatch.setattr(cm, "fit_model", lambda *a, **k: pytest.fail("no model input changed"))
    changed = config.with_changes(ppc_draws=30)
    result = run_study(changed, tmp_path / "out", cache_dir=cache, progress=False)
    rerun = {r.name for r in result.records if not r.cached}
    assert rerun == {"diagnostics:M1"}


def test_changed_data_reruns_everything_downstream(tiny_run, tmp_path, small_survey):
    config, _, cache = tiny_run
    df = small_survey.data.copy()
    df.loc[0, "takeoff"] = 1 - df.loc[0, "takeoff"]
    path = tmp_path / "survey.csv"
    df.to_csv(path, index=False)
    cfg = config.with_changes(survey=str(path), models=(), baselines=False)
    result = run_study(cfg, tmp_path / "out", cache_dir=cache, progress=False)
    assert [(r.name, r.cached) for r in result.records] == [("data", False), ("descriptives", False)]
    # force reruns even what is cached
    forced = run_study(cfg, tmp_path / "out", cache_dir=cache, force=True, progress=False)
    assert not any(r.cached for r in forced.records)
    html = forced.report.read_text()
    assert "Not produced in this run" in html  # the model tables say why they are missing


def test_same_seed_same_tables(tiny_run, tmp_path, survey_csv):
    """Two runs with fresh caches and the same seed give byte-identical tables."""
    config, first, _ = tiny_run
    second = run_study(config, tmp_path / "out", cache_dir=tmp_path / "cache", progress=False)
    assert second.sampled == ["model:M1"]
    files = sorted(p.relative_to(first.out_dir) for p in (first.out_dir / "tables").iterdir())
    assert len(files) == 3 * len(TABLES)
    for rel in files:
        assert (second.out_dir / rel).read_bytes() == (first.out_dir / rel).read_bytes(), rel
    for rel in ("tables.md", "tables.tex"):
        assert (second.out_dir / rel).read_bytes() == (first.out_dir / rel).read_bytes()


def test_study_toml_loads_and_matches_the_defaults():
    from pathlib import Path

    from clusterpreneur.pipeline import StudyConfig
    from clusterpreneur.study.datasets import default_survey_path
    from clusterpreneur.study.ladder import LADDER

    root = Path(__file__).resolve().parents[2]
    cfg = load_config(root / "analysis" / "study.toml")
    assert cfg.survey == str(default_survey_path())
    assert cfg.models == tuple(LADDER)
    defaults = StudyConfig()
    assert (cfg.sampler, cfg.seed, cfg.reference) == (defaults.sampler, defaults.seed, defaults.reference)


def test_tiny_toml_round_trip(tmp_path, survey_csv, make_config, make_toml):
    (tmp_path / "survey.csv").write_bytes(survey_csv.read_bytes())
    cfg = load_config(make_toml(tmp_path))
    assert cfg == make_config(tmp_path / "survey.csv")
