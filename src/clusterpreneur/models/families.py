"""Likelihood families: one object per family, the single statement of everything that differs by family.

Each family (:data:`REGISTRY`, names :data:`FAMILIES`) gives

- the outcome check (:meth:`Family.check_outcome`, a :class:`~clusterpreneur.errors.SpecError`
  naming what is wrong);
- its parameters beyond the linear predictor (:attr:`Family.parameters`, also the prior keys)
  and their default priors, the data-scaled defaults (:meth:`Family.default_priors`);
- the PyMC likelihood from the linear predictor ``eta`` (:meth:`Family.likelihood`, which
  :func:`clusterpreneur.models.build.build_model` calls), with optional likelihood weights;
  PyMC's ``compute_log_likelihood`` then gives the pointwise log-likelihood for LOO;
- the link and inverse link, the mean of the outcome and draws of the outcome in NumPy
  (:meth:`Family.mean`, :meth:`Family.draw`), which :mod:`clusterpreneur.models.predict` uses
  for new rows and unseen groups;
- the Fisher information of ``eta`` carried by one observation at a point
  (:func:`information`): ``p (1 - p)`` (bernoulli), ``n p (1 - p)`` (binomial), ``1 / sigma^2``
  (gaussian), ``mu`` (poisson), ``mu alpha / (alpha + mu)`` (negative binomial),
  ``sum_k (f(c_k - eta) - f(c_{k-1} - eta))^2 / pi_k`` (cumulative logit, ``f`` the logistic
  density). It says how strongly the data pin down an effect (e.g. whether a group effect is
  best sampled centred or non-centred);
- the statsmodels baseline where statsmodels has one (:meth:`Family.baseline`).

Default priors (on standardised predictors; keys of ``ModelSpec(priors=...)``):

- ``sigma_residual`` (gaussian residual SD): ``HalfNormal(1)``;
- ``alpha`` (negative-binomial dispersion, variance ``mu + mu^2 / alpha``): ``Exponential(0.1)``
  (mean 10, 90% of its mass between 0.5 and 30: from strong overdispersion to nearly Poisson);
- gaussian: the defaults of ``intercept``, ``beta``, ``sigma`` (group SDs) and ``sigma_residual``
  are stated for an outcome of unit scale and are rescaled to the outcome: every ``sigma`` of
  these priors is multiplied by the outcome's SD and the intercept's mean moved to the
  outcome's mean (as rstanarm's autoscaling); a prior set in the spec is used as given;
- poisson / negative binomial: the intercept's default mean is ``log`` of the outcome's mean
  (its SD stays 1.5), so the default does not pull a large count towards 1.

A new family is a subclass of :class:`Family` registered in :data:`REGISTRY`: the spec, the
graph, prediction, LOO and the baselines take it from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from scipy.special import expit, logit

from clusterpreneur.errors import SpecError

FAMILY_PRIORS: dict[str, dict[str, Any]] = {
    "sigma_residual": {"dist": "HalfNormal", "sigma": 1.0},
    "alpha": {"dist": "Exponential", "lam": 0.1},
}
"""Default priors of the families' own parameters (merged into ``spec.DEFAULT_PRIORS``)."""


