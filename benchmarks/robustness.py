"""Gate pass rate of M1 and M2 (automatic parametrisation) on independently seeded unbalanced surveys.

``python benchmarks/robustness.py [--surveys 20] [--models M1,M2]``: survey ``i`` has a size
drawn uniformly from 250 to 600 initiatives (seed ``BASE_SEED + i``), about 11 initiatives per
country, the simulator's ``unbalanced`` scenario (1 to 8 regions per country, 1 to 61
initiatives per region); each model is fitted with the package defaults (nutpie, 4 chains x
1,000 draws after 1,000 tuning steps) and checked by the package's convergence gate. Prints one
line per fit and the pass rate and divergences per model (``--json`` writes them too). The
``slow`` test ``tests/models/test_robustness.py`` runs the same function.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

BASE_SEED = 7100


def survey_size(i: int) -> tuple[int, int]:
    """(initiatives, countries) of survey ``i``."""
    n = int(np.random.default_rng(BASE_SEED + i).integers(250, 601))
    return n, max(10, n // 11)


def study(surveys: int = 20, models: tuple[str, ...] = ("M1", "M2"), log=print) -> dict:
    from clusterpreneur.diagnostics import check_convergence
    from clusterpreneur.models import fit_model
    from clusterpreneur.study.ladder import LADDER
    from clusterpreneur.study.simulate import simulate_survey

    out: dict = {m: {"fits": []} for m in models}
    for i in range(surveys):
        n, n_countries = survey_size(i)
        df = simulate_survey(
            n_initiatives=n, n_countries=n_countries, seed=BASE_SEED + i, scenario="unbalanced"
        ).data
        sizes = df.groupby("region_id").size()
        for m in models:
            t0 = time.perf_counter()
            fit = fit_model(LADDER[m], df, seed=BASE_SEED + i, progressbar=False)
            gate = check_convergence(fit.idata, label=m)
            div = int(fit.idata["sample_stats"]["diverging"].sum())
            row = {
                "survey": i,
                "n": n,
                "regions": int(sizes.size),
                "largest_region": int(sizes.max()),
                "passed": bool(gate.passed),
                "divergences": div,
                "failing": sorted(set(gate.table.loc[~gate.table["ok"], "parameter"].astype(str)))[:5],
                "seconds": time.perf_counter() - t0,
                "parametrization": json.loads(fit.idata.attrs["parametrization"]),
            }
            out[m]["fits"].append(row)
            verdict = "passed" if row["passed"] else "FAILED " + ",".join(row["failing"])
            log(
                f"{m} survey {i:2d}: n={n} regions={row['regions']} (largest {row['largest_region']}) "
                f"gate={verdict} divergences={div} "
                f"{row['seconds']:.0f} s load={os.getloadavg()[0]:.2f}"
            )
    for m, block in out.items():
        fits = block["fits"]
        block["passed"] = sum(f["passed"] for f in fits)
        block["divergences"] = sum(f["divergences"] for f in fits)
        block["fits_with_divergences"] = sum(f["divergences"] > 0 for f in fits)
        log(
            f"{m}: gate passed in {block['passed']}/{len(fits)} fits; {block['divergences']} divergences "
            f"in {block['fits_with_divergences']} fits"
        )
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--surveys", type=int, default=20)
    p.add_argument("--models", default="M1,M2")
    p.add_argument("--json", default="")
    args = p.parse_args(argv)
    res = study(args.surveys, tuple(args.models.split(",")), log=lambda s: print(s, flush=True))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
