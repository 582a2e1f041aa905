"""Simulation-based calibration (Talts et al. 2018; Modrák et al. 2023) fanned out over Dask.

One simulation ``i`` (seed ``base_seed + i``):

1. build the *simulator* model from the data (by default the fitted model itself) and draw one
   set of parameters and one data set from its prior predictive distribution;
2. put the simulated outcome(s) into a copy of the data and rebuild the *fitted* model from it
   (inside the worker: only the factory function and the data travel, never a compiled model);
3. fit it with the ``fitter`` (default :func:`sample_nuts`: NUTS on the factory's model; for a
   rung of the ladder :func:`fit_ladder`, which is :func:`clusterpreneur.models.fit_model` with the
   spec, sampler and parametrisation of the reported fits), thin the posterior to ``n_ranks``
   draws (evenly spaced over the chains' draws) and take the rank of each true scalar parameter
   among them, and the rank of the true log-likelihood ``log p(y_sim | theta_true)`` (summed
   over observations) among ``log p(y_sim | theta_s)``. Ties are broken at random.

Every finished simulation is cached as ``sim_00017.json`` in the cache folder (written
atomically), so an interrupted run resumes: a rerun fits only the missing indices.

Uniformity test
---------------
Integer ranks ``r`` in ``0..L`` are turned into randomised fractional ranks
``u = (r + U(0, 1)) / (L + 1)``, exactly Uniform(0, 1) when the ranks are uniform. Each
quantity (every scalar parameter element and the log-likelihood) is tested with the ECDF-based
**pointwise order-statistic test with Cauchy combination** (``pot_c``; Tesso et al. 2026, the
test behind ``az.plot_ecdf_pit``'s p-value, via ``DataArray.azstats.uniformity_test``).
A chi-square test on binned ranks (Talts' histogram) is reported alongside for reference only.
The verdict is multiplicity-aware: Holm's step-down adjustment of the ``pot_c`` p-values over
all tested quantities (valid under any dependence between them); the model fails calibration
when any adjusted p-value is below ``alpha`` (family-wise error rate ``alpha``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from clusterpreneur.errors import ClusterpreneurError
from clusterpreneur.io import sha256_bytes, sha256_file, write_atomic
from clusterpreneur.numerics import with_reproducible_numerics

ModelFactory = Callable[[Any], Any]  # data -> pm.Model
ObservedToData = Callable[[Any, dict[str, np.ndarray]], Any]
Fitter = Callable[..., tuple[xr.DataTree, Any]]
"""``fitter(model_factory, data, seed, settings) -> (DataTree with posterior and sample_stats,
the pm.Model whose log-likelihood is ranked)``."""


class SBCCacheMismatch(ClusterpreneurError):
    """The cache folder holds simulations made with other settings."""


@dataclass(frozen=True)
class SBCSettings:
    """Fitting settings of every SBC simulation."""

    draws: int = 500
    tune: int = 500
    chains: int = 2
    n_ranks: int = 99  # L: thinned posterior draws; ranks take values 0..L
    target_accept: float | None = 0.9  # None: the fitter's own default (a ladder rung: fit_model's)
    sampler: str = "pymc"
    backend: str | None = None  # PyTensor backend of the sampler ("numba" default, "c", ...)


@dataclass
class SBCResult:
    """Ranks, tests and bookkeeping of an SBC run.

    ``ranks`` is a DataTree with group ``ranks`` (integer ranks, dim ``simulation``) and group
    ``prior_sbc`` (randomised fractional ranks in (0, 1), ready for ``az.plot_ecdf_pit``).
    ``table`` has one row per tested quantity: ``quantity, n, pot_c_p, holm_p, chi2, chi2_p,
    flagged``. ``sims`` has one row per simulation (seed, divergences, max R-hat, seconds).
    """

    ranks: xr.DataTree
    table: pd.DataFrame
    sims: pd.DataFrame
    passed: bool
    alpha: float
    n_new: int
    n_cached: int
    n_failed: int
    seconds: float
    failures: dict[int, str] = field(default_factory=dict)

    @property
    def flagged(self) -> list[str]:
        return self.table.loc[self.table["flagged"], "quantity"].tolist()

    def message(self) -> str:
        n = int(self.table["n"].max()) if len(self.table) else 0
        head = (
            f"SBC over {n} simulations ({self.n_new} new, {self.n_cached} cached, "
            f"{self.n_failed} failed) in {self.seconds:.1f} s: "
        )
        if self.passed:
            return head + f"ranks consistent with uniformity (Holm-adjusted pot_c, alpha={self.alpha})."
        return head + (
            f"NOT calibrated: non-uniform ranks for {', '.join(self.flagged)} "
            f"(Holm-adjusted pot_c p < {self.alpha}). Check that the simulator's priors equal the "
            "model's, the likelihood code, and the sampler's diagnostics in `sims`."
        )


# --------------------------------------------------------------------------------------------
# one simulation (runs in a worker)


def replace_observed(data: Any, values: dict[str, np.ndarray]) -> Any:
    """Default ``observed_to_data``: a copy of a DataFrame/dict with the observed columns replaced."""
    if isinstance(data, pd.DataFrame):
        out = data.copy()
        for name, val in values.items():
            if name not in out.columns:
                raise KeyError(
                    f"observed variable {name!r} is not a column of the data; pass observed_to_data="
                )
            out[name] = np.asarray(val).astype(out[name].dtype, copy=False)
        return out
    if isinstance(data, Mapping):
        out = dict(data)
        out.update({k: np.asarray(v) for k, v in values.items()})
        return out
    raise TypeError(f"cannot replace observed values in a {type(data).__name__}; pass observed_to_data=")


def _rank(draws: np.ndarray, true: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rank of ``true`` (shape ``s``) among ``draws`` (shape ``(L, *s)``), ties broken at random."""
    less = (draws < true).sum(axis=0)
    equal = (draws == true).sum(axis=0)
    return less + rng.integers(0, equal + 1)


