"""Run the study as ordered, cached steps and write one output folder with a manifest.

:func:`run_study` plans the steps (:func:`clusterpreneur.pipeline.outputs.plan`: data ->
descriptives -> baselines -> models -> diagnostics -> comparison / forest plot / cases),
runs each one unless the cache (:mod:`clusterpreneur.pipeline.cache`) already holds its
result for the same content key, then renders the report (:mod:`clusterpreneur.pipeline.report`)
into the output folder and writes ``manifest.json`` last: package and dependency versions,
git commit, SHA-256 of the data, seeds, per-step key, wall time and whether it was cached.

Test hook: with ``CLUSTERPRENEUR_TEST_PAUSE="<step>=<file>"`` in the environment, the named
step (or ``report``, halfway through writing the output folder) touches ``<file>`` after it
has written part of its files and then waits, so a test can kill the run at that point.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from clusterpreneur.errors import ClusterpreneurError
from clusterpreneur.io import sha256_file, write_atomic
from clusterpreneur.pipeline.cache import CacheEntry, StepCache, code_hash, step_key
from clusterpreneur.pipeline.config import StudyConfig

logger = logging.getLogger("clusterpreneur.pipeline")

PAUSE_ENV = "CLUSTERPRENEUR_TEST_PAUSE"
DEFAULT_CACHE_DIR = Path(".cache") / "clusterpreneur"
MANIFEST = "manifest.json"


class StepError(ClusterpreneurError):
    """A pipeline step failed; the message names the step."""


def package_version() -> str:
    try:
        return metadata.version("clusterpreneur")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@dataclass
class Step:
    """One cached unit of work.

    ``fn(ctx, upstream, workdir)`` writes its artefacts into ``workdir`` (atomically) and returns
    a JSON-able summary. ``deps`` name the steps whose entries it reads (``upstream``);
    ``params``, ``inputs`` (name -> SHA-256) and the source of ``code`` modules go into its key.
    ``sampling`` marks steps that run MCMC (the manifest reports whether any did).
    """

    name: str
    fn: Callable[[RunContext, dict[str, CacheEntry], Path], dict[str, Any]]
    deps: tuple[str, ...] = ()
    params: Any = None
    inputs: dict[str, str] = field(default_factory=dict)
    code: tuple[str, ...] = ()
    sampling: bool = False
    title: str = ""


@dataclass
class StepRecord:
    name: str
    key: str
    cached: bool
    seconds: float
    summary: dict[str, Any]
    sampling: bool = False


@dataclass
class RunContext:
    """What every step can see: the configuration, the input files and their hashes."""

    config: StudyConfig
    survey_path: Path
    mapping_path: Path | None
    cases_path: Path | None
    hashes: dict[str, str]
    progress: Any = None


@dataclass
class RunResult:
    """Outcome of :func:`run_study`."""

    out_dir: Path
    report: Path
    manifest: dict[str, Any]
    records: list[StepRecord]
    entries: dict[str, CacheEntry]

    @property
    def sampled(self) -> list[str]:
        """Steps that ran MCMC in this run (empty when every sampling step came from the cache)."""
        return [r.name for r in self.records if r.sampling and not r.cached]


def maybe_pause(point: str) -> None:
    """Test hook (see the module docstring): signal and wait at ``point`` if asked to."""
    spec = os.environ.get(PAUSE_ENV, "")
    if "=" not in spec:
        return
    step, signal_file = spec.split("=", 1)
    if step != point:
        return
    Path(signal_file).write_text(f"{os.getpid()}\n")
    deadline = time.monotonic() + float(os.environ.get("CLUSTERPRENEUR_TEST_PAUSE_SECONDS", "120"))
    while time.monotonic() < deadline:
        time.sleep(0.05)


def git_commit(start: Path | None = None) -> dict[str, Any]:
    """Commit and dirty flag of the repository holding the package (or ``start``), if any."""
    where = start or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        return {"commit": commit, "dirty": bool(dirty)}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def dependency_versions() -> dict[str, str]:
    """Installed versions of the package's declared dependencies (and Python)."""
    out = {"python": platform.python_version()}
    try:
        reqs = metadata.requires("clusterpreneur") or []
    except metadata.PackageNotFoundError:
        reqs = []
    names = []
    for r in reqs:
        if "extra ==" in r:
            continue
        name = r.split(";")[0].strip()
        for sep in "<>=!~[ ":
            name = name.split(sep)[0]
        names.append(name)
    for name in sorted(set(names) | {"pytensor", "numpy", "xarray"}):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


class _Progress:
    """Rich progress bar in an interactive terminal, plain log lines otherwise."""

    def __init__(self, total: int, enabled: bool | None = None):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.total = total
        self._bar = None
        self._task = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} steps"),
                TimeElapsedColumn(),
                transient=False,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("study", total=self.total)
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)

    @contextlib.contextmanager
    def suspended(self):
        """Stop the bar while a step shows its own progress (e.g. the sampler's)."""
        if self._bar is None:
            yield
            return
        self._bar.stop()
        try:
            yield
        finally:
            self._bar.start()

    def start(self, i: int, name: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description=name)
        else:
            logger.info("[%d/%d] %s ...", i, self.total, name)

    def done(self, i: int, name: str, cached: bool, seconds: float) -> None:
        how = "cached" if cached else f"done in {seconds:.1f} s"
        if self._bar is not None:
            self._bar.console.log(f"{name}: {how}")
            self._bar.advance(self._task)
        else:
            logger.info("[%d/%d] %s: %s", i, self.total, name, how)


