"""`python -m clusterpreneur.diagnostics`: every diagnostic on fits of the shipped data (nox -s diagnostics).

For each model (default M1 M2): fit on the shipped survey (or load ``<fits>/<M>.nc`` when it
exists), convergence gate table, posterior predictive draws, PPC numbers and figures, LOO-PIT,
trace/rank figures, prior sensitivity; then PSIS-LOO comparison with stacking across the models
and the forest plot of Bayesian versus statsmodels estimates. Writes into ``--out``.
Exit code 0 when every gate passed, 3 when some fit failed its gate (outputs are still
written, flagged).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from clusterpreneur.io import write_atomic


def _fit_or_load(name: str, df: pd.DataFrame, fits_dir: Path | None, args):
    from clusterpreneur.models import fit_model, load_fit
    from clusterpreneur.study.ladder import LADDER

    if fits_dir is not None and (fits_dir / f"{name}.nc").exists():
        return load_fit(fits_dir / f"{name}.nc", df)
    return fit_model(
        LADDER[name], df, draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed,
        sampler=args.sampler, progressbar=False,
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    import pymc as pm

    from clusterpreneur.diagnostics import (
        attach_gate,
        check_convergence,
        compare_models,
        plots,
        ppc,
        prior_sensitivity,
    )
    from clusterpreneur.models import coefficient_table
    from clusterpreneur.study.baselines import fit_baselines, load_data
    from clusterpreneur.study.ladder import LADDER

    parser = argparse.ArgumentParser(prog="python -m clusterpreneur.diagnostics", description=__doc__)
    parser.add_argument("models", nargs="*", default=["M1", "M2"])
    parser.add_argument("--out", default="results/diagnostics")
    parser.add_argument("--fits", default=None, help="folder with saved fits <M>.nc to reuse")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=20032)
    parser.add_argument("--sampler", default="nutpie")
    args = parser.parse_args(argv)

    out = Path(args.out)
    df = load_data()
    fits, gates, sens, estimates = {}, {}, [], []
    for name in args.models:
        fitted = _fit_or_load(name, df, Path(args.fits) if args.fits else None, args)
        idata = fitted.idata
        gate = check_convergence(idata, label=name)
        attach_gate(idata, gate)
        gates[name] = gate
        write_atomic(out / name / "gate.csv", gate.table.to_csv(index=False))
        write_atomic(out / name / "gate_chains.csv", gate.chain_table().to_csv())
        print(gate.message())
        outcome = fitted.spec.outcomes[0]
        if "posterior_predictive" not in idata.children:
            pm.sample_posterior_predictive(
                idata, model=fitted.model, random_seed=args.seed, extend_inferencedata=True, progressbar=False
            )
        checks: dict = {"family": ppc.family_of(idata, outcome)}
        if checks["family"] == "binary":
            cal = ppc.binary_calibration(idata, outcome)
            checks.update(brier=cal["brier"], miscalibration=cal["miscalibration"])
        elif checks["family"] == "ordinal":
            write_atomic(out / name / "ppc_frequencies.csv", ppc.ordinal_frequencies(idata, outcome).to_csv())
        checks["loo_pit_p"] = ppc.loo_pit_check(idata, outcome)["p_value"]
        write_atomic(out / name / "ppc.json", json.dumps(checks, indent=2))
        main_vars = [
            v for v in ("intercept", "beta", "sigma_country", "sigma_region") if v in idata["posterior"]
        ]
        plots.plot_convergence(idata, out / name / "convergence", var_names=main_vars or None)
        plots.plot_ppc(idata, outcome, out / name / "ppc")
        plots.plot_loo_pit(idata, outcome, out / name / "loo_pit")
        sens.append(prior_sensitivity(idata).assign(model=name))
        estimates.append(coefficient_table(fitted))
        fits[name] = idata
    comparison = compare_models(fits)
    write_atomic(out / "loo_compare.csv", comparison.table.to_csv())
    write_atomic(out / "pareto_k_high.csv", comparison.high_k.to_csv(index=False))
    print(comparison.message())
    write_atomic(out / "prior_sensitivity.csv", pd.concat(sens, ignore_index=True).to_csv(index=False))
    base = fit_baselines(df).table
    both = pd.concat([*estimates, base], ignore_index=True)
    if "scale" in both:
        both = both[both["scale"].fillna("standardised") == "standardised"]
    both = both.dropna(subset=["estimate", "ci_lower", "ci_upper"])
    primary = {LADDER[m].outcomes[0] for m in args.models}
    both = both[both["outcome"].isin(primary)]
    plots.plot_forest_comparison(both, out / "forest_bayes_vs_statsmodels")
    return 0 if all(g.passed for g in gates.values()) else 3


if __name__ == "__main__":
    raise SystemExit(main())
