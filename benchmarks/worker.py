"""One benchmark measurement, run in its own process by :mod:`benchmarks.run`.

Usage: ``python benchmarks/worker.py TASK.json RESULT.json``. The task names a ``kind``
(``package``, ``experiment``, ``posterior_stats``, ``statsmodels``, ``compile_reuse``) and its settings;
the result holds timings (build / compile / sample / wall), the per-parameter bulk ESS
bookkeeping, gradient evaluations, the convergence gate verdict and the process's peak RSS.
Heavy imports happen inside the task functions so import time is not counted in the
measured wall time.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

# make ``benchmarks.harness`` importable when run as a script from the repo root
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import ess_summary

COMPARABLE = "comparable"  # intercept, slopes, sigmas, group effects (no raw offsets)


# ----------------------------------------------------------------------------- data
def survey_frame(n: int, n_countries: int, seed: int):
    """The simulated survey (the shipped data for 250 / 30 / the default seed)."""
    from clusterpreneur.study.simulate import simulate_survey

    return simulate_survey(n_initiatives=n, n_countries=n_countries, seed=seed).data


def design_frame(df):
    """The study's standardised design with valid identifiers, ids and outcome (for bambi etc.)."""
    from clusterpreneur.study.predictors import design_matrix

    X, _ = design_matrix(df)
    X = X.rename(columns={c: c.replace(":", "_x_") for c in X.columns})
    out = X.copy()
    out["country_id"] = df["country_id"].astype(str).to_numpy()
    out["region_id"] = df["region_id"].astype(str).to_numpy()
    out["takeoff"] = df["takeoff"].astype("int64").to_numpy()
    return out


# ----------------------------------------------------------------------------- helpers
def _per_element_ess(post) -> dict[str, np.ndarray]:
    import arviz as az

    ess = az.ess(post, method="bulk")
    out = {}
    for name, da in ess.data_vars.items():
        vals = np.asarray(da.values, dtype=float).ravel()
        spread = np.asarray((post[name].max(("chain", "draw")) - post[name].min(("chain", "draw"))).values)
        keep = spread.ravel() > 0
        out[str(name)] = vals[keep]
    return out


def _grad_evals(dt) -> dict[str, float | None]:
    """Gradient evaluations from sample stats (nutpie/pymc ``n_steps``, else ``tree_size``)."""
    res: dict[str, float | None] = {"posterior": None, "warmup": None}
    for group, key in (("sample_stats", "posterior"), ("warmup_sample_stats", "warmup")):
        if group not in dt.children:
            continue
        ds = dt[group].to_dataset()
        for stat in ("n_steps", "tree_size"):
            if stat in ds:
                res[key] = float(np.nansum(ds[stat].values))
                break
    return res


def _divergences(dt) -> int | None:
    ds = dt["sample_stats"].to_dataset()
    for k in ("diverging", "divergences"):
        if k in ds:
            return int(np.asarray(ds[k].values).sum())
    return None


def _gate(dt, var_names=None) -> dict:
    try:
        from clusterpreneur.diagnostics import check_convergence

        g = check_convergence(dt, var_names=var_names, label="bench")
        return {"passed": bool(g.passed), "problems": g.problems()[:5]}
    except Exception as exc:  # the gate is informative here, never fatal
        return {"passed": None, "problems": [f"gate failed to run: {exc!r}"]}


def _finish(res: dict, dt, comparable_vars: list[str], n_obs: int, gate_vars=None) -> dict:
    post = dt["posterior"].to_dataset()
    per = _per_element_ess(post)
    res["ess"] = ess_summary(per, comparable_vars)
    res["grad_evals"] = _grad_evals(dt)
    res["divergences"] = _divergences(dt)
    res["gate"] = _gate(dt, var_names=gate_vars)
    res["inference_library"] = str(dt["posterior"].attrs.get("inference_library", ""))
    res["n_obs"] = n_obs
    return res


