"""Run the study as ordered, cached steps and write one output folder with a manifest.

:func:`run_study` plans the steps (:func:`clusterpreneur.pipeline.plan.plan`), validates every
one of them before any runs (a bad case file or a missing browser is reported before minutes of
sampling), runs each one unless the cache (:mod:`clusterpreneur.pipeline.cache`) holds its
result for the same inputs and the same code, then copies the report step's files into the
output folder and writes ``manifest.json`` last: package and dependency versions, git commit,
SHA-256 of the data, seeds, per-step key, code files, wall time and whether it was cached.

Test hook: with ``CLUSTERPRENEUR_TEST_PAUSE="<step>=<file>"`` in the environment, the named
step (or ``publish``, halfway through copying the report into the output folder) touches
``<file>`` after it has written part of its files and then waits, so a test can kill the run
at that point.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import shutil
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
from clusterpreneur.pipeline import codekey
from clusterpreneur.pipeline.cache import CacheEntry, StepCache, step_key
from clusterpreneur.pipeline.config import StudyConfig
from clusterpreneur.pipeline.step import RunContext, Step

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
class StepRecord:
    name: str
    key: str
    cached: bool
    seconds: float
    summary: dict[str, Any]
    sampling: bool = False
    code: list[str] = field(default_factory=list)


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

    @property
    def failed_models(self) -> list[str]:
        """Models whose fit failed the convergence gate in this run."""
        return [
            name.split(":", 1)[1]
            for name, e in self.entries.items()
            if name.startswith("diagnostics:") and e.summary.get("passed") is False
        ]


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
    """Rich progress bar in an interactive terminal, plain log lines otherwise.

    Steps may run concurrently: the bar names every running step; each log line carries the
    step's number in the order steps started.
    """

    sampler_bars = None
    """Whether a step's sampler shows its own progress bar (None: in a terminal, while this bar is
    :meth:`suspended`); worker processes say False (:mod:`clusterpreneur.pipeline.schedule`)."""

    def __init__(self, total: int, enabled: bool | None = None):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.total = total
        self._bar = None
        self._task = None
        self._number: dict[str, int] = {}
        self._finished: set[str] = set()

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

    def _describe(self) -> None:
        running = [n for n in self._number if n not in self._finished]
        self._bar.update(self._task, description=", ".join(running) or "study")

    def start(self, name: str) -> None:
        self._number[name] = len(self._number) + 1
        if self._bar is not None:
            self._describe()
        else:
            logger.info("[%d/%d] %s ...", self._number[name], self.total, name)

    def done(self, name: str, cached: bool, seconds: float) -> None:
        how = "cached" if cached else f"done in {seconds:.1f} s"
        self._finished.add(name)
        if self._bar is not None:
            self._bar.console.log(f"{name}: {how}")
            self._bar.advance(self._task)
            self._describe()
        else:
            logger.info("[%d/%d] %s: %s", self._number[name], self.total, name, how)


def step_code(step: Step, tracked: codekey.CodeTracker) -> set[str]:
    """The package files that make up ``step``'s code (see :mod:`clusterpreneur.pipeline.codekey`)."""
    module = type(step).__module__
    files = codekey.static_files(module, transitive=not tracked.active)
    files |= tracked.files | codekey.resource_files(step.resources)
    return files - codekey.INFRASTRUCTURE


@dataclass
class Staged:
    """A step that has run: its staging folder (artefacts written, not committed), its summary,
    wall time and the package files that make up its code."""

    folder: Path
    summary: dict[str, Any]
    seconds: float
    files: set[str]


def execute_step(step: Step, ctx: RunContext, upstream: dict[str, CacheEntry], cache: StepCache) -> Staged:
    """Run ``step`` into a fresh staging folder of ``cache`` (removed again if it fails); the one
    way a step runs, in this process or in a worker (:mod:`clusterpreneur.pipeline.schedule`).

    Errors other than the package's own are raised as :class:`StepError` naming the step.
    """
    codekey.preload()  # what a step runs must not depend on what ran before it in this process
    t0 = time.perf_counter()
    with cache.stage(step.name) as workdir:
        try:
            with codekey.CodeTracker() as tracked:
                summary = step.run(ctx, upstream, workdir) or {}
        except ClusterpreneurError:
            raise
        except Exception as exc:
            raise StepError(f"step {step.name!r} failed: {type(exc).__name__}: {exc}") from exc
        maybe_pause(step.name)
        files = step_code(step, tracked)
    return Staged(workdir, summary, time.perf_counter() - t0, files)


def _commit(
    cache: StepCache, step: Step, base: str, staged: Staged, digests: codekey.FileDigests
) -> CacheEntry:
    try:
        return cache.commit(
            step.name, base, digests.digests(staged.files), staged.folder, staged.summary, staged.seconds
        )
    except BaseException:
        shutil.rmtree(staged.folder, ignore_errors=True)
        raise


