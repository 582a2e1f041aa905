"""Fit a :class:`ModelSpec` with PyMC 6 and hold the result as a :class:`FittedModel`."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from clusterpreneur.errors import SpecError
from clusterpreneur.io import sha256_bytes
from clusterpreneur.models.build import Prepared, build_model, parametrization, prepare
from clusterpreneur.models.spec import ModelSpec, describe
from clusterpreneur.numerics import with_reproducible_numerics
from clusterpreneur.standardize import Standardizer

SAMPLERS = ("nutpie", "pymc", "numpyro")
HORSESHOE_TARGET_ACCEPT = 0.95
"""Default ``target_accept`` of specs with horseshoe shrinkage terms (the study config has no
per-model target_accept)."""
VERSIONED = ("clusterpreneur", "pymc", "pytensor", "arviz", "nutpie", "numpy", "pandas", "xarray")


def versions(packages: Sequence[str] = VERSIONED) -> dict[str, str]:
    """Installed versions of ``packages`` (default: the package and its numerical dependencies)."""
    out = {}
    for pkg in packages:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def data_sha256(data: pd.DataFrame) -> str:
    """SHA-256 of a canonical CSV encoding of the data a fit used (columns and rows as used)."""
    payload = data.to_csv(index=False, float_format="%.10g", lineterminator="\n").encode()
    return sha256_bytes(payload)


def fit_sha256(spec: ModelSpec, data: pd.DataFrame) -> str:
    return sha256_bytes(f"{spec.sha256()}\n{data_sha256(data)}".encode())


@dataclass
class FittedModel:
    """A fitted spec: posterior and companions in ``idata`` (an ``xarray.DataTree``).

    ``idata`` holds groups posterior, sample_stats, observed_data, constant_data,
    log_likelihood, log_prior, and root attributes (spec JSON, hashes, versions, seed,
    sampler, standardizer, imputation counts).
    """

    spec: ModelSpec
    idata: xr.DataTree
    prepared: Prepared
    seed: int | None = None
    sampler: str | None = None
    _model: pm.Model | None = field(default=None, repr=False)

    @property
    def data(self) -> pd.DataFrame:
        """The frame used (rows with an observed outcome, the columns the spec needs)."""
        return self.prepared.data

    @property
    def standardizer(self) -> Standardizer:
        return self.prepared.standardizer

    @property
    def imputed(self) -> dict[str, int]:
        """Number of values imputed inside the model (or skipped in an item likelihood), by column."""
        return dict(self.prepared.imputed)

    @property
    def model(self) -> pm.Model:
        """The PyMC model, rebuilt from spec and data on first use (cheap: nothing compiled)."""
        if self._model is None:
            self._model = drop_start_values(build_model(self.spec, self.data, prepared=self.prepared))
        return self._model

    @property
    def posterior(self) -> xr.Dataset:
        return self.idata["posterior"].to_dataset()

    def __repr__(self) -> str:
        post = self.idata["posterior"]
        dropped = "".join(f"; {k}: {v} rows dropped" for k, v in self.prepared.dropped.items())
        chains, draws = post.sizes.get("chain", 0), post.sizes.get("draw", 0)
        sampler = self.sampler or "unknown sampler"
        head = (
            f"FittedModel {self.spec.name!r}: {chains} chains x {draws} draws ({sampler}, seed {self.seed}), "
            f"{len(self.data)} observations{dropped}"
        )
        results = "  results       fit.coefficients(), fit.hypotheses(): 95% equal-tailed intervals"
        return f"{head}\n{describe(self.spec)}\n{results}"

    def save(self, path: str | Path) -> Path:
        from clusterpreneur.models.persist import save_fit

        return save_fit(self, path)

    @classmethod
    def load(cls, path: str | Path, df: pd.DataFrame) -> FittedModel:
        from clusterpreneur.models.persist import load_fit

        return load_fit(path, df)

    def predict(self, new_df: pd.DataFrame, draws: int | None = None, *, seed: int = 0, **kw) -> pd.DataFrame:
        from clusterpreneur.models.predict import predict

        return predict(self, new_df, draws=draws, seed=seed, **kw)

    def what_if(self, cases: pd.DataFrame, changes: dict, **kw) -> pd.DataFrame:
        from clusterpreneur.models.predict import what_if

        return what_if(self, cases, changes, **kw)

    def hypotheses(self) -> pd.DataFrame:
        from clusterpreneur.models.hypotheses import hypothesis_table

        return hypothesis_table(self)

    def coefficients(self) -> pd.DataFrame:
        from clusterpreneur.models.hypotheses import coefficient_table

        return coefficient_table(self)


def _attrs(
    spec: ModelSpec, prep: Prepared, seed, sampler, draws, tune, chains, how: dict[str, str]
) -> dict[str, str | int]:
    return {
        "clusterpreneur_model": spec.name,
        "formula": spec.formula or "",
        "spec_json": spec.to_json(),
        "spec_sha256": spec.sha256(),
        "data_sha256": data_sha256(prep.data),
        "fit_sha256": fit_sha256(spec, prep.data),
        "versions": json.dumps(versions(), sort_keys=True),
        "seed": -1 if seed is None else int(seed),
        "sampler": sampler,
        "parametrization": json.dumps(how, sort_keys=True),
        "draws": int(draws),
        "tune": int(tune),
        "chains": int(chains),
        "standardizer": json.dumps(prep.standardizer.to_dict(), sort_keys=True),
        "imputed": json.dumps(prep.imputed, sort_keys=True),
        "dropped": json.dumps(prep.dropped, sort_keys=True),
        "n": len(prep.data),
    }


FREEZE_MAX_BYTES = 1_000_000
"""nutpie compiles a model whose data arrays are all at most this large with the data frozen in
(``freeze_model``), see :func:`nutpie_compile_kwargs`."""


def nutpie_compile_kwargs(model: pm.Model) -> dict:
    """How nutpie compiles ``model``: with its data frozen in as constants (``freeze_model=True``,
    nutpie's documented option) unless a data array is larger than :data:`FREEZE_MAX_BYTES`.

    Each shared array costs nutpie's numba wrapper about a second of compiling in every process,
    while a frozen graph is found in PyTensor's on-disk cache by its constants: a warm fit of the
    same data compiles less. Larger arrays would not be cached (numba embeds arrays above about
    1 MB as uncacheable globals).
    """
    small = all(np.asarray(v.get_value()).nbytes <= FREEZE_MAX_BYTES for v in model.data_vars)
    return {"freeze_model": small}


def drop_start_values(model: pm.Model) -> pm.Model:
    """The model without its start values (the ordered cutpoints' spread start, see
    :func:`clusterpreneur.models.build._ordered_cutpoints`): they only place the sampler's first
    point, and PyMC's model transforms (log-likelihood, log-prior) refuse models that have them."""
    for rv in list(model.rvs_to_initial_values):
        model.rvs_to_initial_values[rv] = None
    return model


def default_cores(chains: int) -> int:
    """Worker count for ``chains`` chains: every CPU this process may use, at most ``chains``.

    PyMC's own default (``cpu_count() // 2``) is 1 on a 2-CPU machine, which makes nutpie
    run all chains on one thread.
    """
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        usable = os.cpu_count() or 1
    return max(1, min(int(chains), usable))


@with_reproducible_numerics
def fit_model(
    spec: ModelSpec,
    df: pd.DataFrame,
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int,
    sampler: str = "nutpie",
    progressbar: bool | None = None,
    target_accept: float | None = None,
    cores: int | None = None,
    observed: np.ndarray | dict | None = None,
) -> FittedModel:
    """Sample the posterior of ``spec`` on ``df`` and compute log-likelihood and log-prior.

    ``sampler`` is ``"nutpie"`` (default), ``"pymc"`` (faster to compile for tiny models) or
    ``"numpyro"`` (optional extra ``clusterpreneur[numpyro]``); each samples the one PyMC
    graph of the spec, parametrised as :mod:`.parametrize` decides (recorded in
    ``idata.attrs["parametrization"]``). ``seed`` is required and honoured by every sampler.
    ``progressbar=None`` shows one only in an interactive terminal. ``observed`` replaces the
    outcome (see :func:`build_model`), for SBC. ``cores=None`` uses every CPU this process may
    use, at most one per chain.
    """
    if sampler not in SAMPLERS:
        raise SpecError(f"unknown sampler {sampler!r}; choose one of {SAMPLERS}")
    if sampler == "numpyro":
        try:
            import numpyro  # noqa: F401
        except ImportError:
            raise SpecError(
                "sampler='numpyro' needs the optional extra: pip install 'clusterpreneur[numpyro]'"
            ) from None
    if seed is None:
        raise SpecError("fit_model needs an integer seed")
    prep = prepare(spec, df)  # all input checks before compiling
    model = build_model(spec, df, observed, prepared=prep)
    how = parametrization(spec, df, observed, prepared=prep)
    if progressbar is None:
        progressbar = bool(sys.stderr.isatty())
    if cores is None and sampler != "pymc":
        # nutpie/numpyro run chains on threads; PyMC's own sampler would fork processes
        cores = default_cores(chains)
    if target_accept is None and spec.shrinkage_terms and spec.shrinkage == "horseshoe":
        target_accept = HORSESHOE_TARGET_ACCEPT  # smaller steps in the horseshoe's funnels
    kwargs = {} if target_accept is None else {"nuts": {"target_accept": target_accept}}
    if sampler == "nutpie":
        kwargs["compile_kwargs"] = nutpie_compile_kwargs(model)
    with model:
        idata = pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            cores=cores,
            random_seed=int(seed),
            nuts_sampler=sampler,
            progressbar=progressbar,
            **kwargs,
        )
    drop_start_values(model)  # sampled: PyMC's model transforms (log densities) refuse start values
    with model:
        pm.compute_log_likelihood(idata, model=model, progressbar=False)
        pm.stats.compute_log_prior(idata, model=model, progressbar=False)
    idata.attrs.update(_attrs(spec, prep, seed, sampler, draws, tune, chains, how))
    fitted = FittedModel(spec=spec, idata=idata, prepared=prep, seed=int(seed), sampler=sampler)
    fitted._model = model
    return fitted


@with_reproducible_numerics
def sample_prior_predictive(spec: ModelSpec, df: pd.DataFrame, *, draws: int = 500, seed: int) -> xr.DataTree:
    """Prior and prior-predictive draws of ``spec`` on ``df`` (same model as the fit)."""
    model = build_model(spec, df)
    with model:
        return pm.sample_prior_predictive(draws=draws, random_seed=int(seed))
