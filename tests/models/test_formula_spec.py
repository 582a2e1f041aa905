"""Specs from formulas: the ladder as formulas, the classic GLMM examples as one-liners, prior
keys, cutpoint priors, print(spec), and a small seeded fit of the shipped herd example."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clusterpreneur.errors import SpecError
from clusterpreneur.models import GroupLevel, ModelSpec, build_model, fit_model, prepare
from clusterpreneur.models.build import design_array
from clusterpreneur.models.formula import Formula
from clusterpreneur.models.spec import FAMILIES
from clusterpreneur.study.datasets import HERDS_TRUTH, example_path
from clusterpreneur.study.ladder import LADDER
from clusterpreneur.study.measures import add_measures
from clusterpreneur.study.predictors import HYPOTHESIS_SIGNS

GROUP_NAMES = {"country_id": "country", "region_id": "region"}


def _ladder_formula(name: str, data: pd.DataFrame) -> ModelSpec:
    spec = LADDER[name]
    slope = " + breadth" if spec.slopes else ""
    text = f"takeoff ~ {' + '.join(spec.terms)} + (1{slope} | country_id) + (1 | region_id)"
    return ModelSpec.from_formula(
        text, data, group_names=GROUP_NAMES, obs_dim="initiative", id_column="initiative_id",
        hypotheses=HYPOTHESIS_SIGNS, name=name,
    )  # fmt: skip


@pytest.fixture(scope="module")
def survey_measures(small_survey) -> pd.DataFrame:
    df = add_measures(small_survey.data)
    complete = df[list(LADDER["M2"].components)].notna().all(axis=1)
    return df.loc[complete].reset_index(drop=True)  # the formula drops, the ladder would impute


@pytest.mark.parametrize("name", ["M1", "M2"])
def test_the_ladder_as_a_formula_gives_the_same_design_groups_and_priors(name, survey_measures):
    ladder, formula = LADDER[name], _ladder_formula(name, survey_measures)
    a, b = prepare(ladder, survey_measures), prepare(formula, survey_measures)
    assert formula.terms == ladder.terms and formula.slopes == ladder.slopes
    assert np.array_equal(design_array(a), design_array(b))
    # formulae's own design matrix (the Design of models/formula.py) is the same matrix
    np.testing.assert_allclose(
        Formula(formula.formula).design(survey_measures).X, design_array(b), rtol=1e-12
    )
    assert a.coords == b.coords
    assert all(np.array_equal(a.group_index[g], b.group_index[g]) for g in a.group_index)
    assert ladder.prior_parameters() == formula.prior_parameters()
    for param, default in ladder.prior_parameters().items():
        assert ladder.prior(param, default) == formula.prior(param, default)
    assert [t for t in formula.term_objects if t.sign] == [t for t in ladder.term_objects if t.sign]


def test_the_ladder_as_a_formula_has_the_same_log_density(survey_measures):
    """Same graph: the log posterior density agrees at a random point (so does the posterior)."""
    models = [build_model(s, survey_measures) for s in (LADDER["M2"], _ladder_formula("M2", survey_measures))]
    rng = np.random.default_rng(3)
    point = {k: rng.normal(size=np.shape(v)) for k, v in models[0].initial_point().items()}
    values = [m.compile_logp()(point) for m in models]
    assert np.isfinite(values[0]) and values[0] == pytest.approx(values[1], rel=1e-12)


# --- the four classic examples as one-line formulas ------------------------------------------


def _herd_like(seed: int = 0, n_groups: int = 12, per_group: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_groups * per_group
    df = pd.DataFrame(
        {
            "herd": np.repeat([f"h{i}" for i in range(n_groups)], per_group),
            "period": np.tile([f"p{k}" for k in range(1, per_group + 1)], n_groups),
            "size": rng.integers(5, 30, n),
            "x": rng.normal(size=n),
            "judge": np.tile([f"j{k}" for k in range(per_group)], n_groups),
            "temp": np.tile(["cold", "warm"], n // 2),
            "contact": np.repeat([0, 1], n // 2),
        }
    )
    df["incidence"] = rng.binomial(df["size"], 0.2)
    df["rating"] = 1 + (rng.normal(size=n)[:, None] > np.array([-1.0, 0.0, 1.0])).sum(axis=1)
    df["unit"] = [f"o{i}" for i in range(n)]
    df["y"] = rng.normal(size=n)
    return df


def test_binomial_with_trials_by_herd():
    df = _herd_like()
    spec = ModelSpec.from_formula("p(incidence, size) ~ C(period) + (1 | herd)", df)
    assert (spec.family, spec.trials, spec.groups) == ("binomial", "size", (GroupLevel("herd", "herd"),))
    assert spec.terms == ("period[p2]", "period[p3]", "period[p4]")
    model = build_model(spec, df)
    assert model.named_vars_to_dims["incidence"] == ("obs",) and "sigma_herd" in model.named_vars


def test_ordinal_judge_rating():
    df = _herd_like()
    spec = ModelSpec.from_formula("rating ~ temp + contact + (1 | judge)", df, family="ordinal")
    assert spec.terms == ("temp[warm]", "contact") and spec.categorical == {"temp": ["cold", "warm"]}
    model = build_model(spec, df)
    assert {"cutpoints_rating", "sigma_judge", "beta"} <= set(model.named_vars)
    assert "intercept" not in model.named_vars


def test_overdispersed_binomial_with_an_observation_level_effect():
    df = _herd_like()
    spec = ModelSpec.from_formula("p(incidence, size) ~ x * C(period) + (1 | herd) + (1 | unit)", df)
    assert [g.name for g in spec.groups] == ["herd", "unit"]
    prep = prepare(spec, df)
    assert len(prep.coords["unit"]) == len(df) == len(prep.coords["obs"])  # one effect per observation
    with pytest.raises(SpecError, match="other than the observation dimension 'unit'"):
        ModelSpec.from_formula("p(incidence, size) ~ x + (1 | unit)", df, obs_dim="unit")
    assert "x:period[p2]" in spec.terms


def test_nested_groups_and_varying_slopes():
    df = _herd_like()
    spec = ModelSpec.from_formula("p(incidence, size) ~ x + (1 + x | herd) + (1 | herd:period)", df)
    assert [(g.name, g.column) for g in spec.groups] == [("herd", "herd"), ("herd_period", "herd:period")]
    assert [(s.term, s.group) for s in spec.slopes] == [("x", "herd")]
    assert prepare(spec, df).coords["herd_period"][:2] == ["h0:p1", "h0:p2"]


@pytest.mark.skipif("gaussian" not in FAMILIES, reason="the gaussian family comes with the families work")
def test_gaussian_county():
    df = _herd_like().rename(columns={"herd": "county"})
    spec = ModelSpec.from_formula("y ~ x + (1 + x | county)", df, family="gaussian")
    assert spec.family == "gaussian" and [g.name for g in spec.groups] == ["county"]


def test_formula_refusals_name_the_fix():
    df = _herd_like()
    with pytest.raises(SpecError, match="keep the intercept"):
        ModelSpec.from_formula("p(incidence, size) ~ 0 + x", df)
    with pytest.raises(SpecError, match="not a common term"):
        ModelSpec.from_formula("p(incidence, size) ~ C(period) + (1 + x | herd)", df)
    with pytest.raises(SpecError, match="not a term"):
        ModelSpec.from_formula("p(incidence, size) ~ x", df, hypotheses={"period": 1})
    with pytest.raises(SpecError, match="group_names"):
        ModelSpec.from_formula("p(incidence, size) ~ x + (1 | herd)", df, group_names={"farm": "f"})


def test_spec_of_a_formula_round_trips_and_keeps_the_formula():
    df = _herd_like()
    spec = ModelSpec.from_formula("p(incidence, size) ~ C(period, Treatment('p3')) + x + (1 | herd)", df)
    again = ModelSpec.from_json(spec.to_json())
    assert again == spec and again.sha256() == spec.sha256()
    assert spec.categorical["period"][0] == "p3"  # the reference level first
    assert "period[p3]" not in spec.terms


def test_standardisation_can_be_switched_off_and_never_scales_dummies():
    df = _herd_like()
    on = prepare(ModelSpec.from_formula("p(incidence, size) ~ x + C(period) + contact", df), df)
    off = prepare(
        ModelSpec.from_formula("p(incidence, size) ~ x + C(period) + contact", df, standardize=False), df
    )
    assert on.z["x"].std(ddof=0) == pytest.approx(1.0) and off.z["x"].equals(df["x"].astype(float))
    for prep in (on, off):
        assert set(prep.binary) == {"period[p2]", "period[p3]", "period[p4]", "contact"}
        assert set(prep.z["period[p2]"]) == {0.0, 1.0}


# --- priors --------------------------------------------------------------------------------------


def test_an_unknown_prior_key_is_refused_listing_the_valid_ones():
    df = _herd_like()
    with pytest.raises(SpecError, match=r"sigma_judge.*valid keys are \[.*'sigma_herd'"):
        ModelSpec.from_formula(
            "p(incidence, size) ~ x + (1 | herd)",
            df,
            priors={"sigma_judge": {"dist": "HalfNormal", "sigma": 1}},
        )
    spec = ModelSpec.from_formula(
        "p(incidence, size) ~ x + (1 | herd)", df, priors={"sigma_herd": {"dist": "HalfNormal", "sigma": 0.5}}
    )
    assert spec.prior("sigma_herd", "sigma") == {"dist": "HalfNormal", "sigma": 0.5}
    assert "cutpoints" not in spec.prior_keys() and "cutpoints" in LADDER["M4"].prior_keys()


@pytest.mark.parametrize("mu", [0.0, [0.5, 0.5, 0.5]])
def test_cutpoints_have_the_stated_prior_mean_and_a_valid_start(mu):
    """A scalar mean is every cutpoint's mean (no hidden linspace); equal means still initialise."""
    df = _herd_like()
    spec = ModelSpec.from_formula(
        "rating ~ x + (1 | judge)",
        df,
        family="ordinal",
        priors={"cutpoints": {"dist": "Normal", "mu": mu, "sigma": 2}},
    )
    model = build_model(spec, df)
    rv = model["cutpoints_rating"]
    stated = np.broadcast_to(np.asarray(mu, dtype=float), (3,))
    np.testing.assert_array_equal(np.broadcast_to(rv.owner.inputs[-2].eval(), (3,)), stated)
    start = model.initial_point()
    assert np.isfinite(model.compile_logp()(start))
    assert np.all(
        np.diff(model.rvs_to_transforms[rv].backward(start["cutpoints_rating_ordered__"]).eval()) > 0
    )


