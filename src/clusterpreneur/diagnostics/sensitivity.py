"""Power-scaling prior sensitivity (Kallioinen et al. 2024) with flags, per model."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import arviz as az
import pandas as pd
import xarray as xr

PRIOR_DATA_CONFLICT = "potential prior-data conflict"
WEAK_LIKELIHOOD = "potential strong prior / weak likelihood"


def prior_sensitivity(
    idata: xr.DataTree,
    *,
    var_names: Sequence[str] | None = None,
    threshold: float = 0.05,
    priors: Sequence[str] | None = None,
) -> pd.DataFrame:
    """``az.psense_summary`` as a tidy table with boolean flags.

    Columns: ``parameter, prior, likelihood`` (CJS-based sensitivities to power-scaling the
    prior / the likelihood), ``diagnosis`` (ArviZ text, empty when fine),
    ``prior_data_conflict`` (both above ``threshold``) and ``weak_likelihood`` (prior above,
    likelihood below). Needs ``log_prior`` and ``log_likelihood`` groups. ``priors`` names the
    ``log_prior`` terms to power-scale (selective power-scaling, e.g. ``["sigma_initiative"]``: is
    that parameter's own prior in conflict with the data?); default :func:`population_priors`.
    """
    missing = [g for g in ("log_prior", "log_likelihood") if g not in idata.children]
    if missing:
        raise ValueError(
            f"prior sensitivity needs the groups {missing}: add them with pm.stats.compute_log_prior "
            "and pm.compute_log_likelihood"
        )
    raw = az.psense_summary(
        idata,
        var_names=var_names,
        threshold=threshold,
        prior_var_names=list(population_priors(idata) if priors is None else priors) or None,
    )
    table = raw.rename_axis("parameter").reset_index()
    table["diagnosis"] = table["diagnosis"].fillna("").astype(str).replace("-", "")
    table["prior_data_conflict"] = table["diagnosis"].eq(PRIOR_DATA_CONFLICT)
    table["weak_likelihood"] = table["diagnosis"].eq(WEAK_LIKELIHOOD)
    return table


def population_priors(idata: xr.DataTree) -> list[str]:
    """The ``log_prior`` terms that power-scaling scales by default: all but the group-level ones.

    A group-level term holds one value per group or per observation (its dims include a group
    level or the observation dimension of the fit's spec): group effects, whatever coordinates
    the sampler moves them in (non-centred ``z``, laplace-centred ``z``, centred ``u``), and
    latent scores. Their "prior" is part of the hierarchical model, and its density depends on the
    parametrisation, so scaling it would make the diagnosis depend on how the sampler moves the
    model. Power-scaling the population-level priors (coefficients, cutpoints, scales) alone is
    the usual choice (as brms's ``lprior``). Without a spec in the attributes: every term.
    """
    names = list(idata["log_prior"].data_vars)
    spec_json = idata.attrs.get("spec_json")
    if not spec_json:
        return names
    spec = json.loads(spec_json)
    grouped = {spec.get("obs_dim", "obs"), *(g["name"] for g in spec.get("groups", ()))}
    return [n for n in names if not grouped & set(idata["log_prior"][n].dims)]


def sensitivity_tables(
    fits: Mapping[str, xr.DataTree], *, var_names: Sequence[str] | None = None, threshold: float = 0.05
) -> pd.DataFrame:
    """One stacked table (column ``model`` first) over several fits."""
    parts = [
        prior_sensitivity(idata, var_names=var_names, threshold=threshold).assign(model=name)
        for name, idata in fits.items()
    ]
    out = pd.concat(parts, ignore_index=True)
    return out[["model", *[c for c in out.columns if c != "model"]]]
