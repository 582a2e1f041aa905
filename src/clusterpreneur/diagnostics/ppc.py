"""Predictive checks suited to each outcome family, as numbers (their figures are in plots.py).

* binary outcomes (take-off): calibration of the leave-one-out predictive probabilities
  (CORP, Dimitriadis, Gneiting and Jordan 2021): the PAV (isotonic) fit of the outcome on the
  probabilities shows what share of initiatives with a given predicted probability took off;
  consistency bands come from outcomes drawn from the probabilities themselves (what a calibrated
  model would give), and the Brier score splits into miscalibration (MCB), discrimination (DSC)
  and uncertainty (UNC): ``Brier = MCB - DSC + UNC``. LOO-PIT is not used: for a binary outcome
  it must be randomised and says little.
* ordinal outcomes (ratings): observed number of answers per category against the posterior
  predictive count and its interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from scipy.optimize import isotonic_regression


def loo_probability(observed: np.ndarray, elpd_loo: np.ndarray) -> np.ndarray:
    """Leave-one-out predictive probability of a 1 from each observation's pointwise ELPD-LOO
    (``exp(elpd_i)`` is the LOO predictive probability of the observed value)."""
    y = np.asarray(observed, dtype=float)
    p_obs = np.exp(np.asarray(elpd_loo, dtype=float))
    return np.clip(np.where(y == 1, p_obs, 1.0 - p_obs), 0.0, 1.0)


@dataclass
class Calibration:
    """CORP calibration of probabilities ``p`` for binary outcomes ``y``.

    ``table``: one row per observation sorted by ``p``: ``p`` (predicted), ``calibrated`` (PAV),
    ``lower``, ``upper`` (pointwise consistency band). Scores: ``brier``, ``mcb``, ``dsc``,
    ``unc`` and ``mcb_p`` (share of calibrated replicates with a miscalibration at least this
    large: small values flag miscalibration).
    """

    table: pd.DataFrame
    brier: float
    mcb: float
    dsc: float
    unc: float
    mcb_p: float
    prob: float

    def scores(self) -> dict[str, float]:
        return {"brier": self.brier, "mcb": self.mcb, "dsc": self.dsc, "unc": self.unc, "mcb_p": self.mcb_p}


def _pav(y_sorted: np.ndarray) -> np.ndarray:
    return isotonic_regression(y_sorted.astype(float)).x


def calibration(
    y: np.ndarray, p: np.ndarray, *, prob: float = 0.95, n_sim: int = 400, seed: int = 0
) -> Calibration:
    """CORP calibration of ``p`` for ``y`` (see the module docstring); seeded, deterministic."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    order = np.argsort(p, kind="stable")
    ps, ys = p[order], y[order]
    cal = _pav(ys)
    rng = np.random.default_rng(seed)
    sims = (rng.uniform(size=(n_sim, len(ps))) < ps).astype(float)
    sim_cal = np.stack([_pav(s) for s in sims])
    lo, hi = np.quantile(sim_cal, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    brier = float(np.mean((ps - ys) ** 2))
    unc = float(np.mean((ys.mean() - ys) ** 2))
    mcb = brier - float(np.mean((cal - ys) ** 2))
    sim_mcb = np.mean((ps - sims) ** 2, axis=1) - np.mean((sim_cal - sims) ** 2, axis=1)
    table = pd.DataFrame({"p": ps, "calibrated": cal, "lower": lo, "upper": hi})
    return Calibration(
        table=table,
        brier=brier,
        mcb=mcb,
        dsc=unc - float(np.mean((cal - ys) ** 2)),
        unc=unc,
        mcb_p=float(np.mean(sim_mcb >= mcb)),
        prob=prob,
    )


def category_counts(
    observed: np.ndarray,
    replicates: np.ndarray,
    categories: list[int] | None = None,
    prob: float = 0.95,
) -> pd.DataFrame:
    """Observed against posterior predictive number of answers per category.

    ``replicates``: (draws, observations). Columns ``category, observed, predicted, lower,
    upper`` (``prob`` equal-tailed interval of the predicted count) and ``outside``.
    """
    obs = np.asarray(observed).reshape(-1)
    obs = obs[~np.isnan(obs.astype(float))]
    rep = np.asarray(replicates).reshape(np.asarray(replicates).shape[0], -1)
    cats = categories if categories is not None else np.union1d(np.unique(obs), np.unique(rep)).tolist()
    counts = np.stack([(rep == c).sum(axis=1) for c in cats], axis=1)  # draw x category
    lo, hi = np.quantile(counts, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    table = pd.DataFrame(
        {
            "category": [int(c) for c in cats],
            "observed": [int((obs == c).sum()) for c in cats],
            "predicted": counts.mean(axis=0),
            "lower": lo,
            "upper": hi,
        }
    )
    table["outside"] = (table["observed"] < table["lower"]) | (table["observed"] > table["upper"])
    return table


def family_of(idata: xr.DataTree, var: str) -> str:
    """``binary``, ``ordinal`` (few non-negative integer values) or ``continuous``."""
    obs = np.asarray(idata["observed_data"][var].values).reshape(-1)
    values = np.unique(obs[~np.isnan(obs.astype(float))])
    if np.all(np.isin(values, [0, 1])):
        return "binary"
    if np.all(np.equal(np.mod(values, 1), 0)) and len(values) <= 10 and values.min() >= 0:
        return "ordinal"
    return "continuous"
