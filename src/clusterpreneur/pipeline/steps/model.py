"""Step ``model:<M>``: sample one rung of the ladder and keep what the later steps need, compressed.

The stored fit (``fit.nc``) holds every posterior variable except the standardised offsets
``z_*`` of group effects whose effects ``u_*`` are stored too (the effects are what is checked
and reported), in single precision; the pointwise log-likelihood of the model's outcomes
(single precision) and one per-draw total of any other likelihood terms (the measurement items of
a latent variable); the per-draw sum of the population-level log priors (``population``: what
power-scaling scales, :func:`clusterpreneur.diagnostics.sensitivity.population_priors`); the sampler
statistics the convergence gate reads; the observed and constant data. Every array is
zlib-compressed. For ordinal outcomes it also stores posterior predictive replicates on about
``ppc_draws`` evenly spaced draws (``predictive.nc``), drawn from the model's one PyMC graph.
PyMC's run-time attributes (``created_at``, ``sampling_time``) are left out of both files: the
step's record has its time, and the same seed then writes the same bytes.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from clusterpreneur.diagnostics.gate import DEPTH_STATS, TREEDEPTH_FLAGS
from clusterpreneur.diagnostics.sensitivity import population_priors
from clusterpreneur.numerics import with_reproducible_numerics
from clusterpreneur.pipeline.artefacts import read_frame, write_netcdf
from clusterpreneur.pipeline.cache import CacheEntry
from clusterpreneur.pipeline.step import RunContext, StepBase
from clusterpreneur.pipeline.steps.data import SURVEY, data_step

FIT = "fit.nc"
PREDICTIVE = "predictive.nc"
GATE_STATS = ("diverging", "energy", *TREEDEPTH_FLAGS, *DEPTH_STATS, "n_steps", "step_size", "lp", "logp")
"""The sampler statistics the convergence gate reads (and a few a reader may want)."""
OTHER_TERMS = "other_terms"
"""Name of the per-draw total of the likelihood terms that are not the model's outcomes."""
RUN_TIME_ATTRS = ("created_at", "sampling_time")
"""Group attributes PyMC sets from the clock, left out of the stored files."""
KEPT_BITS = 16
"""Mantissa bits kept of each stored draw (float32 has 23): relative error below 2e-5, far below
any Monte Carlo error, and the zeroed bits compress away."""


def outcomes_of(idata: xr.DataTree) -> list[str]:
    """The fit's outcome variables (from its spec), as observed in the DataTree."""
    observed = (
        list(idata["observed_data"].to_dataset().data_vars) if "observed_data" in idata.children else []
    )
    try:
        spec = json.loads(idata.attrs["spec_json"])
        outs = spec["outcome"]
        outs = [outs] if isinstance(outs, str) else list(outs)
    except (KeyError, ValueError, TypeError):
        outs = observed
    return [o for o in outs if o in observed]


def rounded(values: np.ndarray, bits: int = KEPT_BITS) -> np.ndarray:
    """``values`` as float32 rounded to ``bits`` mantissa bits (to nearest; deterministic)."""
    x = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    drop = 23 - bits
    out = ((x + np.uint32(1 << (drop - 1))) & np.uint32(~((1 << drop) - 1) & 0xFFFFFFFF)).view(np.float32)
    return np.where(np.isfinite(values), out, np.asarray(values, dtype=np.float32))


def _compressed(ds: xr.Dataset, *, single: bool = True) -> xr.Dataset:
    out = ds.copy()
    out.attrs = {k: v for k, v in out.attrs.items() if k not in RUN_TIME_ATTRS}
    for name, da in out.data_vars.items():
        if single and da.dtype == np.float64:
            out[name] = da.copy(data=rounded(da.values))
        out[name].encoding = {"zlib": True, "complevel": 4, "shuffle": True}
    return out


def compact_fit(idata: xr.DataTree) -> xr.DataTree:
    """The stored fit: what later steps read, single precision, compressed (see the module docstring)."""
    post = idata["posterior"].to_dataset()
    offsets = [v for v in post.data_vars if v.startswith("z_") and f"u_{v[2:]}" in post]
    groups: dict[str, xr.Dataset] = {"posterior": _compressed(post.drop_vars(offsets))}
    outcomes = outcomes_of(idata)
    if "log_likelihood" in idata.children:
        ll = idata["log_likelihood"].to_dataset()
        keep = ll[[v for v in ll.data_vars if v in outcomes]]
        rest = [v for v in ll.data_vars if v not in outcomes]
        if rest:
            total = sum(ll[v].sum([d for d in ll[v].dims if d not in ("chain", "draw")]) for v in rest)
            keep = keep.assign({OTHER_TERMS: total})
        groups["log_likelihood"] = _compressed(keep)
    if "log_prior" in idata.children:
        lp = idata["log_prior"].to_dataset()
        scaled = population_priors(idata)
        total = sum(lp[v].sum([d for d in lp[v].dims if d not in ("chain", "draw")]) for v in scaled)
        groups["log_prior"] = _compressed(xr.Dataset({"population": total}), single=False)
    if "sample_stats" in idata.children:
        st = idata["sample_stats"].to_dataset()
        groups["sample_stats"] = _compressed(st[[v for v in GATE_STATS if v in st]], single=False)
    for name in ("observed_data", "constant_data"):
        if name in idata.children:
            groups[name] = _compressed(idata[name].to_dataset(), single=False)
    tree = xr.DataTree.from_dict(groups)
    tree.attrs.update(idata.attrs)
    return tree


