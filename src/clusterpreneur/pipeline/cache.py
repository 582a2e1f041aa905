"""Content-hash-keyed step cache: a step whose inputs did not change is not run again.

A step's **key** is the SHA-256 of the canonical JSON of everything it depends on:
its name, its parameters (model spec, sampler settings, ...), the hashes of its input files
(the survey's SHA-256), the source code of the modules it runs (``code``), the package
version and the keys of the upstream steps it reads. Change any of them and the key changes,
so exactly the steps downstream of the change rerun.

Layout: ``<cache_dir>/<step>/<key>/`` holds the step's artefacts plus a completion marker
``_COMPLETE.json`` (files and their SHA-256, the step's summary, wall time). A step runs in a
staging folder ``<cache_dir>/<step>/.tmp-<key>-<pid>-<random>/``; every file in it is written
atomically; the marker is written **last**; then the staging folder is renamed to its key.
A step killed midway therefore leaves only a staging folder (removed by the next run) and is
simply recomputed; an entry whose marker is missing or whose files do not match it is treated
as absent.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clusterpreneur.io import sha256_file, write_atomic

MARKER = "_COMPLETE.json"
STAGING_PREFIX = ".tmp-"


def canonical_json(obj: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, non-JSON values via ``str``."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=True)


def hash_json(obj: Any) -> str:
    """SHA-256 of :func:`canonical_json`."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def code_hash(modules: Iterable[str]) -> str:
    """SHA-256 over the source files of the named modules (a package counts all its ``.py``)."""
    h = hashlib.sha256()
    for name in sorted(set(modules)):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            h.update(f"{name}:absent".encode())
            continue
        origin = Path(getattr(mod, "__file__", "") or "")
        files = sorted(origin.parent.rglob("*.py")) if origin.name == "__init__.py" else [origin]
        for f in files:
            if f.is_file():
                h.update(f"{name}:{f.relative_to(origin.parent).as_posix()}:".encode())
                h.update(sha256_file(f).encode())
    return h.hexdigest()


def step_key(
    step: str,
    *,
    params: Any = None,
    inputs: dict[str, str] | None = None,
    upstream: dict[str, str] | None = None,
    code: str = "",
    version: str = "",
) -> str:
    """The content hash that identifies one run of ``step`` (see the module docstring)."""
    return hash_json(
        {
            "step": step,
            "params": params,
            "inputs": inputs or {},
            "upstream": upstream or {},
            "code": code,
            "version": version,
        }
    )


def _safe(step: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in step)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class CacheEntry:
    """A completed step in the cache."""

    step: str
    key: str
    path: Path
    marker: dict[str, Any]

    @property
    def summary(self) -> dict[str, Any]:
        return self.marker.get("summary", {})

    def file(self, name: str) -> Path:
        """Path of artefact ``name`` (raises ``FileNotFoundError`` naming the step if absent)."""
        p = self.path / name
        if not p.is_file():
            raise FileNotFoundError(f"step {self.step!r} has no artefact {name!r} in {self.path}")
        return p


class StepCache:
    """The cache folder: look up, stage, commit and clean step results."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def entry_dir(self, step: str, key: str) -> Path:
        return self.root / _safe(step) / key

    def lookup(self, step: str, key: str, *, verify: bool = True) -> CacheEntry | None:
        """The completed entry for (step, key), or ``None`` if absent or incomplete/corrupt."""
        path = self.entry_dir(step, key)
        marker_path = path / MARKER
        if not marker_path.is_file():
            return None
        try:
            marker = json.loads(marker_path.read_text())
            files = marker["files"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if marker.get("key") != key:
            return None
        for name, digest in files.items():
            f = path / name
            if not f.is_file() or (verify and sha256_file(f) != digest):
                return None
        return CacheEntry(step, key, path, marker)

    def clean_stale(self, step: str) -> list[Path]:
        """Remove staging folders of this step left by processes that no longer run."""
        removed = []
        folder = self.root / _safe(step)
        if not folder.is_dir():
            return removed
        for p in folder.glob(f"{STAGING_PREFIX}*"):
            parts = p.name.removeprefix(STAGING_PREFIX).split("-")
            try:
                pid = int(parts[1])
            except (IndexError, ValueError):
                pid = -1
            if pid < 0 or not _pid_alive(pid):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
        return removed

    @contextlib.contextmanager
    def stage(self, step: str, key: str):
        """A fresh staging folder; removed again if the body raises (including Ctrl-C)."""
        folder = self.root / _safe(step)
        folder.mkdir(parents=True, exist_ok=True)
        self.clean_stale(step)
        staging = folder / f"{STAGING_PREFIX}{key[:16]}-{os.getpid()}-{secrets.token_hex(4)}"
        staging.mkdir()
        try:
            yield staging
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def commit(
        self, step: str, key: str, staging: Path, summary: dict[str, Any], seconds: float
    ) -> CacheEntry:
        """Hash the staged files, write the marker last, then move the folder to its key."""
        files = {
            p.relative_to(staging).as_posix(): sha256_file(p)
            for p in sorted(staging.rglob("*"))
            if p.is_file() and p.name != MARKER and not p.name.startswith(".")
        }
        marker = {
            "step": step,
            "key": key,
            "files": files,
            "summary": summary,
            "seconds": round(seconds, 3),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        write_atomic(staging / MARKER, json.dumps(marker, indent=2, sort_keys=True, default=str) + "\n")
        final = self.entry_dir(step, key)
        if final.exists():  # an incomplete or corrupt entry: replace it
            shutil.rmtree(final, ignore_errors=True)
        os.replace(staging, final)
        return CacheEntry(step, key, final, marker)

    def clear(self) -> None:
        """Remove the whole cache folder."""
        shutil.rmtree(self.root, ignore_errors=True)