JOBS_ENV = "CLUSTERPRENEUR_JOBS"


def default_jobs() -> int:
    """Steps run at once by default: ``$CLUSTERPRENEUR_JOBS`` when set, else one per CPU this
    process may use (why: :mod:`clusterpreneur.pipeline.schedule`)."""
    from clusterpreneur.models.fit import default_cores

    text = os.environ.get(JOBS_ENV, "").strip()
    if not text:
        return default_cores(os.cpu_count() or 1)
    if not text.isdigit() or int(text) < 1:
        raise ClusterpreneurError(f"{JOBS_ENV}={text!r}: give a whole number of at least 1, or unset it")
    return int(text)


def run_steps(
    steps: list[Step],
    ctx: RunContext,
    cache: StepCache,
    *,
    force: bool = False,
    progress: bool | None = None,
    jobs: int = 1,
) -> tuple[dict[str, CacheEntry], list[StepRecord]]:
    """Validate every step, then run each one whose dependencies are done, reusing cached results
    unless ``force``; return the entries and one record per step, in plan order.

    ``jobs=1`` runs the steps one after another in plan order, in this process; ``jobs > 1`` runs
    up to ``jobs`` steps at once in worker processes (:mod:`clusterpreneur.pipeline.schedule`),
    sampling steps first among those ready. Keys and bytes are the same either way. After a step
    fails no other step starts; the steps already running finish (and are cached), then the
    first error is raised, naming its step.
    """
    from clusterpreneur.pipeline.schedule import step_pool

    if jobs < 1:
        raise ClusterpreneurError(f"jobs must be at least 1, not {jobs}")
    version = package_version()
    known: set[str] = set()
    for step in steps:
        missing = [d for d in step.deps if d not in known]
        if missing:
            raise StepError(f"step {step.name!r} depends on {missing}, which do not run before it")
        known.add(step.name)
    for step in steps:
        step.validate(ctx)
    digests = codekey.FileDigests()
    position = {s.name: i for i, s in enumerate(steps)}
    waiting = steps if jobs == 1 else sorted(steps, key=lambda s: (not s.sampling, position[s.name]))
    waiting = list(waiting)
    entries: dict[str, CacheEntry] = {}
    records: dict[str, StepRecord] = {}
    failure: BaseException | None = None

    def record(step: Step, entry: CacheEntry, cached: bool, seconds: float) -> None:
        entries[step.name] = entry
        records[step.name] = StepRecord(
            step.name, entry.key, cached, round(seconds, 3), entry.summary, step.sampling, sorted(entry.code)
        )
        bar.done(step.name, cached, seconds)

    with _Progress(len(steps), progress) as bar, step_pool(jobs, ctx, cache) as pool:
        ctx.progress = bar
        while (waiting and failure is None) or pool.running:
            reused = failure is None
            while reused:  # a step taken from the cache may make others ready: look again
                reused = False
                for step in list(waiting):
                    if any(d not in entries for d in step.deps):
                        continue
                    if pool.full and jobs == 1:
                        break
                    base = step_key(
                        step.name,
                        params=step.params(),
                        upstream={d: entries[d].key for d in step.deps},
                        version=version,
                    )
                    t0 = time.perf_counter()
                    entry = None if force else cache.lookup(step.name, base, digests)
                    if entry is not None:
                        waiting.remove(step)
                        bar.start(step.name)
                        record(step, entry, True, time.perf_counter() - t0)
                        reused = True
                    elif not pool.full:
                        waiting.remove(step)
                        bar.start(step.name)
                        pool.submit(step, {d: entries[d] for d in step.deps}, base)
            for step, base, outcome in pool.wait():
                if isinstance(outcome, BaseException):
                    failure = failure or outcome
                    continue
                record(step, _commit(cache, step, base, outcome, digests), False, outcome.seconds)
    if failure is not None:
        raise failure
    return entries, [records[s.name] for s in steps]


def _resolve_inputs(config: StudyConfig) -> tuple[Path, Path | None, Path | None, Path | None]:
    from clusterpreneur.study.datasets import default_survey_path

    survey = Path(config.survey) if config.survey else default_survey_path()
    mapping = Path(config.mapping) if config.mapping else None
    cases = Path(config.cases) if config.cases else None
    panel = Path(config.panel) if config.panel else None
    named = (("survey file", survey), ("mapping file", mapping), ("cases file", cases), ("panel file", panel))
    for what, p in named:
        if p is not None and not p.is_file():
            raise ClusterpreneurError(f"{what} {p} not found. Check the path.")
    return survey, mapping, cases, panel


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


REPORTED_VERSIONS = (
    "clusterpreneur",
    "python",
    "pymc",
    "pytensor",
    "nutpie",
    "arviz",
    "statsmodels",
    "numpy",
    "pandas",
)
"""Versions the report prints (the manifest has every dependency's)."""


