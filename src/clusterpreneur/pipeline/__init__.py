"""One command reproduces the study: cached steps, output folder with report and manifest.

- :mod:`~clusterpreneur.pipeline.config`: the study configuration (``analysis/study.toml``);
- :mod:`~clusterpreneur.pipeline.cache`: the content-hash-keyed step cache;
- :mod:`~clusterpreneur.pipeline.outputs`: the steps and one entry per paper table / figure;
- :mod:`~clusterpreneur.pipeline.report`: HTML report, Markdown and LaTeX tables;
- :mod:`~clusterpreneur.pipeline.runner`: :func:`run_study`, timing and the run manifest.
"""

from clusterpreneur.pipeline.config import ConfigError, SamplerSettings, StudyConfig, load_config
from clusterpreneur.pipeline.runner import DEFAULT_CACHE_DIR, RunResult, StepError, run_study

__all__ = [
    "DEFAULT_CACHE_DIR",
    "ConfigError",
    "RunResult",
    "SamplerSettings",
    "StepError",
    "StudyConfig",
    "load_config",
    "run_study",
]
