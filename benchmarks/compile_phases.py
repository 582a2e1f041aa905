"""One ``fit_model`` in this process, its phases timed (wall and CPU); prints one JSON line.

Usage: ``python benchmarks/compile_phases.py MODEL SIZE SEED [DRAWS TUNE CHAINS] [--observed-seed S]``
with SIZE an initiative count (the simulated survey of ``benchmarks/run.py``: 250 / 30 countries,
2,500 / 100, 25,000 / 300, simulator seed SEED) or ``shipped`` (``data/survey.csv``);
``--observed-seed`` refits a permutation of the outcome (as an SBC simulation does). Phases:
``build``, ``compile`` (nutpie; ``compile>pt_compile`` PyTensor's rewrites and function
building, ``compile>cfunc`` numba), ``sample``, ``loglik``, ``logprior``; ``new_cache_files``
counts files PyTensor's numba cache gained (0: every compiled function came from the cache).
Run it twice in fresh processes for a warm figure; compare two commits by putting the other
one's ``src`` first on ``PYTHONPATH`` and alternating.
"""

import glob
import json
import os
import sys
import time

import numba
import numpy as np
import nutpie
import pymc as pm
import pymc.pytensorf
import pytensor

import clusterpreneur.models.fit as cfit
from clusterpreneur.models import fit_model
from clusterpreneur.study import LADDER

T = {}
stack = []


def wrap(mod, attr, key):
    fn = getattr(mod, attr)

    def timed(*a, **k):
        stack.append(key)
        t0 = time.perf_counter()
        c0 = time.process_time()
        try:
            return fn(*a, **k)
        finally:
            dt = time.perf_counter() - t0
            stack.pop()
            kk = key if not stack else f"{stack[-1]}>{key}"
            T[kk] = T.get(kk, 0.0) + dt
            T[kk + "_cpu"] = T.get(kk + "_cpu", 0.0) + time.process_time() - c0

    setattr(mod, attr, timed)


wrap(nutpie, "compile_pymc_model", "compile")
wrap(nutpie, "sample", "sample")
wrap(pymc.pytensorf, "compile", "pt_compile")
_cf = numba.cfunc


def _cfunc(*a, **k):
    dec = _cf(*a, **k)

    def apply(f):
        stack.append("cfunc")
        t0 = time.perf_counter()
        c0 = time.process_time()
        try:
            return dec(f)
        finally:
            dt = time.perf_counter() - t0
            stack.pop()
            kk = "cfunc" if not stack else f"{stack[-1]}>cfunc"
            T[kk] = T.get(kk, 0.0) + dt
            T[kk + "_cpu"] = T.get(kk + "_cpu", 0.0) + time.process_time() - c0

    return apply


numba.cfunc = _cfunc
wrap(pm, "compute_log_likelihood", "loglik")
wrap(pm.stats, "compute_log_prior", "logprior")
wrap(cfit, "build_model", "build")
wrap(cfit, "prepare", "prepare")
wrap(cfit, "parametrization", "parametrization")
model, size, dseed = sys.argv[1], sys.argv[2], int(sys.argv[3])
draws, tune, chains = (int(x) for x in (sys.argv[4:7] if len(sys.argv) > 6 else (1000, 1000, 4)))
obs_seed = None
if "--observed-seed" in sys.argv:
    obs_seed = int(sys.argv[sys.argv.index("--observed-seed") + 1])
if size == "shipped":
    from clusterpreneur.study.readers import load_survey

    df = load_survey(
        os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data/survey.csv")
    )
else:
    from clusterpreneur.study.simulate import simulate_survey

    n = int(size)
    nc = {250: 30, 2500: 100, 25000: 300}[n]
    df = simulate_survey(n_initiatives=n, n_countries=nc, seed=dseed).data
spec = LADDER[model]
observed = None
if obs_seed is not None:
    from clusterpreneur.models.build import prepare

    prep = prepare(spec, df)
    y = prep.data[spec.outcomes[0]].to_numpy(dtype=float)
    observed = np.random.default_rng(obs_seed).permutation(y)
cache = os.path.join(pytensor.config.base_compiledir, "numba")
before = set(glob.glob(cache + "/*"))
load0 = os.getloadavg()
t0 = time.perf_counter()
c0 = time.process_time()
fit = fit_model(spec, df, draws=draws, tune=tune, chains=chains, seed=1, progressbar=False, observed=observed)
wall = time.perf_counter() - t0
cpu = time.process_time() - c0
new = set(glob.glob(cache + "/*")) - before
post = fit.idata["posterior"]
out = {
    "model": model,
    "size": size,
    "dseed": dseed,
    "obs_seed": obs_seed,
    "wall": round(wall, 2),
    "cpu": round(cpu, 2),
    **{k: round(v, 2) for k, v in sorted(T.items())},
    "new_cache_files": len(new),
    "load": [round(x, 2) for x in load0],
    "src": os.path.dirname(cfit.__file__),
    "checksum": float(np.asarray(post["beta"].values).sum()) if "beta" in post else None,
}
print(json.dumps(out), flush=True)
