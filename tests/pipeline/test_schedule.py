"""Concurrent steps (``jobs > 1``): dependencies first, the same keys and bytes as one step at a
time, a failing step stops the run naming it (the steps already running finish and are cached)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from clusterpreneur.io import write_atomic
from clusterpreneur.pipeline import StudyConfig, run_study
from clusterpreneur.pipeline.cache import MARKER, STAGING_PREFIX, StepCache
from clusterpreneur.pipeline.runner import JOBS_ENV, StepError, default_jobs, run_steps
from clusterpreneur.pipeline.step import RunContext, StepBase


@dataclass
class Sleepy(StepBase):
    """A plumbing step: waits, then writes its name and its inputs' text (worker processes import
    it from this module)."""

    seconds: float = 0.0
    fail: bool = False

    def params(self):
        return {"seconds": self.seconds}

    def run(self, ctx, upstream, out: Path):
        started = time.time()
        time.sleep(self.seconds)
        if self.fail:
            raise ValueError("the data are not what this step expects")
        text = "|".join([self.name, *(upstream[d].file("out.txt").read_text() for d in self.deps)])
        write_atomic(out / "out.txt", text)
        return {"started": started, "ended": time.time(), "pid": os.getpid()}


def context(tmp_path: Path) -> RunContext:
    return RunContext(StudyConfig(), tmp_path / "survey.csv", None, None, {})


def entry_bytes(cache: Path) -> dict[str, bytes]:
    """Every artefact of every cache entry (not the markers: they hold wall times)."""
    return {
        p.relative_to(cache).as_posix(): p.read_bytes()
        for p in sorted(cache.rglob("*"))
        if p.is_file() and p.name not in (MARKER, "runs.json")
    }


DIAMOND = [
    Sleepy("a", seconds=0.2),
    Sleepy("b", ("a",), sampling=True, seconds=1.5),
    Sleepy("c", ("a",), seconds=1.5),
    Sleepy("d", ("b", "c")),
]


def test_concurrent_steps_follow_their_dependencies_and_write_the_same_bytes(tmp_path):
    ctx = context(tmp_path)
    one, one_records = run_steps(DIAMOND, ctx, StepCache(tmp_path / "one"), progress=False, jobs=1)
    two, two_records = run_steps(DIAMOND, ctx, StepCache(tmp_path / "two"), progress=False, jobs=2)
    assert [r.name for r in one_records] == [r.name for r in two_records] == ["a", "b", "c", "d"]
    assert {n: e.key for n, e in one.items()} == {n: e.key for n, e in two.items()}
    assert entry_bytes(tmp_path / "one") == entry_bytes(tmp_path / "two")
    assert (two["d"].path / "out.txt").read_text() == "d|b|a|c|a"
    seen = {r.name: r.summary for r in two_records}
    for step in DIAMOND:  # every step started after the steps it reads had ended
        assert all(seen[step.name]["started"] >= seen[d]["ended"] for d in step.deps), step.name
    assert seen["b"]["started"] < seen["c"]["ended"] and seen["c"]["started"] < seen["b"]["ended"]
    assert {seen[n]["pid"] for n in "abcd"}.isdisjoint({os.getpid()})  # in worker processes
    assert {r.summary["pid"] for r in one_records} == {os.getpid()}  # jobs=1: in this process


def test_a_failing_step_stops_the_run_and_names_itself(tmp_path):
    steps = [
        Sleepy("a"),
        Sleepy("slow", ("a",), seconds=2.0),
        Sleepy("broken", ("a",), sampling=True, seconds=0.3, fail=True),
        Sleepy("after", ("broken",)),
        Sleepy("other", ("slow",)),
    ]
    cache = tmp_path / "cache"
    with pytest.raises(StepError, match=r"step 'broken' failed: ValueError: the data are not what"):
        run_steps(steps, context(tmp_path), StepCache(cache), progress=False, jobs=2)
    done = {p.parent.parent.name for p in cache.glob(f"*/*/{MARKER}")}
    assert done == {"a", "slow"}  # the step running beside it finished (and is cached); no other started
    assert not list(cache.glob(f"*/{STAGING_PREFIX}*"))


def test_study_gives_the_same_keys_and_outputs_with_one_job_or_two(tiny_run, tmp_path):
    """The tiny study of the other tests ran with two jobs; one job gives the same bytes."""
    config, two, _ = tiny_run
    assert two.manifest["jobs"] == 2
    one = run_study(config, tmp_path / "out", cache_dir=tmp_path / "cache", progress=False, jobs=1)
    assert one.manifest["jobs"] == 1
    assert [(r.name, r.key, r.code) for r in one.records] == [(r.name, r.key, r.code) for r in two.records]
    assert one.manifest["outputs"] == two.manifest["outputs"]
    order = [s["name"] for s in json.loads((one.out_dir / "manifest.json").read_text())["steps"]]
    assert order == [r.name for r in two.records]  # the manifest lists the steps in plan order


def test_jobs_must_be_positive(tmp_path, survey_csv, make_config):
    with pytest.raises(Exception, match="at least 1"):
        run_study(make_config(survey_csv), tmp_path / "out", cache_dir=tmp_path / "c", jobs=0)


def test_default_jobs_from_the_environment_else_one_per_cpu(monkeypatch):
    monkeypatch.setenv(JOBS_ENV, "3")
    assert default_jobs() == 3
    monkeypatch.setenv(JOBS_ENV, "two")
    with pytest.raises(Exception, match="CLUSTERPRENEUR_JOBS='two'"):
        default_jobs()
    monkeypatch.delenv(JOBS_ENV)
    assert 1 <= default_jobs() <= (os.cpu_count() or 1)
