"""The pipeline: outputs and report, manifest, caching (no resampling), reproducibility."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pandas as pd
import pytest

import clusterpreneur.models as cm
from clusterpreneur.pipeline import load_config, run_study
from clusterpreneur.pipeline.paper import EXHIBITS
from clusterpreneur.study.cases import SCENARIOS

# the tiny run (M1 only, binary outcome): every exhibit but those of the rating model
TABLES = (
    "descriptives", "ladder", "hypotheses", "verdicts", "comparison", "cases", "gate",
    "calibration_scores", "loo", "sensitivity", "coefficients", "baselines", "sbc",
)  # fmt: skip
FIGURES = ("hypotheses", "forest", "cases", "convergence_M1", "calibration_M1_takeoff", "sbc_ecdf_M1")


def test_report_has_every_table_and_figure_and_opens_offline(tiny_run):
    _, result, _ = tiny_run
    out = result.out_dir
    html = result.report.read_text()
    assert html.rstrip().endswith("</html>")
    for name, exhibit in EXHIBITS.items():
        if name not in ("counts", "counts_figure", "rating_coefficients", "missingness", "kfold"):  # not run
            assert exhibit.title in html, name
    assert "Not in this run" not in html
    assert html.count('<img src="data:image/') == len(FIGURES)
    # nothing is fetched: no external scripts, style sheets, images or fonts
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "<script" not in html and "<link" not in html and "@import" not in html
    for name in TABLES:
        for ext in ("csv", "md", "tex"):
            assert (out / "tables" / f"{name}.{ext}").stat().st_size > 0, name
        assert len(pd.read_csv(out / "tables" / f"{name}.csv")) > 0
    for name in FIGURES:
        assert (out / "figures" / f"{name}.png").read_bytes().startswith(b"\x89PNG")
        assert b"<svg" in (out / "figures" / f"{name}.svg").read_bytes()[:2000]
    assert "\\toprule" in (out / "tables.tex").read_text()
    cases = pd.read_csv(out / "tables" / "cases.csv")
    assert set(cases["scenario"]) == {"as coded", *SCENARIOS}
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
    assert {"model:M1", "diagnostics:M1", "comparison", "forest", "cases", "hypotheses"} <= set(names)
    assert names[-1] == "report"
    code = {s["name"]: s["code"] for s in m["steps"]}
    assert "models/fit.py" in code["model:M1"] and "pipeline/paper.py" in code["report"]
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
    assert (tmp_path / "out" / "STUDY.md").read_text().startswith("# Study design")
    for name in TABLES:
        assert (tmp_path / "out" / "tables" / f"{name}.csv").read_bytes() == (
            first.out_dir / "tables" / f"{name}.csv"
        ).read_bytes()


def test_changed_setting_reruns_exactly_its_dependents(tiny_run, tmp_path, monkeypatch):
    config, first, cache = tiny_run
    monkeypatch.setattr(cm, "fit_model", lambda *a, **k: pytest.fail("no model input changed"))
    changed = config.with_changes(override_gate=False)
    result = run_study(changed, first.out_dir.parent / "strict", cache_dir=cache, progress=False)
    rerun = {r.name for r in result.records if not r.cached}
    assert rerun == {"hypotheses", "report"}


def test_changed_data_reruns_everything_downstream(tiny_run, tmp_path, small_survey):
    config, _, cache = tiny_run
    df = small_survey.data.copy()
    df.loc[0, "takeoff"] = 1 - df.loc[0, "takeoff"]
    path = tmp_path / "survey.csv"
    df.to_csv(path, index=False)
    cfg = replace(config.with_changes(survey=str(path), models=(), baselines=False), sbc=None)
    result = run_study(cfg, tmp_path / "out", cache_dir=cache, progress=False)
    assert [(r.name, r.cached) for r in result.records] == [
        ("data", False), ("descriptives", False), ("report", False),
    ]  # fmt: skip
    # force reruns even what is cached
    forced = run_study(cfg, tmp_path / "out", cache_dir=cache, force=True, progress=False)
    assert not any(r.cached for r in forced.records)
    html = forced.report.read_text()
    assert "Not in this run" in html  # the model tables say why they are missing


def test_same_seed_same_tables(tiny_run, tmp_path, survey_csv):
    """Two runs with fresh caches and the same seed give byte-identical tables."""
    config, first, _ = tiny_run
    second = run_study(config, tmp_path / "out", cache_dir=tmp_path / "cache", progress=False)
    assert second.sampled == ["model:M1"]
    files = sorted(p.relative_to(first.out_dir) for p in (first.out_dir / "tables").iterdir())
    assert len(files) == 3 * len(TABLES) + 1  # and high_k.csv
    for rel in files:
        assert (second.out_dir / rel).read_bytes() == (first.out_dir / rel).read_bytes(), rel
    for rel in (
        "tables.md",
        "tables.tex",
        *(f"figures/{p.name}" for p in (first.out_dir / "figures").iterdir()),
    ):
        assert (second.out_dir / rel).read_bytes() == (first.out_dir / rel).read_bytes(), rel


def test_study_toml_loads_and_matches_the_defaults():
    from pathlib import Path

    from clusterpreneur.pipeline import StudyConfig
    from clusterpreneur.study.datasets import default_survey_path
    from clusterpreneur.study.ladder import LADDER

    root = Path(__file__).resolve().parents[2]
    cfg = load_config(root / "analysis" / "study.toml")
    assert cfg.survey == str(default_survey_path())
    assert set(cfg.models) <= set(LADDER) and cfg.models == tuple(m for m in LADDER if m != "G1")
    defaults = StudyConfig()
    assert (cfg.sampler, cfg.seed, cfg.reference) == (defaults.sampler, defaults.seed, defaults.reference)


def test_tiny_toml_round_trip(tmp_path, survey_csv, make_config, make_toml):
    (tmp_path / "survey.csv").write_bytes(survey_csv.read_bytes())
    cfg = load_config(make_toml(tmp_path))
    assert cfg == make_config(tmp_path / "survey.csv")


def test_everything_is_checked_before_anything_samples(survey_csv, make_config, tmp_path, monkeypatch):
    """A case file without the scenarios' case, or --pdf without a browser, fails at once."""
    from dataclasses import replace

    from clusterpreneur.errors import ClusterpreneurError
    from clusterpreneur.pipeline import pdf
    from clusterpreneur.study.datasets import north_jutland_cases
    from clusterpreneur.study.readers import write_survey

    monkeypatch.setattr(cm, "fit_model", lambda *a, **k: pytest.fail("sampled before validating"))
    cases = tmp_path / "cases.csv"
    write_survey(north_jutland_cases().iloc[[1]], cases)  # the wireless cluster only
    config = replace(make_config(survey_csv), cases=str(cases))
    with pytest.raises(ClusterpreneurError, match="DNK-Biomedico"):
        run_study(config, tmp_path / "out", cache_dir=tmp_path / "cache", progress=False)
    monkeypatch.setattr(pdf, "find_browser", lambda: None)
    with pytest.raises(pdf.BrowserNotFoundError, match="Chromium"):
        run_study(
            make_config(survey_csv), tmp_path / "out", cache_dir=tmp_path / "cache", progress=False, pdf=True
        )
    assert not (tmp_path / "cache" / "model_M1").exists()


def test_plan_keeps_growth_out_of_the_take_off_steps(tmp_path, make_config):
    from clusterpreneur.pipeline.plan import plan
    from clusterpreneur.pipeline.step import RunContext

    config = make_config(tmp_path / "survey.csv", models=("M1", "G1"))
    steps = {s.name: s for s in plan(config, RunContext(config, tmp_path / "survey.csv", None, None, {}))}
    assert {"model:G1", "estimates:G1", "diagnostics:G1"} <= set(steps)
    assert steps["comparison"].deps == ("model:M1",)