def _loglik(model, posterior: xr.Dataset) -> np.ndarray:
    """Log-likelihood summed over observations for every (chain, draw) of ``posterior``.

    Compiled in FAST_COMPILE mode: for a hundred draws compiling dominates, not evaluating.
    """
    import pymc as pm

    dt = xr.DataTree.from_dict({"posterior": posterior})
    ll = pm.compute_log_likelihood(
        dt,
        model=model,
        extend_inferencedata=False,
        progressbar=False,
        compile_kwargs={"mode": "FAST_COMPILE"},
    )
    total = 0.0
    for da in ll.data_vars.values():
        total = total + da.sum([d for d in da.dims if d not in ("chain", "draw")])
    return np.asarray(total).reshape(-1)


def _loglik_at_truth(model, truth: xr.Dataset) -> float:
    """Log-likelihood of the true parameters in ``model``, every named variable the simulator
    drew fixed at its true value (``pm.do``). Free coordinates that depend on the data (a
    Laplace-centred level's ``z``, built from the simulated outcome) need not match between
    the simulator's model and the fitted one; the effects, coefficients and scales do."""
    import pymc as pm

    observed = {rv.name for rv in model.observed_RVs}
    values = {
        n: truth[n].isel(chain=0, draw=0).values for n in model.named_vars if n in truth and n not in observed
    }
    fixed = pm.do(model, values)
    return float(fixed.compile_logp(vars=fixed.observed_RVs)({}))


@with_reproducible_numerics
def simulate_one(
    index: int,
    model_factory: ModelFactory,
    data: Any,
    *,
    base_seed: int = 0,
    settings: SBCSettings | None = None,
    simulator_factory: ModelFactory | None = None,
    observed_to_data: ObservedToData | None = None,
    var_names: Sequence[str] | None = None,
    fitter: Fitter | None = None,
) -> dict:
    """Run simulation ``index`` (seed ``base_seed + index``) and return its ranks as a JSON-able dict."""
    import arviz as az
    import pymc as pm

    settings = settings or SBCSettings()
    start = time.perf_counter()
    seed = int(base_seed) + int(index)
    rng = np.random.default_rng(seed)
    sim_model = (simulator_factory or model_factory)(data)
    prior = prior_draw(pm, sim_model, rng)
    obs_names = [rv.name for rv in sim_model.observed_RVs]
    y_sim = {n: prior["prior_predictive"][n].values[0, 0] for n in obs_names}
    sim_data = (observed_to_data or replace_observed)(data, y_sim)

    idata, model = (fitter or sample_nuts)(model_factory, sim_data, int(rng.integers(2**31)), settings)
    names = list(var_names) if var_names is not None else [rv.name for rv in model.free_RVs]
    truth = prior["prior"].to_dataset()
    missing = [n for n in names if n not in truth]
    if missing:
        raise KeyError(f"simulator does not draw {missing}; it must define the model's parameters")
    post = idata["posterior"].to_dataset()
    n_total = post.sizes["chain"] * post.sizes["draw"]
    if n_total < settings.n_ranks:
        raise ValueError(f"only {n_total} posterior draws for n_ranks={settings.n_ranks}")
    keep = np.unique(np.linspace(0, n_total - 1, settings.n_ranks).round().astype(int))
    stacked = post.stack(sample=("chain", "draw")).isel(sample=keep)
    thinned = stacked.drop_vars(["sample", "chain", "draw"]).rename(sample="draw").expand_dims(chain=1)
    thinned = thinned.transpose("chain", "draw", ...)

    ranks: dict[str, dict] = {}
    for name in names:
        da = thinned[name].isel(chain=0)
        tv = truth[name].isel(chain=0, draw=0).values
        r = _rank(da.transpose("draw", ...).values, tv, rng)
        ranks[name] = {
            "dims": [d for d in da.dims if d != "draw"],
            "coords": {
                d: [str(c) for c in da[d].values] if d in da.coords else list(range(da.sizes[d]))
                for d in da.dims
                if d != "draw"
            },
            "rank": np.asarray(r).tolist(),
        }
    # the log-likelihood (all observed variables, summed over observations)
    free = [rv.name for rv in model.free_RVs]
    ll = _loglik(model, thinned[free])
    ll_true = _loglik_at_truth(model, truth)
    ll_rank = int(_rank(ll[:, None], np.array([ll_true]), rng)[0])
    ranks["log_likelihood"] = {"dims": [], "coords": {}, "rank": ll_rank}

    stats = idata["sample_stats"].to_dataset() if "sample_stats" in idata.children else xr.Dataset()
    rhat = az.rhat(post[names])
    max_rhat = float(np.nanmax([float(rhat[n].max()) for n in names]))
    return {
        "index": int(index),
        "seed": seed,
        "n_ranks": len(keep),
        "ranks": ranks,
        "truth": {n: np.asarray(truth[n].isel(chain=0, draw=0).values).tolist() for n in names},
        "divergences": int(stats["diverging"].sum()) if "diverging" in stats else 0,
        "parametrization": str(idata.attrs.get("parametrization", "")),  # how fit_model sampled it
        "max_rhat": max_rhat,
        "seconds": time.perf_counter() - start,
    }


