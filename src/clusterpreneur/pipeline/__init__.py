"""One command reproduces the study: validated, cached steps, a paper with a manifest.

- :mod:`~clusterpreneur.pipeline.config`: the study configuration (``analysis/study.toml``);
- :mod:`~clusterpreneur.pipeline.step`: the ``Step`` protocol; :mod:`~clusterpreneur.pipeline.steps`:
  one module per step; :mod:`~clusterpreneur.pipeline.plan`: which steps a study runs;
- :mod:`~clusterpreneur.pipeline.cache`, :mod:`~clusterpreneur.pipeline.codekey`: the step cache,
  keyed by inputs and by the code each step ran;
- :mod:`~clusterpreneur.pipeline.runner`: :func:`run_study`, timing and the run manifest;
- :mod:`~clusterpreneur.pipeline.paper` (sections, tables and figures), :mod:`~.exhibits`,
  :mod:`~.facts`, :mod:`~.typeset`, :mod:`~.report`, :mod:`~.pdf` and ``templates/``: the paper.
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
