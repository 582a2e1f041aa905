"""The code part of a step's cache key: the package files a step actually runs.

A step's result depends on the source of the package modules it executes, not on every module
the package has. While a step runs, :class:`CodeTracker` records each package source file
whose code starts executing (``sys.monitoring`` ``PY_START`` events, each code object reported
once and then disabled, so tracking costs next to nothing), except the pipeline's own machinery
(:data:`INFRASTRUCTURE`). To that set the runner adds the
step's own module, the package modules that module names in its imports (constants a step
reads, such as the scenario registry, run no code of their own) and the step's declared
resources (report templates). The cache stores the SHA-256 of every one of these files with
the step's result and reuses the result only while all of them are unchanged
(:mod:`clusterpreneur.pipeline.cache`).

So editing a caption reruns only the report step, and editing ``models/predict.py`` (which no
model step runs) re-samples nothing. Where ``sys.monitoring`` has no free tool id (another
profiler holds them all), a step falls back to the transitive closure of its module's imports.

Before a step first runs in a process, :func:`preload` imports every module of the package, so
no module's import-time code runs while a step is tracked: what a step ran is then the same
whichever steps ran before it in the same process (the runner's worker processes each see a
different sequence of steps; see :mod:`clusterpreneur.pipeline.schedule`).
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import pkgutil
import sys
from collections.abc import Iterable
from pathlib import Path

import clusterpreneur
from clusterpreneur.io import sha256_file

PACKAGE_DIR = Path(clusterpreneur.__file__).resolve().parent
INFRASTRUCTURE = frozenset(
    {
        "pipeline/cache.py",
        "pipeline/codekey.py",
        "pipeline/runner.py",
        "pipeline/schedule.py",
        "pipeline/step.py",
        "pipeline/plan.py",
    }
)
"""Modules that order, key and store steps without shaping their results: left out of code keys
(a change in how results are stored bumps :data:`clusterpreneur.pipeline.cache.CACHE_FORMAT`)."""
PACKAGE = "clusterpreneur"
TOOL_NAME = "clusterpreneur-step-code"
_TOOL_IDS = (3, 4)  # ids 0-2 and 5 are reserved by convention for debuggers, coverage, profilers


def preload() -> None:
    """Import every module of the package (not ``__main__``), once per process (see the module
    docstring): a module first imported inside a tracked step would otherwise count as code of
    that step only, depending on which steps ran before it in the process."""
    global _PRELOADED
    if _PRELOADED:
        return
    for info in pkgutil.walk_packages(clusterpreneur.__path__, f"{PACKAGE}."):
        if not info.name.endswith(".__main__"):
            importlib.import_module(info.name)
    _PRELOADED = True


_PRELOADED = False


def relative(path: str | Path) -> str | None:
    """``path`` relative to the package folder (POSIX), or None when outside the package."""
    try:
        return Path(path).resolve().relative_to(PACKAGE_DIR).as_posix()
    except ValueError:
        return None


class CodeTracker:
    """Context manager: the package source files whose code runs inside the ``with`` block."""

    def __init__(self) -> None:
        self.files: set[str] = set()
        self.tool: int | None = None
        self._closed = False
        self._prefix = str(PACKAGE_DIR) + "/"

    @property
    def active(self) -> bool:
        """Whether files were tracked (False when no monitoring tool id was free: the caller then
        falls back to static imports)."""
        return self.tool is not None

    def _on_start(self, code, offset):
        name = code.co_filename
        if name.startswith(self._prefix):
            self.files.add(name[len(self._prefix) :])
        return sys.monitoring.DISABLE

    def __enter__(self) -> CodeTracker:
        mon = getattr(sys, "monitoring", None)
        if mon is None:
            return self
        for tool in _TOOL_IDS:
            try:
                mon.use_tool_id(tool, TOOL_NAME)
            except ValueError:
                continue
            self.tool = tool
            break
        if self.tool is None:
            return self
        mon.register_callback(self.tool, mon.events.PY_START, self._on_start)
        mon.restart_events()  # code objects disabled while tracking an earlier step report again
        mon.set_events(self.tool, mon.events.PY_START)
        return self

    def __exit__(self, *exc) -> None:
        if self.tool is None or self._closed:
            return
        mon = sys.monitoring
        mon.set_events(self.tool, 0)
        mon.register_callback(self.tool, mon.events.PY_START, None)
        mon.free_tool_id(self.tool)
        self._closed = True


def module_file(name: str) -> Path | None:
    """Source file of package module ``name`` (``__init__.py`` for a package), None if unknown."""
    if not (name == PACKAGE or name.startswith(PACKAGE + ".")):
        return None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def named_imports(path: Path) -> list[str]:
    """Package modules named by the import statements of ``path`` (any depth in the file).

    ``from pkg import name`` names ``pkg.name`` when that is a module, else ``pkg``.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):  # imports for type checking only are not run: drop them
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.append(sub if module_file(sub) is not None else node.module)
    return [m for m in dict.fromkeys(found) if module_file(m) is not None]


def static_files(module: str, *, transitive: bool = False) -> set[str]:
    """Package files of ``module`` and the package modules it imports (all of them, recursively,
    when ``transitive``)."""
    out: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        path = module_file(name)
        rel = relative(path) if path is not None else None
        if rel is None or rel in out:
            continue
        out.add(rel)
        if transitive or name == module:
            todo += named_imports(path)
    return out


def resource_files(resources: Iterable[str]) -> set[str]:
    """Package-relative paths of resource files or of every file under resource folders."""
    out: set[str] = set()
    for res in resources:
        path = PACKAGE_DIR / res
        if path.is_dir():
            out |= {relative(p) for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
        elif path.is_file():
            out.add(relative(path))
    return out


class FileDigests:
    """SHA-256 of package files, each hashed once per run (``"absent"`` for a deleted file)."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def __call__(self, rel: str) -> str:
        if rel not in self._seen:
            path = PACKAGE_DIR / rel
            self._seen[rel] = sha256_file(path) if path.is_file() else "absent"
        return self._seen[rel]

    def digests(self, files: Iterable[str]) -> dict[str, str]:
        return {f: self(f) for f in sorted(set(files))}


def code_digest(digests: dict[str, str]) -> str:
    """One SHA-256 over a ``{file: sha256}`` map."""
    h = hashlib.sha256()
    for name, digest in sorted(digests.items()):
        h.update(f"{name}:{digest}\n".encode())
    return h.hexdigest()