ORDERED_TRIES = 2000
"""Prior draws tried per simulation to find one whose ordered parameters are in order."""


def prior_draw(pm, model, rng: np.random.Generator) -> xr.DataTree:
    """One draw from the model's prior and prior predictive, as a DataTree with one chain and draw.

    Forward sampling ignores an ``ordered`` transform (cutpoints, item difficulties): it draws the
    untransformed Normal, whose draws need not be in order, while the model's prior is that Normal
    restricted to ordered values. With one mean and one SD for every element (exchangeable, the
    default priors) the restricted prior is the law of the *sorted* Normal draws: those are drawn,
    sorted, and the rest of the prior and the prior predictive are drawn given them (``pm.do``).
    Otherwise the draw is made by rejection: the first of up to :data:`ORDERED_TRIES` draws whose
    ordered parameters are all increasing. Both are exact."""
    ordered = [
        rv.name
        for rv, tr in model.rvs_to_transforms.items()
        if tr is not None and type(tr).__name__.lower().startswith("ordered")
    ]
    kwargs = {"random_seed": rng, "compile_kwargs": {"mode": "FAST_COMPILE"}}
    if ordered and all(_exchangeable(model[name]) for name in ordered):
        first = pm.sample_prior_predictive(draws=1, model=model, var_names=ordered, **kwargs)["prior"]
        fixed = {name: first[name].copy(data=np.sort(first[name].values, axis=-1)) for name in ordered}
        from clusterpreneur.models.fit import drop_start_values

        saved = dict(model.rvs_to_initial_values)  # pm.do refuses start values; they only place NUTS
        try:
            given = pm.do(drop_start_values(model), {name: fixed[name].values[0, 0] for name in ordered})
        finally:
            model.rvs_to_initial_values.update(saved)
        prior = pm.sample_prior_predictive(draws=1, model=given, **kwargs)
        groups = {
            "prior": prior["prior"].to_dataset().assign(fixed),
            "prior_predictive": prior["prior_predictive"],
        }
        return xr.DataTree.from_dict(
            {g: (d if isinstance(d, xr.Dataset) else d.to_dataset()) for g, d in groups.items()}
        )
    n = ORDERED_TRIES if ordered else 1
    prior = pm.sample_prior_predictive(draws=n, model=model, **kwargs)
    keep = np.ones(n, dtype=bool)
    for name in ordered:
        v = np.asarray(prior["prior"][name].values[0])  # draw x ...
        keep &= (np.diff(v, axis=-1) > 0).reshape(n, -1).all(axis=1)
    if not keep.any():
        raise ClusterpreneurError(f"no prior draw of {ordered} in order among {n}: check their priors")
    k = int(np.argmax(keep))
    groups = {g: prior[g].to_dataset().isel(draw=[k]) for g in ("prior", "prior_predictive")}
    return xr.DataTree.from_dict(groups)


def _exchangeable(rv) -> bool:
    """Whether a Normal variable's elements share one mean and one SD (constant inputs)."""
    try:
        mu, sigma = (np.asarray(x.eval()) for x in rv.owner.inputs[-2:])
    except Exception:  # a non-constant input: not known to be exchangeable
        return False
    return type(rv.owner.op).__name__ == "NormalRV" and np.ptp(mu) == 0 and np.ptp(sigma) == 0


