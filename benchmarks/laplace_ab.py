"""One M1 fit on the simulated 2,500-initiative survey: wall time, min bulk ESS, gradients, load.

Prints one JSON line. To compare two commits on the same machine load, run it alternately from
this tree and from a worktree of the other commit (its ``src`` first on ``PYTHONPATH``)::

    git worktree add --detach /tmp/base <commit>
    for i in 1 2; do
      PYTHONPATH=/tmp/base/src python benchmarks/laplace_ab.py base
      python benchmarks/laplace_ab.py new
    done
"""

from __future__ import annotations

import json
import os
import sys
import time

import arviz as az

import clusterpreneur
from clusterpreneur.models import fit_model
from clusterpreneur.study import LADDER
from clusterpreneur.study.simulate import simulate_survey

NAMES = ["intercept", "beta", "sigma_country", "sigma_region", "u_country", "u_region"]


def main(tag: str) -> dict:
    df = simulate_survey(n_initiatives=2500, n_countries=100, seed=3).data  # benchmarks/run.py's 2,500
    load = os.getloadavg()
    t0 = time.perf_counter()
    fit = fit_model(LADDER["M1"], df, seed=1, draws=1000, tune=1000, chains=4, progressbar=False)
    wall = time.perf_counter() - t0
    ess = az.ess(fit.idata.posterior.to_dataset()[NAMES], method="bulk")
    worst = min(NAMES, key=lambda v: float(ess[v].min()))
    m = float(ess[worst].min())
    stats = fit.idata.sample_stats.to_dataset()
    grads = int(stats["n_steps"].sum())
    return {
        "tag": tag,
        "src": os.path.dirname(clusterpreneur.__file__),
        "wall_s": round(wall, 1),
        "sampling_s": round(float(fit.idata.posterior.attrs.get("sampling_time", float("nan"))), 1),
        "min_bulk_ess": round(m),
        "worst": worst,
        "ess_per_s": round(m / wall, 1),
        "ess_per_1k_grads": round(1000 * m / grads, 2),
        "divergences": int(stats["diverging"].sum()),
        "load_before": [round(x, 2) for x in load],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "parametrization": json.loads(fit.idata.attrs["parametrization"]),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1] if len(sys.argv) > 1 else "run")), flush=True)
