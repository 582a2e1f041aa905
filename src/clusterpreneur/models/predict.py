"""Posterior predictions for new rows (take-off probabilities in the study), and what-if scenarios.

Computed in NumPy from the posterior draws (no recompiling): for each draw, the linear
predictor of the new rows on the fit's standardised scale, turned into the mean of the
outcome by the family's inverse link, or into draws of the outcome (:mod:`.families`). A
country or region that is not in the fitted data gets a new effect drawn from the population distribution
``N(0, sigma_g)`` of that draw (stated per row in ``group_status``), so its predictive
interval carries the between-group uncertainty. Missing predictor components are drawn
from the same imputation distribution the model uses; under M3 the latent social capital
of a new initiative is drawn from its posterior given its items (grid quadrature per draw).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
from scipy.special import expit

from clusterpreneur.errors import SpecError
from clusterpreneur.models.build import binary_beta_prior
from clusterpreneur.models.families import get_family
from clusterpreneur.models.spec import as_numeric, component_frame, derived_columns

NEW_GROUP_NOTE = (
    "effects of countries/regions not in the fitted data are drawn from the population "
    "distribution N(0, sigma) per posterior draw"
)


def posterior_draws(fit, name: str, draws: int | None) -> np.ndarray:
    """Posterior draws of ``name`` as an array with the sample first (chain x draw flattened)."""
    da = fit.idata["posterior"][name]
    arr = np.asarray(da.values)
    arr = arr.reshape(-1, *arr.shape[2:])
    if draws is not None and draws < arr.shape[0]:
        idx = np.linspace(0, arr.shape[0] - 1, draws).round().astype(int)
        arr = arr[idx]
    return arr


def _baseline(fit, frame: pd.DataFrame, draws: int | None) -> np.ndarray:
    """The intercept of every row (draws x rows or draws x 1): for a hazard with a baseline per
    wave, the baseline of each row's wave (the probability of take-off in the interval ending
    at that wave)."""
    spec = fit.spec
    if not get_family(spec.family).has_intercept:  # ordinal: the cutpoints carry the location
        return np.zeros((1, 1))
    alpha = posterior_draws(fit, "intercept", draws)
    if spec.baseline is None:
        return alpha[:, None]
    waves = fit.prepared.coords["wave"]
    t = pd.to_numeric(frame[spec.baseline], errors="coerce")
    labels = [str(int(v)) if pd.notna(v) else "missing" for v in t]
    unknown = sorted({lab for lab in labels if lab not in waves})
    if unknown:
        raise SpecError(
            f"prediction frame: {spec.baseline} {unknown} not among the waves model {spec.name!r} was "
            f"fitted on ({waves}); its baseline hazard there is unknown"
        )
    return alpha[:, [waves.index(lab) for lab in labels]]


def _label_rng(seed: int, *parts: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), *(zlib.crc32(p.encode()) for p in parts)])


def _latent_draws(fit, frame: pd.DataFrame, draws: int | None, seed: int) -> np.ndarray:
    """Draws (S x n) of the latent variable of new rows given their items, per posterior draw."""
    lat = fit.spec.latent
    grid = np.linspace(-5.0, 5.0, 101)
    a = posterior_draws(fit, "discrimination", draws)  # S x items
    s_n = a.shape[0]
    logw = np.broadcast_to(-0.5 * grid**2, (s_n, len(frame), grid.size)).copy()
    for k, item in enumerate(lat.items):
        cats = fit.prepared.categories[item]
        cuts = posterior_draws(fit, f"cutpoints_{item}", draws)  # S x (K-1)
        x = as_numeric(frame[item]).to_numpy()
        for i in np.flatnonzero(~np.isnan(x)):
            c = int(np.clip(np.searchsorted(cats, x[i]), 0, len(cats) - 1))
            eta = a[:, k, None] * grid[None, :]  # S x G
            upper = expit(cuts[:, c, None] - eta) if c < len(cats) - 1 else 1.0
            lower = expit(cuts[:, c - 1, None] - eta) if c > 0 else 0.0
            logw[:, i, :] += np.log(np.clip(upper - lower, 1e-300, None))
    w = np.exp(logw - logw.max(axis=2, keepdims=True))
    w /= w.sum(axis=2, keepdims=True)
    rng = _label_rng(seed, "latent")
    u = rng.uniform(size=(s_n, len(frame), 1))
    idx = (w.cumsum(axis=2) < u).sum(axis=2).clip(0, grid.size - 1)
    step = grid[1] - grid[0]
    return grid[idx] + rng.uniform(-step / 2, step / 2, size=idx.shape)


def predict(
    fit,
    new_df: pd.DataFrame,
    draws: int | None = None,
    *,
    seed: int = 0,
    prob: float = 0.95,
    return_draws: bool = False,
    kind: str = "mean",
):
    """Posterior mean of the outcome of each row of ``new_df`` (``kind="mean"``: the
    probability for bernoulli and binomial, per trial; the expected value for gaussian,
    poisson and negative binomial), or draws of the outcome itself (``kind="outcome"``: one
    per posterior draw from the family, with its parameters of that draw; a binomial needs the
    trials column in ``new_df``). An ordinal model with one outcome gives the expected category
    value (``kind="mean"``, e.g. the expected rating) or a category (``kind="outcome"``); several
    ordinal outcomes (sharing one effect per observation) are not predicted here.

    Returns a frame with the id column, ``group_status`` ("seen", "new country",
    "new region"), ``mean``, ``sd``, ``ci_lower``, ``median``, ``ci_upper`` (the ``prob``
    equal-tailed interval, 95% by default: the package's one interval convention),
    ``imputed`` (components drawn because missing) and ``n_draws``; with
    ``return_draws=True`` also the (draws x rows) array of means (or outcome draws). ``draws`` thins the
    posterior evenly; ``seed`` fixes new-group and imputation draws (same seed, same output).
    """
    spec = fit.spec
    family = get_family(spec.family)
    if spec.family == "ordinal" and len(spec.outcomes) > 1:
        raise SpecError(
            f"model {spec.name!r} has several ordinal outcomes (sharing an effect per observation): "
            "prediction covers one outcome; fit the outcome you want to predict alone"
        )
    if kind not in ("mean", "outcome"):
        raise SpecError(f"prediction kind must be 'mean' or 'outcome', not {kind!r}")
    trials = None
    if kind == "outcome" and family.needs_trials:
        if spec.trials not in new_df:
            raise SpecError(f"outcome draws of a binomial model need the trials column {spec.trials!r}")
        trials = as_numeric(new_df[spec.trials]).to_numpy()
        if np.isnan(trials).any() or (trials < 0).any() or (trials != np.round(trials)).any():
            raise SpecError(f"trials column {spec.trials!r} must hold whole numbers >= 0 in every row")
    missing = spec.missing_columns(new_df, with_outcome=False)
    if missing:
        raise SpecError(
            f"prediction frame lacks column(s) {missing} that model {spec.name!r} needs; "
            "add them (derived measures can be given directly or through their survey inputs)"
        )
    for g in spec.groups:
        if new_df[list(g.columns)].isna().any(axis=None):
            raise SpecError(f"prediction frame: group column {g.column!r} has missing ids")
    ids = (new_df[spec.id_column] if spec.id_column else new_df.index.to_series()).astype(str).to_numpy()
    frame = new_df.reset_index(drop=True)
    comp = component_frame(spec, frame)
    std = fit.standardizer
    latent = spec.latent.replaces if spec.latent is not None else None
    if latent is not None:
        comp[latent] = 0.0
    z = std.transform(comp)[fit.prepared.coords["component"]]
    beta = posterior_draws(fit, "beta", draws)  # S x T
    s_n, n = beta.shape[0], len(frame)
    zc = {c: np.broadcast_to(z[c].to_numpy(), (s_n, n)).copy() for c in z.columns}
    imputed_cols: list[list[str]] = [[] for _ in range(n)]
    for c in z.columns:
        miss = np.flatnonzero(np.isnan(z[c].to_numpy()))
        if miss.size and spec.impute != "auto" and c not in spec.impute:
            raise SpecError(
                f"prediction frame: {c!r} is missing in row(s) {[ids[i] for i in miss[:5]]}; model "
                f"{spec.name!r} imputes only {list(spec.impute)}: give the value"
            )
        for i in miss:
            rng = _label_rng(seed, "impute", c, ids[i])
            if c in fit.prepared.binary:
                a, b = binary_beta_prior(float(fit.prepared.z[c].mean()))
                zc[c][:, i] = rng.beta(a, b, size=s_n)
            else:
                zc[c][:, i] = rng.normal(0.0, 1.0, size=s_n)
            imputed_cols[i].append(c)
    if latent is not None:
        zc[latent] = _latent_draws(fit, frame, draws, seed)
    terms = spec.term_objects
    X = np.stack([np.prod([zc[c] for c in t.components], axis=0) for t in terms], axis=2)  # S x n x T
    eta = np.einsum("snt,st->sn", X, beta) + _baseline(fit, frame, draws)
    status = np.full(n, "seen", dtype=object)
    new_level: list[str | None] = [None] * n
    for g in spec.groups:
        labels = g.labels(frame).to_numpy()
        known = {lab: j for j, lab in enumerate(fit.prepared.coords[g.name])}
        effects = [(f"u_{g.name}", f"sigma_{g.name}", None)]
        effects += [(f"u_{s.param}", f"sigma_{s.param}", s.term) for s in spec.slopes if s.group == g.name]
        for u_name, sigma_name, term in effects:
            u = posterior_draws(fit, u_name, draws)
            sigma = posterior_draws(fit, sigma_name, draws)
            x = 1.0 if term is None else X[:, :, list(spec.terms).index(term)]
            contrib = np.empty((s_n, n))
            for i, lab in enumerate(labels):
                if lab in known:
                    contrib[:, i] = u[:, known[lab]]
                else:
                    rng = _label_rng(seed, u_name, lab)
                    contrib[:, i] = sigma * rng.standard_normal(s_n)
            eta += contrib * x
        for i, lab in enumerate(labels):
            if lab not in known and new_level[i] is None:
                new_level[i] = g.name
                status[i] = f"new {g.name}"
    if spec.family == "ordinal":
        y = spec.outcomes[0]
        cats = np.asarray(fit.prepared.categories[y])
        params = {"cutpoints": posterior_draws(fit, f"cutpoints_{y}", draws)[:, None, :]}  # S x 1 x (K-1)
        if kind == "mean":
            probs = family.category_probabilities(eta, params["cutpoints"])
            p = probs @ cats.astype("float64")  # the expected category value
        else:
            p = cats[family.draw(_label_rng(seed, "outcome"), eta, params)]
    elif kind == "mean":
        p = family.mean(eta)
    else:
        params = {k: posterior_draws(fit, k, draws) for k in family.parameters}
        p = family.draw(_label_rng(seed, "outcome"), eta, params, trials)
    lo, hi = (1 - prob) / 2, (1 + prob) / 2
    out = pd.DataFrame(
        {
            spec.id_column or "row": ids,
            "group_status": status,
            "mean": p.mean(axis=0),
            "sd": p.std(axis=0, ddof=1),
            "ci_lower": np.quantile(p, lo, axis=0),
            "median": np.median(p, axis=0),
            "ci_upper": np.quantile(p, hi, axis=0),
            "imputed": [", ".join(c) for c in imputed_cols],
            "n_draws": s_n,
        }
    )
    out.attrs["note"] = NEW_GROUP_NOTE
    out.attrs["model"] = spec.name
    out.attrs["interval"] = prob
    out.attrs["kind"] = kind
    return (out, p) if return_draws else out


Change = Mapping[str, object | Callable[[pd.DataFrame], object]] | Callable[[pd.DataFrame], pd.DataFrame]
"""A scenario: ``{column: value or function of the frame}``, or a function from the frame to the
changed frame (for changes that move several columns together)."""


def apply_changes(cases: pd.DataFrame, change: Change, spec=None) -> pd.DataFrame:
    """Copy of ``cases`` with columns set to values (or the result of callables on the frame), or
    ``change(cases)`` when the change is itself a function of the frame.

    Derived predictors of ``spec`` (``derived_from``) present as columns are dropped (and so
    recomputed from their inputs) when an input they depend on changed and they were not set
    themselves.
    """
    if callable(change):
        out = change(cases.copy())
        changed = {c for c in out.columns if c not in cases or not out[c].equals(cases[c])}
        set_directly: set[str] = set()
    else:
        out = cases.copy()
        for col, value in change.items():
            out[col] = value(out) if callable(value) else value
        changed = set_directly = set(change)
    for measure, derived in (derived_columns(spec) if spec is not None else {}).items():
        inputs = derived.inputs
        stale = measure in out and measure not in set_directly and set(inputs) & changed
        if stale and all(c in out for c in inputs):
            out = out.drop(columns=measure)
    return out


def what_if(
    fit,
    cases: pd.DataFrame,
    changes: Mapping[str, Change],
    *,
    draws: int | None = None,
    seed: int = 0,
    prob: float = 0.95,
    baseline: str = "baseline",
) -> pd.DataFrame:
    """Predictions for ``cases`` under a baseline and each named scenario of ``changes``.

    Scenarios share the posterior draws and the new-group draws of the baseline (same seed),
    so the ``diff_mean``, ``diff_lower``, ``diff_upper`` columns (scenario minus baseline
    probability, ``prob`` equal-tailed interval) and ``p_increase`` are paired per draw.
    """
    lo, hi = (1 - prob) / 2, (1 + prob) / 2
    base, p0 = predict(fit, cases, draws, seed=seed, prob=prob, return_draws=True)
    rows = [base.assign(scenario=baseline, diff_mean=0.0, diff_lower=0.0, diff_upper=0.0, p_increase=np.nan)]
    for name, change in changes.items():
        pred, p1 = predict(
            fit, apply_changes(cases, change, fit.spec), draws, seed=seed, prob=prob, return_draws=True
        )
        d = p1 - p0
        rows.append(
            pred.assign(
                scenario=name,
                diff_mean=d.mean(axis=0),
                diff_lower=np.quantile(d, lo, axis=0),
                diff_upper=np.quantile(d, hi, axis=0),
                p_increase=(d > 0).mean(axis=0),
            )
        )
    out = pd.concat(rows, ignore_index=True)
    cols = ["scenario", *[c for c in out.columns if c != "scenario"]]
    out = out[cols]
    out.attrs["note"] = NEW_GROUP_NOTE
    out.attrs["interval"] = prob
    return out