# ----------------------------------------------------------------------------- tasks
class _Timer:
    """Wrap module functions to add up the wall time spent inside them (phase split)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def wrap(self, module, attr: str, key: str) -> None:
        fn = getattr(module, attr)

        def timed(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - t0

        setattr(module, attr, timed)


def task_package(t: dict) -> dict:
    """The package's own main model (``LADDER[spec]`` via ``fit_model``), phases timed.

    Wall time = build + compile + sample + the log-likelihood and log-prior groups that
    ``fit_model`` always adds (``post_s``); ``core_s`` = build + compile + sample, the work
    bambi's ``fit`` does.
    """
    import nutpie
    import pymc as pm

    from clusterpreneur.models import fit_model

    timer = _Timer()
    timer.wrap(nutpie, "compile_pymc_model", "compile")
    timer.wrap(nutpie, "sample", "nutpie_sample")
    timer.wrap(pm, "sample", "sample_call")
    timer.wrap(pm, "compute_log_likelihood", "log_likelihood")
    timer.wrap(pm.stats, "compute_log_prior", "log_prior")
    df = survey_frame(t["n"], t["n_countries"], t["seed"])
    spec = _task_spec(t)
    c0, t0 = _cpu(), time.perf_counter()
    fit = fit_model(
        spec,
        df,
        draws=t["draws"],
        tune=t["tune"],
        chains=t["chains"],
        seed=t["seed"],
        sampler=t.get("sampler", "nutpie"),
        progressbar=False,
        cores=t.get("cores"),
    )
    wall = time.perf_counter() - t0
    sec = timer.seconds
    res = {"wall_s": wall, "cpu_s": _cpu() - c0, "phases": dict(sec)}
    res["parametrization"] = json.loads(fit.idata.attrs["parametrization"])
    if "compile" in sec:
        res["compile_s"] = sec["compile"]
        res["sample_s"] = sec["sample_call"] - sec["compile"]
    res["post_s"] = sec.get("log_likelihood", 0.0) + sec.get("log_prior", 0.0)
    res["build_s"] = wall - res.get("compile_s", 0.0) - res.get("sample_s", 0.0) - res["post_s"]
    res["core_s"] = wall - res["post_s"]
    dt = fit.idata
    names = [str(v) for v in dt["posterior"].data_vars]
    comparable = [v for v in names if not v.startswith("z_")]
    return _finish(res, dt, comparable, len(df))


def task_gate(t: dict) -> dict:
    """The convergence gate on a posterior of the package fit's shape at size n: the vectorised
    R-hat / ESS (package) against ArviZ's per-element functions."""
    import arviz as az
    import xarray as xr

    from clusterpreneur.diagnostics import check_convergence

    n_regions = int(t["n"] / 2.5)
    rng = np.random.default_rng(t["seed"])
    shape = (t["chains"], t["draws"])
    post = xr.Dataset(
        {
            "u_region": (("chain", "draw", "region"), rng.normal(size=(*shape, n_regions))),
            "z_region": (("chain", "draw", "region"), rng.normal(size=(*shape, n_regions))),
            "beta": (("chain", "draw", "term"), rng.normal(size=(*shape, 15))),
        }
    )
    sample_dims = ("chain", "draw")
    stats = xr.Dataset(
        {"diverging": (sample_dims, np.zeros(shape, bool)), "energy": (sample_dims, rng.normal(size=shape))}
    )
    dt = xr.DataTree.from_dict({"posterior": post, "sample_stats": stats})
    t0 = time.perf_counter()
    check_convergence(dt)
    t1 = time.perf_counter()
    az.rhat(post)
    az.ess(post, method="bulk")
    az.ess(post, method="tail")
    t2 = time.perf_counter()
    return {"wall_s": t1 - t0, "gate_s": t1 - t0, "arviz_rhat_ess_s": t2 - t1, "elements": 2 * n_regions + 15}


def _task_spec(t: dict):
    """The task's ladder spec; ``parametrization`` / ``fixed_effects`` (experiments) override
    the automatic choice of every group level and slope / of the fixed effects."""
    from clusterpreneur.study.ladder import LADDER

    spec = LADDER[t.get("spec", "M1")]
    if t.get("parametrization"):
        how = t["parametrization"]
        spec = spec.with_overrides(
            groups=tuple(replace(g, parametrization=how) for g in spec.groups),
            slopes=tuple(replace(s, parametrization=how) for s in spec.slopes),
        )
    if t.get("fixed_effects"):
        spec = spec.with_overrides(fixed_effects=t["fixed_effects"])
    return spec