@dataclass(frozen=True)
class Family:
    """A likelihood family. Subclasses set the class attributes and the methods that differ."""

    name: ClassVar[str]
    link: ClassVar[str]
    """Name of the link function (``logit``, ``identity``, ``log``, ``cumulative logit``)."""
    scale: ClassVar[str]
    """What a coefficient is measured in (``log-odds``, ``outcome units``, ``log mean``...)."""
    parameters: ClassVar[tuple[str, ...]] = ()
    """Parameters beyond the linear predictor (graph variable names and prior keys)."""
    labels: ClassVar[dict[str, str]] = {}
    """A reader's name of each parameter."""
    integer: ClassVar[bool] = True
    has_intercept: ClassVar[bool] = True
    needs_trials: ClassVar[bool] = False
    baseline_note: ClassVar[str] = ""

    # ----------------------------------------------------------------- link and mean
    def inverse_link(self, eta: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def link_fn(self, mu: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def mean(self, eta: np.ndarray, params: dict[str, np.ndarray] | None = None, trials=None) -> np.ndarray:
        """Mean of the outcome (per trial for binomial: the probability)."""
        return self.inverse_link(eta)

    # ----------------------------------------------------------------- checks
    def check_outcome(self, y: pd.Series, trials: pd.Series | None = None) -> None:
        """Raise SpecError when the observed values ``y`` (no NaN) cannot come from this family."""
        if y.empty:
            raise SpecError(f"outcome {y.name!r} has no observed values")
        if not np.isfinite(y).all():
            raise SpecError(f"outcome {y.name!r} has infinite values")
        if self.integer and (y != np.round(y)).any():
            raise SpecError(
                f"outcome {y.name!r} is not integer-valued: family {self.name!r} does not fit "
                "(use 'gaussian' for a continuous outcome)"
            )

    # ----------------------------------------------------------------- priors
    def default_priors(self, y: np.ndarray, defaults: dict[str, dict]) -> dict[str, dict]:
        """Default priors of this family on outcome values ``y`` (from ``defaults``, unscaled)."""
        return {}

    # ----------------------------------------------------------------- graph
    def graph_parameters(self, prior) -> dict[str, Any]:
        """The family's parameters as PyMC variables (inside a model); ``prior(key)`` gives settings."""
        return {p: prior_from_settings(p, prior(p)) for p in self.parameters}

    def distribution(self, name: str, eta, params: dict, trials, observed, dims):
        raise NotImplementedError

    def likelihood(self, name: str, eta, observed, *, params=None, trials=None, dims=None, weights=None):
        """The observed variable ``name`` given the linear predictor ``eta`` (inside a model).

        ``weights`` (one per observation, non-negative) multiply each observation's
        log-likelihood: the model's density gets ``sum_i (w_i - 1) log p(y_i)`` as a potential
        ``{name}_weights`` on top of the observed variable, so the posterior is that of the
        weighted likelihood, while the observed variable, its posterior predictive draws and
        the ``log_likelihood`` group (hence LOO) stay the unweighted pointwise ones.
        """
        rv = self.distribution(name, eta, params or {}, trials, observed, dims)
        if weights is not None:
            w = np.asarray(weights, dtype="float64")
            if not np.allclose(w, 1.0):
                value = pm.modelcontext(None).rvs_to_values[rv]  # the observed data as the graph holds it
                pm.Potential(f"{name}_weights", pt.sum((w - 1.0) * pm.logp(rv, value)))
        return rv

    # ----------------------------------------------------------------- NumPy side
    def draw(self, rng: np.random.Generator, eta: np.ndarray, params: dict | None = None, trials=None):
        """Draws of the outcome (same shape as ``eta``; params broadcast against it)."""
        raise NotImplementedError

    def information(self, eta: np.ndarray, params: dict | None = None, trials=None) -> np.ndarray:
        """Fisher information of ``eta`` per observation (see the module docstring)."""
        raise NotImplementedError

    # ----------------------------------------------------------------- baseline
    def baseline(self, y, X, *, trials=None, groups=None):
        """The statsmodels fit of this family on design ``X`` (an intercept is added); see
        ``baseline_note``. Raises SpecError when statsmodels has none."""
        raise SpecError(f"family {self.name!r}: no statsmodels baseline ({self.baseline_note})")

    def _glm(self, family, y, X, trials=None):
        import statsmodels.api as sm

        Xc = sm.add_constant(np.asarray(X, dtype=float), has_constant="add")
        if trials is not None:
            n = np.asarray(trials, dtype=float)
            endog = np.column_stack([y, n - np.asarray(y, dtype=float)])
            return sm.GLM(endog, Xc, family=family).fit()
        return sm.GLM(np.asarray(y, dtype=float), Xc, family=family).fit()


def prior_from_settings(name: str, settings: dict, **kwargs):
    """A prior from a settings dict ``{"dist": "Normal", "mu": 0, "sigma": 1}`` (the graph's one helper)."""
    s = dict(settings)
    return getattr(pm, s.pop("dist"))(name, **s, **kwargs)


def _get(params: dict | None, key: str, family: str):
    if not params or key not in params:
        raise SpecError(f"family {family!r} needs the parameter {key!r}")
    return np.asarray(params[key], dtype="float64")


def _col(a: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A per-draw parameter (draws,) broadcast against (draws, rows)."""
    a = np.asarray(a, dtype="float64")
    return a.reshape(a.shape + (1,) * (np.ndim(like) - a.ndim)) if a.ndim and a.ndim < np.ndim(like) else a


class _Logit(Family):
    link = "logit"
    scale = "log-odds"

    def inverse_link(self, eta):
        return expit(eta)

    def link_fn(self, mu):
        return logit(mu)


class Bernoulli(_Logit):
    name = "bernoulli"
    baseline_note = "pooled logit GLM; statsmodels has no maximum-likelihood logit with group effects"

    def check_outcome(self, y, trials=None):
        super().check_outcome(y)
        bad = sorted(set(y.unique()) - {0.0, 1.0})
        if bad:
            raise SpecError(
                f"family 'bernoulli' needs a 0/1 outcome, but {y.name!r} has values {bad[:6]}: use "
                "family 'ordinal' for ratings or 'binomial' with trials for counts"
            )

    def distribution(self, name, eta, params, trials, observed, dims):
        return pm.Bernoulli(name, logit_p=eta, observed=np.asarray(observed).astype("int64"), dims=dims)

    def draw(self, rng, eta, params=None, trials=None):
        return (rng.uniform(size=np.shape(eta)) < expit(eta)).astype("int64")

    def information(self, eta, params=None, trials=None):
        p = expit(eta)
        return p * (1.0 - p)

    def baseline(self, y, X, *, trials=None, groups=None):
        import statsmodels.api as sm

        return self._glm(sm.families.Binomial(), y, X)


class Binomial(_Logit):
    name = "binomial"
    needs_trials = True
    baseline_note = "pooled binomial GLM (logit link) on (successes, failures); no group effects"

    def check_outcome(self, y, trials=None):
        super().check_outcome(y)
        if trials is None:
            raise SpecError("family 'binomial' needs `trials` (a column of counts)")
        n = trials.reindex(y.index)
        if n.isna().any() or (n != np.round(n)).any() or (n < 1).any():
            raise SpecError(
                f"trials column {trials.name!r} must hold positive integers where {y.name!r} is seen"
            )
        if (y < 0).any() or (y > n).any():
            raise SpecError(f"binomial outcome {y.name!r} must lie between 0 and {trials.name!r}")

    def distribution(self, name, eta, params, trials, observed, dims):
        n = np.asarray(trials).astype("int64")
        return pm.Binomial(name, n=n, logit_p=eta, observed=np.asarray(observed).astype("int64"), dims=dims)

    def draw(self, rng, eta, params=None, trials=None):
        n = np.broadcast_to(np.asarray(trials, dtype="int64"), np.shape(eta))
        return rng.binomial(n, expit(eta)).astype("int64")

    def information(self, eta, params=None, trials=None):
        p = expit(eta)
        return np.asarray(trials, dtype="float64") * p * (1.0 - p)

    def baseline(self, y, X, *, trials=None, groups=None):
        import statsmodels.api as sm

        return self._glm(sm.families.Binomial(), y, X, trials=trials)


class Gaussian(Family):
    name = "gaussian"
    link = "identity"
    scale = "outcome units"
    parameters = ("sigma_residual",)
    labels: ClassVar[dict[str, str]] = {"sigma_residual": "residual SD"}
    integer = False
    baseline_note = "MixedLM (REML, random intercepts of the first group level) with groups; OLS GLM without"

    def inverse_link(self, eta):
        return np.asarray(eta, dtype="float64")

    def link_fn(self, mu):
        return np.asarray(mu, dtype="float64")

    def default_priors(self, y, defaults):
        y = np.asarray(y, dtype="float64")
        y = y[np.isfinite(y)]
        sd = float(np.std(y, ddof=1)) if y.size > 1 else 1.0
        sd = sd if sd > 0 else 1.0
        out = {}
        for key in ("intercept", "beta", "sigma", "sigma_residual"):
            s = dict(defaults[key])
            if "sigma" in s:
                s["sigma"] = float(s["sigma"]) * sd
            if key == "intercept" and "mu" in s:
                s["mu"] = float(s["mu"]) + float(np.mean(y))
            out[key] = s
        return out

    def distribution(self, name, eta, params, trials, observed, dims):
        return pm.Normal(name, mu=eta, sigma=params["sigma_residual"], observed=observed, dims=dims)

    def draw(self, rng, eta, params=None, trials=None):
        sigma = _col(_get(params, "sigma_residual", self.name), eta)
        return np.asarray(eta) + sigma * rng.standard_normal(np.shape(eta))

    def information(self, eta, params=None, trials=None):
        sigma = _col(_get(params, "sigma_residual", self.name), eta)
        return np.broadcast_to(1.0 / sigma**2, np.shape(eta)).astype("float64")

    def baseline(self, y, X, *, trials=None, groups=None):
        import statsmodels.api as sm

        if groups is None:
            return self._glm(sm.families.Gaussian(), y, X)
        Xc = sm.add_constant(np.asarray(X, dtype=float), has_constant="add")
        return sm.MixedLM(np.asarray(y, dtype=float), Xc, groups=np.asarray(groups)).fit(reml=True)


class _Log(Family):
    link = "log"
    scale = "log mean"

    def inverse_link(self, eta):
        return np.exp(eta)

    def link_fn(self, mu):
        return np.log(mu)

    def check_outcome(self, y, trials=None):
        super().check_outcome(y)
        if (y < 0).any():
            raise SpecError(f"family {self.name!r} needs counts >= 0, but {y.name!r} has negative values")

    def default_priors(self, y, defaults):
        y = np.asarray(y, dtype="float64")
        s = dict(defaults["intercept"])
        if "mu" in s:
            s["mu"] = float(s["mu"]) + float(np.log(max(np.nanmean(y), 0.1)))
        return {"intercept": s}


class Poisson(_Log):
    name = "poisson"
    baseline_note = "pooled Poisson GLM (log link); no group effects"

    def distribution(self, name, eta, params, trials, observed, dims):
        return pm.Poisson(name, mu=pt.exp(eta), observed=np.asarray(observed).astype("int64"), dims=dims)

    def draw(self, rng, eta, params=None, trials=None):
        return rng.poisson(np.exp(eta)).astype("int64")

    def information(self, eta, params=None, trials=None):
        return np.exp(np.asarray(eta, dtype="float64"))

    def baseline(self, y, X, *, trials=None, groups=None):
        import statsmodels.api as sm

        return self._glm(sm.families.Poisson(), y, X)


class NegativeBinomial(_Log):
    name = "negative_binomial"
    parameters = ("alpha",)
    labels: ClassVar[dict[str, str]] = {"alpha": "dispersion (alpha)"}
    baseline_note = "pooled NB2 count model (statsmodels NegativeBinomial, alpha estimated); no group effects"

    def distribution(self, name, eta, params, trials, observed, dims):
        y = np.asarray(observed).astype("int64")
        return pm.NegativeBinomial(name, mu=pt.exp(eta), alpha=params["alpha"], observed=y, dims=dims)

    def draw(self, rng, eta, params=None, trials=None):
        alpha = _col(_get(params, "alpha", self.name), eta)
        mu = np.exp(eta)
        lam = rng.gamma(np.broadcast_to(alpha, np.shape(eta)), mu / alpha)  # gamma-Poisson mixture
        return rng.poisson(lam).astype("int64")

    def information(self, eta, params=None, trials=None):
        alpha = _col(_get(params, "alpha", self.name), eta)
        mu = np.exp(np.asarray(eta, dtype="float64"))
        return mu * alpha / (alpha + mu)

    def baseline(self, y, X, *, trials=None, groups=None):
        import statsmodels.api as sm

        Xc = sm.add_constant(np.asarray(X, dtype=float), has_constant="add")
        return sm.NegativeBinomial(np.asarray(y, dtype=float), Xc, loglike_method="nb2").fit(disp=0)


class Ordinal(Family):
    """Cumulative logit: ``P(y <= k) = logistic(c_k - eta)``, ordered cutpoints ``c`` (no intercept).

    ``params["cutpoints"]`` holds the cutpoints (draws x K-1); outcome draws are category
    positions 0..K-1 (map them to the categories with ``categories[k]``).
    """

    name = "ordinal"
    link = "cumulative logit"
    scale = "cumulative log-odds"
    has_intercept = False
    baseline_note = "OrderedModel (logit), no group effects"

    def inverse_link(self, eta):
        raise SpecError("family 'ordinal' has no single mean: use category_probabilities")

    link_fn = inverse_link

    def category_probabilities(self, eta, cutpoints) -> np.ndarray:
        """(..., K) category probabilities; ``cutpoints`` broadcast as (..., K-1)."""
        eta = np.asarray(eta, dtype="float64")[..., None]
        c = np.asarray(cutpoints, dtype="float64")
        c = c.reshape(c.shape[:-1] + (1,) * (eta.ndim - c.ndim) + c.shape[-1:])
        cum = expit(c - eta)
        ones = np.ones((*cum.shape[:-1], 1))
        cum = np.concatenate([np.zeros_like(ones), cum, ones], axis=-1)
        return np.clip(np.diff(cum, axis=-1), 0.0, 1.0)

    def mean(self, eta, params=None, trials=None):
        """Expected category position (0..K-1)."""
        p = self.category_probabilities(eta, _get(params, "cutpoints", self.name))
        return (p * np.arange(p.shape[-1])).sum(axis=-1)

    def distribution(self, name, eta, params, trials, observed, dims):
        y = np.asarray(observed).astype("int64")
        return pm.OrderedLogistic(
            name, eta=eta, cutpoints=params["cutpoints"], observed=y, dims=dims, compute_p=False
        )

    def draw(self, rng, eta, params=None, trials=None):
        p = self.category_probabilities(eta, _get(params, "cutpoints", self.name))
        u = rng.uniform(size=(*p.shape[:-1], 1))
        return (p.cumsum(axis=-1) < u).sum(axis=-1).clip(0, p.shape[-1] - 1).astype("int64")

    def information(self, eta, params=None, trials=None):
        c = _get(params, "cutpoints", self.name)
        p = self.category_probabilities(eta, c)
        eta_ = np.asarray(eta, dtype="float64")[..., None]
        c = c.reshape(c.shape[:-1] + (1,) * (eta_.ndim - c.ndim) + c.shape[-1:])
        f = expit(c - eta_) * (1.0 - expit(c - eta_))
        zeros = np.zeros((*f.shape[:-1], 1))
        f = np.concatenate([zeros, f, zeros], axis=-1)
        dp = f[..., 1:] - f[..., :-1]  # -d pi_k / d eta
        return (dp**2 / np.clip(p, 1e-300, None)).sum(axis=-1)

    def baseline(self, y, X, *, trials=None, groups=None):
        from statsmodels.miscmodels.ordinal_model import OrderedModel

        model = OrderedModel(np.asarray(y), np.asarray(X, dtype=float), distr="logit")
        return model.fit(method="bfgs", disp=0)


REGISTRY: dict[str, Family] = {
    f.name: f for f in (Bernoulli(), Binomial(), Ordinal(), Gaussian(), Poisson(), NegativeBinomial())
}
"""Every likelihood family by name."""

FAMILIES: tuple[str, ...] = tuple(REGISTRY)
"""The family names a spec accepts (the one list)."""


def get_family(name: str) -> Family:
    """The family called ``name`` (SpecError listing the known ones otherwise)."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise SpecError(f"unknown family {name!r}; choose one of {FAMILIES}") from None


def parameter_label(name: str) -> str | None:
    """A reader's name of a family parameter (``sigma_residual`` -> ``residual SD``), else None."""
    return next((f.labels[name] for f in REGISTRY.values() if name in f.labels), None)


def information(family: str, eta, *, trials=None, **params) -> np.ndarray:
    """Fisher information of the linear predictor per observation at ``eta`` for ``family``.

    ``params``: the family's parameters at the point (``sigma_residual``, ``alpha``,
    ``cutpoints``); ``trials`` for binomial. E.g. ``information("poisson", eta)`` is ``exp(eta)``.
    """
    return get_family(family).information(np.asarray(eta, dtype="float64"), params, trials)
