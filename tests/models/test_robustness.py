"""Gate pass rate on 20 independently seeded unbalanced surveys (slow: about 40 fits)."""

from __future__ import annotations

import pytest
from benchmarks.robustness import study


@pytest.mark.slow
def test_m1_and_m2_pass_the_gate_on_19_of_20_unbalanced_surveys():
    res = study(20, ("M1", "M2"))
    for model, block in res.items():
        assert block["passed"] >= 19, (model, [f for f in block["fits"] if not f["passed"]])
