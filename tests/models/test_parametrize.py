"""Parametrisations: the model is the same under each, the automatic rule picks what it says."""

from __future__ import annotations

import json
from dataclasses import replace

import arviz as az
import numpy as np
import pymc as pm
import pytest

from clusterpreneur.errors import SpecError
from clusterpreneur.models import build_model, prepare
from clusterpreneur.models.build import parametrization
from clusterpreneur.models.parametrize import CENTRED_MIN, NONCENTRED_MAX, choose, information
from clusterpreneur.models.spec import ModelSpec
from clusterpreneur.study.ladder import LADDER


def _all(spec: ModelSpec, how: str, fixed: str = "auto") -> ModelSpec:
    return spec.with_overrides(
        groups=tuple(replace(g, parametrization=how) for g in spec.groups),
        slopes=tuple(replace(s, parametrization=how) for s in spec.slopes),
        fixed_effects=fixed,
    )


def test_reparametrised_posterior_equals_the_noncentred_one(m1_fit, m1_noncentred_fit):
    """Same data, same model: Laplace-centred regions and QR-whitened fixed effects (auto)
    against every level non-centred with plain fixed effects. Posterior means of every
    coefficient and group SD agree within their Monte Carlo error (4 combined MCSE)."""
    assert json.loads(m1_fit.idata.attrs["parametrization"])["region"] == "laplace"
    assert json.loads(m1_fit.idata.attrs["parametrization"])["fixed_effects"] == "qr"
    assert set(json.loads(m1_noncentred_fit.idata.attrs["parametrization"]).values()) == {
        "non-centred",
        "plain",
    }
    names = ["intercept", "beta", "sigma_country", "sigma_region"]
    a = az.summary(m1_fit.idata, var_names=names, kind="all")
    b = az.summary(m1_noncentred_fit.idata, var_names=names, kind="all")
    a, b = a.loc[b.index], b
    bound = 4 * np.sqrt(a["mcse_mean"].astype(float) ** 2 + b["mcse_mean"].astype(float) ** 2)
    diff = (a["mean"].astype(float) - b["mean"].astype(float)).abs()
    assert (diff <= bound).all(), diff[diff > bound]
    # and the region effects themselves, on average over regions
    ua = m1_fit.posterior["u_region"].mean(("chain", "draw")).values
    ub = m1_noncentred_fit.posterior["u_region"].mean(("chain", "draw")).values
    assert np.corrcoef(ua, ub)[0, 1] > 0.9


def test_prior_draws_of_laplace_effects_have_the_prior_sd(small_survey):
    """u = m + tau z with z ~ Normal(-m / tau, sigma / tau) is Normal(0, sigma): u / sigma is
    standard normal in the prior, for intercept levels and slopes alike."""
    spec = _all(LADDER["M2"], "laplace")
    model = build_model(spec, small_survey.data)
    with model:
        prior = pm.sample_prior_predictive(draws=4000, random_seed=3)["prior"]
    for u, sigma in (("u_region", "sigma_region"), ("u_breadth_country", "sigma_breadth_country")):
        ratio = (prior[u] / prior[sigma]).values.ravel()
        assert abs(ratio.mean()) < 0.03 and abs(ratio.std() - 1.0) < 0.03, (u, ratio.mean(), ratio.std())
    # the shift is real: m is far from 0 for some regions, so the test is not vacuous
    inf = information(spec, prepare(spec, small_survey.data), "region", None, {"takeoff": _y(small_survey)})
    assert np.abs(inf.score).max() > 0.5


def _y(survey):
    return survey.data["takeoff"].to_numpy(dtype=float)


def test_the_automatic_rule_picks_what_it_documents():
    many = np.full(30, CENTRED_MIN * 2.0)
    assert choose(many, 1.0) == "centred"
    assert choose(many, 0.1) == "laplace"  # the same data under a tighter prior scale
    assert choose(np.full(30, NONCENTRED_MAX / 4), 1.0) == "non-centred"
    mixed = np.concatenate([np.full(26, 100.0), np.full(4, 0.5)])  # over a tenth weakly informed
    assert choose(mixed, 1.0) == "laplace"
    assert choose(np.full((30, 3), 0.6), 1.0) == "laplace"  # several outcomes: averaged


def test_the_study_regions_are_laplace_and_plain_choices_are_honoured(small_survey):
    df = small_survey.data
    how = parametrization(LADDER["M1"], df)
    assert how["region"] == "laplace" and how["fixed_effects"] == "qr"
    model = build_model(_all(LADDER["M1"], "centred", "plain"), df)
    free = {rv.name for rv in model.free_RVs}
    assert {"intercept", "beta", "u_region", "u_country"} <= free and "fixed_qr" not in free
    assert parametrization(LADDER["M4"], df)["fixed_effects"] == "plain"  # ordinal: no intercept
    with pytest.raises(SpecError, match="fixed_effects='qr' does not apply"):
        parametrization(LADDER["M4"].with_overrides(fixed_effects="qr"), df)


def test_parametrisation_is_not_part_of_the_model_hash():
    m1 = LADDER["M1"]
    other = _all(m1, "centred", "plain")
    assert other.sha256() == m1.sha256()
    assert other.to_json() != m1.to_json()  # but it is saved with the spec
    assert ModelSpec.from_json(other.to_json()) == other
    assert m1.with_overrides(terms=m1.terms[:-1]).sha256() != m1.sha256()


def test_old_spec_fields_map_onto_the_parametrization():
    d = LADDER["M1"].to_dict()
    for g in d["groups"]:
        del g["parametrization"]
    d["groups"][0]["centered"], d["groups"][1]["laplace"] = True, True
    spec = ModelSpec.from_dict(d)
    assert [g.parametrization for g in spec.groups] == ["centred", "laplace"]


def test_an_unknown_parametrisation_says_what_to_choose():
    spec = LADDER["M1"]
    bad = spec.with_overrides(groups=(replace(spec.groups[0], parametrization="funnel"), spec.groups[1]))
    with pytest.raises(SpecError, match=r"unknown parametrization 'funnel'.*laplace"):
        bad.check()


def test_prior_sensitivity_does_not_depend_on_the_parametrisation(m1_fit, m1_noncentred_fit):
    """Power-scaling scales the population-level priors only: the group effects' coordinates
    (laplace or non-centred z) are left out, so one model gets one diagnosis however it was sampled
    (scaling every term gave sigma_region 1.9 under laplace and 0.24 non-centred)."""
    from clusterpreneur.diagnostics.sensitivity import population_priors, prior_sensitivity

    scales = ["sigma_country", "sigma_region"]
    tables = {}
    for name, fit in {"auto": m1_fit, "non-centred": m1_noncentred_fit}.items():
        scaled = population_priors(fit.idata)
        assert set(scales) <= set(scaled) and not any(v.startswith(("z_", "u_")) for v in scaled)
        tables[name] = prior_sensitivity(fit.idata, var_names=[*scales, "beta"]).set_index("parameter")[
            "prior"
        ]
    diff = (tables["auto"] - tables["non-centred"]).abs()
    assert diff[scales].max() < 0.05, diff
    assert diff.median() < 0.03, diff