def test_print_spec_shows_formula_family_groups_and_priors():
    df = _herd_like()
    spec = ModelSpec.from_formula(
        "p(incidence, size) ~ C(period) + x + (1 + x | herd)", df, hypotheses={"x": -1},
        priors={"beta": {"dist": "Normal", "mu": 0, "sigma": 0.5}},
    )  # fmt: skip
    text = str(spec)
    for line in (
        "formula       p(incidence, size) ~ C(period) + x + (1 + x | herd)",
        "family        binomial (logit link)",
        "group         herd (column herd): varying intercept and slopes of x",
        "categorical   period: reference 'p1'",
        "hypothesis    x < 0",
    ):
        assert line in text
    assert "Normal(mu=0, sigma=0.5)   [set]" in text and "sigma_x_herd" in text


# --- a small seeded fit of the shipped example ------------------------------------------------


@pytest.fixture(scope="module")
def herd_fit():
    df = pd.read_csv(example_path())
    spec = ModelSpec.from_formula(
        "p(incidence, size) ~ C(period) + density + (1 | herd)", df, hypotheses={"density": 1}
    )
    return fit_model(spec, df, seed=11, draws=500, tune=500, chains=2, sampler="pymc", progressbar=False)


def test_herd_example_recovers_its_truth(herd_fit):
    """The 95% intervals of the period contrasts and the density effect (per SD) cover the
    generator's values (HERDS_TRUTH); the herd SD is left out: 15 herds' effects pin the SD of
    their own draw, not the generator's."""
    coef = herd_fit.coefficients().set_index(["term", "scale"])
    truth = {
        **{(f"period[{k}]", "unscaled"): v for k, v in HERDS_TRUTH["period"].items()},
        ("density", "standardised"): HERDS_TRUTH["density_per_sd"],
    }
    for key, value in truth.items():
        assert coef.loc[key, "ci_lower"] < value < coef.loc[key, "ci_upper"], key