def run_steps(
    steps: list[Step],
    ctx: RunContext,
    cache: StepCache,
    *,
    force: bool = False,
    progress: bool | None = None,
) -> tuple[dict[str, CacheEntry], list[StepRecord]]:
    """Run ``steps`` in order (dependencies first), reusing cached results unless ``force``."""
    version = package_version()
    entries: dict[str, CacheEntry] = {}
    records: list[StepRecord] = []
    keys: dict[str, str] = {}
    with _Progress(len(steps), progress) as bar:
        ctx.progress = bar
        for i, step in enumerate(steps, start=1):
            missing = [d for d in step.deps if d not in keys]
            if missing:
                raise StepError(f"step {step.name!r} depends on {missing}, which do not run before it")
            key = step_key(
                step.name,
                params=step.params,
                inputs=step.inputs,
                upstream={d: keys[d] for d in step.deps},
                code=code_hash(step.code) if step.code else "",
                version=version,
            )
            keys[step.name] = key
            bar.start(i, step.name)
            entry = None if force else cache.lookup(step.name, key)
            t0 = time.perf_counter()
            if entry is None:
                upstream = {d: entries[d] for d in step.deps}
                with cache.stage(step.name, key) as workdir:
                    try:
                        summary = step.fn(ctx, upstream, workdir) or {}
                    except ClusterpreneurError:
                        raise
                    except Exception as exc:
                        raise StepError(f"step {step.name!r} failed: {type(exc).__name__}: {exc}") from exc
                    maybe_pause(step.name)
                    seconds = time.perf_counter() - t0
                    entry = cache.commit(step.name, key, workdir, summary, seconds)
                cached = False
            else:
                seconds = time.perf_counter() - t0
                cached = True
            entries[step.name] = entry
            records.append(
                StepRecord(step.name, key, cached, round(seconds, 3), entry.summary, step.sampling)
            )
            bar.done(i, step.name, cached, seconds)
    return entries, records


def _resolve_inputs(config: StudyConfig) -> tuple[Path, Path | None, Path | None]:
    from clusterpreneur.study.datasets import default_survey_path

    survey = Path(config.survey) if config.survey else default_survey_path()
    mapping = Path(config.mapping) if config.mapping else None
    cases = Path(config.cases) if config.cases else None
    for what, p in (("survey file", survey), ("mapping file", mapping), ("cases file", cases)):
        if p is not None and not p.is_file():
            raise ClusterpreneurError(f"{what} {p} not found. Check the path.")
    return survey, mapping, cases


def _prune_previous(out_dir: Path, keep: set[str]) -> None:
    """Remove files that an earlier run's manifest listed and this run no longer writes."""
    old = out_dir / MANIFEST
    if not old.is_file():
        return
    try:
        listed = json.loads(old.read_text()).get("outputs", {})
    except (OSError, ValueError):
        return
    for rel in listed:
        if rel not in keep:
            p = out_dir / rel
            if p.is_file() and out_dir.resolve() in p.resolve().parents:
                p.unlink(missing_ok=True)


def run_study(
    config: StudyConfig | None = None,
    out_dir: str | Path = Path("results") / "paper",
    *,
    cache_dir: str | Path = DEFAULT_CACHE_DIR,
    force: bool = False,
    progress: bool | None = None,
) -> RunResult:
    """Run the whole study; return the report path, the manifest and what each step did."""
    from clusterpreneur.pipeline import outputs, report

    config = config or StudyConfig()
    config.check()
    t_start = time.perf_counter()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    survey, mapping, cases = _resolve_inputs(config)
    hashes = {"survey": sha256_file(survey)}
    if mapping is not None:
        hashes["mapping"] = sha256_file(mapping)
    if cases is not None:
        hashes["cases"] = sha256_file(cases)
    ctx = RunContext(config, survey, mapping, cases, hashes)
    steps = outputs.plan(config, ctx)
    cache = StepCache(cache_dir)
    entries, records = run_steps(steps, ctx, cache, force=force, progress=progress)

    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    written = report.write_outputs(config, entries, out_dir, records, pause=maybe_pause)
    report_seconds = time.perf_counter() - t0
    _prune_previous(out_dir, set(written))
    manifest = {
        "title": config.title,
        "started": started,
        "package": {"name": "clusterpreneur", "version": package_version()},
        "versions": dependency_versions(),
        "platform": {"system": platform.system(), "machine": platform.machine(), "cpus": os.cpu_count()},
        "git": git_commit(),
        "data": {
            "survey": str(survey),
            "survey_sha256": hashes["survey"],
            "mapping": str(mapping) if mapping else None,
            "mapping_sha256": hashes.get("mapping"),
            "cases": str(cases) if cases else "shipped North Jutland cases",
            "cases_sha256": hashes.get("cases"),
        },
        "config": config.to_dict(),
        "seeds": {m: config.seed_for(m) for m in config.models},
        "cache_dir": str(Path(cache_dir).resolve()),
        "forced": force,
        "steps": [
            {
                "name": r.name,
                "key": r.key,
                "cached": r.cached,
                "seconds": r.seconds,
                "sampling": r.sampling,
                "summary": r.summary,
            }
            for r in records
        ],
        "sampled": [r.name for r in records if r.sampling and not r.cached],
        "report_seconds": round(report_seconds, 3),
        "total_seconds": round(time.perf_counter() - t_start, 3),
        "outputs": {rel: sha256_file(out_dir / rel) for rel in sorted(written)},
    }
    write_atomic(out_dir / MANIFEST, json.dumps(manifest, indent=2, default=str) + "\n")
    return RunResult(out_dir, out_dir / report.REPORT_FILE, manifest, records, entries)
