"""The fixed-design route (design built in NumPy) against the in-graph route, and cores."""

from __future__ import annotations

import numpy as np
import pytest

from clusterpreneur.models import build as build_mod
from clusterpreneur.models import build_model, prepare
from clusterpreneur.models.fit import default_cores
from clusterpreneur.study.ladder import LADDER
from clusterpreneur.study.predictors import design_matrix


def _logp_and_grad(model, point):
    logp = model.compile_logp()
    dlogp = model.compile_dlogp()
    return float(logp(point)), np.asarray(dlogp(point))


@pytest.mark.parametrize("name", ["M1", "M2", "M5"])
def test_numpy_design_gives_the_same_density_as_the_graph(name, small_survey, monkeypatch):
    spec = LADDER[name].with_overrides(fixed_effects="plain")  # QR needs the design in NumPy
    prep = prepare(spec, small_survey.data)
    assert build_mod.design_in_numpy(prep)
    fast = build_model(spec, small_survey.data, prepared=prep)
    assert "design" in fast.named_vars and "components" not in fast.named_vars
    assert fast.named_vars_to_dims["design"] == ("initiative", "term")
    rng = np.random.default_rng(0)
    point = {k: v + rng.normal(0.0, 0.3, size=np.shape(v)) for k, v in fast.initial_point().items()}
    monkeypatch.setattr(build_mod, "design_in_numpy", lambda prep: False)
    slow = build_model(spec, small_survey.data, prepared=prep)
    assert "components" in slow.named_vars and "design" not in slow.named_vars
    lp_fast, g_fast = _logp_and_grad(fast, point)
    lp_slow, g_slow = _logp_and_grad(slow, point)
    assert lp_fast == pytest.approx(lp_slow, rel=1e-10)
    np.testing.assert_allclose(g_fast, g_slow, rtol=1e-9, atol=1e-9)


def test_numpy_design_matches_predictors_design_matrix(small_survey):
    spec = LADDER["M1"]
    prep = prepare(spec, small_survey.data)
    assert len(prep.data) == len(small_survey.data)  # nothing dropped
    X, _ = design_matrix(small_survey.data, spec.term_objects, prep.standardizer)
    np.testing.assert_allclose(build_mod.design_array(prep), X.to_numpy(), rtol=1e-12, atol=1e-12)


def test_latent_and_imputed_components_stay_in_the_graph(mcar_survey):
    for name in ("M1", "M3"):  # M1 imputes on the MCAR survey; M3 has latent social capital
        prep = prepare(LADDER[name], mcar_survey.data)
        assert not build_mod.design_in_numpy(prep)
        model = build_model(LADDER[name], mcar_survey.data, prepared=prep)
        assert "components" in model.named_vars and "design" not in model.named_vars


def test_default_cores_uses_the_usable_cpus_up_to_the_chains(monkeypatch):
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert default_cores(4) == 3
    assert default_cores(2) == 2
    assert default_cores(1) == 1


def test_main_effects_of_h1_and_h3_are_their_effects_in_non_peripheral_regions(small_survey):
    """0/1 components are not centred, so the coefficient of breadth (H1) or social capital (H3)
    is the change per SD where peripheral = 0; continuous partners are centred (policy's
    coefficient is its effect at the mean age)."""
    from clusterpreneur.study.measures import add_measures

    spec = LADDER["M1"]
    prep = prepare(spec, small_survey.data)
    std = prep.standardizer
    assert (std.center["peripheral"], std.scale["peripheral"]) == (0.0, 1.0)
    assert std.center["breadth"] != 0.0 and std.center["age"] != 0.0
    frame = add_measures(small_survey.data)
    terms = spec.term_objects
    names = [t.name for t in terms]
    beta = np.random.default_rng(3).normal(size=len(terms))
    coef = dict(zip(names, beta, strict=True))

    def eta(f):
        return design_matrix(f, terms, std)[0].to_numpy() @ beta

    periph = frame["peripheral"].to_numpy() == 1
    assert periph.any() and (~periph).any()
    for main in ("breadth", "sc_score"):
        shifted = frame.assign(**{main: frame[main] + std.scale[main]})  # one SD more
        change = eta(shifted) - eta(frame)
        np.testing.assert_allclose(change[~periph], coef[main], atol=1e-12)
        np.testing.assert_allclose(change[periph], coef[main] + coef[f"{main}:peripheral"], atol=1e-12)
    at_mean_age = frame.assign(age=std.center["age"])
    more_policy = at_mean_age.assign(
        involve_policy=at_mean_age["involve_policy"] + std.scale["involve_policy"]
    )
    np.testing.assert_allclose(eta(more_policy) - eta(at_mean_age), coef["involve_policy"], atol=1e-12)
