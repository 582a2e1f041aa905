"""Model specifications: serialisation, hashing, and clear errors before any compiling."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clusterpreneur.errors import SpecError
from clusterpreneur.models import GroupLevel, ModelSpec, build_model, fit_model, prepare
from clusterpreneur.study.ladder import LADDER, STUDY_NAMES
from clusterpreneur.study.predictors import STUDY_TERM_NAMES


@pytest.mark.parametrize("name", list(LADDER))
def test_spec_json_round_trip_and_hash(name):
    spec = LADDER[name]
    again = ModelSpec.from_json(spec.to_json())
    assert again == spec
    assert again.sha256() == spec.sha256()
    assert json.loads(spec.to_json())["name"] == name


def test_ladder_uses_the_shared_predictor_statement():
    for name in ("M1", "M2", "M3"):
        assert LADDER[name].terms == STUDY_TERM_NAMES
    assert LADDER["M5"].terms[: len(STUDY_TERM_NAMES)] == STUDY_TERM_NAMES
    assert set(LADDER["M5"].shrinkage_terms) <= set(LADDER["M5"].terms)


def test_hash_changes_with_priors():
    spec = LADDER["M1"].with_overrides(priors={"beta": {"dist": "Normal", "mu": 0, "sigma": 0.5}})
    assert spec.sha256() != LADDER["M1"].sha256()


def test_unknown_column_is_refused(survey_frame):
    spec = LADDER["M1"].with_overrides(terms=(*STUDY_TERM_NAMES, "no_such_column"))
    with pytest.raises(SpecError, match="no_such_column"):
        build_model(spec, survey_frame)


def test_missing_group_column_is_refused(survey_frame):
    with pytest.raises(SpecError, match="region_id"):
        prepare(LADDER["M1"], survey_frame.drop(columns="region_id"))


def test_bernoulli_on_a_rating_is_refused(survey_frame):
    spec = LADDER["M1"].with_overrides(outcome="perf_growth")
    with pytest.raises(SpecError, match="bernoulli"):
        fit_model(spec, survey_frame, seed=1, draws=10, tune=10, chains=1, sampler="pymc")


def test_ordinal_outcome_with_unused_category_is_refused(survey_frame):
    df = survey_frame.copy()
    df["perf_growth"] = df["perf_growth"].replace({3: 4})
    spec = LADDER["M1"].with_overrides(outcome="perf_growth", family="ordinal")
    with pytest.raises(SpecError, match=r"never uses categor.*3"):
        build_model(spec, df)
    declared = spec.with_overrides(categories=(0, 1, 2, 3, 4, 5, 6))
    with pytest.raises(SpecError, match="never uses"):
        prepare(declared, survey_frame)


def test_unknown_prior_distribution_is_refused(survey_frame):
    spec = LADDER["M1"].with_overrides(priors={"beta": {"dist": "NoSuchDist"}})
    with pytest.raises(SpecError, match="NoSuchDist"):
        prepare(spec, survey_frame)


def test_the_removed_lkj_prior_key_says_why(survey_frame):
    spec = LADDER["M4"].with_overrides(priors={"lkj_eta": {"eta": 2.0}})
    with pytest.raises(SpecError, match=r"'lkj_eta' no longer exists: .* share one effect per observation"):
        prepare(spec, survey_frame)
    assert "sigma_initiative" in LADDER["M4"].prior_keys() and "lkj_eta" not in LADDER["M4"].prior_keys()


def test_binomial_needs_trials_and_counts(survey_frame):
    with pytest.raises(SpecError, match="trials"):
        ModelSpec(name="b", outcome="n_firms_10plus", family="binomial", terms=("age",)).check()
    bad = ModelSpec(
        name="b", outcome="n_firms", family="binomial", trials="board_seats", terms=("age",), **STUDY_NAMES
    )
    with pytest.raises(SpecError, match="between 0"):
        prepare(bad, survey_frame)


def test_user_spec_with_other_column_names_binomial_mixed_model():
    """A plain binomial mixed model on counts in a dataset with its own column names."""
    rng = np.random.default_rng(0)
    import pandas as pd

    n = 60
    df = pd.DataFrame(
        {
            "unit": [f"u{i}" for i in range(n)],
            "school": [f"s{i % 6}" for i in range(n)],
            "x": rng.normal(size=n),
            "tries": rng.integers(5, 15, n),
        }
    )
    df["hits"] = rng.binomial(df["tries"], 0.4)
    spec = ModelSpec(
        name="counts",
        outcome="hits",
        family="binomial",
        trials="tries",
        terms=("x",),
        groups=(GroupLevel("school", "school"),),
        id_column="unit",
        obs_dim="pupil",
    )
    model = build_model(spec, df)
    assert model.named_vars["hits"].owner is not None
    assert model.coords["school"] == tuple(sorted(df["school"].unique()))
    assert model.coords["pupil"] == tuple(df["unit"])
    assert model.named_vars_to_dims["hits"] == ("pupil",)
    assert set(model.named_vars) >= {"intercept", "beta", "sigma_school", "z_school", "u_school"}


def test_unknown_sampler_is_refused_before_compiling(survey_frame):
    with pytest.raises(SpecError, match="sampler"):
        fit_model(LADDER["M1"], survey_frame, seed=1, sampler="stan")


def test_numpyro_sampler_needs_the_extra(survey_frame):
    try:
        import numpyro  # noqa: F401
    except ImportError:
        with pytest.raises(SpecError, match="numpyro"):
            fit_model(LADDER["M1"], survey_frame, seed=1, sampler="numpyro")
    else:
        pytest.skip("numpyro is installed")
