"""Hypothesis table (the terms a spec declares) and tidy coefficient table of a fitted model.

One interval convention: posterior medians or means with ``prob`` (95% by default)
equal-tailed intervals, in every table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from clusterpreneur import tables
from clusterpreneur.models.families import get_family
from clusterpreneur.models.predict import posterior_draws
from clusterpreneur.models.spec import Term
from clusterpreneur.standardize import Standardizer


def original_scale_factor(term: Term, standardizer: Standardizer) -> float:
    """Divide a standardised coefficient by this to get the effect per original unit (1 for a
    term of 0/1 columns, dummies and unstandardised components)."""
    return float(np.prod([standardizer.scale.get(c, 1.0) for c in term.components]))


def _beta_draws(fit) -> dict[str, np.ndarray]:
    """``{outcome: draws x term}`` of the standardised coefficients."""
    beta = posterior_draws(fit, "beta", None)
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
    link = get_family(fit.spec.family).scale
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


def _one_scale(fit, term: Term) -> bool:
    """True when the term's design column is on its data's own scale: every component 0/1 (a
    binary column, a dummy) or left unstandardised; then there is no second scale to report."""
    std = fit.standardizer
    lat = fit.spec.latent
    return all(
        c in fit.prepared.binary or (std.keeps_scale(c) and (lat is None or c != lat.replaces))
        for c in term.components
    )


def coefficient_table(fit, prob: float = 0.95) -> pd.DataFrame:
    """Tidy table in the baseline format (:func:`clusterpreneur.tables.tidy`): posterior mean, sd
    and ``prob`` (95%) equal-tailed interval of every parameter, each row labelled with its scale.

    ``scale``: ``"unscaled"`` for a term on its data's own scale (0/1 columns, dummies of a
    categorical, predictors left unstandardised: one row), for the group-level standard deviations
    of varying intercepts and for the intercept of a design with nothing centred;
    ``"standardised"`` for a term with a standardised component (per SD of each such component;
    a latent component is per SD of the latent variable) and for the intercept (the log-odds at
    the centres), the slope SDs likewise; ``"original"`` for the same term per original unit of
    its components (the standardised draws divided by :func:`original_scale_factor`; not for
    latent components). ``p_value`` is NaN (Bayesian), ``converged`` missing until the
    diagnostics gate fills it. Rows: ``intercept`` (if any; ``wave 1``, ``wave 2``, ... for a
    hazard's baseline per wave, as the ``hazard_logit`` baseline names them), each term, and the
    group-level standard deviations (``sigma_country`` ...).
    """
    spec = fit.spec
    n = len(fit.data)
    std = fit.standardizer
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

    lat = spec.latent.replaces if spec.latent is not None else None
    terms = {t.name: t for t in spec.term_objects}
    centred = any(v != 0.0 for v in std.center.values())
    post = fit.idata["posterior"]
    for y, b in _beta_draws(fit).items():
        if "intercept" in post and "wave" in post["intercept"].dims:  # a hazard's baseline per wave
            a = posterior_draws(fit, "intercept", None)
            for k, w in enumerate(post["intercept"]["wave"].values):
                add(y, f"wave {w}", a[:, k], "standardised" if centred else "unscaled")
        elif "intercept" in post:
            add(
                y,
                "intercept",
                posterior_draws(fit, "intercept", None),
                "standardised" if centred else "unscaled",
            )
        for j, t in enumerate(spec.terms):
            term = terms[t]
            if _one_scale(fit, term):
                add(y, t, b[:, j], "unscaled")
                continue
            add(y, t, b[:, j], "standardised")
            if lat not in term.components:
                add(y, t, b[:, j] / original_scale_factor(term, std), "original")
        for g in spec.groups:
            add(y, f"sigma_{g.name}", posterior_draws(fit, f"sigma_{g.name}", None), "unscaled")
        for s in spec.slopes:
            name, term = f"sigma_{s.param}", terms[s.term]
            d = posterior_draws(fit, name, None)
            if _one_scale(fit, term):
                add(y, name, d, "unscaled")
                continue
            add(y, name, d, "standardised")
            if lat not in term.components:
                add(y, name, d / original_scale_factor(term, std), "original")
    return tables.tidy(pd.DataFrame(rows, columns=list(tables.COLUMNS)))
