"""The compiled-kernel engine: its density is the PyMC model's, its sampler the same posterior.

The kernel (``models/kernel.py``) is a second implementation of the GLMM log-density, so it
is pinned to the PyMC model point by point: at random points its log-density equals the
PyMC model's at the same parameter values plus the log Jacobian of the Laplace-centring,
``-R log sigma + sum_r log tau_r`` (z = u / sigma and u = m + tau eps), and its gradient
equals central finite differences. The posterior test then compares whole fits.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy.special import log_expit

from clusterpreneur.errors import SpecError
from clusterpreneur.models import GroupLevel, ModelSpec, build_model, fit_model, kernel, load_fit, prepare
from clusterpreneur.models.engine import kernel_unsupported, pack
from clusterpreneur.study.ladder import LADDER


def _counts_frame(n: int = 90) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "unit": [f"u{i}" for i in range(n)],
            "district": [f"d{i % 5}" for i in range(n)],
            "school": [f"d{i % 5}-s{i % 15}" for i in range(n)],
            "x": rng.normal(size=n),
            "tries": rng.integers(1, 12, n),
        }
    )
    df["hits"] = rng.binomial(df["tries"], 0.4)
    return df


COUNTS = ModelSpec(
    name="counts",
    outcome="hits",
    family="binomial",
    trials="tries",
    terms=("x",),
    groups=(
        GroupLevel("country", "district", centered=True),
        GroupLevel("region", "school", parent="country", laplace=True),
    ),
    id_column="unit",
    priors={"sigma_country": {"dist": "Exponential", "lam": 2.0}},
)


def _cases(small_survey):
    m1 = LADDER["M1"]
    plain = m1.with_overrides(groups=(m1.groups[0], replace(m1.groups[1], laplace=False)))
    return {
        "M1": (LADDER["M1"], small_survey.data),
        "M2 (varying slope)": (LADDER["M2"], small_survey.data),
        "M1 without Laplace level": (plain, small_survey.data),
        "binomial, centred level, Exponential prior": (COUNTS, _counts_frame()),
    }


def _laplace_tau(packed, theta):
    """tau_r = u_r(eps = 1) - u_r(eps = 0): u = m + tau eps with m, tau free of eps."""
    d = packed.data
    name = next(k for k, v in packed.parametrization.items() if v == "laplace-centred")
    R = d.lap_start.size - 1
    at = []
    for value in (0.0, 1.0):
        th = theta.copy()
        th[d.lap_off + 1 : d.lap_off + 1 + R] = value
        at.append(packed.unflatten(d.expand(th))[f"u_{name}"])
    return name, at[1] - at[0]


@pytest.fixture(scope="module")
def cases(small_survey):
    return _cases(small_survey)


@pytest.mark.parametrize(
    "case",
    ["M1", "M2 (varying slope)", "M1 without Laplace level", "binomial, centred level, Exponential prior"],
)
def test_kernel_density_is_the_pymc_density_reparametrised(cases, case):
    spec, df = cases[case]
    prep = prepare(spec, df)
    packed = pack(spec, prep)
    model = build_model(spec, df, prepared=prep)
    pymc_logp = model.compile_logp()
    rng = np.random.default_rng(1)
    for _ in range(3):
        theta = rng.normal(0.0, 0.7, packed.data.n_dim)
        value, _ = packed.data.logp_and_grad(theta)
        drawn = packed.unflatten(packed.data.expand(theta))
        point = {
            v.name: np.log(drawn[v.name.removesuffix("_log__")])
            if v.name.endswith("_log__")
            else drawn[v.name]
            for v in model.value_vars
        }
        expected = pymc_logp(point)
        if packed.data.lap_off >= 0:
            name, tau = _laplace_tau(packed, theta)
            assert (tau > 0).all()
            expected += -tau.size * np.log(drawn[f"sigma_{name}"]) + np.log(tau).sum()
        # abs 1e-7: PyMC keeps some prior normalising constants in single precision (~6e-9 each)
        assert abs(value - expected) < 1e-7, (case, value - expected)


@pytest.mark.parametrize("case", ["M1", "M2 (varying slope)", "binomial, centred level, Exponential prior"])
def test_kernel_gradient_matches_finite_differences(cases, case):
    spec, df = cases[case]
    packed = pack(spec, prepare(spec, df))
    theta = np.random.default_rng(2).normal(0.0, 0.7, packed.data.n_dim)
    _, grad = packed.data.logp_and_grad(theta)
    h = 1e-6
    fd = np.array(
        [
            (packed.data.logp_and_grad(theta + e)[0] - packed.data.logp_and_grad(theta - e)[0]) / (2 * h)
            for e in np.eye(theta.size) * h
        ]
    )
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-5)


def test_fast_exp_log1p_and_likelihood_match_numpy():
    x = -np.linspace(0.0, 700.0, 200_001)
    exp_fast = np.array([kernel.exp_neg(v) for v in x[::50]])
    np.testing.assert_allclose(exp_fast, np.exp(x[::50]), rtol=1e-13, atol=0)
    e = np.linspace(0.0, 1.0, 4001)
    np.testing.assert_allclose([kernel.log1p_unit(v) for v in e], np.log1p(e), rtol=1e-14, atol=1e-300)
    rng = np.random.default_rng(3)
    t = rng.normal(0, 8, 500)
    n = rng.integers(1, 20, 500).astype(float)
    y = np.floor(rng.random(500) * (n + 1))
    got = np.array([kernel.binomial_logit(a, b, c) for a, b, c in zip(t, y, n, strict=True)])
    np.testing.assert_allclose(got[:, 0], y * log_expit(t) + (n - y) * log_expit(-t), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got[:, 1], y - n / (1 + np.exp(-t)), rtol=1e-12, atol=1e-12)


def test_kernel_gives_the_same_bits_on_several_threads(cases):
    """nutpie calls the C entry point from several threads at once; every call must give the
    same bits as a lone call (without this, chains of one seed differ run to run)."""
    spec, df = cases["M1"]
    packed = pack(spec, prepare(spec, df))
    d = packed.data
    ptr = ctypes.POINTER(ctypes.c_double)
    fn = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_uint64, ptr, ptr, ptr, ctypes.c_void_p)(
        kernel.logp_cfunc.address
    )
    points = [np.random.default_rng(k).uniform(-1, 1, d.n_dim) for k in range(8)]

    def call(x):
        g, lp = np.empty(d.n_dim), np.empty(1)
        rc = fn(
            d.n_dim,
            x.ctypes.data_as(ptr),
            g.ctypes.data_as(ptr),
            lp.ctypes.data_as(ptr),
            d.header.ctypes.data,
        )
        assert rc == 0
        return lp[0], g

    results: list[tuple[int, float, np.ndarray]] = []

    def worker(k):
        for it in range(150):
            j = (3 * k + it) % len(points)
            results.append((j, *call(points[j])))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    alone = [call(x) for x in points]
    assert len(results) == 600
    for j, lp, g in results:
        assert lp == alone[j][0] and np.array_equal(g, alone[j][1])


def test_kernel_fit_is_reproducible_and_labelled(small_survey):
    kw = dict(draws=150, tune=150, chains=2, progressbar=False)
    a = fit_model(LADDER["M1"], small_survey.data, seed=4, **kw)
    b = fit_model(LADDER["M1"], small_survey.data, seed=4, **kw)
    c = fit_model(LADDER["M1"], small_survey.data, seed=5, **kw)
    assert a.idata.attrs["engine"] == "kernel"
    assert '"region": "laplace-centred"' in a.idata.attrs["parametrization"]
    for name in ("beta", "sigma_region", "u_region", "z_country"):
        assert np.array_equal(a.posterior[name].values, b.posterior[name].values)
    assert not np.array_equal(a.posterior["beta"].values, c.posterior["beta"].values)
    # the same variables, dims and groups as a PyMC-graph fit
    assert set(a.posterior.data_vars) == {
        "intercept", "beta", "sigma_country", "z_country", "u_country", "sigma_region", "z_region", "u_region"
    }  # fmt: skip
    assert a.posterior["u_region"].dims == ("chain", "draw", "region")
    np.testing.assert_allclose(
        a.posterior["z_region"] * a.posterior["sigma_region"], a.posterior["u_region"], rtol=1e-12
    )
    assert {"log_likelihood", "log_prior", "observed_data", "constant_data"} <= set(a.idata.children)


def test_kernel_and_graph_sample_the_same_posterior(m1_fit, m1_kernel_fit):
    """M1 on the 400-initiative recovery survey, PyMC graph (PyMC's NUTS, 2 x 500 draws) and
    kernel (nutpie, Laplace-centred regions, 4 x 1000): posterior means of every coefficient
    and both scales agree within 4.5 combined Monte Carlo standard errors (17 quantities; a
    wrong Jacobian or a lost term shifts sigma_region or the intercept by far more)."""
    import arviz as az

    names = ["intercept", "beta", "sigma_country", "sigma_region"]
    ka = az.summary(m1_kernel_fit.idata, var_names=names)
    ga = az.summary(m1_fit.idata, var_names=names)
    z = (ka["mean"] - ga["mean"]) / np.sqrt(ka["mcse_mean"] ** 2 + ga["mcse_mean"] ** 2)
    assert len(z) == 18
    assert (z.abs() < 4.5).all(), z.sort_values()
    ratio = ka["sd"] / ga["sd"]
    assert ratio.between(0.8, 1.25).all(), ratio


def test_kernel_fit_saves_loads_and_predicts(m1_kernel_fit, recovery_survey, tmp_path):
    path = m1_kernel_fit.save(tmp_path / "m1.nc")
    again = load_fit(path, recovery_survey.data)
    new = recovery_survey.data.head(5)
    pd.testing.assert_frame_equal(m1_kernel_fit.predict(new, seed=1), again.predict(new, seed=1))


def test_specs_outside_the_kernel_say_why(small_survey, mcar_survey):
    df = small_survey.data

    def reason(spec, data=df):
        return kernel_unsupported(spec, prepare(spec, data))

    assert reason(LADDER["M1"]) is None and reason(LADDER["M2"]) is None
    assert "latent" in reason(LADDER["M3"])
    assert "ordinal" in reason(LADDER["M4"])
    assert "shrinkage" in reason(LADDER["M5"])
    assert "imputed" in reason(LADDER["M1"], mcar_survey.data)
    student = LADDER["M1"].with_overrides(priors={"beta": {"dist": "StudentT", "nu": 3, "mu": 0, "sigma": 1}})
    assert "StudentT" in reason(student)
    cauchy = LADDER["M1"].with_overrides(priors={"sigma_region": {"dist": "HalfCauchy", "beta": 1}})
    assert "sigma_region" in reason(cauchy)
    with pytest.raises(SpecError, match="ordinal"):
        fit_model(LADDER["M4"], df, seed=1, engine="kernel")
    with pytest.raises(SpecError, match="sampler 'pymc'"):
        fit_model(LADDER["M1"], df, seed=1, engine="kernel", sampler="pymc")
    with pytest.raises(SpecError, match="engine"):
        fit_model(LADDER["M1"], df, seed=1, engine="stan")


@pytest.mark.parametrize(
    "groups, match",
    [
        (
            (
                GroupLevel("country", "country_id", laplace=True),
                GroupLevel("region", "region_id", laplace=True),
            ),
            "one",
        ),
        ((GroupLevel("country", "country_id", centered=True, laplace=True),), "not both"),
    ],
)
def test_laplace_levels_are_checked(groups, match, small_survey):
    with pytest.raises(SpecError, match=match):
        LADDER["M1"].with_overrides(groups=groups).check()


def test_laplace_is_a_sampler_hint_where_it_does_not_apply(small_survey):
    """An ordinal outcome or a level with varying slopes: the level is sampled non-centred."""
    assert LADDER["M4"].groups[1].laplace  # inherited from M1, ignored for ordinal outcomes
    m2 = LADDER["M2"]
    sloped = m2.with_overrides(slopes=(replace(m2.slopes[0], group="region"),))
    packed = pack(sloped, prepare(sloped, small_survey.data))
    assert packed.parametrization["region"] == "non-centred" and packed.data.lap_off == -1
    assert {"z_region", "u_region", "u_breadth_region"} <= set(packed.names)
