"""The step cache: content keys, completion marker written last, corrupt or partial entries rerun."""

from __future__ import annotations

import json
import os

import pytest

from clusterpreneur.io import write_atomic
from clusterpreneur.pipeline.cache import MARKER, StepCache, code_hash, step_key


def test_key_changes_with_every_input_and_is_stable():
    base = dict(
        params={"draws": 10}, inputs={"survey": "abc"}, upstream={"data": "k1"}, code="c", version="1"
    )
    k = step_key("model:M1", **base)
    assert k == step_key("model:M1", **base)
    for change in (
        {"params": {"draws": 11}},
        {"inputs": {"survey": "abd"}},
        {"upstream": {"data": "k2"}},
        {"code": "d"},
        {"version": "2"},
    ):
        assert step_key("model:M1", **(base | change)) != k
    assert step_key("model:M2", **base) != k


def test_code_hash_depends_on_module_source():
    assert code_hash(["clusterpreneur.io"]) == code_hash(["clusterpreneur.io"])
    assert code_hash(["clusterpreneur.io"]) != code_hash(["clusterpreneur.errors"])
    assert len(code_hash(["clusterpreneur.pipeline"])) == 64  # a package: all its files


def test_commit_then_lookup(tmp_path):
    cache = StepCache(tmp_path)
    with cache.stage("s", "k" * 64) as wd:
        write_atomic(wd / "a.csv", "x\n1\n")
        entry = cache.commit("s", "k" * 64, wd, {"rows": 1}, 0.1)
    assert not wd.exists()
    found = cache.lookup("s", "k" * 64)
    assert found is not None and found.summary == {"rows": 1}
    assert found.file("a.csv").read_text() == "x\n1\n"
    assert entry.path == found.path
    assert [p.name for p in (tmp_path / "s").iterdir()] == ["k" * 64]


def test_entry_without_marker_or_with_changed_file_is_absent(tmp_path):
    cache = StepCache(tmp_path)
    key = "a" * 64
    with cache.stage("s", key) as wd:
        write_atomic(wd / "a.csv", "x\n1\n")
        entry = cache.commit("s", key, wd, {}, 0.0)
    (entry.path / "a.csv").write_text("x\n2\n")  # tampered / half-written
    assert cache.lookup("s", key) is None
    (entry.path / MARKER).unlink()
    assert cache.lookup("s", key) is None
    # recomputing replaces the broken entry
    with cache.stage("s", key) as wd:
        write_atomic(wd / "a.csv", "x\n3\n")
        cache.commit("s", key, wd, {}, 0.0)
    assert cache.lookup("s", key).file("a.csv").read_text() == "x\n3\n"


def test_interrupted_stage_leaves_nothing_and_stale_staging_is_cleaned(tmp_path):
    cache = StepCache(tmp_path)
    with pytest.raises(KeyboardInterrupt), cache.stage("s", "b" * 64) as wd:
        write_atomic(wd / "part.csv", "x\n")
        raise KeyboardInterrupt
    assert list((tmp_path / "s").iterdir()) == []
    # a staging folder of a killed process (pid that does not exist) is removed by the next stage()
    dead = tmp_path / "s" / f".tmp-{'c' * 16}-999999999-dead"
    dead.mkdir()
    (dead / "half.nc").write_bytes(b"\x00" * 10)
    with cache.stage("s", "c" * 64) as wd:
        assert not dead.exists()
        assert wd.name.split("-")[2] == str(os.getpid())
        cache.commit("s", "c" * 64, wd, {}, 0.0)
    marker = json.loads((tmp_path / "s" / ("c" * 64) / MARKER).read_text())
    assert marker["files"] == {}
