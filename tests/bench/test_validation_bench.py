"""The validation benchmark: one small measurement end to end and its BENCHMARKS.md section."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _module():
    spec = importlib.util.spec_from_file_location("bench_validation", ROOT / "benchmarks" / "validation.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_validation"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_small_measurement_and_its_section():
    validation = _module()
    result = validation.measure(rows=300, repeats=1, log=lambda *_: None)
    run = result["runs"][0]
    assert result["rows"] == run["rows"] == 300 and result["met"]
    assert 0 < run["read_s"] < run["wall_s"] + 1 and run["peak_rss_mib"] >= run["import_rss_mib"] > 50
    text = validation.render_markdown({"validation": {**result, "before": result}})
    assert "## Validating a 300-row survey" in text and "**met**" in text and "Before (package of" in text
    assert validation.render_markdown({}) == ""