def sample_nuts(model_factory: ModelFactory, data: Any, seed: int, settings: SBCSettings):
    """The default fitter: NUTS (``settings.sampler``) on ``model_factory(data)``."""
    import pymc as pm

    model = model_factory(data)
    kwargs = {} if settings.target_accept is None else {"target_accept": settings.target_accept}
    idata = pm.sample(
        draws=settings.draws,
        tune=settings.tune,
        chains=settings.chains,
        cores=1,
        nuts_sampler=settings.sampler,
        random_seed=int(seed),
        progressbar=False,
        backend=settings.backend,
        compute_convergence_checks=False,
        model=model,
        **kwargs,
    )
    return idata, model


# --------------------------------------------------------------------------------------------
# driver


def _describe(fn: Callable | None) -> str:
    if fn is None:
        return "None"
    import functools

    if isinstance(fn, functools.partial):
        return f"partial({_describe(fn.func)}, args={fn.args!r}, kwargs={sorted(fn.keywords.items())!r})"
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def _data_hash(data: Any) -> str:
    """Content hash of the SBC data (DataFrames by value, mappings item by item)."""
    h = hashlib.sha256()
    if isinstance(data, pd.DataFrame):
        h.update(pd.util.hash_pandas_object(data, index=True).to_numpy().tobytes())
        h.update(repr(list(data.columns)).encode())
    elif isinstance(data, Mapping):
        for key in sorted(data, key=str):
            h.update(repr(key).encode())
            h.update(_data_hash(data[key]).encode())
    elif data is None or isinstance(data, str | int | float | bool):
        h.update(repr(data).encode())
    elif isinstance(data, np.ndarray):
        h.update(repr((data.dtype.str, data.shape)).encode())
        h.update(np.ascontiguousarray(data).tobytes())
    else:
        h.update(pickle.dumps(data, protocol=4))
    return h.hexdigest()


def _fingerprint(
    model_factory, data, base_seed, settings, simulator_factory, observed_to_data, var_names, fitter=None
):
    return {
        "model_factory": _describe(model_factory),
        **({"fitter": _describe(fitter)} if fitter is not None else {}),
        "simulator_factory": _describe(simulator_factory),
        "observed_to_data": _describe(observed_to_data),
        "data_sha256": _data_hash(data),
        "base_seed": int(base_seed),
        "settings": asdict(settings),
        "var_names": None if var_names is None else list(var_names),
    }


def sim_path(cache_dir: Path, index: int) -> Path:
    return Path(cache_dir) / f"sim_{index:05d}.json"


def open_dask_client(scheduler: str | None, n_workers: int, processes: bool):
    from dask.distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler), None
    cluster = LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=processes, dashboard_address=None
    )
    return Client(cluster), cluster


def run_sbc(
    model_factory: ModelFactory,
    data: Any,
    *,
    n_simulations: int,
    cache_dir: str | Path,
    base_seed: int = 0,
    settings: SBCSettings | None = None,
    simulator_factory: ModelFactory | None = None,
    observed_to_data: ObservedToData | None = None,
    var_names: Sequence[str] | None = None,
    scheduler: str | None = None,
    n_workers: int = 2,
    processes: bool = True,
    alpha: float = 0.05,
    client=None,
    fitter: Fitter | None = None,
) -> SBCResult:
    """Run (or resume) SBC with simulations ``0 .. n_simulations-1`` and test rank uniformity.

    ``model_factory(data) -> pm.Model`` and ``simulator_factory`` (default: the model itself)
    must be picklable (module-level functions or ``functools.partial`` of them).
    ``observed_to_data(data, {observed_name: values})`` returns the data with simulated
    outcomes (default :func:`replace_observed`: DataFrame column / dict key of the same name).
    Work goes to ``client`` if given, else to ``Client(scheduler)`` if an address is given,
    else to a new ``LocalCluster(n_workers, threads_per_worker=1)``. With a remote scheduler the
    cache folder only needs to exist on this machine: results come back to the driver, which
    writes them. ``fitter`` fits each simulated data set (default :func:`sample_nuts`; a ladder
    rung: :func:`fit_ladder`, the reported fits' own path).
    """
    settings = settings or SBCSettings()
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    fp = _fingerprint(
        model_factory, data, base_seed, settings, simulator_factory, observed_to_data, var_names, fitter
    )
    cfg = cache / "sbc_config.json"
    if cfg.exists():
        old = json.loads(cfg.read_text())
        if old != json.loads(json.dumps(fp)):
            diff = sorted(k for k in fp if json.dumps(old.get(k)) != json.dumps(fp[k]))
            raise SBCCacheMismatch(
                f"{cache} holds SBC simulations made with other settings (differs in: {', '.join(diff)}). "
                "Use another cache folder or delete this one."
            )
    else:
        write_atomic(cfg, json.dumps(fp, indent=2))

    start = time.perf_counter()
    todo = [i for i in range(n_simulations) if not sim_path(cache, i).exists()]
    n_cached = n_simulations - len(todo)
    failures: dict[int, str] = {}
    n_new = 0
    if todo:
        from dask.distributed import as_completed

        own = client is None
        cluster = None
        if own:
            client, cluster = open_dask_client(scheduler, n_workers, processes)
        try:
            futures = [
                client.submit(
                    simulate_one,
                    i,
                    model_factory,
                    data,
                    base_seed=base_seed,
                    settings=settings,
                    simulator_factory=simulator_factory,
                    observed_to_data=observed_to_data,
                    var_names=var_names,
                    fitter=fitter,
                    key=f"sbc-{fp['data_sha256'][:8]}-{base_seed}-{i}",
                    pure=False,
                    retries=0,
                )
                for i in todo
            ]
            index_of = {f.key: i for f, i in zip(futures, todo, strict=True)}
            for fut in as_completed(futures):
                i = index_of[fut.key]
                if fut.status == "error":
                    failures[i] = repr(fut.exception())
                    continue
                res = fut.result()
                write_atomic(sim_path(cache, i), json.dumps(res))
                n_new += 1
                fut.release()
        finally:
            if own:
                client.close()
                if cluster is not None:
                    cluster.close()

    sims = [
        json.loads(sim_path(cache, i).read_text())
        for i in range(n_simulations)
        if sim_path(cache, i).exists()
    ]
    if not sims:
        raise ClusterpreneurError(f"no SBC simulation finished; failures: {failures}")
    ranks = assemble_ranks(sims, seed=base_seed)
    table = uniformity_table(ranks, alpha=alpha)
    columns = ("index", "seed", "divergences", "max_rhat", "seconds", "parametrization")
    sims_df = pd.DataFrame([{k: s.get(k) for k in columns} for s in sims])
    return SBCResult(
        ranks=ranks,
        table=table,
        sims=sims_df,
        passed=bool(not table["flagged"].any()),
        alpha=alpha,
        n_new=n_new,
        n_cached=n_cached,
        n_failed=len(failures),
        seconds=time.perf_counter() - start,
        failures=failures,
    )


