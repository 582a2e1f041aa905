"""K-fold by country: the held-out density of a country, checked against direct computation on a
hand-built fit (no sampler); the refitting loop on a tiny survey is a `slow` test."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.special import expit, logsumexp

from clusterpreneur.diagnostics.kfold import heldout_log_density, kfold_by_country
from clusterpreneur.errors import SpecError
from clusterpreneur.models.spec import GroupLevel, ModelSpec
from clusterpreneur.standardize import Standardizer

SPEC = ModelSpec(
    name="t", outcome="takeoff", terms=("breadth",), groups=(GroupLevel("country", "country_id"),)
)


def _fit(sigma: float, draws: int = 50):
    rng = np.random.default_rng(1)
    post = xr.Dataset(
        {"intercept": (("chain", "draw"), rng.normal(-0.5, 0.2, (1, draws))),
         "beta": (("chain", "draw", "term"), rng.normal(1.0, 0.2, (1, draws, 1))),
         "sigma_country": (("chain", "draw"), np.full((1, draws), sigma))},
        coords={"term": ["breadth"]},
    )  # fmt: skip
    return SimpleNamespace(
        spec=SPEC,
        idata=xr.DataTree.from_dict({"posterior": post}),
        prepared=SimpleNamespace(coords={"component": ["breadth"]}, categories={}),
        standardizer=Standardizer(center={"breadth": 1.0}, scale={"breadth": 2.0}),
    )


TEST = pd.DataFrame(
    {"initiative_id": ["a", "b", "c", "d"], "country_id": ["X", "X", "Y", "Y"],
     "breadth": [0.0, 3.0, 1.0, np.nan], "takeoff": [1, 0, 0, 1]}
)  # fmt: skip


def _direct(fit, rows: pd.DataFrame, u: np.ndarray) -> float:
    """log mean over draws and country effects u of the product of the rows' Bernoulli terms."""
    post = fit.idata["posterior"]
    a = post["intercept"].values.reshape(-1, 1, 1)
    b = post["beta"].values.reshape(-1, 1, 1)
    x = ((rows["breadth"].to_numpy() - 1.0) / 2.0)[None, None, :]
    p = expit(a + b * x + u[None, :, None])
    y = rows["takeoff"].to_numpy()[None, None, :]
    ll = np.log(np.where(y == 1, p, 1 - p)).sum(axis=2).reshape(-1)
    return float(logsumexp(ll) - np.log(ll.size))


def test_without_country_variation_the_density_is_exact():
    fit = _fit(sigma=0.0)
    elpd, dropped = heldout_log_density(fit, TEST, inner=3)
    assert dropped == 1  # d: missing breadth
    assert elpd["X"] == pytest.approx(_direct(fit, TEST.iloc[:2], np.zeros(1)), abs=1e-9)
    assert elpd["Y"] == pytest.approx(_direct(fit, TEST.iloc[2:3], np.zeros(1)), abs=1e-9)


def test_a_new_country_effect_is_integrated_over_its_population():
    fit = _fit(sigma=0.8)
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)  # E over N(0, 0.8^2) by quadrature
    post = fit.idata["posterior"]
    a = post["intercept"].values.reshape(-1, 1)
    b = post["beta"].values.reshape(-1, 1)
    rows = TEST.iloc[:2]
    x = (rows["breadth"].to_numpy() - 1.0) / 2.0
    lik = np.ones((a.shape[0], nodes.size))
    for xi, yi in zip(x, rows["takeoff"], strict=True):
        p = expit(a + b * xi + 0.8 * nodes[None, :])
        lik *= p if yi == 1 else 1 - p
    exact = float(np.log((lik @ (weights / weights.sum())).mean()))
    elpd, _ = heldout_log_density(fit, TEST, inner=4000, seed=2)
    assert elpd["X"] == pytest.approx(exact, abs=0.02)


RATINGS3 = ("r1", "r2", "r3")
ORDINAL = ModelSpec(
    name="m", outcome=RATINGS3, family="ordinal", terms=("breadth",), groups=SPEC.groups, obs_dim="initiative"
)
ORDINAL_TEST = pd.DataFrame(
    {"initiative_id": ["a", "b"], "country_id": ["X", "X"], "breadth": [0.0, 3.0],
     "r1": [1, 3], "r2": [2, 3], "r3": [1, 2]}
)  # fmt: skip


