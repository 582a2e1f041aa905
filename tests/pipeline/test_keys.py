"""A step reruns exactly when the code it ran changed: a caption edit reruns only the report, a
change to the model graph or its parametrisation re-samples the rungs, a prediction edit none.

An edit is simulated by changing the hash the cache sees for one package file (the source files
themselves are never touched).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from clusterpreneur.pipeline import codekey, run_study


@pytest.fixture
def pretend_edited(monkeypatch):
    """``pretend_edited(*files)``: from now on these package files hash differently."""

    def edit(*files: str) -> None:
        original = codekey.FileDigests.__call__

        def digest(self, rel: str) -> str:
            value = original(self, rel)
            return f"edited:{value}" if rel in files else value

        monkeypatch.setattr(codekey.FileDigests, "__call__", digest)

    return edit


def rerun(result) -> set[str]:
    return {r.name for r in result.records if not r.cached}


def test_caption_or_template_edit_reruns_only_the_report(tiny_run, tmp_path, pretend_edited):
    config, first, cache = tiny_run
    report = next(r for r in first.records if r.name == "report")
    assert "pipeline/paper.py" in report.code  # the captions live there
    assert "pipeline/templates/sections/results.html.j2" in report.code
    assert not any("paper.py" in f for r in first.records if r.name != "report" for f in r.code)
    pretend_edited("pipeline/paper.py", "pipeline/templates/report.css")
    again = run_study(config, tmp_path / "out", cache_dir=cache, progress=False)
    assert rerun(again) == {"report"}
    assert again.sampled == []


def test_model_code_edits_resample_only_what_ran_it(survey_csv, make_config, tmp_path, pretend_edited):
    """M1 samples with nutpie, M2 with PyMC's sampler: both run the one graph of their spec."""
    config = replace(
        make_config(survey_csv, models=("M1", "M2"), baselines=False),
        sampler=replace(make_config(survey_csv).sampler, sampler="nutpie"),
        model_overrides={"M2": {"sampler": "pymc"}},
    )
    cache, out = tmp_path / "cache", tmp_path / "out"
    first = run_study(config, out, cache_dir=cache, progress=False, only=("model",))
    code = {r.name: set(r.code) for r in first.records}
    assert {"models/build.py", "models/parametrize.py"} <= code["model:M1"] & code["model:M2"]
    assert "models/predict.py" not in code["model:M1"] | code["model:M2"]  # prediction is not fitting
    assert (out / "model_M1" / "fit.nc").is_file()

    pretend_edited("models/predict.py")
    assert rerun(run_study(config, out, cache_dir=cache, progress=False, only=("model",))) == set()
    pretend_edited("models/parametrize.py")  # how the graph is sampled: every rung
    assert rerun(run_study(config, out, cache_dir=cache, progress=False, only=("model",))) == {
        "model:M1",
        "model:M2",
    }
