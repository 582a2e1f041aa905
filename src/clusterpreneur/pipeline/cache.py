"""Content-hash-keyed step cache: a step whose inputs and code did not change is not run again.

A step's **base key** is the SHA-256 of the canonical JSON of its name, its parameters (model
spec, sampler settings, ...), the hashes of its input files, the package version and the keys
of the upstream steps it reads. Its **code** is the set of package files it ran, each with its
SHA-256 (:mod:`clusterpreneur.pipeline.codekey`); it is known only after the step has run, so
it is stored with the result. A cached result is reused when its base key matches and every
file of its code still has the recorded hash. The entry's **key** (the folder name, and what
downstream steps put in their base keys) hashes both.

Layout: ``<cache_dir>/<step>/<key>/`` holds the step's artefacts plus a completion marker
``_COMPLETE.json`` (base key, code files, artefacts and their SHA-256, the step's summary, wall
time). A step runs in a staging folder ``<cache_dir>/<step>/.tmp-<pid>-<random>/``; every file
in it is written atomically; the marker is written **last**; then the staging folder is renamed
to its key. A step killed midway leaves only a staging folder (removed by the next run) and is
simply recomputed; an entry whose marker is missing or whose files do not match it is absent.

``<cache_dir>/runs.json`` records the entries the latest run into each output folder used;
:meth:`StepCache.prune` removes every other entry (runs into folders since deleted no longer
count), :meth:`StepCache.usage` reports sizes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clusterpreneur.io import sha256_file, write_atomic

CACHE_FORMAT = 2
"""Version of the cache's layout and keys; part of every base key."""
MARKER = "_COMPLETE.json"
STAGING_PREFIX = ".tmp-"
RUNS_FILE = "runs.json"


