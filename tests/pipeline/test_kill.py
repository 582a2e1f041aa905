"""A run killed midway (SIGKILL, or Ctrl-C = SIGINT) leaves no half-written file; the rerun completes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from clusterpreneur.pipeline.cache import MARKER, STAGING_PREFIX
from clusterpreneur.pipeline.runner import PAUSE_ENV

if sys.platform == "win32":  # pragma: no cover
    pytest.skip("POSIX signals", allow_module_level=True)


@pytest.fixture(autouse=True)
def _children_get_ctrl_c():
    """A test run started in the background (``cmd &``) has SIGINT ignored, its children
    inherit that and Python keeps it; they must see Ctrl-C as at a terminal."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _start(args: list[str], env_extra: dict[str, str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONFAULTHANDLER": "1", **env_extra}
    return subprocess.Popen(
        [sys.executable, "-m", "clusterpreneur", "-q", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended before the pause point (exit {proc.returncode}):\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the run never reached the pause point")
        time.sleep(0.1)


def _communicate_or_dump(proc: subprocess.Popen, timeout: float) -> str:
    """stderr of ``proc`` once it exits; if it hangs, fail with its threads' signal masks
    and stacks (SIGABRT makes the faulthandler print them)."""
    try:
        return proc.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired:
        masks = _signal_masks(proc.pid)
        proc.send_signal(signal.SIGABRT)
        _, stderr = proc.communicate(timeout=30)
        pytest.fail(f"no exit within {timeout} s of the signal; signal masks:\n{masks}\n{stderr}")


def _signal_masks(pid: int) -> str:
    """Name and pending/blocked/ignored/caught signal masks of each thread of ``pid``."""
    lines = []
    for task in sorted(Path(f"/proc/{pid}/task").iterdir()):
        fields = dict(
            line.split(":", 1) for line in (task / "status").read_text().splitlines() if ":" in line
        )
        keys = ("Name", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt")
        lines.append(" ".join(f"{k}={fields.get(k, '').strip()}" for k in keys))
    return "\n".join(lines)


def assert_clean_outputs(out: Path) -> None:
    """No temporary file under a final name, every final file parses."""
    for p in out.rglob("*"):
        if not p.is_file():
            continue
        assert not p.name.startswith("."), f"temporary file left in the output folder: {p}"
        if p.suffix == ".csv":
            assert len(pd.read_csv(p).columns) > 0
        elif p.suffix == ".json":
            json.loads(p.read_text())
        elif p.suffix == ".html":
            assert p.read_text().rstrip().endswith("</html>")
        elif p.suffix == ".png":
            assert p.read_bytes().startswith(b"\x89PNG")


def assert_cache_complete(cache: Path) -> None:
    """Every cache entry has its marker; no staging folder is left after a completed run."""
    for step in (p for p in cache.iterdir() if p.is_dir()):
        for entry in step.iterdir():
            assert not entry.name.startswith(STAGING_PREFIX), f"staging folder left: {entry}"
            assert (entry / MARKER).is_file(), f"entry without completion marker: {entry}"


def test_sigkill_during_sampling_step_then_rerun_completes(tmp_path, survey_csv, make_toml):
    (tmp_path / "survey.csv").write_bytes(survey_csv.read_bytes())
    config = make_toml(tmp_path, baselines=False)
    out, cache, signal_file = tmp_path / "out", tmp_path / "cache", tmp_path / "paused"
    args = ["report", "--config", str(config), "--out", str(out), "--cache-dir", str(cache)]
    proc = _start(args, {PAUSE_ENV: f"model:M1={signal_file}"})
    _wait_for(signal_file, proc)
    # the model step has written its fit into its staging folder and has not committed it yet
    staging = [p for p in (cache / "model_M1").iterdir() if p.name.startswith(STAGING_PREFIX)]
    assert staging and (staging[0] / "fit.nc").is_file()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (cache / "model_M1").joinpath(MARKER).exists()
    assert [p for p in (cache / "model_M1").iterdir() if not p.name.startswith(STAGING_PREFIX)] == []
    assert not out.exists() or not (out / "manifest.json").exists()

    rerun = _start(args, {})
    stdout, stderr = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, stderr
    assert "report.html" in stdout
    manifest = json.loads((out / "manifest.json").read_text())
    cached = {s["name"]: s["cached"] for s in manifest["steps"]}
    assert cached["data"] and cached["descriptives"]  # finished before the kill: reused
    assert not cached["model:M1"]  # killed: recomputed
    assert_clean_outputs(out)
    assert_cache_complete(cache)


def test_ctrl_c_while_writing_the_report_then_rerun_completes(tmp_path, survey_csv, make_toml):
    (tmp_path / "survey.csv").write_bytes(survey_csv.read_bytes())
    config = make_toml(tmp_path, models=(), baselines=False)
    out, cache, signal_file = tmp_path / "out", tmp_path / "cache", tmp_path / "paused"
    args = ["report", "--config", str(config), "--out", str(out), "--cache-dir", str(cache)]
    proc = _start(args, {PAUSE_ENV: f"publish={signal_file}"})
    _wait_for(signal_file, proc)
    assert (out / "tables" / "descriptives.csv").is_file()  # halfway: some outputs written
    proc.send_signal(signal.SIGINT)
    stderr = _communicate_or_dump(proc, timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert not (out / "manifest.json").exists()  # the manifest is written last
    assert_clean_outputs(out)

    rerun = _start(args, {})
    _, stderr = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, stderr
    assert (out / "manifest.json").is_file() and (out / "report.html").is_file()
    assert_clean_outputs(out)
    assert_cache_complete(cache)


def test_ctrl_c_while_a_worker_runs_a_step_stops_it_and_leaves_no_staging(tmp_path, survey_csv, make_toml):
    (tmp_path / "survey.csv").write_bytes(survey_csv.read_bytes())
    config = make_toml(tmp_path, baselines=False)
    out, cache, signal_file = tmp_path / "out", tmp_path / "cache", tmp_path / "paused"
    args = ["report", "--config", str(config), "--out", str(out), "--cache-dir", str(cache), "--jobs", "2"]
    proc = _start(args, {PAUSE_ENV: f"model:M1={signal_file}"})
    _wait_for(signal_file, proc)
    worker = int(signal_file.read_text())  # the paused step writes the id of the process running it
    assert worker != proc.pid
    assert [p for p in (cache / "model_M1").iterdir() if p.name.startswith(STAGING_PREFIX)]
    proc.send_signal(signal.SIGINT)
    stderr = _communicate_or_dump(proc, timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert not Path(f"/proc/{worker}").exists() or "zombie" in Path(f"/proc/{worker}/status").read_text()
    assert list((cache / "model_M1").iterdir()) == []  # the worker's staging folder is removed
    assert not (out / "manifest.json").exists()
