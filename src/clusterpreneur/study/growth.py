"""Firm growth: the Bayesian model G1 (:data:`clusterpreneur.study.ladder.G1`) beside its MixedLM
baseline (:func:`clusterpreneur.study.baselines.fit_mixedlm_growth`), term by term.

Both use the same rows (complete cases: G1 imputes nothing), the same terms (the study terms plus
:data:`~clusterpreneur.study.baselines.GROWTH_EXTRA`) and the same groups (country intercepts and
a region variance component). Coefficients are compared per original unit of each predictor,
because each model standardises on its own rows (the baseline on the whole survey, the fit on the
rows it uses); the intercept depends on that standardisation and is left out. Variance
components are compared as variances (``var(country)``, ``var(region)``, ``var(residual)``).
Intervals are 95% (equal-tailed posterior; the baseline's Wald interval; the baseline gives
none for variances).

``python -m clusterpreneur.study.growth --out results/growth`` fits G1 on the shipped survey and
writes ``growth_comparison.csv``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from clusterpreneur import files, io
from clusterpreneur.study.baselines import GROWTH_EXTRA, fit_mixedlm_growth
from clusterpreneur.study.predictors import STUDY_TERMS, original_scale_factor

COLUMNS = (
    "term",
    "scale",
    "bayes_mean",
    "bayes_sd",
    "bayes_lower",
    "bayes_upper",
    "mixedlm_estimate",
    "mixedlm_lower",
    "mixedlm_upper",
    "difference_in_sd",
)
"""Columns of the comparison; ``difference_in_sd`` = (posterior mean - MixedLM) / posterior SD."""


def growth_comparison(fit, df: pd.DataFrame, prob: float = 0.95) -> pd.DataFrame:
    """G1's posterior beside the MixedLM REML estimates on ``df`` (the data ``fit`` was fitted on)."""
    base = fit_mixedlm_growth(df, STUDY_TERMS, extra=GROWTH_EXTRA).table
    post = fit.idata["posterior"]
    qs = [(1 - prob) / 2, (1 + prob) / 2]
    rows = []
    for term in fit.spec.term_objects:
        draws = post["beta"].sel(term=term.name).values.reshape(-1)
        draws = draws / original_scale_factor(term, fit.standardizer)
        b = base[(base["term"] == term.name) & (base["scale"].isin(("original", "unscaled")))].iloc[0]
        rows.append(_row(term.name, "original", draws, qs, b["estimate"], b["ci_lower"], b["ci_upper"]))
    groups = [g.name for g in fit.spec.groups]
    for name in (*groups, "residual"):
        b = base[base["term"] == f"var({name})"]
        if b.empty:
            continue
        draws = post[f"sigma_{name}"].values.reshape(-1) ** 2
        rows.append(_row(f"var({name})", "variance", draws, qs, b["estimate"].iloc[0], np.nan, np.nan))
    out = pd.DataFrame(rows, columns=list(COLUMNS))
    out.attrs["interval"] = prob
    return out


def _row(term, scale, draws, qs, estimate, lower, upper) -> dict:
    mean, sd = float(draws.mean()), float(draws.std(ddof=1))
    lo, hi = np.quantile(draws, qs)
    return dict(
        zip(
            COLUMNS,
            (
                term,
                scale,
                mean,
                sd,
                lo,
                hi,
                float(estimate),
                float(lower),
                float(upper),
                (mean - estimate) / sd,
            ),
            strict=True,
        )
    )


def main(argv: list[str] | None = None) -> int:
    from clusterpreneur.models import fit_model
    from clusterpreneur.study.datasets import default_survey_path
    from clusterpreneur.study.ladder import G1
    from clusterpreneur.study.readers import load_survey

    parser = argparse.ArgumentParser(prog="python -m clusterpreneur.study.growth", description=__doc__)
    parser.add_argument("--survey", default=None, help="survey file (default: the shipped one)")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=None, help="folder for growth_comparison.csv")
    args = parser.parse_args(argv)
    df = load_survey(args.survey or default_survey_path())
    fit = fit_model(G1, df, draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed)
    table = growth_comparison(fit, df)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.round(4).to_string(index=False))
    if args.out:
        path = Path(args.out) / "growth_comparison.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        io.write_atomic(path, files.csv_bytes(table))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
