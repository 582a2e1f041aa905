"""K-fold cross-validation by country: predictive accuracy where PSIS-LOO is unreliable.

PSIS-LOO leaves out one initiative and needs importance weights, whose tails are heavy (Pareto k
high) where an initiative's own effect is fitted to its own answers. Leaving out whole countries
asks the question the study cares about (how well does the model predict initiatives of a country it
has not seen?) and needs no importance sampling: each fold is refitted with
:func:`clusterpreneur.models.fit_model` without its countries.

The held-out density of a country integrates over what is new to the model: for every posterior
draw ``s``, ``inner`` draws of the new country's effect, its regions' effects (one per outcome
for several ordinal outcomes, as the model has them) and (M4) each initiative's one effect,
shared by its outcomes, from their fitted population, so

``log p(y_country | rest) = log mean_s mean_m prod_{rows, outcomes} p(y | theta_s, effects_sm)``.

The sum over countries is ``elpd_kfold``; its standard error is ``sqrt(C) * sd`` over the C
countries. Supports bernoulli and ordinal specs with varying intercepts (no varying slopes, latent
variables or imputed predictors: a held-out row with a missing predictor is left out and counted).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit, log_expit, logsumexp

from clusterpreneur.errors import SpecError
from clusterpreneur.models.spec import ModelSpec, as_numeric, component_frame

HELDOUT_DRAWS = 400
"""Posterior draws (evenly spaced over all chains) a held-out country's log density averages over."""


@dataclass
class KFoldResult:
    """``table``: one row per held-out country (``country, fold, n, elpd``); ``dropped``: held-out
    rows left out (missing predictor)."""

    model: str
    table: pd.DataFrame
    k: int
    dropped: int

    @property
    def elpd(self) -> float:
        return float(self.table["elpd"].sum())

    @property
    def se(self) -> float:
        v = self.table["elpd"].to_numpy()
        return float(np.sqrt(v.size) * v.std(ddof=1)) if v.size > 1 else float("nan")

    def summary(self) -> dict:
        return {
            "model": self.model,
            "method": f"{self.k}-fold by country",
            "elpd_kfold": self.elpd,
            "se": self.se,
            "countries": len(self.table),
            "initiatives": int(self.table["n"].sum()),
            "dropped": self.dropped,
        }


def check_kfold_supported(spec: ModelSpec) -> None:
    if spec.slopes or spec.latent is not None or spec.shrinkage_terms or spec.baseline is not None:
        raise SpecError(
            f"K-fold by country supports varying intercepts only; spec {spec.name!r} has varying slopes, "
            "a latent variable, shrinkage terms or a baseline per wave"
        )
    if spec.family not in ("bernoulli", "ordinal"):
        raise SpecError(f"K-fold by country supports bernoulli and ordinal specs, not {spec.family!r}")


def _draws(fit, name: str, idx: np.ndarray) -> np.ndarray:
    arr = np.asarray(fit.idata["posterior"][name].values)
    return arr.reshape(-1, *arr.shape[2:])[idx]


