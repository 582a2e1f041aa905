"""Tiny PyMC models that exercise the diagnostics (tests, self-checks, SBC examples).

They live in the package (not in tests) so Dask worker processes can import them by name.
Every factory takes picklable data and returns a fresh ``pm.Model``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm

EIGHT_SCHOOLS = pd.DataFrame(
    {
        "school": [f"s{i}" for i in range(8)],
        "y": [28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0],
        "sigma": [15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0],
    }
)


def eight_schools(data: pd.DataFrame = EIGHT_SCHOOLS, *, centred: bool = False) -> pm.Model:
    """Eight schools; the centred version has the funnel that makes NUTS diverge."""
    coords = {"school": data["school"].astype(str).tolist()}
    with pm.Model(coords=coords) as model:
        mu = pm.Normal("mu", 0.0, 5.0)
        tau = pm.HalfCauchy("tau", 5.0)
        if centred:
            theta = pm.Normal("theta", mu, tau, dims="school")
        else:
            z = pm.Normal("z", 0.0, 1.0, dims="school")
            theta = pm.Deterministic("theta", mu + tau * z, dims="school")
        pm.Normal("y", theta, data["sigma"].to_numpy(), observed=data["y"].to_numpy(), dims="school")
    return model


def normal_mean(data: pd.DataFrame, *, prior_sd: float = 1.0, prior_mean: float = 0.0) -> pm.Model:
    """``y_i ~ Normal(mu, 1)``, ``mu ~ Normal(prior_mean, prior_sd)``: the smallest SBC model.

    Data: a frame with a column ``y`` (its values are replaced by simulated ones in SBC).
    """
    coords = {"initiative": [str(i) for i in data.index]}
    with pm.Model(coords=coords) as model:
        mu = pm.Normal("mu", prior_mean, prior_sd)
        pm.Normal("y", mu, 1.0, observed=data["y"].to_numpy(dtype=float), dims="initiative")
    return model


def logistic_regression(data: pd.DataFrame) -> pm.Model:
    """Binary ``takeoff`` on standardised ``x1``, ``x2`` with an ``initiative`` coordinate."""
    coords = {"initiative": data["initiative"].astype(str).tolist(), "term": ["x1", "x2"]}
    with pm.Model(coords=coords) as model:
        intercept = pm.Normal("intercept", 0.0, 1.5)
        beta = pm.Normal("beta", 0.0, 1.0, dims="term")
        eta = intercept + pm.math.dot(data[["x1", "x2"]].to_numpy(), beta)
        pm.Bernoulli("takeoff", logit_p=eta, observed=data["takeoff"].to_numpy(), dims="initiative")
    return model


def logistic_data(n: int = 80, seed: int = 3) -> pd.DataFrame:
    """Data for :func:`logistic_regression` from known coefficients (intercept -0.3, beta 1, -0.5)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    p = 1 / (1 + np.exp(-(-0.3 + x @ np.array([1.0, -0.5]))))
    return pd.DataFrame(
        {
            "initiative": [f"CI{i:03d}" for i in range(n)],
            "x1": x[:, 0],
            "x2": x[:, 1],
            "takeoff": rng.binomial(1, p),
        }
    )


def ordinal_model(data: pd.DataFrame) -> pm.Model:
    """Cumulative-logit rating (0..3) on ``x1``: for rootogram checks."""
    coords = {"initiative": data["initiative"].astype(str).tolist()}
    with pm.Model(coords=coords) as model:
        beta = pm.Normal("beta", 0.0, 1.0)
        # prior means in increasing order give an ordered default initial point
        cut = pm.Normal(
            "cutpoints", np.array([-1.0, 0.0, 1.0]), 2.0, transform=pm.distributions.transforms.ordered
        )
        pm.OrderedLogistic(
            "rating",
            eta=beta * data["x1"].to_numpy(),
            cutpoints=cut,
            observed=data["rating"].to_numpy(),
            dims="initiative",
        )
    return model


def ordinal_data(n: int = 80, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    latent = 0.8 * x + rng.logistic(size=n)
    rating = np.digitize(latent, [-1.0, 0.0, 1.0])
    return pd.DataFrame({"initiative": [f"CI{i:03d}" for i in range(n)], "x1": x, "rating": rating})


def exact_normal_mean(model_factory, data: pd.DataFrame, seed: int, settings, *, shift: float = 0.0):
    """A mock SBC fitter for :func:`normal_mean` (prior N(0, 1)): exact conjugate posterior draws
    instead of NUTS, ``shift`` added to them (a wrong posterior, for the check to flag)."""
    import xarray as xr

    model = model_factory(data)
    y = data["y"].to_numpy(dtype=float)
    var = 1.0 / (1.0 + y.size)
    rng = np.random.default_rng(seed)
    mu = rng.normal(var * y.sum() + shift, np.sqrt(var), size=(settings.chains, settings.draws))
    post = xr.Dataset({"mu": (("chain", "draw"), mu)})
    post = post.assign_coords(chain=np.arange(settings.chains), draw=np.arange(settings.draws))
    return xr.DataTree.from_dict({"posterior": post}), model
