"""False verdicts on null surveys: real fits of a ladder model where no hypothesis is true.

Study ``i`` (seed ``base_seed + i``) simulates a survey of the ``null_hypotheses`` scenario
(every hypothesised effect H1-H6 zero, the other predictors and the group effects as in the
default scenario), fits the model with its reporting engine, and keeps the posterior probability
of each claim's predicted direction (:func:`clusterpreneur.models.hypothesis_table`) and the
convergence gate's verdict. :func:`false_verdict_rates` then applies a verdict rule to every
study: the share of studies with at least one false "supported" claim (the rule's family-wise
rate, at most ``alpha`` for the study's rule) and the share of claims called supported. The
studies are fanned out on Dask as in :mod:`.sbc` (``LocalCluster`` of one-thread workers, or an
existing scheduler); each finished study is cached as ``study_00017.json``, so a rerun resumes.

Command line (``nox -s tests -- -m slow`` runs a small version)::

    python -m clusterpreneur.study.null_verdicts 30 --workers 1 --n-initiatives 250
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from clusterpreneur.errors import ClusterpreneurError
from clusterpreneur.io import write_atomic
from clusterpreneur.models.verdict import SUPPORTED, VerdictRule, verdicts

SCENARIO = "null_hypotheses"
RULES: dict[str, VerdictRule] = {
    "holm (the rule)": VerdictRule(),
    "95% interval, unadjusted (before)": VerdictRule(alpha=0.025, adjust="none"),
}
"""The rules compared: the study's rule and the one it replaced."""


@dataclass(frozen=True)
class NullSettings:
    """Survey size and fitting settings of every null study."""

    model: str = "M1"
    n_initiatives: int = 250
    n_countries: int = 30
    draws: int = 1000
    tune: int = 1000
    chains: int = 4


def null_study(index: int, base_seed: int, settings: NullSettings) -> dict:
    """Simulate null survey ``index``, fit it, and return the claims' direction probabilities."""
    from clusterpreneur.diagnostics.gate import check_convergence
    from clusterpreneur.models import fit_model, hypothesis_table
    from clusterpreneur.study.ladder import LADDER
    from clusterpreneur.study.simulate import simulate_survey

    start = time.perf_counter()
    seed = base_seed + index
    sim = simulate_survey(settings.n_initiatives, settings.n_countries, seed=seed, scenario=SCENARIO)
    fit = fit_model(
        LADDER[settings.model], sim.data, draws=settings.draws, tune=settings.tune,
        chains=settings.chains, seed=seed, cores=1, progressbar=False,
    )  # fmt: skip
    table = hypothesis_table(fit)
    gate = check_convergence(fit.idata, label=f"{settings.model} null study {index}")
    return {
        "index": index,
        "seed": seed,
        "outcome": list(table["outcome"]),
        "term": list(table["term"]),
        "prob_direction": [float(p) for p in table["prob_direction"]],
        "gate_passed": bool(gate.passed),
        "gate_problems": list(gate.problems()),
        "seconds": time.perf_counter() - start,
    }


def study_path(cache_dir: Path, index: int) -> Path:
    return Path(cache_dir) / f"study_{index:05d}.json"


def run_null_studies(
    n_studies: int,
    cache_dir: str | Path,
    *,
    base_seed: int = 0,
    settings: NullSettings | None = None,
    scheduler: str | None = None,
    n_workers: int = 1,
    client=None,
) -> list[dict]:
    """Run (or resume) null studies ``0 .. n_studies-1`` on Dask; the finished studies' records."""
    from clusterpreneur.diagnostics.sbc import open_dask_client

    settings = settings or NullSettings()
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    config = {"settings": asdict(settings), "base_seed": base_seed, "scenario": SCENARIO}
    cfg = cache / "null_config.json"
    if cfg.exists() and json.loads(cfg.read_text()) != config:
        raise ClusterpreneurError(
            f"{cache} holds null studies made with other settings; use another folder or delete it"
        )
    write_atomic(cfg, json.dumps(config, indent=2))
    todo = [i for i in range(n_studies) if not study_path(cache, i).exists()]
    failures: dict[int, str] = {}
    if todo:
        from dask.distributed import as_completed

        own = client is None
        cluster = None
        if own:
            client, cluster = open_dask_client(scheduler, n_workers, True)
        try:
            futures = [
                client.submit(
                    null_study, i, base_seed, settings, key=f"null-{base_seed}-{i}", pure=False, retries=0
                )
                for i in todo
            ]
            index_of = {f.key: i for f, i in zip(futures, todo, strict=True)}
            for fut in as_completed(futures):
                i = index_of[fut.key]
                if fut.status == "error":
                    failures[i] = repr(fut.exception())
                    continue
                write_atomic(study_path(cache, i), json.dumps(fut.result()))
                fut.release()
        finally:
            if own:
                client.close()
                if cluster is not None:
                    cluster.close()
    studies = [json.loads(p.read_text()) for i in range(n_studies) if (p := study_path(cache, i)).exists()]
    if not studies:
        raise ClusterpreneurError(f"no null study finished; failures: {failures}")
    return studies


