"""Fit the model ladder on the shipped survey: ``python -m clusterpreneur.models --out results/models``.

Writes ``<out>/<model>.nc`` (fit with spec, hashes and versions), ``<out>/<model>_hypotheses.csv``,
``<out>/<model>_coefficients.csv`` and ``<out>/north_jutland_what_if.csv`` (from the last
take-off model fitted).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from clusterpreneur.io import write_atomic
from clusterpreneur.models import NORTH_JUTLAND_SCENARIOS, fit_model
from clusterpreneur.study.datasets import default_survey_path, north_jutland_cases
from clusterpreneur.study.ladder import LADDER


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clusterpreneur.models", description=__doc__)
    parser.add_argument("--out", default="results/models")
    parser.add_argument("--models", nargs="+", default=list(LADDER), choices=list(LADDER))
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=20031)
    parser.add_argument("--sampler", default="nutpie", choices=["nutpie", "pymc", "numpyro"])
    args = parser.parse_args(argv)
    out = Path(args.out)
    df = pd.read_csv(default_survey_path())
    last = None
    for name in args.models:
        fit = fit_model(
            LADDER[name], df, draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed,
            sampler=args.sampler,
        )  # fmt: skip
        fit.save(out / f"{name}.nc")
        write_atomic(out / f"{name}_hypotheses.csv", fit.hypotheses().to_csv(index=False))
        write_atomic(out / f"{name}_coefficients.csv", fit.coefficients().to_csv(index=False))
        print(f"{name}: saved {out / f'{name}.nc'}; imputed {fit.imputed}")
        if LADDER[name].family != "ordinal":
            last = fit
    if last is not None:
        table = last.what_if(north_jutland_cases(), NORTH_JUTLAND_SCENARIOS, seed=args.seed)
        write_atomic(out / "north_jutland_what_if.csv", table.to_csv(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
