"""The step cache: keys from inputs and code, completion marker written last, corrupt or partial
entries rerun, size report and pruning."""

from __future__ import annotations

import json
import os

import pytest

from clusterpreneur.io import write_atomic
from clusterpreneur.pipeline.cache import MARKER, StepCache, entry_key, step_key

CODE = {"pipeline/steps/data.py": "a" * 64}


def same(_file: str) -> str:
    return CODE.get(_file, "x")


def test_key_changes_with_every_input_and_is_stable():
    base = dict(params={"draws": 10}, inputs={"survey": "abc"}, upstream={"data": "k1"}, version="1")
    k = step_key("model:M1", **base)
    assert k == step_key("model:M1", **base)
    for change in ({"params": {"draws": 11}}, {"inputs": {"survey": "abd"}}, {"upstream": {"data": "k2"}},
                   {"version": "2"}):  # fmt: skip
        assert step_key("model:M1", **(base | change)) != k
    assert step_key("model:M2", **base) != k
    assert entry_key(k, CODE) != entry_key(k, {"pipeline/steps/data.py": "b" * 64})


def _commit(cache: StepCache, base: str, text: str, code=CODE):
    with cache.stage("s") as wd:
        write_atomic(wd / "a.csv", text)
        return cache.commit("s", base, code, wd, {"rows": 1}, 0.1)


def test_commit_then_lookup_needs_the_same_code(tmp_path):
    cache = StepCache(tmp_path)
    entry = _commit(cache, "b" * 64, "x\n1\n")
    found = cache.lookup("s", "b" * 64, same)
    assert found is not None and found.summary == {"rows": 1} and found.code == CODE
    assert found.file("a.csv").read_text() == "x\n1\n"
    assert entry.path == found.path and entry.key == entry_key("b" * 64, CODE)
    assert cache.lookup("s", "c" * 64, same) is None  # other inputs
    assert cache.lookup("s", "b" * 64, lambda f: "edited") is None  # a file it ran has changed


def test_entry_without_marker_or_with_changed_file_is_absent(tmp_path):
    cache = StepCache(tmp_path)
    entry = _commit(cache, "a" * 64, "x\n1\n")
    (entry.path / "a.csv").write_text("x\n2\n")  # tampered / half-written
    assert cache.lookup("s", "a" * 64, same) is None
    (entry.path / MARKER).unlink()
    assert cache.lookup("s", "a" * 64, same) is None
    _commit(cache, "a" * 64, "x\n3\n")  # recomputing replaces the broken entry
    assert cache.lookup("s", "a" * 64, same).file("a.csv").read_text() == "x\n3\n"


def test_interrupted_stage_leaves_nothing_and_stale_staging_is_cleaned(tmp_path):
    cache = StepCache(tmp_path)
    with pytest.raises(KeyboardInterrupt), cache.stage("s") as wd:
        write_atomic(wd / "part.csv", "x\n")
        raise KeyboardInterrupt
    assert list((tmp_path / "s").iterdir()) == []
    # a staging folder of a killed process (pid that does not exist) is removed by the next stage()
    dead = tmp_path / "s" / ".tmp-999999999-dead"
    dead.mkdir()
    (dead / "half.nc").write_bytes(b"\x00" * 10)
    with cache.stage("s") as wd:
        assert not dead.exists()
        assert wd.name.split("-")[1] == str(os.getpid())
        cache.commit("s", "c" * 64, {}, wd, {}, 0.0)
    marker = json.loads(next((tmp_path / "s").iterdir()).joinpath(MARKER).read_text())
    assert marker["files"] == {} and marker["base"] == "c" * 64


def test_size_report_and_prune_keep_what_the_latest_run_used(tmp_path):
    cache = StepCache(tmp_path / "cache")
    old = _commit(cache, "a" * 64, "x\n" * 1000)
    new = _commit(cache, "b" * 64, "y\n")
    (tmp_path / "out").mkdir()
    cache.record_run(tmp_path / "out", {"s": new})
    usage = {r["step"]: r for r in cache.usage()}
    assert usage["s"]["entries"] == 2 and usage["s"]["used"] == 1
    assert usage["s"]["bytes"] > usage["s"]["used_bytes"] > 0
    planned = cache.prune(dry_run=True)
    assert [p for p, _ in planned] == [old.path] and old.path.exists()  # dry run: nothing removed
    assert planned[0][1] >= 2000
    gone = cache.prune()
    assert [p for p, _ in gone] == [old.path] and not old.path.exists()
    assert cache.lookup("s", "b" * 64, same) is not None
    assert cache.prune() == []
    (tmp_path / "out").rmdir()  # its run no longer counts: nothing is kept
    assert [p for p, _ in cache.prune()] == [new.path]
