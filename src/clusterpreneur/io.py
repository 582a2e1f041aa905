"""Atomic file writing and content hashing: every output of the package goes through here."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` when the block succeeds.

    For writers that need a file name (NetCDF, ...). The file gets the usual permissions
    (0666 minus the umask, as a plain ``open`` would give), its bytes are flushed to disk before
    the rename, and an error or interruption leaves either the old file or none, never a
    half-written one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | Path, payload: bytes | str) -> Path:
    """Write ``payload`` to ``path`` atomically: a temporary file in the same folder, then rename.

    An interrupted write leaves either the old file or no file, never a half-written one.
    """
    path = Path(path)
    data = payload.encode() if isinstance(payload, str) else payload
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def sha256_file(path: str | Path) -> str:
    """SHA-256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(payload: bytes) -> str:
    """SHA-256 hex digest of bytes."""
    return hashlib.sha256(payload).hexdigest()