def _nutpie_sample(compiled, t: dict, **kwargs):
    """nutpie with the task's draws / tune / chains / cores / seed, warm-up draws discarded (as
    pm.sample does for the package)."""
    import nutpie

    return nutpie.sample(
        compiled,
        draws=t["draws"],
        tune=t["tune"],
        chains=t["chains"],
        cores=t.get("cores", 2),
        seed=t["seed"],
        progress_bar=False,
        save_warmup=False,
        **kwargs,
    )


def _cpu() -> float:
    """CPU seconds of this process (all threads) and its finished children."""
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ch.ru_utime + ch.ru_stime


def build_experiment_model(frame, *, centered=(), binomial=False, data_container=False):
    """M1 built here from the same design (an EXPERIMENT, not the package's code).

    Same priors as the package defaults: intercept N(0, 1.5), beta N(0, 1), sigmas HalfNormal(1),
    non-centred group effects unless the level is in ``centered``. ``binomial`` collapses rows
    with identical covariates and groups into binomial counts.
    """
    import pymc as pm
    import pytensor.tensor as pt

    xcols = [c for c in frame.columns if c not in ("country_id", "region_id", "takeoff")]
    if binomial:
        g = frame.groupby([*xcols, "country_id", "region_id"], sort=False, observed=True)["takeoff"]
        frame = g.agg(["sum", "count"]).reset_index().rename(columns={"sum": "k", "count": "trials"})
    countries = sorted(frame["country_id"].unique().tolist())
    regions = sorted(frame["region_id"].unique().tolist())
    ci = frame["country_id"].map({c: i for i, c in enumerate(countries)}).to_numpy()
    ri = frame["region_id"].map({r: i for i, r in enumerate(regions)}).to_numpy()
    coords = {"term": xcols, "country": countries, "region": regions}
    with pm.Model(coords=coords) as model:
        X = frame[xcols].to_numpy(dtype="float64")
        if data_container:
            X = pm.Data("X", X)
            ci = pm.Data("country_idx", ci)
            ri = pm.Data("region_idx", ri)
        intercept = pm.Normal("intercept", 0.0, 1.5)
        beta = pm.Normal("beta", 0.0, 1.0, dims="term")
        eta = intercept + pt.dot(X, beta)
        for name, idx in (("country", ci), ("region", ri)):
            sigma = pm.HalfNormal(f"sigma_{name}", 1.0)
            if name in centered:
                u = pm.Normal(f"u_{name}", 0.0, sigma, dims=name)
            else:
                z = pm.Normal(f"z_{name}", 0.0, 1.0, dims=name)
                u = pm.Deterministic(f"u_{name}", sigma * z, dims=name)
            eta = eta + u[idx]
        if binomial:
            pm.Binomial("takeoff", n=frame["trials"].to_numpy(), logit_p=eta, observed=frame["k"].to_numpy())
        else:
            y = frame["takeoff"].to_numpy()
            if data_container:
                y = pm.Data("y", y)
            pm.Bernoulli("takeoff", logit_p=eta, observed=y)
    return model, len(frame)


def task_experiment(t: dict) -> dict:
    """The experiment model with a chosen sampler / parametrisation / adaptation / tuning."""
    import nutpie
    import pymc as pm

    df = survey_frame(t["n"], t["n_countries"], t["seed"])
    frame = design_frame(df)
    c0, t0 = _cpu(), time.perf_counter()
    model, n_rows = build_experiment_model(
        frame,
        centered=tuple(t.get("centered", ())),
        binomial=t.get("binomial", False),
        data_container=t.get("data_container", False),
    )
    t1 = time.perf_counter()
    res: dict = {"build_s": t1 - t0, "likelihood_rows": n_rows}
    if t.get("sampler", "nutpie") == "nutpie":
        compiled = nutpie.compile_pymc_model(model, freeze_model=t.get("freeze"))
        t2 = time.perf_counter()
        dt = _nutpie_sample(compiled, t, adaptation=t.get("adaptation", "diag"))
        t3 = time.perf_counter()
        res.update(compile_s=t2 - t1, sample_s=t3 - t2)
    else:
        with model:
            dt = pm.sample(
                draws=t["draws"],
                tune=t["tune"],
                chains=t["chains"],
                cores=t.get("cores", 2),
                random_seed=t["seed"],
                nuts_sampler="pymc",
                progressbar=False,
                compute_convergence_checks=False,
            )
        t3 = time.perf_counter()
        res["compile_sample_s"] = t3 - t1
    res["wall_s"] = t3 - t0
    res["cpu_s"] = _cpu() - c0
    comparable = [v for v in dt["posterior"].data_vars if not str(v).startswith("z_")]
    return _finish(res, dt, comparable, len(df))


