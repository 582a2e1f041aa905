"""Build a PyMC 6 model from a :class:`ModelSpec` and a data frame.

Naming that other modules (diagnostics, SBC, prediction) rely on:

- dims: the observation dimension ``spec.obs_dim`` (the study's ``initiative``; below written
  ``initiative``), one per group level (``country``, ``region``, ``herd`` ...), ``term``,
  ``component``, ``item``, ``outcome`` (plus ``{column}_missing`` for imputed values and
  ``threshold_{outcome}`` for cutpoints);
- ``intercept`` (every family but ordinal; over dim ``wave`` for a spec with a ``baseline``: the
  discrete-time hazard's baseline per wave, rows labelled ``"<id> wave <k>"``), ``beta`` over
  ``term`` (``outcome x term`` for several ordinal outcomes);
- ``fixed_qr`` over ``qr_coordinate`` when the fixed effects are QR-whitened (``intercept``
  and ``beta`` are then deterministics of it);
- per group level ``g``: ``sigma_{g}``, the free coordinate ``z_{g}`` (non-centred: standard
  normal; laplace: ``Normal(-m / tau, sigma / tau)``) and the effects ``u_{g}`` (a
  deterministic; the free variable when centred). How each level is sampled is decided in
  :mod:`.parametrize` (one place; the model is the same under each);
- per varying slope of term ``t`` by ``g``: ``sigma_{t}_{g}``, ``z_{t}_{g}``, ``u_{t}_{g}``;
- the observed outcome is named after its column (``takeoff``); latent items after theirs;
  the family's own parameters (:mod:`.families`): ``sigma_residual`` (gaussian), ``alpha``
  (negative binomial); likelihood weights add the potential ``{outcome}_weights``;
- imputed predictor values ``{component}_imputed`` over dim ``{component}_missing``;
- M3: ``sc_latent`` over ``initiative``, ``discrimination`` over ``item``, free ordered
  ``difficulty_{item}`` and the deterministic ``cutpoints_{item}`` = discrimination x difficulty;
- several ordinal outcomes (M4): one effect per observation shared by its outcomes, named as a
  group level of the observation dimension: ``sigma_initiative``, ``z_initiative`` (free unless
  centred) and ``u_initiative`` over ``initiative`` (see :func:`_observation_effect`);
- horseshoe: ``hs_tau`` / ``hs_lambda`` are deterministics of ``hs_*_a`` (half-normal) and
  ``hs_*_b`` (inverse-gamma); ordinal likelihoods store no ``*_probs``.

Predictors are standardised components (binary ones kept 0/1); interaction terms are the
products of the components. With every component observed the design is computed once in
NumPy and held as one ``pm.Data("design")`` over ``initiative x term``; with a latent (M3) or
imputed component it is formed inside the graph from ``pm.Data("components")`` over
``initiative x component`` and the latent / imputed values.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from pymc.distributions.transforms import ordered

from clusterpreneur.errors import SpecError
from clusterpreneur.models import parametrize
from clusterpreneur.models.families import get_family, prior_from_settings
from clusterpreneur.models.spec import (
    DEFAULT_PRIORS,
    ModelSpec,
    as_numeric,
    component_frame,
    indicator,
    ordinal_categories,
)
from clusterpreneur.standardize import Standardizer


@dataclass
class Prepared:
    """Everything the graph needs, computed from (spec, data) with pandas/numpy only."""

    spec: ModelSpec
    data: pd.DataFrame  # the rows and columns used (raw), canonical order
    z: pd.DataFrame  # standardised components (NaN where missing), rows of ``data``
    standardizer: Standardizer
    coords: dict[str, list[str]]
    group_index: dict[str, np.ndarray]
    imputed: dict[str, int]
    binary: list[str]
    dropped: dict[str, int] = field(default_factory=dict)
    categories: dict[str, list[int]] = field(default_factory=dict)

    @property
    def obs_dim(self) -> str:
        """The observation dimension (``spec.obs_dim``)."""
        return self.spec.obs_dim


def binary_beta_prior(pbar: float) -> tuple[float, float]:
    """Beta prior of an imputed binary component (a probability-like value in (0, 1))."""
    return 0.5 + 2.0 * pbar, 0.5 + 2.0 * (1.0 - pbar)


def prepare(spec: ModelSpec, df: pd.DataFrame, standardizer: Standardizer | None = None) -> Prepared:
    """Validate ``df`` against ``spec`` and compute design inputs (raises SpecError)."""
    spec.validate(df)
    dropped: dict[str, int] = {}
    # rows: an observed outcome (any of several ordinal outcomes)
    ys = pd.DataFrame({y: as_numeric(df[y]) for y in spec.outcomes}, index=df.index)
    keep = ys.notna().any(axis=1) if len(spec.outcomes) > 1 else ys.iloc[:, 0].notna()
    if spec.trials:
        keep &= as_numeric(df[spec.trials]).notna()
    if (~keep).any():
        dropped["missing outcome"] = int((~keep).sum())
    frame = df.loc[keep]
    comp = component_frame(spec, frame)
    latent = spec.latent.replaces if spec.latent is not None else None
    if latent is not None:
        comp[latent] = 0.0  # replaced by the latent variable inside the graph
    nan_cols = [c for c in comp.columns if comp[c].isna().any()]
    impute = nan_cols if spec.impute == "auto" else [c for c in nan_cols if c in spec.impute]
    not_imputed = [c for c in nan_cols if c not in impute]
    if not_imputed:
        bad = comp[not_imputed].isna().any(axis=1)
        dropped["missing predictor (not imputed): " + ", ".join(not_imputed)] = int(bad.sum())
        frame, comp = frame.loc[~bad], comp.loc[~bad]
    if frame.empty:
        raise SpecError(f"spec {spec.name!r}: no rows left after dropping missing outcomes/predictors")
    cols = list(comp.columns)
    std = standardizer if standardizer is not None else Standardizer.fit(comp, scaled_components(spec, cols))
    if latent is not None:
        std.center[latent], std.scale[latent] = 0.0, 1.0
    z = std.transform(comp)[cols]
    binary = [
        c
        for c in cols
        if c != latent
        and std.center.get(c, 0.0) == 0.0
        and std.scale.get(c, 1.0) == 1.0
        and set(np.unique(comp[c].dropna())) <= {0.0, 1.0}
    ]
    imputed = {c: int(comp[c].isna().sum()) for c in impute}
    ids = (frame[spec.id_column] if spec.id_column else frame.index.to_series()).astype(str).tolist()
    group_index = {}
    time_coords: dict[str, list[str]] = {}
    if spec.baseline is not None:  # person-period rows: one label per initiative and wave
        t = as_numeric(frame[spec.baseline]).astype("int64")
        ids = [f"{i} {spec.baseline} {k}" for i, k in zip(ids, t, strict=True)]
        levels_t = sorted(t.unique().tolist())
        time_coords["wave"] = [str(k) for k in levels_t]
        group_index["wave"] = np.searchsorted(levels_t, t.to_numpy()).astype("int64")
    coords: dict[str, list[str]] = {spec.obs_dim: ids, "term": list(spec.terms), "component": cols}
    coords.update(time_coords)
    for g in spec.groups:
        labels = g.labels(frame)
        levels = sorted(labels.unique().tolist())
        coords[g.name] = levels
        group_index[g.name] = pd.Categorical(labels, categories=levels).codes.astype("int64")
    for c in impute:
        coords[f"{c}_missing"] = [ids[i] for i in np.flatnonzero(comp[c].isna().to_numpy())]
    categories = {}
    if spec.family == "ordinal":
        for y in spec.outcomes:
            categories[y] = ordinal_categories(spec, frame[y])
        if len(spec.outcomes) > 1:
            coords["outcome"] = list(spec.outcomes)
    if spec.latent is not None:
        coords["item"] = list(spec.latent.items)
        for item in spec.latent.items:
            n_miss = int(frame[item].isna().sum())
            if n_miss:
                imputed[f"{item} (skipped in the item likelihood)"] = n_miss
            categories[item] = ordinal_categories(
                ModelSpec(name="item", outcome=item, family="ordinal"), frame[item]
            )
    for name, cats in categories.items():
        coords[f"threshold_{name}"] = [f"{a}|{b}" for a, b in itertools.pairwise(cats)]
    extra = [c for c in (spec.trials, spec.weights) if c]
    used = list(dict.fromkeys([*spec.required_columns(df), *spec.outcomes, *extra]))
    data = frame[used].reset_index(drop=True)
    for y in spec.outcomes:
        coords_y = [ids[i] for i in np.flatnonzero(ys.loc[frame.index, y].notna().to_numpy())]
        if len(spec.outcomes) > 1 or spec.family == "ordinal":
            coords[f"{y}_obs"] = coords_y
    return Prepared(
        spec=spec,
        data=data,
        z=z.reset_index(drop=True),
        standardizer=std,
        coords=coords,
        group_index=group_index,
        imputed=imputed,
        binary=binary,
        dropped=dropped,
        categories=categories,
    )


def scaled_components(spec: ModelSpec, columns: list[str]) -> list[str]:
    """The components ``spec.standardize`` standardises (dummies and latent ones never; 0/1
    columns are learned with centre 0 and scale 1 by :class:`Standardizer`)."""
    latent = spec.latent.replaces if spec.latent is not None else None
    candidates = [
        c for c in columns if c != latent and not (indicator(c) and indicator(c)[0] in spec.categorical)
    ]
    if spec.standardize is True:
        return candidates
    if spec.standardize is False:
        return []
    unknown = [c for c in spec.standardize if c not in candidates]
    if unknown:
        raise SpecError(
            f"spec {spec.name!r}: standardize names {unknown}, which are not numeric components "
            f"of the terms ({candidates})"
        )
    return [c for c in candidates if c in spec.standardize]


def _ordered_cutpoints(name: str, spec: ModelSpec, k: int, dims: str, fallback: str = "cutpoints"):
    """Ordered ``Normal(mu, sigma)`` cutpoints exactly as the prior says (see ``DEFAULT_PRIORS``);
    the sampler starts from evenly spaced values around the mean, since equal starting values
    have no ordered-transform value."""
    s = spec.prior(name, fallback)
    if s.pop("dist", "Normal") != "Normal" or set(s) - {"mu", "sigma"}:
        raise SpecError(f"prior of {name!r}: cutpoints and difficulties take Normal(mu, sigma) only, not {s}")
    mu = np.asarray(s.get("mu", 0.0), dtype="float64")
    sigma = np.asarray(s.get("sigma", 3.0), dtype="float64")
    for what, v in (("mu", mu), ("sigma", sigma)):
        if v.ndim > 1 or (v.ndim == 1 and v.size != k - 1):
            raise SpecError(
                f"prior of {name!r}: {what} must be one number or {k - 1} numbers, not {v.tolist()}"
            )
    spread = np.linspace(-2.0, 2.0, k - 1) if k > 2 else np.zeros(1)
    centre = np.sort(np.broadcast_to(mu, (k - 1,)))
    start = centre + spread if np.ptp(centre) == 0 else centre + 0.01 * spread
    return pm.Normal(name, mu=mu, sigma=sigma, transform=ordered, initval=start, dims=dims)


def _coefficients(spec: ModelSpec, multi: bool):
    """``beta`` over term (outcome x term when multi), with shrinkage terms if any (the
    intercept, when there is one, is added by the caller)."""
    dims = ("outcome", "term") if multi else "term"
    shrunk = list(spec.shrinkage_terms)
    if not shrunk:
        return prior_from_settings("beta", spec.prior("beta"), dims=dims)
    if multi:
        raise SpecError("shrinkage terms are not supported with several ordinal outcomes")
    model = pm.modelcontext(None)
    main = [t for t in spec.terms if t not in shrunk]
    model.add_coord("main_term", main)
    model.add_coord("shrunk_term", shrunk)
    b_main = prior_from_settings("beta_main", spec.prior("beta_main", "beta"), dims="main_term")
    z = pm.Normal("z_shrunk", 0.0, 1.0, dims="shrunk_term")
    if spec.shrinkage == "normal":
        b_shr = z * spec.prior("shrinkage_normal")["sigma"]
    else:  # regularised horseshoe (Piironen & Vehtari 2017), non-centred
        # half-t scales as half-normal x sqrt(inverse-gamma) (their Stan code): the heavy tails
        # of the half-Cauchy locals otherwise give the sampler funnels and divergences
        hs = spec.prior("horseshoe")
        tau = pm.Deterministic("hs_tau", hs["tau0"] * _half_t("hs_tau", 2.0, None))
        lam = pm.Deterministic(
            "hs_lambda", _half_t("hs_lambda", hs["local_df"], "shrunk_term"), dims="shrunk_term"
        )
        df_ = hs["slab_df"]
        c2 = pm.InverseGamma("hs_c2", alpha=df_ / 2, beta=df_ / 2 * hs["slab_scale"] ** 2)
        lam_t = pt.sqrt(c2 * lam**2 / (c2 + tau**2 * lam**2))
        b_shr = z * tau * lam_t
    parts = pt.concatenate([b_main, b_shr])
    order = [(main + shrunk).index(t) for t in spec.terms]
    return pm.Deterministic("beta", parts[order], dims="term")


def _half_t(name: str, nu: float, dims):
    """A half-Student-t(nu, 1) variable as ``|N(0, 1)| * sqrt(InvGamma(nu / 2, nu / 2))``."""
    a = pm.HalfNormal(f"{name}_a", 1.0, dims=dims)
    b = pm.InverseGamma(f"{name}_b", alpha=nu / 2.0, beta=nu / 2.0, dims=dims)
    return a * pt.sqrt(b)


def build_model(
    spec: ModelSpec,
    df: pd.DataFrame,
    observed: np.ndarray | dict[str, np.ndarray] | None = None,
    *,
    prepared: Prepared | None = None,
) -> pm.Model:
    """The PyMC model of ``spec`` on ``df`` (validated first; nothing is compiled here).

    ``observed`` replaces the outcome values (same rows as the data used, i.e. after rows
    with a missing outcome are dropped; a dict by outcome name for several outcomes, which may
    also replace the latent variable's item answers, NaN where unanswered): this is how
    simulation-based calibration re-fits on a prior-predictive draw (categories stay those of
    the data). How each part is sampled is :func:`.parametrize.plan` of the same arguments
    (what :func:`parametrization` returns).
    """
    prep = prepared if prepared is not None else prepare(spec, df)
    spec = _family_scaled(prep)
    data = prep.data
    multi = len(spec.outcomes) > 1
    n = len(data)
    obs = _observed_arrays(spec, prep, observed)
    how = parametrize.plan(spec, prep, obs)
    with pm.Model(coords=prep.coords) as model:
        qr = None
        if design_in_numpy(prep):
            X_np = design_array(prep)
            X = pm.Data("design", X_np, dims=(prep.obs_dim, "term"))
            if how["fixed_effects"] == "qr":
                qr = parametrize.qr_coefficients(spec, X_np)
        else:
            X = _design_in_graph(spec, prep, obs)
        if qr is not None:
            intercept, beta = qr  # QR-whitened fixed effects
            eta = intercept + pt.dot(X, beta)
        elif multi:
            eta = pt.dot(X, _coefficients(spec, multi).T)  # initiative x outcome
        else:
            eta = pt.dot(X, _coefficients(spec, multi))
            if get_family(spec.family).has_intercept:
                eta = eta + _intercept(spec, prep)
        gdims = {g.name: ((g.name, "outcome") if multi else g.name) for g in spec.groups}

        def effect(name: str, group: str, term: str | None, eta_minus, x=None):
            sigma = prior_from_settings(f"sigma_{name}", spec.prior(f"sigma_{name}", "sigma"))
            inf = None
            if how[name] == "laplace":  # centred at the current state where the family allows
                inf = parametrize.current_information(spec, prep, group, eta_minus, obs, x)
                inf = inf or parametrize.information(spec, prep, group, term, obs)
            return parametrize.group_effect(name, sigma, how[name], gdims[group], inf)

        # order matters for laplace: each level is centred given the ones built before it
        for g in spec.groups:
            u = effect(g.name, g.name, None, eta)
            eta = eta + u[prep.group_index[g.name]]
        for s in spec.slopes:
            x = X[:, list(spec.terms).index(s.term)]
            u = effect(s.param, s.group, s.term, eta, x)
            eta = eta + u[prep.group_index[s.group]] * (x[:, None] if multi else x)
        if multi:
            eta = eta + _observation_effect(spec, prep, how[prep.obs_dim], obs)[:, None]
        _likelihood(spec, prep, eta, obs, n)
    return model


def parametrization(spec: ModelSpec, df: pd.DataFrame, observed=None, *, prepared: Prepared | None = None):
    """How :func:`build_model` samples each group level, slope and the fixed effects."""
    prep = prepared if prepared is not None else prepare(spec, df)
    return parametrize.plan(prep.spec, prep, _observed_arrays(prep.spec, prep, observed))


def _intercept(spec: ModelSpec, prep: Prepared):
    """The common intercept, or with ``spec.baseline`` one per wave (``intercept`` over dim
    ``wave``): the baseline log-odds of the discrete-time hazard, indexed by each row's wave."""
    if spec.baseline is None:
        return prior_from_settings("intercept", spec.prior("intercept"))
    alpha = prior_from_settings("intercept", spec.prior("intercept"), dims="wave")
    return alpha[prep.group_index["wave"]]


def design_in_numpy(prep: Prepared) -> bool:
    """True when every component is observed (no latent, no imputed value): the design is
    then fixed data, built once in NumPy."""
    spec = prep.spec
    return spec.latent is None and not any(c in prep.imputed for c in prep.coords["component"])


def design_array(prep: Prepared) -> np.ndarray:
    """The standardised design (initiative x term) from fully observed components.

    Each term is the product of its standardised components (``prep.z``, standardised with the
    fit's standardiser); :func:`design_frame` is the same for any frame (the study's
    ``design_matrix`` calls it).
    """
    X = np.ascontiguousarray(design_frame(prep.spec.terms, prep.z).to_numpy(), dtype="float64")
    if np.isnan(X).any():
        raise SpecError(
            f"spec {prep.spec.name!r}: missing predictor values that are neither imputed nor latent"
        )
    return X


def design_frame(terms, z: pd.DataFrame) -> pd.DataFrame:
    """One column per term (``Term`` objects or names): the product of its components' columns
    of ``z`` (standardised components, NaN stays NaN). The single statement of the design:
    the graph's :func:`design_array` and the study's ``design_matrix`` compute it so."""
    out = pd.DataFrame(index=z.index)
    for t in terms:
        name = t if isinstance(t, str) else t.name
        out[name] = np.prod([z[c].to_numpy(dtype="float64") for c in name.split(":")], axis=0)
    return out


def _design_in_graph(spec: ModelSpec, prep: Prepared, obs: dict[str, np.ndarray] | None = None):
    """The design formed inside the graph from the components, with the latent variable (M3)
    and the imputed values in place (they change with every draw)."""
    z_data = np.nan_to_num(prep.z.to_numpy(), nan=0.0)
    comp_data = pm.Data("components", z_data, dims=(prep.obs_dim, "component"))
    cols = {}
    for j, c in enumerate(prep.coords["component"]):
        col = comp_data[:, j]
        if spec.latent is not None and c == spec.latent.replaces:
            col = _measurement_model(spec, prep, obs)
        elif c in prep.imputed:
            miss = np.flatnonzero(prep.z[c].isna().to_numpy())
            if c in prep.binary:
                a, b = binary_beta_prior(float(prep.z[c].mean()))
                imp = pm.Beta(f"{c}_imputed", a, b, dims=f"{c}_missing")
            else:
                imp = pm.Normal(f"{c}_imputed", 0.0, 1.0, dims=f"{c}_missing")
            col = pt.set_subtensor(col[miss], imp)
        cols[c] = col
    return pt.stack([_product([cols[c] for c in t.components]) for t in spec.term_objects], axis=1)


def _observation_effect(spec: ModelSpec, prep: Prepared, how: str, obs: dict[str, np.ndarray]):
    """The effect ``u_{obs}`` each observation (M4: initiative) shares over its ordinal outcomes,
    ``Normal(0, sigma_{obs})``, added to every outcome's linear predictor: a varying intercept per
    observation over its repeated ratings, sampled as :mod:`.parametrize` chooses.

    One effect, not one per outcome with correlations: each observation gives one answer per
    outcome, so an outcome's own (unique) effect is confounded with the logistic error and only
    the covariance between outcomes is identified. Per-outcome effects (with an LKJ correlation)
    left their variances to the shape of the link: the scale drifted along a ridge (scale up,
    correlation down, cutpoints and coefficients inflated with it) to about 3 against a truth of
    0.8 (:data:`clusterpreneur.study.ladder.M4`). The unique parts are absorbed by the
    logistic error instead, which attenuates every coefficient slightly (see
    ``clusterpreneur.study.simulate.ratings_truth``).
    """
    name = prep.obs_dim
    sigma = prior_from_settings(f"sigma_{name}", spec.prior(f"sigma_{name}", "sigma"))
    inf = parametrize.observation_information(spec, prep, obs) if how == "laplace" else None
    return parametrize.group_effect(name, sigma, how, name, inf)


def _product(xs):
    out = xs[0]
    for x in xs[1:]:
        out = out * x
    return out


def _observed_arrays(spec: ModelSpec, prep: Prepared, observed) -> dict[str, np.ndarray]:
    base = {y: as_numeric(prep.data[y]).to_numpy() for y in spec.outcomes}
    if spec.latent is not None and isinstance(observed, dict):  # items can be overridden too (SBC)
        base.update({i: as_numeric(prep.data[i]).to_numpy() for i in spec.latent.items if i in observed})
    if observed is None:
        return base
    if not isinstance(observed, dict):
        if len(spec.outcomes) > 1:
            raise SpecError("give `observed` as a dict {outcome: array} for several outcomes")
        observed = {spec.outcomes[0]: observed}
    for y, arr in observed.items():
        arr = np.asarray(arr, dtype="float64")
        if y not in base or arr.shape != base[y].shape:
            raise SpecError(
                f"observed override for {y!r} must have shape {base.get(y, np.empty(0)).shape} "
                "(rows of the data used, after dropping missing outcomes)"
            )
        base[y] = arr
    return base


def _family_scaled(prep: Prepared) -> ModelSpec:
    """The spec with the family's data-scaled default priors for keys the user did not set
    (gaussian: scaled to the outcome; log link: intercept centred on the log mean). Read from
    the data's outcome, never from an ``observed`` override, so SBC replicates share the prior."""
    spec = prep.spec
    y = as_numeric(prep.data[spec.outcomes[0]]).to_numpy()
    scaled = get_family(spec.family).default_priors(y, DEFAULT_PRIORS)
    extra = {k: v for k, v in scaled.items() if k not in spec.priors}
    return spec.with_overrides(priors=extra) if extra else spec


def _likelihood(spec: ModelSpec, prep: Prepared, eta, obs: dict[str, np.ndarray], n: int) -> None:
    """The observed outcome(s): a dispatch to the family (:mod:`.families`)."""
    family = get_family(spec.family)
    w = as_numeric(prep.data[spec.weights]).to_numpy() if spec.weights else None
    if spec.family != "ordinal":
        y = spec.outcomes[0]
        trials = as_numeric(prep.data[spec.trials]).to_numpy() if spec.trials else None
        params = family.graph_parameters(lambda key: spec.prior(key))
        family.likelihood(y, eta, obs[y], params=params, trials=trials, dims=spec.obs_dim, weights=w)
        return
    for k, y in enumerate(spec.outcomes):
        cats = prep.categories[y]
        cuts = _ordered_cutpoints(f"cutpoints_{y}", spec, len(cats), f"threshold_{y}")
        mask = ~np.isnan(obs[y])
        codes = np.searchsorted(cats, obs[y][mask])
        e = eta[:, k] if len(spec.outcomes) > 1 else eta
        rows = np.flatnonzero(mask)
        w_y = None if w is None else w[rows]
        family.likelihood(y, e[rows], codes, params={"cutpoints": cuts}, dims=f"{y}_obs", weights=w_y)


def _measurement_model(spec: ModelSpec, prep: Prepared, obs: dict[str, np.ndarray] | None = None):
    """Graded-response model of the latent items; returns the latent vector (N(0, 1)). Item
    answers come from ``obs`` when it holds them (an ``observed`` override), else from the data."""
    lat = spec.latent
    latent = pm.Normal(lat.name, 0.0, 1.0, dims=spec.obs_dim)
    a = prior_from_settings("discrimination", spec.prior("discrimination"), dims="item")
    for k, item in enumerate(lat.items):
        x = obs[item] if obs is not None and item in obs else as_numeric(prep.data[item]).to_numpy()
        mask = ~np.isnan(x)
        cats = prep.categories[item]
        # difficulty parametrisation a * (latent - b): cutpoints a * b, so the discrimination
        # and the outer cutpoints are not a posterior ridge (cutpoints scale with a)
        b = _ordered_cutpoints(f"difficulty_{item}", spec, len(cats), f"threshold_{item}", "difficulty")
        cuts = pm.Deterministic(f"cutpoints_{item}", a[k] * b, dims=f"threshold_{item}")
        codes = np.searchsorted(cats, x[mask]).astype("int64")
        pm.OrderedLogistic(
            item, eta=a[k] * latent[np.flatnonzero(mask)], cutpoints=cuts, observed=codes, compute_p=False
        )
    return latent