def canonical_json(obj: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, non-JSON values via ``str``."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=True)


def hash_json(obj: Any) -> str:
    """SHA-256 of :func:`canonical_json`."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def step_key(
    step: str,
    *,
    params: Any = None,
    inputs: dict[str, str] | None = None,
    upstream: dict[str, str] | None = None,
    version: str = "",
) -> str:
    """The base key of one run of ``step`` (everything but its code; see the module docstring)."""
    return hash_json(
        {
            "step": step,
            "params": params,
            "inputs": inputs or {},
            "upstream": upstream or {},
            "version": version,
            "format": CACHE_FORMAT,
        }
    )


def entry_key(base: str, code: dict[str, str]) -> str:
    """The key of a result: its base key and the hashes of the files it ran."""
    return hash_json({"base": base, "code": code})


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


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


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

    @property
    def code(self) -> dict[str, str]:
        """Package files the step ran (and its resources), with their SHA-256."""
        return self.marker.get("code", {})

    def file(self, name: str) -> Path:
        """Path of artefact ``name`` (raises ``FileNotFoundError`` naming the step if absent)."""
        p = self.path / name
        if not p.is_file():
            raise FileNotFoundError(f"step {self.step!r} has no artefact {name!r} in {self.path}")
        return p

    def has(self, name: str) -> bool:
        return (self.path / name).is_file()


class StepCache:
    """The cache folder: look up, stage, commit, report sizes and prune step results."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def step_dir(self, step: str) -> Path:
        return self.root / _safe(step)

    def entry_dir(self, step: str, key: str) -> Path:
        return self.step_dir(step) / key

    def _read_entry(self, step: str, path: Path, *, verify: bool) -> CacheEntry | None:
        try:
            marker = json.loads((path / MARKER).read_text())
            files = marker["files"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if marker.get("key") != path.name:
            return None
        for name, digest in files.items():
            f = path / name
            if not f.is_file() or (verify and sha256_file(f) != digest):
                return None
        return CacheEntry(step, path.name, path, marker)

    def lookup(
        self, step: str, base: str, digest: Callable[[str], str], *, verify: bool = True
    ) -> CacheEntry | None:
        """The completed entry of ``step`` for base key ``base`` whose code files all still hash as
        recorded (``digest(file)`` gives the current hash), or None."""
        folder = self.step_dir(step)
        if not folder.is_dir():
            return None
        candidates = []
        for path in folder.iterdir():
            if path.name.startswith(STAGING_PREFIX) or not (path / MARKER).is_file():
                continue
            try:
                marker = json.loads((path / MARKER).read_text())
            except (OSError, ValueError):
                continue
            if marker.get("base") != base:
                continue
            if all(digest(f) == h for f, h in marker.get("code", {}).items()):
                candidates.append((marker.get("finished", ""), path))
        for _, path in sorted(candidates, reverse=True):
            entry = self._read_entry(step, path, verify=verify)
            if entry is not None:
                return entry
        return None

    def clean_stale(self, step: str) -> list[Path]:
        """Remove staging folders of this step left by processes that no longer run."""
        removed = []
        folder = self.step_dir(step)
        if not folder.is_dir():
            return removed
        for p in folder.glob(f"{STAGING_PREFIX}*"):
            parts = p.name.removeprefix(STAGING_PREFIX).split("-")
            try:
                pid = int(parts[0])
            except (IndexError, ValueError):
                pid = -1
            if pid < 0 or not _pid_alive(pid):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
        return removed

    @contextlib.contextmanager
    def stage(self, step: str):
        """A fresh staging folder; removed again if the body raises (including Ctrl-C)."""
        folder = self.step_dir(step)
        folder.mkdir(parents=True, exist_ok=True)
        self.clean_stale(step)
        staging = folder / f"{STAGING_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        staging.mkdir()
        try:
            yield staging
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def commit(
        self,
        step: str,
        base: str,
        code: dict[str, str],
        staging: Path,
        summary: dict[str, Any],
        seconds: float,
    ) -> CacheEntry:
        """Hash the staged files, write the marker last, then move the folder to its key."""
        key = entry_key(base, code)
        files = {
            p.relative_to(staging).as_posix(): sha256_file(p)
            for p in sorted(staging.rglob("*"))
            if p.is_file() and p.name != MARKER and not p.name.startswith(".")
        }
        marker = {
            "step": step,
            "key": key,
            "base": base,
            "code": code,
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

    # ------------------------------------------------------------------ runs, sizes, pruning

    def runs(self) -> dict[str, dict[str, Any]]:
        """``{output folder: {"finished": time, "entries": ["<step dir>/<key>", ...]}}``."""
        try:
            return json.loads((self.root / RUNS_FILE).read_text())
        except (OSError, ValueError):
            return {}

    def record_run(self, out_dir: Path, entries: dict[str, CacheEntry]) -> None:
        """Remember the entries the run into ``out_dir`` used (what :meth:`prune` keeps)."""
        runs = self.runs()
        runs[str(Path(out_dir).resolve())] = {
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "entries": sorted(f"{e.path.parent.name}/{e.key}" for e in entries.values()),
        }
        write_atomic(self.root / RUNS_FILE, json.dumps(runs, indent=2, sort_keys=True) + "\n")

    def _entry_dirs(self):
        if not self.root.is_dir():
            return
        for step_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for path in sorted(step_dir.iterdir()):
                if path.is_dir():
                    yield step_dir.name, path

    def used(self) -> set[str]:
        """``<step dir>/<key>`` of every entry the latest run into a still existing output folder used."""
        return {e for out, run in self.runs().items() if Path(out).exists() for e in run.get("entries", [])}

    def usage(self) -> list[dict[str, Any]]:
        """One row per step folder: entries, bytes, and those the latest runs used."""
        used = self.used()
        rows: dict[str, dict[str, Any]] = {}
        for step, path in self._entry_dirs():
            row = rows.setdefault(step, {"step": step, "entries": 0, "bytes": 0, "used": 0, "used_bytes": 0})
            size = folder_bytes(path)
            row["entries"] += 1
            row["bytes"] += size
            if f"{step}/{path.name}" in used:
                row["used"] += 1
                row["used_bytes"] += size
        return list(rows.values())

    def prune(self, *, dry_run: bool = False) -> list[tuple[Path, int]]:
        """Remove every entry (and staging folder) that no recorded latest run used.

        Returns ``(path, bytes)`` of what was (or, with ``dry_run``, would be) removed.
        """
        used = self.used()
        gone = []
        for step, path in self._entry_dirs():
            if path.name.startswith(STAGING_PREFIX):
                pid = path.name.removeprefix(STAGING_PREFIX).split("-")[0]
                if pid.isdigit() and _pid_alive(int(pid)):
                    continue
            elif f"{step}/{path.name}" in used:
                continue
            gone.append((path, folder_bytes(path)))
            if not dry_run:
                shutil.rmtree(path, ignore_errors=True)
        return gone

    def clear(self) -> None:
        """Remove the whole cache folder."""
        shutil.rmtree(self.root, ignore_errors=True)
