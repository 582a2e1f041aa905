"""How the sampler moves a model's parameters: one place for every parametrisation.

A parametrisation changes the coordinates NUTS moves in, never the model: the posterior of
``u_{g}``, ``sigma_{g}``, ``intercept`` and ``beta`` is the same under each, so it is kept out
of the spec's hash (:meth:`ModelSpec.sha256`) and recorded per fit in
``idata.attrs["parametrization"]``.

Group effects ``u ~ Normal(0, sigma)`` of a group level or a varying slope (``parametrization``
of :class:`~.spec.GroupLevel` / :class:`~.spec.VaryingSlope`), and the effect each observation
shares over several ordinal outcomes (a group per observation; always ``auto``, keyed by
``spec.obs_dim``, its information summed over the outcomes: :func:`observation_information`):

- ``non-centred``: free ``z_{g} ~ Normal(0, 1)``, ``u = sigma z``;
- ``centred``: free ``u_{g} ~ Normal(0, sigma)``;
- ``laplace``: free ``z_{g} ~ Normal(-m / tau, sigma / tau)``, ``u = m + tau z``, where ``m`` and
  ``tau`` are one Newton step (from ``u = 0``) towards the mode, and the curvature scale, of
  each group's conditional posterior at the *current state*: ``prec = I + 1 / sigma^2``,
  ``m = g / prec``, ``tau = prec^(-1/2)`` with ``g`` and ``I`` the score and Fisher information
  of the group's observations at the linear predictor without this level's effect (intercept,
  ``X beta`` and the levels built before it; :func:`current_information`, in the graph).
  Levels are built in the spec's order, group levels (``spec.groups``) before slopes, so a
  level is centred given the earlier ones only: in the study country first, then the many small
  regions given country and everything else. Given those parameters and ``sigma``, ``m`` and
  ``tau`` are fixed, so ``u = m + tau z`` is ``Normal(0, sigma)`` exactly: an ordinary PyMC
  Normal, no Potential, no Jacobian term, prior and SBC draws unchanged. For weakly informed
  groups ``tau -> sigma`` (non-centred); for well informed ones ``tau -> I^(-1/2)`` and ``z`` is
  the effect centred on its data (centred), whatever ``sigma`` is. Bernoulli and binomial
  (logit, one outcome) only; other families keep a fixed *base point* (every other parameter
  at zero, the outcome's overall rate or mean as the intercept; :func:`information`), where
  ``m`` and ``tau`` depend on data and ``sigma`` only.
- ``auto`` (default): :func:`choose`.

Fixed effects (``ModelSpec.fixed_effects``): ``qr`` samples ``(intercept, beta)`` in
QR-whitened coordinates ``fixed_qr`` (the QR reparametrisation of the Stan User's Guide):
``[1, X] = Q R``, ``(intercept, beta) = T theta`` with ``T = sqrt(N - 1) R^(-1)``; ``theta`` is
a multivariate Normal, the exact image of the independent Normal priors, and ``intercept`` /
``beta`` stay in the posterior as deterministics. ``plain`` samples them directly; ``auto``
takes ``qr`` where it applies (:func:`qr_applies`).

A new parametrisation goes here: a name in :data:`PARAMETRIZATIONS`, its graph in
:func:`group_effect`, and a branch of :func:`choose` if the automatic rule should pick it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from clusterpreneur.errors import SpecError

PARAMETRIZATIONS = ("non-centred", "centred", "laplace")
"""How the effects of a group level or a varying slope are sampled."""
AUTO = "auto"
FIXED_EFFECTS = ("qr", "plain")
"""How ``intercept`` and ``beta`` are sampled."""

CENTRED_MIN = 25.0
""":func:`choose` takes ``centred`` when even the least informed tenth of the groups carries
this much information in units of the prior's precision (``I * s0^2``)."""
NONCENTRED_MAX = 0.02
"""... and ``non-centred`` when the median group carries less than this (no data to centre on)."""
QR_MAX_CONDITION = 1e10
"""Above this condition number of ``[1, X]`` the fixed effects are not whitened."""


@dataclass(frozen=True)
class Information:
    """Score ``g`` and Fisher information ``I`` per group (shape ``(G,)`` or ``(G, outcomes)``)
    of the likelihood at the base point (arrays) or the current state (tensors), and the number
    of observations per group."""

    score: np.ndarray
    info: np.ndarray
    size: np.ndarray


def check_name(name: str, where: str) -> None:
    if name not in (*PARAMETRIZATIONS, AUTO):
        raise SpecError(
            f"{where}: unknown parametrization {name!r}; choose one of {(*PARAMETRIZATIONS, AUTO)}"
        )


