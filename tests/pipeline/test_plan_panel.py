"""Plan of a study that names a panel (the hazard rung M6 on the panel's rows) or K-fold rungs."""

from __future__ import annotations

from dataclasses import replace

import pytest

from clusterpreneur.pipeline.config import ConfigError
from clusterpreneur.pipeline.plan import plan
from clusterpreneur.pipeline.step import RunContext
from clusterpreneur.study.datasets import default_panel_path


def _steps(config):
    hashes = {"survey": "x", "panel": "y"}
    ctx = RunContext(config, config.survey, None, None, hashes, panel_path=default_panel_path())
    return {s.name: s for s in plan(config, ctx)}


def test_a_panel_adds_m6_on_the_panel_rows(make_config, survey_csv):
    config = replace(make_config(survey_csv), panel=str(default_panel_path()))
    steps = _steps(config)
    assert steps["model:M6"].deps == ("panel",)
    assert steps["estimates:M6"].deps == ("panel", "model:M6")
    assert "diagnostics:M6" in steps
    assert "model:M6" not in steps["comparison"].deps  # other rows: not in the LOO comparison
    assert "M6" not in steps["hypotheses"].models
    assert config.fitted_models == ("M1", "M6") and config.seed_for("M6") == config.seed + 1
    assert "model:M6" not in _steps(make_config(survey_csv))


def test_m6_without_a_panel_is_a_config_error(make_config, survey_csv):
    with pytest.raises(ConfigError, match="panel"):
        replace(make_config(survey_csv), models=("M1", "M6")).check()
    with pytest.raises(ConfigError, match="reference"):
        replace(make_config(survey_csv), panel="p.csv", reference="M6").check()


def test_kfold_rungs_get_a_step_per_fold_and_must_be_fitted(make_config, survey_csv):
    config = replace(make_config(survey_csv, models=("M1", "M4")), kfold=("M4",))
    steps = _steps(config)
    folds = [f"kfold:M4:fold{f}" for f in range(1, 6)]
    assert steps["kfold:M4"].deps == tuple(folds) and not steps["kfold:M4"].sampling
    assert all(steps[f].deps == ("data",) and steps[f].sampling and steps[f].k == 5 for f in folds)
    assert [steps[f].fold for f in folds] == list(range(5))
    with pytest.raises(ConfigError, match="kfold"):
        replace(make_config(survey_csv), kfold=("M4",)).check()