def false_verdict_rates(
    studies: Sequence[Mapping], rules: Mapping[str, VerdictRule] = RULES, *, converged_only: bool = False
) -> pd.DataFrame:
    """One row per rule: studies, claims, the share of studies with any claim called supported
    (``studies_any_supported``, with its binomial standard error) and of claims called supported.

    Each study's claims of one outcome are one family, as in the report."""
    used = [s for s in studies if s["gate_passed"] or not converged_only]
    rows = []
    for name, rule in rules.items():
        any_supported, supported, claims = [], 0, 0
        for s in used:
            frame = pd.DataFrame({"outcome": s["outcome"], "p": s["prob_direction"]})
            called = [
                v == SUPPORTED
                for _, g in frame.groupby("outcome", sort=False)
                for v in verdicts(g["p"].to_numpy(), rule)
            ]
            any_supported.append(any(called))
            supported += sum(called)
            claims += len(called)
        share = float(np.mean(any_supported)) if used else np.nan
        rows.append(
            {
                "rule": name,
                "studies": len(used),
                "claims": claims,
                "studies_any_supported": share,
                "se": float(np.sqrt(share * (1 - share) / len(used))) if used else np.nan,
                "claims_supported": supported / claims if claims else np.nan,
            }
        )
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m clusterpreneur.study.null_verdicts",
        description="False 'supported' verdicts on null surveys, real fits fanned out on Dask (resumable).",
    )
    parser.add_argument("n_studies", nargs="?", type=int, default=30)
    parser.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler")
    parser.add_argument("--workers", type=int, default=1, help="LocalCluster workers")
    parser.add_argument("--model", default="M1")
    parser.add_argument("--seed", type=int, default=31000)
    parser.add_argument("--n-initiatives", type=int, default=250)
    parser.add_argument("--n-countries", type=int, default=30)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--out", default="results/null_verdicts", help="output folder (cache inside)")
    args = parser.parse_args(argv)

    settings = NullSettings(
        args.model, args.n_initiatives, args.n_countries, args.draws, args.tune, args.chains
    )
    tag = "_".join(f"{k}{v}" for k, v in asdict(settings).items()) + f"_s{args.seed}"
    out = Path(args.out)
    start = time.perf_counter()
    studies = run_null_studies(
        args.n_studies, out / "cache" / tag, base_seed=args.seed, settings=settings,
        scheduler=args.scheduler, n_workers=args.workers,
    )  # fmt: skip
    wall = time.perf_counter() - start
    table = false_verdict_rates(studies)
    write_atomic(out / f"null_verdicts_{tag}.csv", table.to_csv(index=False))
    rows = pd.DataFrame(studies)
    summary = {
        "settings": asdict(settings),
        "n_studies": len(studies),
        "gate_failed": int((~rows["gate_passed"]).sum()),
        "claims_p_above_0.95": float(np.mean(np.concatenate(rows["prob_direction"].to_numpy()) > 0.95)),
        "studies_any_p_above_0.95": float(np.mean([max(p) > 0.95 for p in rows["prob_direction"]])),
        "wall_seconds": wall,
        "study_seconds_median": float(rows["seconds"].median()),
        "workers": None if args.scheduler else args.workers,
        "loadavg": os.getloadavg(),
    }
    write_atomic(out / f"null_verdicts_{tag}.json", json.dumps(summary, indent=2))
    print(table.to_string(index=False))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
