"""Hypothesis table (H1-H6) and tidy coefficient table of a fitted model."""

from __future__ import annotations

import numpy as np
import pandas as pd

from clusterpreneur import tables
from clusterpreneur.models.predict import _stacked
from clusterpreneur.study.predictors import Term, original_scale_factor


def _beta_draws(fit) -> dict[str, np.ndarray]:
    """``{outcome: draws x term}`` of the standardised coefficients."""
    beta = _stacked(fit, "beta", None)
    outs = fit.spec.outcomes
    if beta.ndim == 3:  # draws x outcome x term
        return {y: beta[:, k, :] for k, y in enumerate(outs)}
    return {outs[0]: beta}


def _scale_text(fit, term: Term) -> str:
    lat = fit.spec.latent
    units = []
    for c in term.components:
        if lat is not None and c == lat.replaces:
            units.append(f"SD of latent {lat.name}")
        elif c in fit.prepared.binary:
            units.append(f"{c} (0/1)")
        else:
            units.append(f"unit of {c}")
    link = "log-odds" if fit.spec.family != "ordinal" else "cumulative log-odds"
    return f"{link} per " + " x ".join(units)


def hypothesis_table(fit, prob: float = 0.95) -> pd.DataFrame:
    """One row per hypothesised term (and outcome): direction probability and effect size.

    ``prob_direction`` is the posterior probability that the effect has the hypothesised
    sign. ``median_std``, ``ci_lower_std``, ``ci_upper_std``: posterior median and ``prob``
    equal-tailed interval of the coefficient on the standardised scale (log-odds per standard
    deviation of each component; 0/1 components unscaled). ``median``, ``ci_lower``,
    ``ci_upper``: the same on the ORIGINAL scale of the predictors (the standardised
    coefficient divided by the product of the component scales saved with the fit), in the
    unit named by ``scale``.
    """
    rows = []
    std = fit.standardizer
    terms = list(fit.spec.term_objects)
    qs = [(1 - prob) / 2, 0.5, (1 + prob) / 2]
    for y, b in _beta_draws(fit).items():
        for j, t in enumerate(terms):
            if t.hypothesis is None:
                continue
            z = b[:, j]
            d = z / original_scale_factor(t, std)
            q, qz = np.quantile(d, qs), np.quantile(z, qs)
            rows.append(
                {
                    "hypothesis": t.hypothesis,
                    "term": t.name,
                    "expected_sign": "+" if t.sign > 0 else "-",
                    "prob_direction": float(np.mean(np.sign(t.sign) * d > 0)),
                    "median_std": qz[1],
                    "ci_lower_std": qz[0],
                    "ci_upper_std": qz[2],
                    "median": q[1],
                    "ci_lower": q[0],
                    "ci_upper": q[2],
                    "scale": _scale_text(fit, t),
                    "outcome": y,
                    "model": fit.spec.name,
                    "description": t.description,
                }
            )
    out = pd.DataFrame(rows)
    if not out.empty:
        out = out.sort_values(["outcome", "hypothesis"], kind="stable").reset_index(drop=True)
    return out


def coefficient_table(fit, prob: float = 0.95) -> pd.DataFrame:
    """Tidy table in the baseline format (:func:`clusterpreneur.tables.tidy`): posterior mean,
    sd, ``prob`` (95%) equal-tailed interval on the standardised scale (log-odds per SD; binary 0/1).

    ``p_value`` is NaN (Bayesian), ``converged`` missing until the diagnostics gate fills it.
    Rows: ``intercept`` (if any; ``wave 1``, ``wave 2``, ... for a hazard's baseline per wave,
    as the ``hazard_logit`` baseline names them), each term, and the group-level standard deviations
    (``sigma_country`` ...).
    """
    spec = fit.spec
    n = len(fit.data)
    rows = []

    def add(outcome, term, d, scale):
        lo, hi = np.quantile(d, [(1 - prob) / 2, (1 + prob) / 2])
        rows.append(
            {
                "outcome": outcome, "model": f"bayes_{spec.name}", "term": term,
                "estimate": float(np.mean(d)), "std_error": float(np.std(d, ddof=1)),
                "ci_lower": float(lo), "ci_upper": float(hi), "p_value": np.nan, "n": n,
                "converged": np.nan, "warnings": "", "scale": scale,
            }
        )  # fmt: skip

    post = fit.idata["posterior"]
    for y, b in _beta_draws(fit).items():
        if "intercept" in post and "wave" in post["intercept"].dims:  # a hazard's baseline per wave
            a = _stacked(fit, "intercept", None)
            for k, w in enumerate(post["intercept"]["wave"].values):
                add(y, f"wave {w}", a[:, k], "standardised")
        elif "intercept" in post:
            add(y, "intercept", _stacked(fit, "intercept", None), "standardised")
        for j, t in enumerate(spec.terms):
            add(y, t, b[:, j], "standardised")
        names = [f"sigma_{g.name}" for g in spec.groups] + [f"sigma_{s.param}" for s in spec.slopes]
        for name in names:
            add(y, name, _stacked(fit, name, None), "standardised")
    return tables.tidy(pd.DataFrame(rows, columns=list(tables.COLUMNS)))
