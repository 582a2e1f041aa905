"""Posterior predictive checks suited to each outcome family, as numbers (figures in plots.py).

* binary (take-off): PAV-calibration (Dimitriadis et al. 2021) -- the isotonic regression of
  the observed outcome on the predicted probability; its distance from the diagonal is the
  miscalibration; also the Brier score;
* ordinal (ratings): observed count per category against the posterior predictive interval
  (the numbers behind a rootogram);
* any family: LOO-PIT values and their uniformity test.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from scipy.optimize import isotonic_regression


def _obs_and_pred(idata: xr.DataTree, var: str) -> tuple[np.ndarray, np.ndarray]:
    obs = np.asarray(idata["observed_data"][var].values).reshape(-1)
    pp = idata["posterior_predictive"][var]
    draws = np.asarray(pp.stack(sample=("chain", "draw")).transpose("sample", ...).values)
    return obs, draws.reshape(draws.shape[0], -1)


def binary_calibration(idata: xr.DataTree, var: str) -> dict:
    """PAV calibration of a binary outcome: Brier score, mean absolute miscalibration, table.

    ``table`` has columns ``p_pred`` (posterior predictive mean per observation, sorted) and
    ``p_calibrated`` (PAV fit of the outcome on it).
    """
    obs, draws = _obs_and_pred(idata, var)
    p = draws.mean(axis=0)
    order = np.argsort(p, kind="stable")
    cep = isotonic_regression(obs[order].astype(float)).x
    table = pd.DataFrame({"p_pred": p[order], "p_calibrated": cep})
    return {
        "brier": float(np.mean((p - obs) ** 2)),
        "miscalibration": float(np.mean(np.abs(cep - p[order]))),
        "table": table,
    }


def ordinal_frequencies(idata: xr.DataTree, var: str, prob: float = 0.89) -> pd.DataFrame:
    """Observed vs posterior predictive count per category, with a ``prob`` equal-tailed interval.

    ``outside`` flags categories whose observed count lies outside the interval.
    """
    obs, draws = _obs_and_pred(idata, var)
    cats = np.union1d(np.unique(obs), np.unique(draws)).astype(int)
    counts = np.stack([(draws == c).sum(axis=1) for c in cats], axis=1)  # sample x category
    lo, hi = np.quantile(counts, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    table = pd.DataFrame(
        {
            "category": cats,
            "observed": [(obs == c).sum() for c in cats],
            "predicted_mean": counts.mean(axis=0),
            "lower": lo,
            "upper": hi,
        }
    )
    table["outside"] = (table["observed"] < table["lower"]) | (table["observed"] > table["upper"])
    return table


def loo_pit_check(idata: xr.DataTree, var: str) -> dict:
    """LOO-PIT values and the pot_c uniformity p-value (needs log_likelihood and posterior_predictive).

    For discrete outcomes the PIT is randomised by ArviZ; small p-values flag miscalibration.
    """
    import arviz_stats  # noqa: F401  (registers the .azstats accessor)

    pit = az.loo_pit(idata, var_names=[var], random_state=0)
    da = pit[var] if isinstance(pit, xr.Dataset | xr.DataTree) else pit
    da = da.to_dataarray().squeeze() if isinstance(da, xr.Dataset) else da
    dims = list(da.dims)
    p, _, _ = da.azstats.uniformity_test(dim=dims, method="pot_c")
    return {"pit": da, "p_value": float(p)}


def family_of(idata: xr.DataTree, var: str) -> str:
    """``binary``, ``ordinal`` (few non-negative integer values) or ``continuous``."""
    obs = np.asarray(idata["observed_data"][var].values).reshape(-1)
    values = np.unique(obs)
    if np.all(np.isin(values, [0, 1])):
        return "binary"
    if np.all(np.equal(np.mod(values, 1), 0)) and len(values) <= 10 and values.min() >= 0:
        return "ordinal"
    return "continuous"