def heldout_log_density(
    fit,
    test: pd.DataFrame,
    *,
    country: str = "country",
    draws: int = HELDOUT_DRAWS,
    inner: int = 100,
    seed: int = 0,
) -> tuple[pd.Series, int]:
    """Log predictive density of each country of ``test`` (countries the fit has not seen), and
    the number of rows left out for a missing predictor."""
    spec = fit.spec
    check_kfold_supported(spec)
    if "chol_outcome" in fit.idata["posterior"]:
        raise SpecError(
            f"the fit of {spec.name!r} has correlated effects per outcome (chol_outcome), the structure of "
            "earlier versions; refit it: several ordinal outcomes now share one effect per observation"
        )
    rng = np.random.default_rng(seed)
    cols = fit.prepared.coords["component"]
    z = fit.standardizer.transform(component_frame(spec, test))[cols]
    ys = pd.DataFrame({y: as_numeric(test[y]) for y in spec.outcomes}, index=test.index)
    keep = z.notna().all(axis=1) & ys.notna().any(axis=1)
    dropped = int((~keep & ys.notna().any(axis=1)).sum())
    test, z, ys = test.loc[keep], z.loc[keep], ys.loc[keep]
    X = np.column_stack([np.prod([z[c].to_numpy() for c in t.components], axis=0) for t in spec.term_objects])
    total = fit.idata["posterior"].sizes["chain"] * fit.idata["posterior"].sizes["draw"]
    idx = np.unique(np.linspace(0, total - 1, min(draws, total)).round().astype(int))
    s_n, n = idx.size, len(test)
    beta = _draws(fit, "beta", idx)
    multi = beta.ndim == 3
    eta = np.einsum("nt,skt->snk", X, beta) if multi else (X @ beta.T).T[:, :, None]  # S x n x K
    if "intercept" in fit.idata["posterior"]:
        eta = eta + _draws(fit, "intercept", idx)[:, None, None]
    eta = np.broadcast_to(eta[:, None], (s_n, inner, n, eta.shape[-1])).copy()  # S x M x n x K
    k_out = eta.shape[-1]
    for g in spec.groups:  # a new group's effect per outcome (the model's u_{g} over g x outcome)
        labels, code = np.unique(test[g.column].astype(str).to_numpy(), return_inverse=True)
        sigma = _draws(fit, f"sigma_{g.name}", idx)
        u = rng.normal(size=(s_n, inner, labels.size, k_out)) * sigma[:, None, None, None]
        eta += u[:, :, code]
    if multi:  # each initiative's one effect, shared by its outcomes
        sigma = _draws(fit, f"sigma_{spec.obs_dim}", idx)
        eta += (rng.normal(size=(s_n, inner, n)) * sigma[:, None, None])[..., None]
    loglik = np.zeros((s_n, inner, n))
    for k, y in enumerate(spec.outcomes):
        obs = ys[y].to_numpy()
        seen = ~np.isnan(obs)
        e = eta[:, :, seen, k]
        if spec.family == "bernoulli":
            ll = np.where(obs[seen] == 1, log_expit(e), log_expit(-e))
        else:
            cats = fit.prepared.categories[y]
            code = np.clip(np.searchsorted(cats, obs[seen]), 0, len(cats) - 1)
            cuts = _draws(fit, f"cutpoints_{y}", idx)  # S x (C-1)
            padded = np.concatenate([np.full((s_n, 1), -np.inf), cuts, np.full((s_n, 1), np.inf)], axis=1)
            upper = padded[:, code + 1][:, None]  # S x 1 x rows
            lower = padded[:, code][:, None]
            ll = np.log(np.clip(expit(upper - e) - expit(lower - e), 1e-300, None))
        loglik[:, :, seen] += ll
    out = {}
    countries = test[next(g.column for g in spec.groups if g.name == country)].astype(str).to_numpy()
    for c in np.unique(countries):
        joint = loglik[:, :, countries == c].sum(axis=2).reshape(-1)
        out[c] = float(logsumexp(joint) - np.log(joint.size))
    return pd.Series(out, name="elpd"), dropped


def split_countries(spec, df, labels, countries, k: int, seed: int, tries: int = 200) -> dict[str, int]:
    """Countries to folds at random (seeded), redrawn until every fold's training rows use every
    answer category of each ordinal outcome (else the fold's cutpoints are not identified)."""
    cats = {y: set(as_numeric(df[y]).dropna()) for y in spec.outcomes} if spec.family == "ordinal" else {}
    rng = np.random.default_rng(seed)
    for _ in range(tries):
        order = rng.permutation(countries.size)
        fold_of = {countries[j]: i % k for i, j in enumerate(order)}
        fold = labels.map(fold_of).to_numpy()
        if all(
            set(as_numeric(df.loc[fold != f, y]).dropna()) == c for f in range(k) for y, c in cats.items()
        ):
            return fold_of
    raise SpecError(
        f"no split of the countries into {k} folds leaves every rating category in each fold's training "
        "data (a category answered in one country only): use fewer folds or merge rare categories"
    )


