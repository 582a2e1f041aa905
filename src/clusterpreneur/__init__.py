"""clusterpreneur: clusterpreneurs, social capital and cluster take-off on Greenbook-style surveys.

The public names are imported on first use, so `clusterpreneur --help` stays quick.
"""

from importlib import import_module

_PUBLIC = {
    "CODEBOOK": "clusterpreneur.study.codebook",
    "load_survey": "clusterpreneur.study.readers",
    "write_survey": "clusterpreneur.study.readers",
    "validate_survey": "clusterpreneur.study.schema",
    "simulate_survey": "clusterpreneur.study.simulate",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'clusterpreneur' has no attribute {name!r}")
