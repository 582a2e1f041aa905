"""Diagnostics that gate every result: convergence, predictive checks, LOO, prior sensitivity, SBC."""

from clusterpreneur.diagnostics.gate import (
    ConvergenceThresholds,
    GateResult,
    attach_gate,
    check_convergence,
    gate_from_datatree,
    require_converged,
)

__all__ = [
    "ConvergenceThresholds",
    "GateResult",
    "attach_gate",
    "check_convergence",
    "gate_from_datatree",
    "require_converged",
]
