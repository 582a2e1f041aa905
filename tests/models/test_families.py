"""Likelihood families: the registry's statements (information, draws, checks), and small seeded
varying-intercept fits of every family that recover the truth, agree with statsmodels and give
predictions and predictive draws with the family's support."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from scipy import stats
from scipy.special import expit

from clusterpreneur.errors import SpecError
from clusterpreneur.models import GroupLevel, ModelSpec, fit_model
from clusterpreneur.models.build import build_model, design_array
from clusterpreneur.models.families import FAMILIES, REGISTRY, get_family, information
from clusterpreneur.models.spec import FAMILIES as SPEC_FAMILIES

TRUTH = {"intercept": 0.4, "x": 0.5, "d": -0.6, "sigma_country": 0.5}
FAMILY_TRUTH = {
    "gaussian": {"sigma_residual": 0.8},
    "negative_binomial": {"alpha": 4.0},
    "ordinal": {"cutpoints": np.array([-1.0, 0.3, 1.5])},
}
FIT = {"draws": 300, "tune": 300, "chains": 2, "sampler": "pymc"}


def simulate(family: str, seed: int, n: int = 400, n_groups: int = 15) -> tuple[pd.DataFrame, dict]:
    """A seeded varying-intercept data set of ``family``: a standardised continuous ``x``, a 0/1
    ``d`` and country intercepts; returns the frame and the truth (on the fit's scale)."""
    rng = np.random.default_rng([seed, FAMILIES.index(family)])
    x = rng.normal(size=n)
    x = (x - x.mean()) / x.std()  # already standardised: the fit's scale is the truth's
    d = (rng.uniform(size=n) < 0.4).astype(float)
    g = np.arange(n) % n_groups
    u = rng.normal(0.0, TRUTH["sigma_country"], n_groups)
    truth = dict(TRUTH, **FAMILY_TRUTH.get(family, {}))
    eta = TRUTH["x"] * x + TRUTH["d"] * d + u[g]
    fam = get_family(family)
    if fam.has_intercept:
        eta = eta + TRUTH["intercept"]
    else:
        del truth["intercept"]
    trials = rng.integers(1, 9, n) if fam.needs_trials else None
    y = fam.draw(rng, eta, FAMILY_TRUTH.get(family), trials)
    df = pd.DataFrame(
        {
            "initiative_id": [f"i{i}" for i in range(n)],
            "country_id": [f"c{k:02d}" for k in g],
            "x": x,
            "d": d,
            "y": y.astype(float),
        }
    )
    if trials is not None:
        df["n"] = trials
    return df, truth


def spec_for(family: str, **kw) -> ModelSpec:
    return ModelSpec(
        name=f"sim_{family}",
        outcome="y",
        family=family,
        terms=("x", "d"),
        trials="n" if get_family(family).needs_trials else None,
        **{"groups": (GroupLevel("country", "country_id"),), **kw},
    )


def coverage(fit, truth: dict, prob: float = 0.9) -> dict[str, bool]:
    """Whether each true value lies in the posterior's central ``prob`` interval."""
    post = fit.idata["posterior"]
    out = {}
    for name, value in truth.items():
        if name in ("x", "d"):
            draws = post["beta"].sel(term=name).values.reshape(-1, 1)
        elif name == "cutpoints":
            draws = post["cutpoints_y"].values.reshape(-1, len(value))
        else:
            draws = post[name].values.reshape(-1, 1)
        lo, hi = np.quantile(draws, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
        for k, v in enumerate(np.atleast_1d(value)):
            out[f"{name}[{k}]" if np.ndim(value) else name] = bool(lo[k] <= v <= hi[k])
    return out


@pytest.fixture(scope="session")
def family_fits():
    """One small seeded fit per family (2 chains x 300 draws), fitted once per session."""
    fits = {}
    for i, family in enumerate(FAMILIES):
        df, truth = simulate(family, seed=1)
        fits[family] = (fit_model(spec_for(family), df, seed=100 + i, **FIT), df, truth)
    return fits


# --------------------------------------------------------------------------- the registry


def test_the_spec_reads_the_registry():
    assert SPEC_FAMILIES == FAMILIES == tuple(REGISTRY)
    assert set(FAMILIES) == {"bernoulli", "binomial", "ordinal", "gaussian", "poisson", "negative_binomial"}
    with pytest.raises(SpecError, match="choose one of"):
        ModelSpec(name="bad", outcome="y", family="weibull").check()


def _logp(family: str, y, eta, params, trials):
    if family == "bernoulli":
        return stats.bernoulli.logpmf(y, expit(eta))
    if family == "binomial":
        return stats.binom.logpmf(y, trials, expit(eta))
    if family == "gaussian":
        return stats.norm.logpdf(y, eta, params["sigma_residual"])
    if family == "poisson":
        return stats.poisson.logpmf(y, np.exp(eta))
    if family == "negative_binomial":
        a = params["alpha"]
        return stats.nbinom.logpmf(y, a, a / (a + np.exp(eta)))
    p = get_family("ordinal").category_probabilities(eta, params["cutpoints"])
    return np.log(p[..., y])


@pytest.mark.parametrize("family", FAMILIES)
def test_information_is_the_expected_squared_score(family):
    """Fisher information of eta = E[(d/deta log p(y | eta))^2], the score by central differences
    of an independent (scipy) density, the expectation over the support (a fine grid for gaussian)."""
    params = {k: v for k, v in FAMILY_TRUTH.get(family, {}).items()}
    trials = 7 if family == "binomial" else None
    h = 1e-4
    for eta in (-1.3, 0.2, 1.7):
        if family == "gaussian":
            y = np.linspace(eta - 10, eta + 10, 20001)
            weight = stats.norm.pdf(y, eta, params["sigma_residual"]) * (y[1] - y[0])
        else:
            y = {"bernoulli": np.arange(2), "binomial": np.arange(8), "ordinal": np.arange(4)}.get(
                family, np.arange(400)
            )
            weight = np.exp(_logp(family, y, eta, params, trials))
        score = (_logp(family, y, eta + h, params, trials) - _logp(family, y, eta - h, params, trials)) / (
            2 * h
        )
        expected = float(np.sum(weight * score**2))
        assert information(family, eta, trials=trials, **params) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("family", FAMILIES)
def test_draws_have_the_support_and_mean_of_the_family(family):
    fam = get_family(family)
    rng = np.random.default_rng(3)
    eta = np.full(40_000, 0.7)
    params = FAMILY_TRUTH.get(family)
    trials = np.full(eta.shape, 5) if fam.needs_trials else None
    y = fam.draw(rng, eta, params, trials)
    if fam.integer:
        assert y.dtype.kind == "i" and y.min() >= 0
    if family == "bernoulli":
        assert set(np.unique(y)) == {0, 1}
    if family in ("binomial", "ordinal"):
        assert y.max() <= (5 if family == "binomial" else 3)
    mean = fam.mean(eta[:1], params)[0] * (5 if family == "binomial" else 1)
    assert y.mean() == pytest.approx(mean, abs=4 * y.std() / np.sqrt(y.size))


def test_family_parameters_broadcast_per_draw():
    """Per-draw parameters (draws,) against a (draws, rows) linear predictor."""
    fam = get_family("gaussian")
    sigma = np.array([0.1, 10.0])
    y = fam.draw(np.random.default_rng(0), np.zeros((2, 5000)), {"sigma_residual": sigma})
    assert y.std(axis=1) == pytest.approx(sigma, rel=0.05)
    info = fam.information(np.zeros((2, 3)), {"sigma_residual": sigma})
    assert info.shape == (2, 3) and info[1, 0] == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("family", "values", "message"),
    [
        ("poisson", [0, 2, -1], "negative"),
        ("negative_binomial", [0, 1.5, 2], "not integer-valued"),
        ("bernoulli", [0, 1, 2], "0/1 outcome"),
    ],
)
def test_outcome_checks_name_the_problem(family, values, message):
    df = pd.DataFrame({"initiative_id": ["a", "b", "c"], "y": values, "x": [0.1, 0.5, 0.9]})
    with pytest.raises(SpecError, match=message):
        ModelSpec(name="t", outcome="y", family=family, terms=("x",)).validate(df)


def test_gaussian_takes_continuous_outcomes_and_trials_only_binomial():
    df = pd.DataFrame({"initiative_id": ["a", "b", "c"], "y": [0.3, -1.2, 2.5], "x": [0.1, 0.5, 0.9], "n": 3})
    ModelSpec(name="t", outcome="y", family="gaussian", terms=("x",)).validate(df)
    with pytest.raises(SpecError, match="`trials` is for family 'binomial'"):
        ModelSpec(name="t", outcome="y", family="gaussian", terms=("x",), trials="n").validate(df)


def test_gaussian_default_priors_follow_the_outcome_scale():
    df, _ = simulate("gaussian", seed=2, n=60, n_groups=6)
    df["y"] = 1000.0 + 50.0 * df["y"]
    model = build_model(spec_for("gaussian"), df)
    sd = float(df["y"].std())
    prior = {v.name: v.owner.inputs for v in model.free_RVs}
    # Normal(mu, sigma): the last two inputs; HalfNormal(0, sigma)
    assert float(prior["intercept"][-2].eval()) == pytest.approx(df["y"].mean())
    assert float(prior["intercept"][-1].eval()) == pytest.approx(1.5 * sd)
    assert float(prior["sigma_residual"][-1].eval()) == pytest.approx(sd)
    # a prior set in the spec is used as given
    spec = spec_for("gaussian", priors={"sigma_residual": {"dist": "HalfNormal", "sigma": 2.0}})
    model = build_model(spec, df)
    rv = next(v for v in model.free_RVs if v.name == "sigma_residual")
    assert float(rv.owner.inputs[-1].eval()) == pytest.approx(2.0)


# --------------------------------------------------------------------------- weights


def test_weights_are_checked():
    df, _ = simulate("poisson", seed=3, n=30, n_groups=3)
    df["w"] = 1.0
    df.loc[4, "w"] = -1.0
    with pytest.raises(SpecError, match="weights column 'w' must hold finite numbers >= 0"):
        spec_for("poisson", weights="w").validate(df)
    df["w"] = 0.0
    with pytest.raises(SpecError, match="sums to 0"):
        spec_for("poisson", weights="w").validate(df)
    with pytest.raises(SpecError, match="not in the data"):
        spec_for("poisson", weights="nope").validate(df)


def test_weights_multiply_the_log_likelihood_and_keep_old_hashes():
    df, _ = simulate("poisson", seed=4, n=50, n_groups=5)
    df["w"] = np.random.default_rng(0).integers(0, 4, len(df)).astype(float)
    # one parametrisation for both, so that one point means the same effects in both models
    groups = (GroupLevel("country", "country_id", parametrization="non-centred"),)
    plain = build_model(spec_for("poisson", groups=groups), df)
    weighted = build_model(spec_for("poisson", weights="w", groups=groups), df)
    point = plain.initial_point()
    lp_plain = plain.compile_logp(vars=[plain["y"]], sum=False)(point)[0]
    total = weighted.compile_logp(vars=[weighted["y"], *weighted.potentials])(point)
    assert total == pytest.approx(np.sum(df["w"].to_numpy() * lp_plain))
    assert "weights" not in spec_for("poisson").to_dict()  # earlier specs keep their hash
    again = ModelSpec.from_json(spec_for("poisson", weights="w").to_json())
    assert again.weights == "w"


@pytest.fixture(scope="session")
def weight_fits():
    """The same poisson model with integer weights, and on the data with each row repeated
    ``w`` times; and without weights (smaller data, wider posterior)."""
    df, _ = simulate("poisson", seed=5, n=120, n_groups=6)
    df["w"] = np.random.default_rng(1).integers(1, 4, len(df)).astype(float)
    dup = df.loc[df.index.repeat(df["w"].astype(int))].reset_index(drop=True)
    dup["initiative_id"] = [f"r{i}" for i in range(len(dup))]
    fit_w = fit_model(
        spec_for("poisson", weights="w"), df, seed=11, **{**FIT, "draws": 1000, "sampler": "nutpie"}
    )
    fit_d = fit_model(spec_for("poisson"), dup, seed=12, **{**FIT, "draws": 1000, "sampler": "nutpie"})
    return fit_w, fit_d


def test_integer_weights_equal_duplicated_rows(weight_fits):
    fit_w, fit_d = weight_fits
    for name in ("intercept", "beta", "sigma_country"):
        a = fit_w.idata["posterior"][name].values.reshape(2000, -1)
        b = fit_d.idata["posterior"][name].values.reshape(2000, -1)
        sd = np.sqrt((a.var(axis=0) + b.var(axis=0)) / 2)
        # Monte Carlo error of a difference of means at ESS ~ 600 per fit is about 0.06 SD
        assert np.all(np.abs(a.mean(axis=0) - b.mean(axis=0)) < 0.35 * sd), name
        # the SDs match too: ignoring the weights (mean weight 2) would widen them by ~1.4
        assert np.all(np.abs(a.std(axis=0) / b.std(axis=0) - 1) < 0.2), name
    ll = fit_w.idata["log_likelihood"]["y"]
    assert ll.sizes[fit_w.spec.obs_dim] == 120  # pointwise, unweighted, one per row


# --------------------------------------------------------------------------- fits of every family


def test_every_family_recovers_the_truth(family_fits):
    """90% intervals cover the truth for at least 80% of the coefficients over all families."""
    covered = {
        f"{family}:{k}": v
        for family, (fit, _, truth) in family_fits.items()
        for k, v in coverage(fit, truth).items()
    }
    assert len(covered) >= 24
    assert np.mean(list(covered.values())) >= 0.8, {k: v for k, v in covered.items() if not v}


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_recovery_over_seeds(family):
    covered = []
    for seed in range(2, 6):
        df, truth = simulate(family, seed=seed, n=500, n_groups=20)
        fit = fit_model(spec_for(family), df, seed=seed, **{**FIT, "draws": 500, "tune": 500})
        covered += list(coverage(fit, truth).values())
    assert np.mean(covered) >= 0.8


@pytest.mark.parametrize("family", FAMILIES)
def test_log_likelihood_and_predictive_draws(family_fits, family):
    fit, df, _ = family_fits[family]
    ll = fit.idata["log_likelihood"]["y"]
    assert ll.sizes[ll.dims[-1]] == len(df) and np.isfinite(ll.values).all()
    with fit.model:
        pp = pm.sample_posterior_predictive(fit.idata, random_seed=1, progressbar=False)
    y = pp["posterior_predictive"]["y"].values
    fam = get_family(family)
    if fam.integer:
        assert np.all(y == np.round(y)) and y.min() >= 0
    if family == "bernoulli":
        assert set(np.unique(y)) <= {0, 1}
    if family == "binomial":
        assert np.all(y <= df["n"].to_numpy())
    if family == "ordinal":
        assert y.max() <= 3
    # the replicated mean is close to the observed one (ordinal: categories 0..3 are their codes)
    assert abs(y.mean() - df["y"].mean()) < 4 * df["y"].std() / np.sqrt(len(df))


@pytest.mark.parametrize("family", FAMILIES)
def test_predictions_for_seen_and_new_groups(family_fits, family):
    fit, df, _ = family_fits[family]
    new = df.head(3).copy()
    new.loc[2, "country_id"] = "somewhere new"
    mean = fit.predict(new, seed=1)
    assert list(mean["group_status"]) == ["seen", "seen", "new country"]
    assert mean["sd"].iloc[2] > mean["sd"].iloc[0]  # between-group uncertainty of the new one
    if family in ("bernoulli", "binomial"):
        assert mean["ci_lower"].min() >= 0 and mean["ci_upper"].max() <= 1
    if family in ("poisson", "negative_binomial"):
        assert mean["ci_lower"].min() > 0
    if family == "ordinal":  # the expected category value, between the first and last category
        cats = fit.prepared.categories["y"]
        assert mean["ci_lower"].min() >= min(cats) and mean["ci_upper"].max() <= max(cats)
        seen = fit.predict(df, seed=1)  # the rows fitted: their expected values average the observed
        assert abs(seen["mean"].mean() - df["y"].mean()) < 4 * df["y"].std() / np.sqrt(len(df))
    out, draws = fit.predict(new, seed=1, kind="outcome", return_draws=True)
    if family == "ordinal":
        assert set(np.unique(draws)) <= set(fit.prepared.categories["y"])
    if get_family(family).integer:
        assert draws.dtype.kind == "i" and draws.min() >= 0
    if family == "binomial":
        assert np.all(draws <= new["n"].to_numpy())
    assert out.attrs["kind"] == "outcome"
    assert np.all(out["sd"] >= mean["sd"])  # outcome draws add the family's own noise


def test_gaussian_agrees_with_mixedlm():
    """Posterior means within 2 posterior SDs of the REML estimates (fixed effects, residual SD)
    on a data set large enough for the priors not to matter."""
    df, _ = simulate("gaussian", seed=7, n=1200, n_groups=30)
    fit = fit_model(spec_for("gaussian"), df, seed=7, **FIT)
    X = design_array(fit.prepared)
    res = get_family("gaussian").baseline(fit.data["y"], X, groups=fit.data["country_id"])
    post = fit.idata["posterior"]
    draws = {
        "intercept": post["intercept"].values.reshape(-1),
        **{t: post["beta"].sel(term=t).values.reshape(-1) for t in ("x", "d")},
        "sigma_residual": post["sigma_residual"].values.reshape(-1),
        "sigma_country": post["sigma_country"].values.reshape(-1),
    }
    reml = dict(zip(["intercept", "x", "d"], np.asarray(res.fe_params), strict=True))
    reml["sigma_residual"] = float(np.sqrt(res.scale))
    reml["sigma_country"] = float(np.sqrt(np.asarray(res.cov_re)[0, 0]))
    for name, value in reml.items():
        assert abs(draws[name].mean() - value) < 2 * draws[name].std(), name


@pytest.mark.parametrize("family", ["bernoulli", "binomial", "poisson", "negative_binomial", "ordinal"])
def test_statsmodels_baselines_exist(family):
    df, truth = simulate(family, seed=8, n=600, n_groups=1)  # one group: no group effect to miss
    trials = df.get("n")
    res = get_family(family).baseline(df["y"], df[["x", "d"]], trials=trials)
    params = np.asarray(res.params)
    start = 1 if get_family(family).has_intercept else 0
    assert params[start : start + 2] == pytest.approx([truth["x"], truth["d"]], abs=0.35)


def test_weights_and_names_that_cannot_work_are_refused():
    from clusterpreneur.models import LatentSpec

    with pytest.raises(SpecError, match="latent measurement model"):
        latent = LatentSpec("sc", "sc_score", ("a", "b"))
        ModelSpec(name="t", outcome="takeoff", terms=("sc_score",), latent=latent, weights="w").check()
    with pytest.raises(SpecError, match="share the name"):
        ModelSpec(name="t", outcome="y", family="gaussian", groups=(GroupLevel("residual", "r"),)).check()


def test_family_parameters_have_readers_names():
    from clusterpreneur.study.predictors import term_label

    assert term_label("sigma_residual") == "residual SD"
    assert term_label("alpha") == "dispersion (alpha)"
    assert term_label("sigma_country") == "SD of country effects"
    assert all(set(f.labels) == set(f.parameters) for f in REGISTRY.values())