def test_coefficients_label_each_scale_truthfully(herd_fit):
    coef = herd_fit.coefficients()
    scales = coef.groupby("term")["scale"].apply(tuple).to_dict()
    assert scales["period[p2]"] == ("unscaled",)  # a dummy has one scale
    assert scales["density"] == ("standardised", "original") and scales["sigma_herd"] == ("unscaled",)
    d = coef[coef["term"] == "density"].set_index("scale")["estimate"]
    assert d["original"] == pytest.approx(d["standardised"] / herd_fit.standardizer.scale["density"])
    hyp = herd_fit.hypotheses()
    assert list(hyp["term"]) == ["density"] and hyp.loc[0, "expected_sign"] == "+"
    assert "density" in herd_fit.idata.attrs["formula"] and "formula" in repr(herd_fit)


def test_a_formula_fit_saves_loads_and_predicts_on_its_own_names(herd_fit, tmp_path, capsys):
    from clusterpreneur.cli import main
    from clusterpreneur.models import load_fit

    path = herd_fit.save(tmp_path / "herds.nc")
    data = pd.read_csv(example_path())
    again = load_fit(path, data)
    assert again.spec == herd_fit.spec and list(again.posterior["u_herd"].dims)[-1] == "herd"
    new = data.head(2).assign(herd=["H01", "NEW"])
    pd.testing.assert_frame_equal(again.predict(new, seed=1), herd_fit.predict(new, seed=1))
    assert list(herd_fit.predict(new)["group_status"]) == ["seen", "new herd"]
    new.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "pred.csv"
    code = main(["predict", str(path), "--data", str(example_path()), "--cases", str(tmp_path / "new.csv"),
                 "--out", str(out)])  # fmt: skip
    assert code == 0 and len(pd.read_csv(out)) == 2
    assert main(["predict", str(path), "--data", str(example_path())]) == 2  # no --cases: the study's
    assert "--cases FILE" in capsys.readouterr().err


def test_an_ordinal_fit_with_equal_cutpoint_means_samples_and_keeps_its_log_likelihood():
    """The spread start of the cutpoints is for the sampler only: the fit's log-likelihood
    (PyMC refuses start values there) and its model (for predictive draws) come without it."""
    df = _herd_like()
    spec = ModelSpec.from_formula("rating ~ x + (1 | judge)", df, family="ordinal")
    fit = fit_model(spec, df, seed=2, draws=40, tune=40, chains=1, sampler="pymc", progressbar=False)
    assert fit.idata["log_likelihood"]["rating"].shape[-1] == len(df)
    assert all(v is None for v in fit.model.rvs_to_initial_values.values())
    assert np.isfinite(fit.posterior["cutpoints_rating"].values).all()