@dataclass
class Folds:
    """Which fold holds out each row: ``labels`` (the country column as text), ``fold_of`` (country
    -> fold), ``k`` and the group level folded by (``country``)."""

    labels: pd.Series
    fold_of: dict[str, int]
    k: int
    country: str

    def held(self, fold: int) -> np.ndarray:
        return self.labels.map(self.fold_of).to_numpy() == fold


def country_folds(
    spec: ModelSpec, df: pd.DataFrame, *, k: int | None = 5, country: str = "country", seed: int
) -> Folds:
    """The countries of ``df`` in ``k`` folds at random (seeded; ``k=None``: one country a fold)."""
    check_kfold_supported(spec)
    column = next((g.column for g in spec.groups if g.name == country), None)
    if column is None:
        raise SpecError(f"spec {spec.name!r} has no group level {country!r} to fold by")
    countries = np.array(sorted(df[column].astype(str).unique()))
    k = countries.size if k is None else int(k)
    if not 2 <= k <= countries.size:
        raise SpecError(f"K-fold by country needs 2 <= k <= {countries.size} (the countries), not {k}")
    labels = df[column].astype(str)
    return Folds(labels, split_countries(spec, df, labels, countries, k, seed), k, country)


def score_fold(
    spec: ModelSpec,
    df: pd.DataFrame,
    folds: Folds,
    fold: int,
    *,
    seed: int,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    sampler: str = "nutpie",
    inner: int = 100,
) -> tuple[pd.DataFrame, int]:
    """Refit ``spec`` without the countries of ``fold`` (seed ``seed + fold``) and score them:
    one row per held-out country (``country, fold, n, elpd``) and the rows left out."""
    from clusterpreneur.models import fit_model

    held = folds.held(fold)
    fit = fit_model(
        spec, df.loc[~held], draws=draws, tune=tune, chains=chains, seed=seed + fold, sampler=sampler,
        progressbar=False,
    )  # fmt: skip
    elpd, dropped = heldout_log_density(
        fit, df.loc[held], country=folds.country, inner=inner, seed=seed + fold
    )
    sizes = folds.labels[held].value_counts()
    part = pd.DataFrame({"country": elpd.index, "fold": fold, "n": sizes.reindex(elpd.index).to_numpy()})
    part["elpd"] = elpd.to_numpy()
    return part, dropped


def combine_folds(model: str, parts: list[pd.DataFrame], k: int, dropped: int) -> KFoldResult:
    """The result of every fold's :func:`score_fold`."""
    table = pd.concat(parts, ignore_index=True).sort_values("country", ignore_index=True)
    return KFoldResult(model, table, k, dropped)


def kfold_by_country(
    spec: ModelSpec,
    df: pd.DataFrame,
    *,
    k: int | None = 5,
    country: str = "country",
    seed: int,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    sampler: str = "nutpie",
    inner: int = 100,
) -> KFoldResult:
    """Refit ``spec`` ``k`` times, each time without one group of countries (``k=None``: leave
    one country out), and score the held-out countries (see the module docstring). The study's
    pipeline runs the same folds as separate steps (:func:`score_fold`), concurrently."""
    folds = country_folds(spec, df, k=k, country=country, seed=seed)
    parts, dropped = [], 0
    for f in range(folds.k):
        part, n_drop = score_fold(
            spec, df, folds, f, seed=seed, draws=draws, tune=tune, chains=chains, sampler=sampler, inner=inner
        )
        parts.append(part)
        dropped += n_drop
    return combine_folds(spec.name, parts, folds.k, dropped)