def task_package_variant(t: dict) -> dict:
    """EXPERIMENT: the package's own ``build_model(LADDER["M1"])`` graph, sampled by nutpie directly.

    ``freeze``: ``freeze_model=True`` (data and dims become constants, so the in-graph
    interaction products are folded once at compile time instead of every gradient).
    """
    import nutpie

    from clusterpreneur.models import build_model
    from clusterpreneur.study.ladder import LADDER

    df = survey_frame(t["n"], t["n_countries"], t["seed"])
    c0, t0 = _cpu(), time.perf_counter()
    model = build_model(LADDER[t.get("spec", "M1")], df)
    t1 = time.perf_counter()
    compiled = nutpie.compile_pymc_model(model, freeze_model=t.get("freeze"))
    t2 = time.perf_counter()
    dt = _nutpie_sample(compiled, t)
    t3 = time.perf_counter()
    res = {"build_s": t1 - t0, "compile_s": t2 - t1, "sample_s": t3 - t2, "wall_s": t3 - t0}
    res["cpu_s"] = _cpu() - c0
    comparable = [v for v in dt["posterior"].data_vars if not str(v).startswith("z_")]
    return _finish(res, dt, comparable, len(df))


def task_posterior_stats(t: dict) -> dict:
    """ESS, divergences and gate of a posterior another process saved (bambi's, in its own
    virtualenv: ``benchmarks/bambi_worker.py``), scored like the package's own fits."""
    import xarray as xr

    groups = {g: xr.open_dataset(path).load() for g, path in t["posterior_nc"].items()}
    dt = xr.DataTree.from_dict(groups)
    names = [str(v) for v in dt["posterior"].data_vars]
    comparable = [v for v in names if not v.endswith("_offset")]
    return _finish({"wall_s": 0.0}, dt, comparable, int(t["n_obs"]))


def task_statsmodels(t: dict) -> dict:
    """Plain logit on the same design (no group effects): the floor."""
    import statsmodels.api as sm

    df = survey_frame(t["n"], t["n_countries"], t["seed"])
    frame = design_frame(df)
    xcols = [c for c in frame.columns if c not in ("country_id", "region_id", "takeoff")]
    t0 = time.perf_counter()
    fit = sm.Logit(frame["takeoff"].to_numpy(), sm.add_constant(frame[xcols].to_numpy())).fit(disp=0)
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "converged": bool(fit.mle_retvals.get("converged", True)), "n_obs": len(df)}


def task_compile_reuse(t: dict) -> dict:
    """Compile once and swap data (nutpie ``with_data``) against compiling a second time."""
    import nutpie

    df = survey_frame(t["n"], t["n_countries"], t["seed"])
    frame = design_frame(df)
    t0 = time.perf_counter()
    model, _ = build_experiment_model(frame, data_container=True)
    compiled = nutpie.compile_pymc_model(model)
    t1 = time.perf_counter()
    model2, _ = build_experiment_model(frame, data_container=True)
    nutpie.compile_pymc_model(model2)
    t2 = time.perf_counter()
    rng = np.random.default_rng(t["seed"] + 1)
    y_new = rng.integers(0, 2, len(frame))
    swapped = compiled.with_data(y=y_new)
    t3 = time.perf_counter()
    kw = dict(
        draws=t["draws"],
        tune=t["tune"],
        chains=t["chains"],
        cores=2,
        seed=t["seed"],
        progress_bar=False,
        save_warmup=False,
    )
    dt = nutpie.sample(swapped, **kw)
    t4 = time.perf_counter()
    return {
        "first_build_compile_s": t1 - t0,
        "second_build_compile_s": t2 - t1,
        "with_data_s": t3 - t2,
        "sample_after_swap_s": t4 - t3,
        "swap_ok": bool(dt["posterior"]["intercept"].size > 0),
        "wall_s": t4 - t0,
    }