def assemble_ranks(sims: list[dict], seed: int = 0) -> xr.DataTree:
    """Stack per-simulation ranks into a DataTree: groups ``ranks`` (integers) and ``prior_sbc`` (u)."""
    first = sims[0]["ranks"]
    n_ranks = sims[0]["n_ranks"]
    index = [s["index"] for s in sims]
    int_vars = {}
    for name, spec in first.items():
        arr = np.array([s["ranks"][name]["rank"] for s in sims])
        coords = {d: spec["coords"][d] for d in spec["dims"]}
        int_vars[name] = xr.DataArray(arr, dims=("simulation", *spec["dims"]), coords=coords)
    ds = xr.Dataset(int_vars).assign_coords(simulation=index)
    ds.attrs["n_ranks"] = n_ranks
    rng = np.random.default_rng(seed)
    u = ds.map(lambda da: (da + rng.uniform(size=da.shape)) / (n_ranks + 1))
    u.attrs = {"n_ranks": n_ranks, "note": "randomised fractional ranks (r + U(0,1)) / (L + 1)"}
    return xr.DataTree.from_dict({"ranks": ds, "prior_sbc": u})


def _holm(p: np.ndarray) -> np.ndarray:
    m = len(p)
    order = np.argsort(p)
    adj = np.empty(m)
    running = 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * p[i]))
        adj[i] = running
    return adj


