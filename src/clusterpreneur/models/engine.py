"""The compiled-kernel engine: sample a spec with :mod:`.kernel` and nutpie, no PyMC graph.

:func:`kernel_unsupported` says whether a spec fits the kernel's family (and why not);
:func:`pack` turns (spec, prepared data) into :class:`~.kernel.KernelData` plus the names,
shapes and dims of the stored variables; :func:`sample_kernel` samples it and returns a
``DataTree`` with the same variables, coordinates and groups as ``pm.sample`` on the PyMC
model of the spec (so log-likelihood, prediction, diagnostics and saving work unchanged).
The posterior is the same as the PyMC model's: only the parametrisation the sampler moves
in differs (see :mod:`.kernel`), which ``tests/models/test_kernel.py`` checks point by point.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import gammaln

from clusterpreneur.models.build import Prepared, _observed_arrays, design_array, design_in_numpy
from clusterpreneur.models.spec import ModelSpec

if TYPE_CHECKING:  # the kernel compiles (or loads) its C entry points on import: only when used
    import pymc as pm
    import xarray as xr

    from clusterpreneur.models.kernel import KernelData

NEWTON_STEPS = 1
"""Newton steps (from 0) for the centre of each Laplace-centred group. Measured at 25,000
initiatives, 4 x 1,000 draws (``nox -s bench -- --experiments kernel``): min bulk ESS 213
with none (gate fails), 1,650 with one, 817 with two (and 33 % more wall time): each step is
a pass over the data, and the second did not improve mixing here."""

QR_MAX_CONDITION = 1e10
"""Above this condition number of ``[1, X]`` the fixed effects are not whitened."""

SIGMA_PRIORS = {"HalfNormal": 0, "Exponential": 1}
"""Priors of group standard deviations the kernel knows, and their codes in its arrays."""


@dataclass(frozen=True)
class Packed:
    """A spec packed for the kernel: the arrays and what the stored draw holds."""

    data: KernelData
    names: list[str]
    shapes: list[tuple[int, ...]]
    dims: dict[str, tuple[str, ...]]
    coords: dict[str, list[str]]
    parametrization: dict[str, str]

    def initial_point(self, seed) -> np.ndarray:
        """PyMC's default start: 0 plus U(-1, 1) jitter in every unconstrained coordinate."""
        return np.random.default_rng(int(seed)).uniform(-1.0, 1.0, self.data.n_dim)

    def slices(self) -> list[slice]:
        """Where each stored variable sits in the expanded vector (:func:`kernel.expand`)."""
        sizes = [int(np.prod(shape)) for shape in self.shapes]
        starts = np.cumsum([0, *sizes])
        return [slice(int(a), int(a) + n) for a, n in zip(starts, sizes, strict=False)]

    def unflatten(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        """The expanded vector (:func:`kernel.expand`) as named arrays."""
        return {
            name: flat[sl].reshape(shape)
            for name, shape, sl in zip(self.names, self.shapes, self.slices(), strict=True)
        }


def _normal_prior(settings: dict, what: str) -> tuple[object, object] | str:
    if settings.get("dist") != "Normal" or set(settings) - {"dist", "mu", "sigma"}:
        return f"the {what} prior is {settings} (the kernel knows Normal(mu, sigma))"
    return settings.get("mu", 0.0), settings.get("sigma", 1.0)


def _sigma_prior(settings: dict, name: str) -> tuple[int, float] | str:
    dist = settings.get("dist")
    params = {k: v for k, v in settings.items() if k != "dist"}
    if dist == "HalfNormal" and set(params) <= {"sigma"}:
        return SIGMA_PRIORS["HalfNormal"], float(params.get("sigma", 1.0))
    if dist == "Exponential" and set(params) == {"lam"}:
        return SIGMA_PRIORS["Exponential"], float(params["lam"])
    return f"the prior of {name} is {settings} (the kernel knows HalfNormal(sigma) and Exponential(lam))"


def kernel_unsupported(spec: ModelSpec, prep: Prepared) -> str | None:
    """Why the compiled kernel cannot sample ``spec`` on these data, or None when it can."""
    if spec.family not in ("bernoulli", "binomial"):
        return f"family {spec.family!r} (the kernel samples bernoulli and binomial outcomes)"
    if not design_in_numpy(prep):
        return "the design has latent or imputed components (they are parameters)"
    if spec.shrinkage_terms:
        return "shrinkage priors on terms"
    if spec.baseline is not None:
        return f"a baseline per {spec.baseline} (discrete-time hazard)"
    for key, what in (("intercept", "intercept"), ("beta", "beta")):
        res = _normal_prior(spec.prior(key), what)
        if isinstance(res, str):
            return res
    for name in [f"sigma_{g.name}" for g in spec.groups] + [f"sigma_{s.param}" for s in spec.slopes]:
        res = _sigma_prior(spec.prior(name, "sigma"), name)
        if isinstance(res, str):
            return res
    return None


def _whitening(X1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Q sqrt(N - 1), T) with ``X1 T = Q sqrt(N - 1)`` from a thin QR, or (X1, I) when
    ``X1`` is (nearly) rank-deficient."""
    n, p = X1.shape
    if n > p:
        Q, R = np.linalg.qr(X1)
        if np.linalg.cond(R) < QR_MAX_CONDITION:
            scale = np.sqrt(n - 1.0)
            return Q * scale, np.linalg.inv(R) * scale
    return X1, np.eye(p)


def pack(
    spec: ModelSpec, prep: Prepared, observed=None, *, whiten: bool = True, newton: int = NEWTON_STEPS
) -> Packed:
    """The kernel's arrays for ``spec`` on ``prep`` (check :func:`kernel_unsupported` first).

    ``whiten=False`` (no QR) and ``newton`` exist for the benchmark's experiments.
    """
    from clusterpreneur.models import kernel

    reason = kernel_unsupported(spec, prep)
    if reason is not None:
        raise ValueError(f"spec {spec.name!r} cannot use the compiled kernel: {reason}")
    sloped = {s.group for s in spec.slopes}
    laplace = next((g for g in spec.groups if g.laplace and g.name not in sloped), None)
    n_rows = len(prep.data)
    order = np.argsort(prep.group_index[laplace.name], kind="stable") if laplace else np.arange(n_rows)
    X = design_array(prep)[order]
    X1 = np.column_stack([np.ones(n_rows), X])
    XT, T = _whitening(X1) if whiten else (X1, np.eye(X1.shape[1]))
    P1 = X1.shape[1]
    mu0, sd0 = _normal_prior(spec.prior("intercept"), "intercept")
    mub, sdb = _normal_prior(spec.prior("beta"), "beta")
    prior_mu = np.concatenate([[mu0], np.broadcast_to(mub, (P1 - 1,))])
    prior_sd = np.concatenate([[sd0], np.broadcast_to(sdb, (P1 - 1,))])
    y_name = spec.outcomes[0]
    y = _observed_arrays(spec, prep, observed)[y_name][order]
    trials = (
        prep.data[spec.trials].to_numpy(dtype=float)[order] if spec.family == "binomial" else np.ones(n_rows)
    )
    const = float(np.sum(gammaln(trials + 1) - gammaln(y + 1) - gammaln(trials - y + 1)))

    names, shapes, dims = ["intercept", "beta"], [(), (P1 - 1,)], {"beta": ("term",)}
    effects: list[tuple[str, str, int, bool]] = [
        (g.name, g.name, -1, g.centered) for g in spec.groups if g is not laplace
    ]
    terms = list(spec.terms)
    effects += [(s.param, s.group, terms.index(s.term), s.centered) for s in spec.slopes]
    slope_cols = sorted({col for *_, col, _ in effects if col >= 0})
    eff = {k: [] for k in ("idx", "slope", "size", "centred", "off", "kind", "par")}
    offset = P1
    parametrization = {}
    for name, group, col, centred in effects:
        size = len(prep.coords[group])
        kind, par = _sigma_prior(spec.prior(f"sigma_{name}", "sigma"), f"sigma_{name}")
        eff["idx"].append(prep.group_index[group][order])
        eff["slope"].append(slope_cols.index(col) if col >= 0 else -1)
        eff["size"].append(size)
        eff["centred"].append(int(centred))
        eff["off"].append(offset)
        eff["kind"].append(kind)
        eff["par"].append(par)
        offset += 1 + size
        names.append(f"sigma_{name}")
        shapes.append(())
        if not centred:
            names.append(f"z_{name}")
            shapes.append((size,))
            dims[f"z_{name}"] = (group,)
        names.append(f"u_{name}")
        shapes.append((size,))
        dims[f"u_{name}"] = (group,)
        parametrization[name] = "centred" if centred else "non-centred"
    lap_idx = np.zeros(0, dtype=np.int64)
    lap_start = np.zeros(0, dtype=np.int64)
    lap_off, lap_kind, lap_par = -1, 0, 1.0
    if laplace is not None:
        size = len(prep.coords[laplace.name])
        lap_idx = prep.group_index[laplace.name][order]
        lap_start = np.searchsorted(lap_idx, np.arange(size + 1))
        lap_off = offset
        lap_kind, lap_par = _sigma_prior(
            spec.prior(f"sigma_{laplace.name}", "sigma"), f"sigma_{laplace.name}"
        )
        offset += 1 + size
        for prefix in ("sigma", "z", "u"):
            names.append(f"{prefix}_{laplace.name}")
            shapes.append(() if prefix == "sigma" else (size,))
            if prefix != "sigma":
                dims[f"{prefix}_{laplace.name}"] = (laplace.name,)
        parametrization[laplace.name] = "laplace-centred"
    n_eff = len(eff["size"])
    data = kernel.KernelData(
        XT=XT.T,
        T=T,
        prior_mu=prior_mu,
        prior_sd=prior_sd,
        y=y,
        n=trials,
        const=const,
        SX=X[:, slope_cols].T if slope_cols else np.zeros((0, n_rows)),
        eff_idx=np.array(eff["idx"]).reshape(n_eff, n_rows),
        eff_slope=np.array(eff["slope"], dtype=np.int64),
        eff_size=np.array(eff["size"], dtype=np.int64),
        eff_centred=np.array(eff["centred"], dtype=np.int64),
        eff_off=np.array(eff["off"], dtype=np.int64),
        eff_kind=np.array(eff["kind"], dtype=np.int64),
        eff_par=np.array(eff["par"], dtype=np.float64),
        lap_idx=lap_idx,
        lap_start=lap_start,
        lap_off=lap_off,
        lap_kind=lap_kind,
        lap_par=lap_par,
        newton=newton,
        n_dim=offset,
        n_expanded=int(sum(np.prod(s) for s in shapes)),
    )
    coords = {"term": terms, **{g.name: list(prep.coords[g.name]) for g in spec.groups}}
    return Packed(data, names, shapes, dims, coords, parametrization)


def compiled_model(packed: Packed):
    """``packed`` as a nutpie compiled model calling the kernel's C entry points."""
    from nutpie.compile_pymc import CompiledPyMCModel

    from clusterpreneur.models import kernel

    return CompiledPyMCModel(
        compiled_logp_func=kernel.logp_cfunc,
        compiled_expand_func=kernel.expand_cfunc,
        initial_point_func=packed.initial_point,
        shared_data={"kernel_data": packed.data},  # keeps the arrays alive while sampling
        shared_var_keys={},
        user_data=packed.data.header,
        n_expanded=packed.data.n_expanded,
        shape_info=(packed.names, packed.slices(), packed.shapes),
        logp_func=None,
        expand_func=None,
        _n_dim=packed.data.n_dim,
        _shapes=dict(zip(packed.names, packed.shapes, strict=True)),
        _coords=packed.coords,
        dims=packed.dims,
    )


def sample_kernel(
    spec: ModelSpec,
    prep: Prepared,
    model: pm.Model,
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    cores: int,
    progressbar: bool,
    target_accept: float | None = None,
    observed=None,
) -> tuple[xr.DataTree, Packed]:
    """Sample ``spec`` with the kernel; ``model`` is its PyMC model (for the data groups)."""
    import nutpie
    from pymc.backends.arviz import patch_nutpie_idata

    packed = pack(spec, prep, observed)
    kwargs = {} if target_accept is None else {"target_accept": target_accept}
    start = time.time()
    idata = nutpie.sample(
        compiled_model(packed),
        draws=draws,
        tune=tune,
        chains=chains,
        cores=cores,
        seed=int(seed),
        progress_bar=progressbar,
        save_warmup=False,
        **kwargs,
    )
    patch_nutpie_idata(idata, model, sampling_time=time.time() - start)
    return idata, packed