def prior_scale(settings: dict) -> float:
    """A typical value of a group standard deviation under its prior (its scale)."""
    dist = settings.get("dist")
    if dist == "Exponential" and "lam" in settings:
        return 1.0 / float(settings["lam"])
    for key in ("sigma", "beta", "scale"):
        if key in settings and np.isscalar(settings[key]):
            return float(settings[key])
    return 1.0


def _row_terms(spec, prep, obs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per row (and outcome): the score and Fisher information of the linear predictor at the
    base point. Bernoulli/binomial: rate ``p0`` = the outcome's overall rate; ordinal: the
    cutpoints at the observed cumulative frequencies and ``eta = 0``; any other family: the
    outcome's mean (and, for its own parameters, the moments of the outcome), through the
    family's Fisher information (:mod:`.families`). Likelihood weights multiply both."""
    s_row, i_row = _unweighted_row_terms(spec, prep, obs)
    if getattr(spec, "weights", None):
        w = prep.data[spec.weights].to_numpy(dtype=float)[:, None]
        s_row, i_row = s_row * w, i_row * w
    return s_row, i_row


def _unweighted_row_terms(spec, prep, obs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    if spec.family in ("bernoulli", "binomial"):
        y = obs[spec.outcomes[0]]
        n = prep.data[spec.trials].to_numpy(dtype=float) if spec.family == "binomial" else np.ones_like(y)
        p0 = float(np.clip(np.nansum(y) / np.sum(n), 1e-3, 1 - 1e-3))
        return (y - n * p0)[:, None], (n * p0 * (1.0 - p0))[:, None]
    if spec.family != "ordinal":
        return _glm_row_terms(spec, obs[spec.outcomes[0]])
    scores, infos = [], []
    for y in spec.outcomes:
        cats = prep.categories[y]
        vals = obs[y]
        seen = ~np.isnan(vals)
        codes = np.searchsorted(cats, vals[seen]).astype(int)
        p = np.clip(np.bincount(codes, minlength=len(cats)) / max(seen.sum(), 1), 1e-6, None)
        p = p / p.sum()
        cum = np.cumsum(p)[:-1]
        f = np.concatenate([[0.0], cum * (1.0 - cum), [0.0]])  # logistic density at each cutpoint
        dp = f[:-1] - f[1:]  # d p_k / d eta
        score, info = np.zeros(len(vals)), np.zeros(len(vals))
        score[seen] = dp[codes] / p[codes]
        info[seen] = float(np.sum(dp**2 / p))
        scores.append(score)
        infos.append(info)
    return np.column_stack(scores), np.column_stack(infos)


def _glm_row_terms(spec, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Score ``(y - mu0) I / (dmu/deta)`` and information ``I`` of a one-parameter-link family
    at ``mu0`` = the outcome's mean (GLM algebra: ``I = (dmu/deta)^2 / Var``)."""
    from clusterpreneur.models.families import get_family

    fam = get_family(spec.family)
    y = np.asarray(y, dtype=float)
    mu0, var = float(np.nanmean(y)), float(np.nanvar(y))
    if fam.link == "log":
        mu0 = max(mu0, 1e-3)
    eta0 = float(fam.link_fn(np.asarray(mu0)))
    params = {
        "sigma_residual": np.asarray(max(np.sqrt(var), 1e-6)),
        "alpha": np.asarray(float(np.clip(mu0**2 / max(var - mu0, 1e-6), 0.1, 1e6))),
    }
    eta = np.full(len(y), eta0)
    info = np.asarray(fam.information(eta, {k: params[k] for k in fam.parameters}), dtype=float)
    h = 1e-5
    dmu = float((fam.inverse_link(np.asarray(eta0 + h)) - fam.inverse_link(np.asarray(eta0 - h))) / (2 * h))
    return ((y - mu0) * info / dmu)[:, None], info[:, None]


def information(spec, prep, group: str, term: str | None, obs: dict[str, np.ndarray]) -> Information:
    """Score and Fisher information per group of level ``group`` (of the slope of ``term``).

    The base point is the "fixed-effect-free" point: other effects and coefficients at 0,
    the overall rate (bernoulli/binomial) or the marginal category frequencies (ordinal).
    A slope's row terms are weighted by its predictor ``x`` (``x`` and ``x^2``); a predictor
    with latent or imputed values counts them at 0 (their mean).
    """
    s_row, i_row = _row_terms(spec, prep, obs)
    if term is not None:
        t = next(t for t in spec.term_objects if t.name == term)
        x = np.prod([np.nan_to_num(prep.z[c].to_numpy(), nan=0.0) for c in t.components], axis=0)
        s_row, i_row = s_row * x[:, None], i_row * (x**2)[:, None]
    idx = prep.group_index[group]
    size = len(prep.coords[group])
    score = np.column_stack([np.bincount(idx, s_row[:, k], size) for k in range(s_row.shape[1])])
    info = np.column_stack([np.bincount(idx, i_row[:, k], size) for k in range(i_row.shape[1])])
    if len(spec.outcomes) == 1:
        score, info = score[:, 0], info[:, 0]
    return Information(score, info, np.bincount(idx, minlength=size))


def observation_information(spec, prep, obs: dict[str, np.ndarray]) -> Information:
    """Score and Fisher information at the base point of the effect each observation shares
    over several ordinal outcomes (one group per row): the sums of its outcomes' row terms."""
    s_row, i_row = _row_terms(spec, prep, obs)
    return Information(s_row.sum(axis=1), i_row.sum(axis=1), (i_row > 0).sum(axis=1))


def current_information(spec, prep, group: str, eta, obs: dict, x=None) -> Information | None:
    """Score and Fisher information per group of level ``group`` at the *current* state: the
    graph's linear predictor ``eta`` without this level's effect (symbolic: intercept, ``X beta``
    and the levels built before it). Bernoulli/binomial (logit, one outcome) only: per row
    ``w (y - n p)`` and ``w n p (1 - p)`` with ``p = logistic(eta)``, times ``x`` and ``x^2`` for a
    slope on ``x``, summed per group in the graph. None for other families (they keep the fixed
    base point of :func:`information`)."""
    if spec.family not in ("bernoulli", "binomial") or len(spec.outcomes) > 1:
        return None
    y = np.asarray(obs[spec.outcomes[0]], dtype=float)
    n = prep.data[spec.trials].to_numpy(dtype=float) if spec.family == "binomial" else np.ones_like(y)
    w = prep.data[spec.weights].to_numpy(dtype=float) if getattr(spec, "weights", None) else np.ones_like(y)
    w = np.where(np.isnan(y), 0.0, w)
    p = pt.sigmoid(eta)
    s_row, i_row = w * (np.nan_to_num(y) - n * p), w * n * p * (1.0 - p)
    if x is not None:
        s_row, i_row = s_row * x, i_row * x**2
    idx = prep.group_index[group]
    size = len(prep.coords[group])
    score = pt.inc_subtensor(pt.zeros(size)[idx], s_row)  # duplicates accumulate: per-group sums
    info = pt.inc_subtensor(pt.zeros(size)[idx], i_row)
    return Information(score, info, np.bincount(idx, minlength=size))


def choose(info: np.ndarray, prior_sd: float) -> str:
    """The automatic parametrisation of one group level or slope.

    ``r = I * s0^2`` per group: the data's information on the group's effect relative to the
    prior's precision at the typical group SD ``s0`` (:func:`prior_scale`). Then

    - ``centred`` if the least informed tenth of the groups has ``r >= CENTRED_MIN`` (25):
      every effect is pinned by its own data, whatever ``sigma`` is;
    - ``non-centred`` if the median group has ``r < NONCENTRED_MAX`` (0.02): next to no data
      per group (e.g. a slope on a predictor that hardly varies), nothing to centre on;
    - ``laplace`` otherwise: groups of mixed or moderate information (the study's regions:
      1 to 61 initiatives, about 2.5 on average), where non-centring leaves a funnel in
      ``sigma`` at large ``sigma`` and centring one at small ``sigma``; the Laplace scale
      ``tau`` moves between the two with ``sigma`` and each group's information.
    """
    r = np.asarray(info, dtype=float).reshape(len(info), -1).mean(axis=1) * prior_sd**2
    if r.size == 0:
        return "non-centred"
    if np.quantile(r, 0.1) >= CENTRED_MIN:
        return "centred"
    if np.median(r) < NONCENTRED_MAX:
        return "non-centred"
    return "laplace"


def plan(spec, prep, obs: dict[str, np.ndarray]) -> dict[str, str]:
    """The parametrisation of every group level (by name) and varying slope (by ``param``),
    with ``auto`` resolved, and of the fixed effects (key ``fixed_effects``)."""
    out: dict[str, str] = {}
    items = [(g.name, g.name, None, g.parametrization) for g in spec.groups]
    items += [(s.param, s.group, s.term, s.parametrization) for s in spec.slopes]
    for name, group, term, chosen in items:
        if chosen == AUTO:
            inf = information(spec, prep, group, term, obs)
            chosen = choose(inf.info, prior_scale(spec.prior(f"sigma_{name}", "sigma")))
        out[name] = chosen
    if len(spec.outcomes) > 1:  # one effect per observation, shared by its outcomes
        inf = observation_information(spec, prep, obs)
        out[spec.obs_dim] = choose(inf.info, prior_scale(spec.prior(f"sigma_{spec.obs_dim}", "sigma")))
    fixed = spec.fixed_effects
    why = qr_applies(spec, prep)
    if fixed == "qr" and why is not None:
        raise SpecError(
            f"spec {spec.name!r}: fixed_effects='qr' does not apply: {why}; use 'auto' or 'plain'"
        )
    out["fixed_effects"] = ("qr" if why is None else "plain") if fixed == AUTO else fixed
    return out


def group_effect(name: str, sigma, how: str, dims, inf: Information | None):
    """The effects ``u_{name}`` of a group level or slope with scale ``sigma``, as ``how`` says."""
    if how == "centred":
        return pm.Normal(f"u_{name}", 0.0, sigma, dims=dims)
    if how == "non-centred":
        z = pm.Normal(f"z_{name}", 0.0, 1.0, dims=dims)
        return pm.Deterministic(f"u_{name}", sigma * z, dims=dims)
    if how == "laplace":
        prec = inf.info + 1.0 / sigma**2
        root = pt.sqrt(prec)
        # m / tau = g / sqrt(prec), sigma / tau = sqrt(1 + sigma^2 I): stable for any sigma
        z = pm.Normal(f"z_{name}", -inf.score / root, pt.sqrt(1.0 + sigma**2 * inf.info), dims=dims)
        return pm.Deterministic(f"u_{name}", (inf.score / root + z) / root, dims=dims)
    raise SpecError(f"unknown parametrization {how!r} of {name!r}; choose one of {PARAMETRIZATIONS}")


def qr_applies(spec, prep) -> str | None:
    """Why the fixed effects cannot be QR-whitened, or None when they can."""
    from clusterpreneur.models.build import design_array, design_in_numpy

    if spec.family not in ("bernoulli", "binomial"):
        return f"family {spec.family!r} (no intercept to whiten with; cutpoints carry it)"
    if spec.baseline is not None:
        return f"one intercept per {spec.baseline!r} (a discrete-time hazard's baseline)"
    if not design_in_numpy(prep):
        return "the design has latent or imputed components (they are parameters)"
    if spec.shrinkage_terms:
        return "shrinkage priors on terms"
    for key in ("intercept", "beta"):
        s = spec.prior(key)
        if s.get("dist") != "Normal" or set(s) - {"dist", "mu", "sigma"}:
            return f"the {key} prior is {s} (whitening needs Normal(mu, sigma))"
    n, p = len(prep.data), len(spec.terms) + 1
    if n <= p:
        return f"{n} rows for {p} coefficients"
    X = design_array(prep)
    if whitening(np.column_stack([np.ones(n), X])) is None:
        return f"the design [1, X] is (nearly) rank-deficient (condition number >= {QR_MAX_CONDITION:g})"
    return None


def whitening(X1: np.ndarray) -> np.ndarray | None:
    """``T`` with ``[1, X] T = Q sqrt(N - 1)`` from a thin QR, or None if ``[1, X]`` is (nearly)
    rank-deficient."""
    n = X1.shape[0]
    _, R = np.linalg.qr(X1)
    if not np.isfinite(np.linalg.cond(R)) or np.linalg.cond(R) >= QR_MAX_CONDITION:
        return None
    return np.linalg.inv(R) * np.sqrt(n - 1.0)


def qr_coefficients(spec, X: np.ndarray):
    """``(intercept, beta)`` as deterministics of QR-whitened free ``fixed_qr`` (exact prior);
    :func:`qr_applies` has checked that ``[1, X]`` can be whitened."""
    X1 = np.column_stack([np.ones(len(X)), X])
    T = whitening(X1)
    p = X1.shape[1]
    i_s, b_s = spec.prior("intercept"), spec.prior("beta")
    mu = np.concatenate([[i_s.get("mu", 0.0)], np.broadcast_to(b_s.get("mu", 0.0), (p - 1,))])
    sd = np.concatenate([[i_s.get("sigma", 1.0)], np.broadcast_to(b_s.get("sigma", 1.0), (p - 1,))])
    Tinv = np.linalg.inv(T)  # theta = T^-1 (intercept, beta)
    chol = np.linalg.cholesky(Tinv @ np.diag(sd**2) @ Tinv.T)
    model = pm.modelcontext(None)
    model.add_coord("qr_coordinate", [f"q{j}" for j in range(p)])
    theta = pm.MvNormal("fixed_qr", mu=Tinv @ mu, chol=chol, dims="qr_coordinate")
    coef = pt.dot(pt.as_tensor_variable(T), theta)
    intercept = pm.Deterministic("intercept", coef[0])
    beta = pm.Deterministic("beta", coef[1:], dims="term")
    return intercept, beta
