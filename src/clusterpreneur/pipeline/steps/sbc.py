"""Step ``sbc``: the saved simulation-based calibration results of the ladder's rungs, for the appendix.

SBC is never run by the study (hundreds of fits per rung): ``nox -s sbc`` runs it
(:mod:`clusterpreneur.diagnostics.sbc`) and writes, per rung, ``<folder>/<rung>/sbc_summary_<tag>.json``
with its tests and ECDF-difference figure. This step reads them (the folder is
``[diagnostics] sbc`` of the study configuration): for each rung the run with the most completed
simulations (the latest when tied). Its key holds the SHA-256 of every file it reads, so new
results rerun it. Writes ``sbc.csv`` (one row per rung: simulations, quantities, flagged,
verdict, when finished, settings, survey size, seed), ``sbc_tests.csv`` (every tested quantity)
and ``sbc_ecdf_<rung>.png`` / ``.svg``.

A run is **stale** when the rung's spec has changed since it was made: the SHA-256 the summary
recorded (``spec_sha256``) differs from the current spec's (:func:`current_spec_hashes`, part of
the key), or no hash was recorded. A stale run is shown, marked stale, and never counted as a
pass: its ``passed`` is False and ``passed_when_run`` keeps what the run found.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from clusterpreneur.io import sha256_file, write_atomic
from clusterpreneur.pipeline.artefacts import read_csv, write_csv
from clusterpreneur.pipeline.cache import CacheEntry
from clusterpreneur.pipeline.step import RunContext, StepBase

TABLE = "sbc.csv"
TESTS = "sbc_tests.csv"
SUMMARY_GLOB = "*/sbc_summary_*.json"


def saved_runs(folder: str | Path) -> dict[str, dict[str, Any]]:
    """``{rung: summary}`` of the SBC run to report per rung: the one with the most completed
    simulations, the latest when tied; each summary gains ``path`` (its folder)."""
    best: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(folder).glob(SUMMARY_GLOB)):
        try:
            s = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if "model" not in s or "n_completed" not in s:  # a summary of an older format
            continue
        s["path"] = str(path.parent)
        key = (s["n_completed"], s.get("finished_utc", ""))
        old = best.get(s["model"])
        if old is None or key > (old["n_completed"], old.get("finished_utc", "")):
            best[s["model"]] = s
    return best


def current_spec_hashes(rungs, specs: Mapping[str, Any] | None = None) -> dict[str, str | None]:
    """``{rung: SHA-256 of its current spec}``: the spec in ``specs`` (the study's own, e.g. from
    its configuration), else the ladder's rung of that name, else None (unknown: stale)."""
    from clusterpreneur.study.ladder import LADDER

    specs = specs or {}
    out: dict[str, str | None] = {}
    for rung in rungs:
        spec = specs.get(rung) or LADDER.get(rung)
        out[rung] = None if spec is None else spec.sha256()
    return out


def is_stale(summary: Mapping[str, Any], current: str | None) -> bool:
    """Whether a saved run no longer speaks for the rung: its recorded spec hash is missing, or
    differs from the current one."""
    recorded = summary.get("spec_sha256")
    return recorded is None or current is None or recorded != current


def input_hashes(folder: str | Path) -> dict[str, str]:
    """SHA-256 of every file the step reads from ``folder`` (part of its key)."""
    out = {}
    for model, s in sorted(saved_runs(folder).items()):
        base = Path(s["path"])
        for name in [f"{SUMMARY_GLOB[2:].replace('*', s['tag'])}", s["tests"], *s.get("figures", [])]:
            if (base / name).is_file():
                out[f"{model}/{name}"] = sha256_file(base / name)
    return out


@dataclass
class SBCStep(StepBase):
    """Collects the saved SBC results of every rung (see the module docstring)."""

    folder: str = ""
    inputs: dict[str, str] = field(default_factory=dict)
    specs: dict[str, str | None] = field(default_factory=dict)  # rung -> current spec SHA-256

    def params(self) -> Any:
        return {"inputs": self.inputs, "specs": self.specs}

    def run(self, ctx: RunContext, upstream: Mapping[str, CacheEntry], out: Path) -> dict[str, Any]:
        rows, tests = [], []
        runs = saved_runs(self.folder)
        current = {**current_spec_hashes(runs), **self.specs}
        for model, s in sorted(runs.items()):
            base = Path(s["path"])
            settings = s.get("settings", {})
            stale = is_stale(s, current.get(model))
            rows.append(
                {
                    "model": model,
                    "simulations": s["n_completed"],
                    "failed": s.get("n_failed", 0),
                    "quantities": s.get("n_quantities"),
                    "flagged": ", ".join(s.get("flagged", [])),
                    "passed": bool(s.get("passed")) and not stale,
                    "passed_when_run": bool(s.get("passed")),
                    "stale": stale,
                    "spec_sha256": s.get("spec_sha256") or "",
                    "finished_utc": s.get("finished_utc", ""),
                    "sampler": settings.get("sampler", ""),
                    "tune": settings.get("tune"),
                    "draws": settings.get("draws"),
                    "chains": settings.get("chains"),
                    "initiatives": s.get("n_initiatives"),  # None: the study's own survey size
                    "seed": s.get("seed"),
                    "parametrization_as_study": s.get("parametrization_as_study"),
                    "seconds_per_simulation": s.get("seconds_per_simulation"),
                    "with_divergences": s.get("sims_with_divergences", 0),
                    "command": s.get("command", ""),
                }
            )
            if (base / s["tests"]).is_file():
                tests.append(read_csv(base / s["tests"]).assign(model=model))
            for fig in s.get("figures", []):
                suffix = Path(fig).suffix
                if (base / fig).is_file():
                    write_atomic(out / f"sbc_ecdf_{model}{suffix}", (base / fig).read_bytes())
        write_csv(out / TABLE, pd.DataFrame(rows))
        write_csv(out / TESTS, pd.concat(tests, ignore_index=True) if tests else pd.DataFrame())
        return {"rungs": [r["model"] for r in rows], "folder": self.folder}
