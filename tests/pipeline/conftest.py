"""Fixtures of the pipeline tests: a small survey and a tiny study configuration."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clusterpreneur.pipeline import SamplerSettings, StudyConfig, run_study
from clusterpreneur.pipeline.runner import JOBS_ENV

# Tiny studies: one step at a time unless a test asks for more (a worker's start-up, spawning and
# importing the package, costs more than the tiny steps); subprocesses inherit it.
os.environ.setdefault(JOBS_ENV, "1")

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
def make_saved_sbc():
    """Factory of saved SBC results: ``make_saved_sbc(folder, model, n, spec_sha256=...)``."""
    return saved_sbc


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


def saved_sbc(folder: Path, model: str = "M1", n: int = 30, spec_sha256: str | None = None) -> Path:
    """Saved SBC results of ``model`` as ``nox -s sbc`` writes them, from uniform ranks (no fits)."""
    import numpy as np
    import pandas as pd

    from clusterpreneur.diagnostics.sbc import SBCResult, assemble_ranks, save_results, uniformity_table

    rng = np.random.default_rng(5)
    sims = [
        {"index": i, "n_ranks": 49, "ranks": {
            "intercept": {"dims": [], "coords": {}, "rank": int(rng.integers(0, 50))},
            "sigma_country": {"dims": [], "coords": {}, "rank": int(rng.integers(0, 50))}}}
        for i in range(n)
    ]  # fmt: skip
    ranks = assemble_ranks(sims)
    sims_df = pd.DataFrame(
        {"index": range(n), "seed": range(n), "divergences": 0, "max_rhat": 1.0, "seconds": 1.0}
    )
    table = uniformity_table(ranks)
    result = SBCResult(ranks, table, sims_df, bool(not table["flagged"].any()), 0.05, n, 0, 0, 1.0)
    settings = {"sampler": "nutpie", "draws": 500, "tune": 500, "chains": 2}
    if spec_sha256 is None:  # the rung's current spec: a fresh result
        from clusterpreneur.study.ladder import LADDER

        spec_sha256 = LADDER[model].sha256()
    summary = {"model": model, "settings": settings, "command": "test", "seed": 1, "spec_sha256": spec_sha256}
    save_results(result, folder / model, "test", summary)
    return folder


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, survey_csv):
    """One run of the tiny study (fresh cache, two steps at a time) with saved SBC results of M1:
    (config, result, cache dir)."""
    from dataclasses import replace

    root = tmp_path_factory.mktemp("tiny")
    config = replace(tiny_config(survey_csv), sbc=str(saved_sbc(root / "sbc")))
    result = run_study(config, root / "out", cache_dir=root / "cache", progress=False, jobs=2)
    return config, result, root / "cache"