def task_study(t: dict) -> dict:
    """The whole study (``run_study`` on ``analysis/study.toml``, what ``nox -s paper`` runs).

    A fresh step cache forces every step to run; compile caches (numba / pytensor) stay as
    they are, i.e. warm after the first run on this machine. Per model: wall time of
    ``fit_model``, its nutpie compile time and its sampling time (measured in this process, so
    the steps run one at a time: ``jobs`` 1 unless the task says otherwise).
    """
    import tempfile

    import nutpie
    import pymc as pm

    import clusterpreneur.models as cm
    from clusterpreneur.pipeline import run_study
    from clusterpreneur.pipeline.config import load_config

    per: dict[str, dict[str, float]] = {}
    current = {"model": "other"}

    def add(key: str, value: float) -> None:
        d = per.setdefault(current["model"], {})
        d[key] = d.get(key, 0.0) + value

    def timed(module, attr, key):
        fn = getattr(module, attr)

        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                add(key, time.perf_counter() - t0)

        setattr(module, attr, wrapper)

    orig_fit = cm.fit_model

    def fit_wrapper(spec, *a, **k):
        refit = "fit_model_s" in per.get(spec.name, {})
        current["model"] = f"{spec.name} (K-fold refits)" if refit else spec.name  # jobs 1: main fit first
        t0 = time.perf_counter()
        try:
            return orig_fit(spec, *a, **k)
        finally:
            add("fit_model_s", time.perf_counter() - t0)
            current["model"] = "other"

    cm.fit_model = fit_wrapper
    timed(nutpie, "compile_pymc_model", "compile_s")
    timed(nutpie, "sample", "nutpie_sample_s")
    timed(pm, "sample", "sample_call_s")
    with tempfile.TemporaryDirectory(prefix="bench-study-") as tmp:
        c0, t0 = _cpu(), time.perf_counter()
        out, cache = Path(tmp) / "out", Path(tmp) / "cache"
        config = load_config(Path(__file__).resolve().parents[1] / "analysis" / "study.toml")
        result = run_study(config, out, cache_dir=cache, force=True, jobs=t.get("jobs", 1))
        wall = time.perf_counter() - t0
    for d in per.values():
        nutpie_s = d.pop("nutpie_sample_s", 0.0)
        if "sample_call_s" in d:  # PyMC graph: pm.sample = compile + nutpie.sample
            d["sample_s"] = d.pop("sample_call_s") - d.get("compile_s", 0.0)
        elif nutpie_s:
            d["sample_s"] = nutpie_s
        if "fit_model_s" in d:
            d["wall_s"] = d.pop("fit_model_s")
    steps = {r.name: {"seconds": r.seconds, "cached": r.cached} for r in result.records}
    return {"wall_s": wall, "cpu_s": _cpu() - c0, "per_model": per, "steps": steps}


def task_collapse(t: dict) -> dict:
    """How far collapsing identical (covariates, country, region) rows shrinks the likelihood."""
    frame = design_frame(survey_frame(t["n"], t["n_countries"], t["seed"]))
    keys = [c for c in frame.columns if c != "takeoff"]
    cov = [c for c in keys if not c.endswith("_id")]
    return {
        "rows": len(frame),
        "rows_collapsed_with_groups": len(frame.drop_duplicates(subset=keys)),
        "rows_collapsed_covariates_only": len(frame.drop_duplicates(subset=cov)),
    }


TASKS = {
    "gate": task_gate,
    "package_variant": task_package_variant,
    "collapse": task_collapse,
    "study": task_study,
    "package": task_package,
    "experiment": task_experiment,
    "posterior_stats": task_posterior_stats,
    "statsmodels": task_statsmodels,
    "compile_reuse": task_compile_reuse,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    task = json.loads(Path(argv[0]).read_text())
    os.environ.setdefault("PYTHONHASHSEED", "0")
    t0 = time.perf_counter()
    try:
        res = TASKS[task["kind"]](task)
        res["status"] = "ok"
    except Exception as exc:
        import traceback

        res = {
            "status": "error",
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
        }
    res["process_s"] = time.perf_counter() - t0
    res["ru_maxrss_self_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    res["ru_maxrss_children_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    Path(argv[1]).write_text(json.dumps(res, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