def uniformity_table(ranks: xr.DataTree, alpha: float = 0.05) -> pd.DataFrame:
    """pot_c and chi-square tests per scalar quantity, with Holm-adjusted verdict."""
    import arviz_stats  # noqa: F401  (registers the .azstats accessor)
    from scipy import stats

    from clusterpreneur.diagnostics.gate import flat_labels

    u = ranks["prior_sbc"].to_dataset()
    n = u.sizes["simulation"]
    n_bins = int(max(2, min(20, n // 5)))
    rows = []
    for name, da in u.data_vars.items():
        da = da.rename(name)
        p, _, _ = da.azstats.uniformity_test(dim="simulation", method="pot_c")
        flat_u = da.transpose("simulation", ...).values.reshape(n, -1)
        labels = flat_labels(da.isel(simulation=0, drop=True).rename(name))
        for j, label in enumerate(labels):
            counts, _ = np.histogram(flat_u[:, j], bins=n_bins, range=(0.0, 1.0))
            chi2, chi2_p = stats.chisquare(counts)
            rows.append(
                {
                    "quantity": label,
                    "n": n,
                    "pot_c_p": float(np.asarray(p.values).reshape(-1)[j]),
                    "chi2": float(chi2),
                    "chi2_p": float(chi2_p),
                }
            )
    table = pd.DataFrame(rows)
    table["holm_p"] = _holm(table["pot_c_p"].to_numpy())
    table["flagged"] = table["holm_p"] < alpha
    return table[["quantity", "n", "pot_c_p", "holm_p", "chi2", "chi2_p", "flagged"]]


# --------------------------------------------------------------------------------------------
# the ladder: `python -m clusterpreneur.diagnostics.sbc 200 --model M1,M6 --scheduler tcp://host:8786`

REPORTED_RUNGS = ("M1", "M2", "M3", "M4", "M5", "M6")
"""Every rung the study reports: ``nox -s sbc`` calibrates each of them by default."""
LADDER_SBC_PARAMETERS = ("intercept", "beta", "sigma_country", "sigma_region")
SUMMARY_PREFIX = "sbc_summary_"


def ladder_model(spec, data: Mapping) -> Any:
    """SBC model factory of a ladder rung: ``data = {"df": frame, "observed": None | values}``."""
    from clusterpreneur.models import build_model

    return build_model(spec, data["df"], data.get("observed"))


def fit_ladder(spec, model_factory: ModelFactory, data: Mapping, seed: int, settings: SBCSettings):
    """SBC fitter of a ladder rung: :func:`clusterpreneur.models.fit_model`, the function (graph,
    parametrisation, sampler) that produces the reported fits, on the simulated data."""
    from clusterpreneur.models import fit_model

    fitted = fit_model(
        spec, data["df"], observed=data.get("observed"), draws=settings.draws, tune=settings.tune,
        chains=settings.chains, seed=int(seed), sampler=settings.sampler, cores=1, progressbar=False,
        target_accept=settings.target_accept,
    )  # fmt: skip
    return fitted.idata, fitted.model


def ladder_observed(spec, data: Mapping, values: dict[str, np.ndarray]) -> dict:
    """SBC ``observed_to_data`` of a ladder rung: simulated outcomes go to ``observed=`` (ordinal
    codes 0..K-1 as the data's categories) and the latent variable's simulated items (M3) go to
    ``observed=`` (the categories stay the data's: a simulated answer set may miss one)."""
    from clusterpreneur.models.spec import ModelSpec, as_numeric, ordinal_categories

    df = data["df"]
    outcomes = {}
    for y in spec.outcomes:
        v = np.asarray(values[y])
        if spec.family == "ordinal":
            v = np.asarray(ordinal_categories(spec, df[y]), dtype="float64")[v.astype(int)]
        outcomes[y] = v
    if spec.latent is not None:  # the items' answers, NaN where the data have none
        for item in spec.latent.items:
            x = as_numeric(df[item]).to_numpy()
            item_spec = ModelSpec("item", item, "ordinal")
            cats = np.asarray(ordinal_categories(item_spec, df[item]), dtype="float64")
            new = x.copy()
            new[~np.isnan(x)] = cats[np.asarray(values[item]).astype(int)]
            outcomes[item] = new
    observed = outcomes[spec.outcomes[0]] if len(outcomes) == 1 else outcomes
    return {"df": df, "observed": observed}


def ladder_problem(model_name: str, n_initiatives: int | None = None):
    """(factory, data, observed_to_data, var_names, fitter) to run SBC on a rung of the ladder.

    The data are the shipped survey (the shipped panel for M6) or, with ``n_initiatives``, a
    smaller simulated one. The parameters ranked are the intercept(s), the coefficients and every
    group-level scale. For M6 the risk set (the panel's rows) is held fixed and take-off redrawn
    in each row: the person-period likelihood is that of a Bernoulli model on those rows.
    """
    import functools

    from clusterpreneur.study.ladder import LADDER, PANEL_MODELS

    if model_name not in LADDER:
        raise ClusterpreneurError(f"unknown rung {model_name!r}; the ladder has {', '.join(LADDER)}")
    spec = LADDER[model_name]
    df = _panel_data(n_initiatives) if model_name in PANEL_MODELS else _survey_data(n_initiatives)
    factory = functools.partial(ladder_model, spec)
    model = factory({"df": df, "observed": None})
    known = set(model.named_vars)  # M5's beta is a deterministic of its shrunk parts: ranked too
    names = [n for n in LADDER_SBC_PARAMETERS if n in known]
    names += sorted(n for n in known if n.startswith("sigma_") and n not in names)
    to_data = functools.partial(ladder_observed, spec)
    return factory, {"df": df, "observed": None}, to_data, names, functools.partial(fit_ladder, spec)


def _survey_data(n_initiatives: int | None) -> pd.DataFrame:
    from clusterpreneur.study.simulate import simulate_survey

    if n_initiatives is None:
        from clusterpreneur.study.datasets import DEFAULT_SEED, DEFAULT_SIZE

        return simulate_survey(seed=DEFAULT_SEED, **DEFAULT_SIZE).data
    return simulate_survey(n_initiatives=n_initiatives, n_countries=max(2, n_initiatives // 10), seed=7).data


def _panel_data(n_initiatives: int | None) -> pd.DataFrame:
    from clusterpreneur.study.panel import simulate_panel

    if n_initiatives is None:
        from clusterpreneur.study.datasets import PANEL_SEED, PANEL_SIZE

        return simulate_panel(seed=PANEL_SEED, **PANEL_SIZE).data
    return simulate_panel(n_initiatives, max(2, n_initiatives // 10), seed=7).data


def save_results(result: SBCResult, out: Path, tag: str, summary: dict) -> dict:
    """Write the ECDF-difference figure, the per-quantity tests, the per-simulation table and the
    summary (with when it was finished) of one rung's SBC run into ``out``; returns the summary."""
    from clusterpreneur.diagnostics.plots import plot_sbc_ecdf

    paths = plot_sbc_ecdf(result, out / f"sbc_ecdf_{tag}")
    write_atomic(out / f"sbc_tests_{tag}.csv", result.table.to_csv(index=False))
    write_atomic(out / f"sbc_simulations_{tag}.csv", result.sims.to_csv(index=False))
    n_done = int(result.table["n"].max()) if len(result.table) else 0
    summary = {
        **summary,
        "tag": tag,
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "n_completed": n_done,
        "wall_seconds": result.seconds,
        "seconds_per_simulation": float(result.sims["seconds"].median()) if len(result.sims) else None,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "n_new": result.n_new,
        "n_cached": result.n_cached,
        "n_failed": result.n_failed,
        "alpha": result.alpha,
        "passed": result.passed,
        "flagged": result.flagged,
        "n_quantities": len(result.table),
        "sims_with_divergences": int((result.sims["divergences"] > 0).sum()),
        "parametrizations": sorted(
            {str(e) for e in result.sims.get("parametrization", pd.Series(dtype=str)).dropna()} - {""}
        ),
        "figures": [Path(p).name for p in paths],
        "tests": f"sbc_tests_{tag}.csv",
    }
    write_atomic(out / f"{SUMMARY_PREFIX}{tag}.json", json.dumps(summary, indent=2))
    return summary


PUBLISHED_MANIFEST = "MANIFEST.json"


def provenance() -> dict:
    """What an SBC run is made with: the package's version, ``git describe --always --dirty`` of
    its checkout (None outside a git checkout) and the versions of the numerical stack."""
    import subprocess

    from clusterpreneur.models.fit import versions

    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=Path(__file__).parent, capture_output=True,
            text=True, timeout=10, check=True,
        ).stdout.strip() or None  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        described = None
    stack = ("pymc", "nutpie", "pytensor", "arviz", "arviz-stats", "numpy", "dask", "distributed")
    return {
        "package_version": versions(("clusterpreneur",))["clusterpreneur"],
        "git_describe": described,
        "versions": versions(stack),
    }


def study_data(model_name: str) -> pd.DataFrame:
    """The data the study fits ``model_name`` to by default: the shipped survey (panel for M6),
    read as the study reads it."""
    from clusterpreneur.study.datasets import default_panel_path, default_survey_path
    from clusterpreneur.study.ladder import PANEL_MODELS
    from clusterpreneur.study.readers import load_survey

    return load_survey(default_panel_path() if model_name in PANEL_MODELS else default_survey_path())


def ladder_record(model_name: str, sims: pd.DataFrame) -> dict:
    """The rung's spec hash, the parametrisation the automatic rule gives for the study's own fit
    (``build.parametrization`` on the shipped data), and whether every simulation was sampled
    with it (a smaller simulated survey may lead the rule elsewhere: then False)."""
    from clusterpreneur.models.build import parametrization
    from clusterpreneur.study.ladder import LADDER

    spec = LADDER[model_name]
    study = {k: str(v) for k, v in parametrization(spec, study_data(model_name)).items()}
    used = [json.loads(p) for p in sims.get("parametrization", pd.Series(dtype=str)).dropna() if p]
    return {
        "spec_sha256": spec.sha256(),
        "study_parametrization": study,
        "parametrization_as_study": bool(used) and all(u == study for u in used),
    }


def publish(summary: dict, out: Path, folder: Path) -> Path | None:
    """Copy the compact outputs of a complete run into ``folder/<rung>/`` (summary, per-quantity
    tests, per-simulation table, PNG figure; never the cache), replacing the rung's earlier
    files, and record them in ``folder/MANIFEST.json``: seed, command, versions, spec hash and the
    SHA-256 of every file. A run with simulations missing or failed is not published (None)."""
    if summary["n_completed"] < summary["n_simulations"] or summary["n_failed"]:
        return None
    model, tag = summary["model"], summary["tag"]
    figures = [f for f in summary["figures"] if f.endswith(".png")]  # the SVG is 10x larger
    names = [f"{SUMMARY_PREFIX}{tag}.json", summary["tests"], f"sbc_simulations_{tag}.csv", *figures]
    dest = Path(folder) / model
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.iterdir():
        if old.is_file() and old.name not in names:
            old.unlink()
    files = {}
    for name in names:
        if name.startswith(SUMMARY_PREFIX):
            payload = (json.dumps({**summary, "figures": figures}, indent=2) + "\n").encode()
        else:
            payload = (Path(out) / name).read_bytes()
        write_atomic(dest / name, payload)
        files[name] = sha256_bytes(payload)
    path = Path(folder) / PUBLISHED_MANIFEST
    manifest = json.loads(path.read_text()) if path.is_file() else {}
    manifest["regenerate"] = "nox -s sbc (copies each complete run here)"
    keys = (
        "tag", "seed", "command", "n_simulations", "n_initiatives", "settings", "passed", "flagged",
        "finished_utc", "seconds_per_simulation", "spec_sha256", "study_parametrization",
        "parametrization_as_study", "package_version", "git_describe", "versions",
    )  # fmt: skip
    rungs = manifest.setdefault("rungs", {})
    rungs[model] = {**{k: summary.get(k) for k in keys}, "files": files}
    manifest["rungs"] = dict(sorted(rungs.items()))
    write_atomic(path, json.dumps(manifest, indent=2) + "\n")
    return dest


def check_published(folder: str | Path) -> list[str]:
    """Problems of a folder of published SBC results against its manifest (empty: all good)."""
    folder = Path(folder)
    path = folder / PUBLISHED_MANIFEST
    if not path.is_file():
        return [f"{path} is missing"]
    rungs = json.loads(path.read_text()).get("rungs", {})
    problems = []
    for model, entry in rungs.items():
        for name, digest in entry["files"].items():
            f = folder / model / name
            if not f.is_file():
                problems.append(f"{model}/{name} is missing")
            elif sha256_file(f) != digest:
                problems.append(f"{model}/{name} differs from its SHA-256 in {PUBLISHED_MANIFEST}")
    for f in sorted(folder.glob("*/*")):
        if f.parent.name not in rungs or f.name not in rungs[f.parent.name]["files"]:
            problems.append(f"{f.relative_to(folder)} is not in {PUBLISHED_MANIFEST}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m clusterpreneur.diagnostics.sbc",
        description="Simulation-based calibration of the ladder's rungs on Dask (resumable), each fitted "
        "with fit_model exactly as the study fits it.",
    )
    parser.add_argument("n_simulations", nargs="?", type=int, default=200)
    parser.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="LocalCluster workers")
    parser.add_argument(
        "--model",
        default=",".join(REPORTED_RUNGS),
        help="rungs, comma-separated (default: every reported rung, %(default)s), or 'toy'",
    )
    parser.add_argument("--seed", type=int, default=20260)
    parser.add_argument("--sampler", default="nutpie", help="the study's sampler (default: %(default)s)")
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--n-initiatives", type=int, default=None, help="smaller survey for quick runs")
    parser.add_argument("--out", default="results/sbc", help="output folder (cache in <out>/<model>/cache)")
    parser.add_argument(
        "--publish",
        default=None,
        help="also copy each complete run's compact outputs to <PUBLISH>/<model>/ with a manifest "
        "entry (nox -s sbc: analysis/sbc, the folder the report reads)",
    )
    args = parser.parse_args(argv)

    models = [m.strip() for m in args.model.split(",") if m.strip()]
    status = 0
    for model in models:
        if model == "toy":
            from clusterpreneur.diagnostics import toy

            settings = SBCSettings(draws=args.draws, tune=args.tune, chains=args.chains)
            factory, names, to_data, fitter = toy.normal_mean, None, None, None
            data = pd.DataFrame({"y": np.zeros(args.n_initiatives or 10)})
        else:
            settings = SBCSettings(
                draws=args.draws, tune=args.tune, chains=args.chains, sampler=args.sampler, target_accept=None
            )
            factory, data, to_data, names, fitter = ladder_problem(model, args.n_initiatives)
        out = Path(args.out) / model
        tag = f"n{args.n_initiatives or 'default'}_s{args.seed}_d{args.draws}_t{args.tune}_c{args.chains}"
        result = run_sbc(
            factory,
            data,
            n_simulations=args.n_simulations,
            cache_dir=out / "cache" / tag,
            base_seed=args.seed,
            settings=settings,
            var_names=names,
            observed_to_data=to_data,
            scheduler=args.scheduler,
            n_workers=args.workers,
            fitter=fitter,
        )
        summary = save_results(
            result,
            out,
            tag,
            {
                "model": model,
                "n_simulations": args.n_simulations,
                "n_initiatives": args.n_initiatives,
                "seed": args.seed,
                "settings": asdict(settings),
                **({} if model == "toy" else ladder_record(model, result.sims)),
                **provenance(),
                "fitter": _describe(fitter),
                "workers": None if args.scheduler else args.workers,
                "scheduler": args.scheduler,
                "command": "python -m clusterpreneur.diagnostics.sbc "
                + " ".join(sys.argv[1:] if argv is None else argv),
            },
        )
        print(result.table.to_string(index=False))
        print(f"{model}: {result.message()}")
        print(json.dumps(summary, indent=2))
        if args.publish and model != "toy":
            dest = publish(summary, out, Path(args.publish))
            print(f"{model}: " + (f"published in {dest}" if dest else "incomplete run, not published"))
        status = status or (0 if result.passed else 1)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
