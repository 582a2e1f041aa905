"""The clusterpreneur study: codebook, survey files, measures, predictors, simulator, shipped data,
statsmodels baselines and the model ladder M1-M5. It uses the generic core
(:mod:`clusterpreneur.models`, :mod:`clusterpreneur.diagnostics`) as any user would.

Public names are imported on first use.
"""

from importlib import import_module

_PUBLIC = {
    "CODEBOOK": "clusterpreneur.study.codebook",
    "LADDER": "clusterpreneur.study.ladder",
    "STUDY_TERMS": "clusterpreneur.study.predictors",
    "load_survey": "clusterpreneur.study.readers",
    "write_survey": "clusterpreneur.study.readers",
    "validate_survey": "clusterpreneur.study.schema",
    "simulate_survey": "clusterpreneur.study.simulate",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'clusterpreneur.study' has no attribute {name!r}")