def _ordinal_fit(sigma: float, draws: int = 20):
    """Ratings 1-3 of three outcomes, no country variation, one effect per initiative of SD sigma."""
    rng = np.random.default_rng(3)
    cuts = {
        f"cutpoints_{y}": (
            ("chain", "draw", f"threshold_{y}"),
            np.sort(rng.normal([-1, 1], 0.3, (1, draws, 2))),
        )
        for y in RATINGS3
    }
    post = xr.Dataset(
        {"beta": (("chain", "draw", "outcome", "term"), rng.normal(0.5, 0.3, (1, draws, 3, 1))),
         "sigma_country": (("chain", "draw"), np.zeros((1, draws))),
         "sigma_initiative": (("chain", "draw"), np.full((1, draws), sigma)), **cuts},
        coords={"term": ["breadth"], "outcome": list(RATINGS3)},
    )  # fmt: skip
    return SimpleNamespace(
        spec=ORDINAL,
        idata=xr.DataTree.from_dict({"posterior": post}),
        prepared=SimpleNamespace(
            coords={"component": ["breadth"]}, categories={y: [1, 2, 3] for y in RATINGS3}
        ),
        standardizer=Standardizer(center={"breadth": 1.0}, scale={"breadth": 2.0}),
    )


def _ordinal_quadrature(fit, sigma: float, shared: bool) -> float:
    """log mean over draws of prod over initiatives of E_u prod_k p(y_k | eta_k + u_k), by
    Gauss-Hermite quadrature: u_k one effect shared by the outcomes, or independent per outcome."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    w = weights / weights.sum()
    post = fit.idata["posterior"]
    beta = post["beta"].values.reshape(-1, 3)  # S x K
    x = (ORDINAL_TEST["breadth"].to_numpy() - 1.0) / 2.0
    out = np.zeros(beta.shape[0])
    for i in range(len(ORDINAL_TEST)):
        probs = []  # per outcome: S x nodes
        for k, y in enumerate(RATINGS3):
            c = post[f"cutpoints_{y}"].values.reshape(-1, 2)
            padded = np.column_stack([np.full(len(c), -np.inf), c, np.full(len(c), np.inf)])
            code = int(ORDINAL_TEST[y].iloc[i]) - 1
            e = beta[:, k : k + 1] * x[i] + sigma * nodes[None, :]
            probs.append(expit(padded[:, code + 1, None] - e) - expit(padded[:, code, None] - e))
        out += (
            np.log(np.prod(probs, axis=0) @ w) if shared else np.sum([np.log(q @ w) for q in probs], axis=0)
        )
    return float(logsumexp(out) - np.log(out.size))


def test_a_new_initiatives_ratings_share_one_effect_integrated_over_its_population():
    fit = _ordinal_fit(sigma=1.5)
    exact = _ordinal_quadrature(fit, 1.5, shared=True)
    elpd, _ = heldout_log_density(fit, ORDINAL_TEST, inner=4000, seed=2)
    assert elpd["X"] == pytest.approx(exact, abs=0.02)
    # the check can tell the shared effect from independent effects per outcome
    assert abs(_ordinal_quadrature(fit, 1.5, shared=False) - exact) > 0.1


def test_a_fit_with_the_earlier_correlated_effects_is_refused():
    fit = _ordinal_fit(sigma=1.0)
    post = fit.idata["posterior"].to_dataset().assign(chol_outcome=(("chain", "draw"), np.zeros((1, 20))))
    fit.idata = xr.DataTree.from_dict({"posterior": post})
    with pytest.raises(SpecError, match="refit"):
        heldout_log_density(fit, ORDINAL_TEST)


def test_folds_keep_every_rating_category_in_training():
    from clusterpreneur.diagnostics.kfold import split_countries

    spec = ModelSpec(name="r", outcome="rating", family="ordinal", groups=SPEC.groups)
    df = pd.DataFrame({"country_id": list("AABBCCDD"), "rating": [1, 2, 2, 3, 1, 3, 2, 2]})
    labels = df["country_id"]
    fold_of = split_countries(spec, df, labels, np.array(list("ABCD")), 2, seed=0)
    for f in (0, 1):
        assert set(df.loc[labels.map(fold_of) != f, "rating"]) == {1, 2, 3}
    rare = df.assign(rating=[1, 2, 2, 2, 2, 3, 2, 2])  # 1 and 3 each in one country: no 4-fold split
    with pytest.raises(SpecError, match="category"):
        split_countries(spec, rare, labels, np.array(list("ABCD")), 4, seed=0)


def test_unsupported_specs_are_refused():
    with pytest.raises(SpecError, match="varying intercepts only"):
        kfold_by_country(SPEC.with_overrides(baseline="wave"), TEST, seed=1)


@pytest.mark.slow
def test_kfold_by_country_of_m4_runs_on_a_small_survey():
    from clusterpreneur.study.ladder import LADDER
    from clusterpreneur.study.simulate import simulate_survey

    df = simulate_survey(200, 20, seed=4).data  # smaller surveys have a rating answered in one country
    res = kfold_by_country(LADDER["M4"], df, k=3, seed=3, draws=200, tune=200, chains=2, sampler="pymc")
    assert len(res.table) == 20 and res.table["n"].sum() == 200
    assert np.isfinite(res.elpd) and res.elpd < 0 and res.se > 0
