"""The validation benchmark: one small measurement end to end and its BENCHMARKS.md section."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: benchmarks/

from benchmarks import validation


def test_small_measurement_and_its_section():
    result = validation.measure(rows=300, repeats=1, log=lambda *_: None)
    run = result["runs"][0]
    assert result["rows"] == run["rows"] == 300 and result["met"]
    assert 0 < run["read_s"] < run["wall_s"] + 1 and run["peak_rss_mib"] >= run["import_rss_mib"] > 50
    text = validation.render_markdown({"validation": {**result, "before": result}})
    assert "## Validating a 300-row survey" in text and "**met**" in text and "Before (package of" in text
    assert validation.render_markdown({}) == ""
