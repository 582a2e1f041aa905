"""Power-scaling prior sensitivity (Kallioinen et al. 2024) with flags, per model."""

from __future__ import annotations

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
    that parameter's own prior in conflict with the data?); default every term.
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
        prior_var_names=None if priors is None else list(priors),
    )
    table = raw.rename_axis("parameter").reset_index()
    table["diagnosis"] = table["diagnosis"].fillna("").astype(str).replace("-", "")
    table["prior_data_conflict"] = table["diagnosis"].eq(PRIOR_DATA_CONFLICT)
    table["weak_likelihood"] = table["diagnosis"].eq(WEAK_LIKELIHOOD)
    return table


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
