"""PSIS-LOO per model with Pareto-k diagnostics naming the observations, and stacking comparison."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr


@dataclass
class ModelComparison:
    """``table``: az.compare output (rank, elpd_diff, dse, ..., weight) indexed by model name.
    ``loo``: ELPD results per model. ``high_k``: one row per (model, observation) with
    Pareto k above the model's threshold: ``model, observation, pareto_k, threshold`` (the
    observation's id: its coordinate on the observation dimension)."""

    table: pd.DataFrame
    loo: dict
    high_k: pd.DataFrame

    def message(self) -> str:
        best = self.table.index[0]
        lines = [f"Best model by PSIS-LOO: {best} (stacking weight {self.table.loc[best, 'weight']:.2f})."]
        for model, g in self.high_k.groupby("model", sort=False):
            lines.append(
                f"{model}: {len(g)} observation(s) with high Pareto k (> {g['threshold'].iloc[0]:.2f}): "
                + ", ".join(f"{i} ({k:.2f})" for i, k in zip(g["observation"], g["pareto_k"], strict=True))
                + ". Their LOO estimates are unreliable: refit without them (reloo), use moment matching,"
                " or K-fold CV."
            )
        return "\n".join(lines)


def _observation_labels(pareto_k: xr.DataArray, coord: str | None) -> np.ndarray:
    """Label of every observation: the ``coord`` coordinate when present, else the coordinate of
    the one dimension (the observation dimension, whatever its name), else the flat index."""
    da = pareto_k
    if coord in da.coords and da[coord].dims and len(da.dims) == 1:
        return np.asarray(da[coord].values).astype(str)
    if coord in da.coords and len(da.dims) > 1:
        return np.asarray(da[coord].broadcast_like(da).values).reshape(-1).astype(str)
    if len(da.dims) == 1:
        return np.asarray(da[da.dims[0]].values).astype(str)
    return np.arange(da.size).astype(str)


def loo_with_pareto_k(
    idata: xr.DataTree,
    *,
    var_name: str | None = None,
    coord: str | None = None,
    model: str = "model",
    k_threshold: float | None = None,
):
    """PSIS-LOO of one fit and a table of observations with high Pareto k.

    The threshold defaults to the sample-size dependent ``good_k`` of ArviZ
    (``min(1 - 1/log10(S), 0.7)``, Vehtari et al. 2024).
    """
    elpd = az.loo(idata, pointwise=True, var_name=var_name)
    thr = float(elpd.good_k if k_threshold is None else k_threshold)
    k = elpd.pareto_k
    labels = _observation_labels(k, coord)
    values = np.asarray(k.values).reshape(-1)
    bad = values > thr
    high = pd.DataFrame(
        {"model": model, "observation": labels[bad], "pareto_k": values[bad], "threshold": thr}
    ).sort_values("pareto_k", ascending=False, ignore_index=True)
    return elpd, high


def compare_models(
    fits: Mapping[str, xr.DataTree],
    *,
    var_name: str | None = None,
    coord: str | None = None,
    method: str = "stacking",
    k_threshold: float | None = None,
) -> ModelComparison:
    """LOO for every fit (each needs a ``log_likelihood`` group) and ``az.compare`` with stacking."""
    loos, highs = {}, []
    for name, idata in fits.items():
        loos[name], high = loo_with_pareto_k(
            idata, var_name=var_name, coord=coord, model=name, k_threshold=k_threshold
        )
        highs.append(high)
    table = az.compare(loos, method=method) if len(loos) > 1 else None
    if table is None:
        only = next(iter(loos))
        e = loos[only]
        table = pd.DataFrame(
            {"rank": [0], "elpd": [e.elpd], "se": [e.se], "p": [e.p], "weight": [1.0]}, index=[only]
        )
    return ModelComparison(table=table, loo=loos, high_k=pd.concat(highs, ignore_index=True))
