"""Diagnostics that gate every result: convergence, predictive checks, LOO, prior sensitivity, SBC.

- :mod:`.gate`: convergence gate (R-hat, bulk/tail ESS, divergences, E-BFMI, tree depth) and
  the short estimate table beside it;
- :mod:`.ppc`: posterior predictive checks per outcome family, LOO-PIT;
- :mod:`.compare`: PSIS-LOO with Pareto-k by initiative, stacking comparison;
- :mod:`.sensitivity`: power-scaling prior sensitivity with flags;
- :mod:`.sbc`: simulation-based calibration on Dask (seeded, cached, resumable);
- :mod:`.plots`: arviz-plots figures saved as PNG and SVG.
"""

from clusterpreneur.diagnostics import plots, ppc
from clusterpreneur.diagnostics.compare import ModelComparison, compare_models, loo_with_pareto_k
from clusterpreneur.diagnostics.gate import (
    ConvergenceThresholds,
    GateResult,
    attach_gate,
    check_convergence,
    estimate_table,
    gate_from_datatree,
    main_parameters,
    require_converged,
)
from clusterpreneur.diagnostics.sbc import SBCResult, SBCSettings, run_sbc, simulate_one
from clusterpreneur.diagnostics.sensitivity import prior_sensitivity, sensitivity_tables

__all__ = [
    "ConvergenceThresholds",
    "GateResult",
    "ModelComparison",
    "SBCResult",
    "SBCSettings",
    "attach_gate",
    "check_convergence",
    "compare_models",
    "estimate_table",
    "gate_from_datatree",
    "loo_with_pareto_k",
    "main_parameters",
    "plots",
    "ppc",
    "prior_sensitivity",
    "require_converged",
    "run_sbc",
    "sensitivity_tables",
    "simulate_one",
]