def publish(entry: CacheEntry, out_dir: Path, pause: Callable[[str], None] | None = None) -> list[str]:
    """Copy a step's files into ``out_dir`` (each atomically), files in folders first and the
    report last; return them relative to ``out_dir``."""
    files = sorted(
        entry.marker.get("files", {}), key=lambda rel: ("/" not in rel, rel.startswith("report."), rel)
    )
    written = []
    for k, rel in enumerate(files):
        write_atomic(out_dir / rel, (entry.path / rel).read_bytes())
        written.append(rel)
        if pause is not None and k == len(files) // 2:
            pause("publish")
    return written


def _safe_name(step: str) -> str:
    return step.replace(":", "_")


def run_study(
    config: StudyConfig | None = None,
    out_dir: str | Path = Path("results") / "paper",
    *,
    cache_dir: str | Path = DEFAULT_CACHE_DIR,
    force: bool = False,
    progress: bool | None = None,
    pdf: bool = False,
    only: tuple[str, ...] | None = None,
    jobs: int | None = None,
) -> RunResult:
    """Run the whole study (or, with ``only``, the named steps and what they need); return the
    report path, the manifest and what each step did.

    ``jobs`` steps run at once (:func:`run_steps`; None: :func:`default_jobs`).

    The report and its tables and figures go to ``out_dir``; with ``only`` each selected
    step's files go to ``out_dir/<step>/`` instead (``model:M2`` -> ``model_M2``).
    """
    from clusterpreneur.pipeline.plan import plan, select
    from clusterpreneur.pipeline.report import REPORT_FILE
    from clusterpreneur.study.datasets import provenance

    config = config or StudyConfig()
    config.check()
    t_start = time.perf_counter()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    survey, mapping, cases, panel = _resolve_inputs(config)
    hashes = {"survey": sha256_file(survey)}
    if mapping is not None:
        hashes["mapping"] = sha256_file(mapping)
    if cases is not None:
        hashes["cases"] = sha256_file(cases)
    if panel is not None:
        hashes["panel"] = sha256_file(panel)
    truth = provenance(survey)["truth"]
    if truth:
        hashes["truth"] = sha256_file(truth)
    ctx = RunContext(config, survey, mapping, cases, hashes, panel_path=panel)
    out_dir = Path(out_dir)
    versions = dependency_versions()
    shown = {"clusterpreneur": package_version(), **{k: versions.get(k, "") for k in REPORTED_VERSIONS[1:]}}
    steps = plan(config, ctx, pdf=pdf, versions=shown)
    if only:
        steps = select(steps, only)
    cache = StepCache(cache_dir)
    jobs = default_jobs() if jobs is None else int(jobs)
    entries, records = run_steps(steps, ctx, cache, force=force, progress=progress, jobs=jobs)

    t0 = time.perf_counter()
    written: list[str] = []
    if only:
        for name in [s.name for s in steps if s.name in set(only) or s.name.split(":", 1)[0] in set(only)]:
            sub = _safe_name(name)
            written += [f"{sub}/{rel}" for rel in publish(entries[name], out_dir / sub)]
    else:
        written = publish(entries["report"], out_dir, pause=maybe_pause)
    report_seconds = time.perf_counter() - t0
    _prune_previous(out_dir, set(written))
    cache.record_run(out_dir, entries)
    manifest = {
        "title": config.title,
        "started": started,
        "package": {"name": "clusterpreneur", "version": package_version()},
        "versions": versions,
        "platform": {"system": platform.system(), "machine": platform.machine(), "cpus": os.cpu_count()},
        "git": git_commit(),
        "data": {
            "survey": str(survey),
            "survey_sha256": hashes["survey"],
            "mapping": str(mapping) if mapping else None,
            "mapping_sha256": hashes.get("mapping"),
            "cases": str(cases) if cases else "shipped North Jutland cases",
            "cases_sha256": hashes.get("cases"),
            "panel": str(panel) if panel else None,
            "panel_sha256": hashes.get("panel"),
            "truth": str(truth) if truth else None,
        },
        "config": config.to_dict(),
        "seeds": {m: config.seed_for(m) for m in config.fitted_models},
        "cache_dir": str(Path(cache_dir).resolve()),
        "forced": force,
        "jobs": jobs,
        "only": list(only) if only else None,
        "steps": [
            {
                "name": r.name,
                "key": r.key,
                "cached": r.cached,
                "seconds": r.seconds,
                "sampling": r.sampling,
                "summary": r.summary,
                "code": r.code,
            }
            for r in records
        ],
        "sampled": [r.name for r in records if r.sampling and not r.cached],
        "publish_seconds": round(report_seconds, 3),
        "total_seconds": round(time.perf_counter() - t_start, 3),
        "outputs": {rel: sha256_file(out_dir / rel) for rel in sorted(written)},
    }
    write_atomic(out_dir / MANIFEST, json.dumps(manifest, indent=2, default=str) + "\n")
    return RunResult(out_dir, out_dir / REPORT_FILE, manifest, records, entries)