def thinned(posterior: xr.Dataset, draws: int) -> xr.Dataset:
    """About ``draws`` posterior draws: every k-th draw of each chain."""
    total = posterior.sizes["chain"] * posterior.sizes["draw"]
    step = max(1, int(np.ceil(total / max(draws, 1))))
    return posterior.isel(draw=slice(None, None, step))


@with_reproducible_numerics
def posterior_predictive(fitted, outcomes: list[str], draws: int, seed: int) -> xr.Dataset:
    """Posterior predictive replicates of ``outcomes`` on about ``draws`` thinned draws.

    Ordinal outcomes are coded 0..K-1 in the model; ``attrs["categories"]`` (JSON) maps each
    outcome's codes back to its answers."""
    import pymc as pm

    post = thinned(fitted.idata["posterior"].to_dataset(), draws)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp = pm.sample_posterior_predictive(
            post, model=fitted.model, var_names=outcomes, random_seed=seed, progressbar=False
        )
    out = pp["posterior_predictive"].to_dataset()
    cats = {
        y: [int(c) for c in fitted.prepared.categories[y]]
        for y in outcomes
        if y in fitted.prepared.categories
    }
    out.attrs["categories"] = json.dumps(cats, sort_keys=True)
    return out


def formula_spec(name: str, source: Mapping[str, str], df):
    """The spec of a formula model of ``study.toml`` on the survey: the study's names (initiatives,
    their ids) and hypotheses, the measures available as columns."""
    from clusterpreneur.models import ModelSpec
    from clusterpreneur.study.measures import add_measures
    from clusterpreneur.study.predictors import HYPOTHESIS_SIGNS

    frame = add_measures(df)
    probe = ModelSpec.from_formula(source["formula"], frame, family=source.get("family"), name=name)
    hypotheses = {t: h for t, h in HYPOTHESIS_SIGNS.items() if t in probe.terms}
    return ModelSpec.from_formula(
        source["formula"], frame, family=source.get("family"), name=name, hypotheses=hypotheses,
        obs_dim="initiative", id_column="initiative_id",
    )  # fmt: skip


@dataclass
class ModelStep(StepBase):
    """Fits one rung (:data:`clusterpreneur.study.ladder.LADDER`) with ``fit_model``."""

    spec: Any = None
    formula: dict | None = None  # {"formula": ..., "family": ...}: spec built from the data at run time
    model: str = ""  # the model's name in the configuration
    settings: Any = None  # pipeline.config.SamplerSettings
    seed: int = 0
    ppc_draws: int = 200

    def params(self) -> Any:
        family = self.spec.family if self.spec is not None else self.formula.get("family")
        ordinal = family == "ordinal"  # only they get posterior predictive replicates
        return {
            **({"spec": self.spec.to_dict()} if self.spec is not None else {"formula": self.formula}),
            "settings": vars(self.settings),
            "seed": self.seed,
            **({"ppc_draws": self.ppc_draws} if ordinal else {}),
        }

    def validate(self, ctx: RunContext) -> None:
        self.settings.check(f"[models.{self.model or self.spec.name}]")
        if self.formula is not None:
            from clusterpreneur.models.formula import Formula

            Formula(self.formula["formula"])  # syntax errors before anything runs

    def run(self, ctx: RunContext, upstream: Mapping[str, CacheEntry], out: Path) -> dict[str, Any]:
        import clusterpreneur.models as cm
        from clusterpreneur.models.persist import save_fit

        df = read_frame(upstream[data_step(self.model)].file(SURVEY))
        spec = self.spec if self.spec is not None else formula_spec(self.model, self.formula, df)
        if spec.derived_from is None and self.spec is None:
            from clusterpreneur.study.measures import add_measures

            df = add_measures(df)  # a formula names the study's measures as columns
        suspend = getattr(ctx.progress, "suspended", None)
        s = self.settings
        bars = getattr(ctx.progress, "sampler_bars", None)  # None: in a terminal
        with suspend() if suspend else contextlib.nullcontext():
            fitted = cm.fit_model(
                spec, df, draws=s.draws, tune=s.tune, chains=s.chains, seed=self.seed, sampler=s.sampler,
                progressbar=bars,
            )  # fmt: skip
        outcomes = outcomes_of(fitted.idata)
        ordinal = outcomes if spec.family == "ordinal" else []
        if ordinal:
            pp = posterior_predictive(fitted, ordinal, self.ppc_draws, self.seed)
            pp = xr.Dataset({k: v.astype(np.int16) for k, v in pp.data_vars.items()}, attrs=pp.attrs)
            write_netcdf(
                out / PREDICTIVE,
                xr.DataTree.from_dict({"posterior_predictive": _compressed(pp, single=False)}),
            )
        fitted.idata = compact_fit(fitted.idata)
        save_fit(fitted, out / FIT)
        return {
            "n": len(fitted.data),
            "seed": self.seed,
            "parametrization": str(fitted.idata.attrs.get("parametrization", "")),
            "draws": s.draws,
            "chains": s.chains,
            "outcomes": outcomes,
        }
