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
