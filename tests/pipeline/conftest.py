"""Fixtures of the pipeline tests: a small survey and a tiny study configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from clusterpreneur.pipeline import SamplerSettings, StudyConfig, run_study

TINY_TOML = """
[study]
title = "tiny study"
seed = 11

[data]
survey = "survey.csv"

[baselines]
enabled = {baselines}

[sampler]
sampler = "pymc"
draws = 100
tune = 100
chains = 2

[models]
fit = [{models}]
reference = "M1"

[diagnostics]
override_gate = true
ppc_draws = 40
"""


def tiny_config(survey: Path, *, models=("M1",), baselines: bool = True) -> StudyConfig:
    """The tiny configuration of the tests (1 model, pymc, 2 chains x 100 draws)."""
    return StudyConfig(
        title="tiny study",
        seed=11,
        survey=str(survey),
        sampler=SamplerSettings("pymc", 100, 100, 2),
        models=tuple(models),
        reference="M1",
        baselines=baselines,
        override_gate=True,
        ppc_draws=40,
    )


def write_tiny_toml(folder: Path, *, models=("M1",), baselines: bool = True) -> Path:
    text = TINY_TOML.format(
        models=", ".join(f'"{m}"' for m in models), baselines="true" if baselines else "false"
    )
    path = folder / "study.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def make_config():
    """Factory of tiny configurations: ``make_config(survey, models=..., baselines=...)``."""
    return tiny_config


@pytest.fixture(scope="session")
def make_toml():
    """Factory of tiny configuration files: ``make_toml(folder, models=..., baselines=...)``."""
    return write_tiny_toml


@pytest.fixture(scope="session")
def survey_csv(tmp_path_factory, small_survey) -> Path:
    """The small simulated survey (120 initiatives) as a CSV file, its true parameters beside it
    (``survey_truth.json``, as ``clusterpreneur simulate`` writes them)."""
    import json

    from clusterpreneur.study.readers import write_survey

    path = tmp_path_factory.mktemp("data") / "survey.csv"
    write_survey(small_survey.data, path)
    path.with_name("survey_truth.json").write_text(json.dumps(small_survey.truth, sort_keys=True))
    return path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, survey_csv):
    """One run of the tiny study (fresh cache): (config, result, cache dir)."""
    root = tmp_path_factory.mktemp("tiny")
    config = tiny_config(survey_csv)
    result = run_study(config, root / "out", cache_dir=root / "cache", progress=False)
    return config, result, root / "cache"
