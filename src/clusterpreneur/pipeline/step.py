"""The ``Step`` protocol: what one cached unit of the study must offer the runner.

A step names the steps it reads (``deps``), states the settings its result depends on
(``params()``, part of its cache key), checks everything it can before anything runs
(``validate(ctx)``: the runner validates every step of the plan before the first one runs, so a
bad case file or a missing browser is reported before minutes of sampling) and then does its work
(``run(ctx, upstream, out)``: it writes its artefacts into ``out`` atomically and returns a
JSON-able summary). Its code (for the cache key) is what it runs, tracked by
:mod:`clusterpreneur.pipeline.codekey`, plus its own module and its ``resources``.

Each step lives in its own module under :mod:`clusterpreneur.pipeline.steps`;
:mod:`clusterpreneur.pipeline.plan` lists the steps of a study.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from clusterpreneur.pipeline.cache import CacheEntry
from clusterpreneur.pipeline.config import StudyConfig


@dataclass
class RunContext:
    """What every step can see: the configuration, the input files and their hashes."""

    config: StudyConfig
    survey_path: Path
    mapping_path: Path | None
    cases_path: Path | None
    hashes: dict[str, str]
    progress: Any = None
    panel_path: Path | None = None


@runtime_checkable
class Step(Protocol):
    """One cached unit of work (see the module docstring)."""

    name: str
    deps: tuple[str, ...]
    sampling: bool
    resources: tuple[str, ...]

    def params(self) -> Any: ...

    def validate(self, ctx: RunContext) -> None: ...

    def run(self, ctx: RunContext, upstream: Mapping[str, CacheEntry], out: Path) -> dict[str, Any]: ...


@dataclass
class StepBase:
    """Defaults for a :class:`Step`: no dependencies, no parameters, nothing to validate."""

    name: str
    deps: tuple[str, ...] = ()
    sampling: bool = False
    resources: tuple[str, ...] = field(default=(), repr=False)

    def params(self) -> Any:
        return {}

    def validate(self, ctx: RunContext) -> None:
        return None

    def run(self, ctx: RunContext, upstream: Mapping[str, CacheEntry], out: Path) -> dict[str, Any]:
        raise NotImplementedError
