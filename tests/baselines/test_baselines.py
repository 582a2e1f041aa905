"""statsmodels baselines: every model on the shipped-size survey, failure handling and recovery.

The recovery tests compare the pooled logit and the ordered logits with the simulator's true
coefficients on a large survey. What these models identify, and why the truth they are
compared with is not the raw generating coefficient:

* Non-collapsibility (Zeger, Liang & Albert 1988). The pooled logit ignores the country and
  region intercepts and the country-varying breadth slope. Its coefficients are the
  population-averaged ones, close to ``beta / sqrt(1 + c^2 sigma^2)`` with
  ``c = 16 sqrt(3) / (15 pi)`` and ``sigma^2`` the variance of the omitted effects on the
  linear predictor (``sigma_country^2 + sigma_region^2 + sigma_breadth_country^2``: the
  standardised breadth has variance one). The ordered logits ignore the correlated
  initiative-level normal noise of the ratings (sd ``rating_sd``), the same way.
* Measurement error. The design uses ``sc_score``, the mean of four Likert items, where the
  simulator uses latent social capital. The ``sc_score`` coefficients are attenuated (by the
  score's reliability), and because latent social capital is lower in peripheral regions and
  higher after a prior cluster, ``peripheral`` and ``prior_cluster`` absorb the part of its
  effect the noisy score misses (under-adjustment), as does take-off in the ordered logits
  (take-off depends on social capital). On the observed data these terms are left out of
  the check; the oracle check (latent social capital put in the ``sc_score`` column, which
  is the design the simulator used) includes them.
* Misspecification. Take-off carries a critical-mass threshold, a steep logistic step in
  log firms, that the linear ``log_firms`` term cannot represent: its true coefficient is 0,
  but the linear term absorbs the step, so it is checked to be positive, not covered.

Pass rule (multiple testing is part of the design: the module makes
:data:`N_RECOVERY_CHECKS` comparisons with the truth on one seed). Each estimate must lie
within the module-wide family-wise (Bonferroni) 95% band of the attenuated truth,
``|z| < Phi^-1(1 - 0.05 / (2 N_RECOVERY_CHECKS))`` (about 3.4), and in each test the number
of ordinary 95% intervals that miss the truth must not exceed the 95th percentile of
Binomial(k, 0.05) for its ``k`` checks. The seed is fixed, so the outcome is
deterministic. The slow test checks the calibration itself: interval coverage over many seeds.
A first version used a per-test band; it failed on this seed at |z| = 3.1 (``log_firms`` in
the latent-design ordered logit of ``perf_goals``, true value exactly 0) and 2.3 (facilitator,
``perf_growth``): over 12 other seeds the same z statistics had mean about 0 and sd about 1
(no bias), so those were the expected extremes of 81 comparisons, not an estimation error.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom, norm

from clusterpreneur import tables
from clusterpreneur.study import baselines
from clusterpreneur.study.codebook import RATINGS
from clusterpreneur.study.measures import add_measures
from clusterpreneur.study.predictors import STUDY_TERMS, original_scale_factor
from clusterpreneur.study.simulate import simulate_survey

C2 = (16 * np.sqrt(3) / (15 * np.pi)) ** 2
RECOVERY_SIZE = {"n_initiatives": 4000, "n_countries": 200, "seed": 4242}

# terms whose observed-data logit coefficient is (approximately) consistent for the attenuated truth
LOGIT_OBSERVED_TERMS = (
    "involve_research",
    "involve_policy",
    "involve_industry",
    "involve_finance",
    "breadth",
    "breadth:peripheral",
    "anchor_firm",
    "public_private",
    "age",
    "involve_policy:age",
)
LOGIT_LATENT_TERMS = tuple(t.name for t in STUDY_TERMS if t.name != "log_firms")
N_RECOVERY_CHECKS = (
    len(LOGIT_OBSERVED_TERMS) + len(LOGIT_LATENT_TERMS) + len(RATINGS) * (2 + 2 + len(STUDY_TERMS))
)
"""Comparisons with the truth made by the default recovery tests below (81)."""
Z_BOUND = float(norm.ppf(1 - 0.05 / (2 * N_RECOVERY_CHECKS)))

ZERO_ONE = {"peripheral", "anchor_firm", "public_private", "prior_cluster"}  # the 0/1 study terms


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def shipped_fit(default_survey):
    """All baselines on the shipped survey's data (same generator call as data/survey.csv)."""
    return baselines.fit_baselines(default_survey.data)


@pytest.fixture(scope="module")
def large_survey():
    return simulate_survey(**RECOVERY_SIZE)


@pytest.fixture(scope="module")
def latent_frame(large_survey):
    """The large survey's measures with latent social capital in the sc_score column (oracle design)."""
    return add_measures(large_survey.data).assign(sc_score=large_survey.latent["sc_latent"].to_numpy())


def _coverage(fit: baselines.BaselineFit, truth: dict[str, float]) -> pd.DataFrame:
    tab = fit.table[fit.table["scale"] != "original"].set_index("term")
    out = pd.DataFrame({"truth": pd.Series(truth)})
    out["estimate"] = tab.loc[out.index, "estimate"]
    out["std_error"] = tab.loc[out.index, "std_error"]
    out["z"] = (out["estimate"] - out["truth"]) / out["std_error"]
    out["covered95"] = (tab.loc[out.index, "ci_lower"] <= out["truth"]) & (
        out["truth"] <= tab.loc[out.index, "ci_upper"]
    )
    return out


def _assert_recovered(cov: pd.DataFrame, label: str) -> None:
    k = len(cov)
    misses = int((~cov["covered95"]).sum())
    allowed = int(binom.ppf(0.95, k, 0.05))
    worst = cov["z"].abs().idxmax()
    print(
        f"\n{label}: 95% intervals cover {k - misses}/{k} (at most {allowed} misses allowed); "
        f"max |z| {cov['z'].abs().max():.2f} ({worst}); bound {Z_BOUND:.2f}\n{cov.round(3).to_string()}"
    )
    assert (cov["z"].abs() < Z_BOUND).all(), f"{label}: terms outside the family-wise band\n{cov}"
    assert misses <= allowed, f"{label}: {misses} of {k} 95% intervals miss the truth\n{cov}"


def _logit_truth(survey, names) -> dict[str, float]:
    tk = survey.truth["takeoff"]
    sigma2 = tk["sigma_country"] ** 2 + tk["sigma_region"] ** 2 + tk["sigma_breadth_country"] ** 2
    a = 1 / np.sqrt(1 + C2 * sigma2)
    return {nm: a * tk["coefficients_standardised"][nm] for nm in names}


def _rating_truth(survey, with_study_terms: bool) -> dict[str, float]:
    p = survey.truth["params"]
    a = 1 / np.sqrt(1 + C2 * p["rating_sd"] ** 2)
    truth = {"takeoff": a * p["rating_takeoff_effect"], "facilitator": a * p["rating_facilitator_effect"]}
    if with_study_terms:  # given latent social capital, no study term enters the ratings
        truth |= {t.name: 0.0 for t in STUDY_TERMS}
        truth["sc_score"] = a * p["rating_sc_effect"]
    return truth


# --------------------------------------------------------------------------- all models, shipped size


def test_every_outcome_and_model_is_in_one_tidy_table(shipped_fit):
    t = shipped_fit.table
    assert tuple(t.columns) == tables.COLUMNS
    fitted = set(map(tuple, t[["outcome", "model"]].drop_duplicates().to_numpy()))
    expected = {("takeoff", m) for m in ("logit", "logit_ame", "probit", "glm_binomial", "bayes_mixed_glm")}
    expected |= {(r, "ordered_logit") for r in RATINGS} | {("firm_growth", "mixedlm")}
    assert fitted == expected
    assert (t["n"] == 250).all()
    assert "(model failed)" not in set(t["term"])
    assert set(t["scale"]) == {"standardised", "original", "unscaled"}
    # every study term is reported on both scales by the logit, except the 0/1 terms: once, unscaled
    logit = t[t["model"] == "logit"]
    two_scales = {x.name for x in STUDY_TERMS} - ZERO_ONE
    for scale in ("standardised", "original"):
        assert set(logit.loc[logit["scale"] == scale, "term"]) >= two_scales
    for term in ZERO_ONE:
        assert logit.loc[logit["term"] == term, "scale"].tolist() == ["unscaled"]
    # ... and the ratings models' 0/1 extras
    assert set(t.loc[t["scale"] == "unscaled", "term"]) == ZERO_ONE | {"takeoff", "facilitator"}


def test_original_scale_is_standardised_over_the_scale_factor(shipped_fit, default_survey):
    fit = shipped_fit.get("logit")
    t = fit.table.set_index(["term", "scale"])
    for term in STUDY_TERMS:
        f = original_scale_factor(term, fit.design.standardizer)
        if term.name in ZERO_ONE:  # one scale, its own
            assert f == 1.0 and (term.name, "unscaled") in t.index and (term.name, "original") not in t.index
            continue
        std, orig = t.loc[(term.name, "standardised")], t.loc[(term.name, "original")]
        assert orig["estimate"] == pytest.approx(std["estimate"] / f)
        assert orig["ci_upper"] * np.sign(f) == pytest.approx(std["ci_upper"] / abs(f))
        assert orig["p_value"] == pytest.approx(std["p_value"])
    assert ("Intercept", "original") not in t.index


def test_logit_uses_clustered_errors_and_matches_the_glm(shipped_fit):
    logit, glm = shipped_fit.get("logit"), shipped_fit.get("glm_binomial")
    assert logit.result.cov_type == "cluster"
    a = logit.table[logit.table["scale"] != "original"].set_index("term")
    b = glm.table[glm.table["scale"] != "original"].set_index("term")
    np.testing.assert_allclose(a["estimate"], b.loc[a.index, "estimate"], rtol=1e-5, atol=1e-6)
    assert not np.allclose(a["std_error"], b.loc[a.index, "std_error"])
    probit = shipped_fit.get("probit").table.set_index(["term", "scale"])
    # probit coefficients are about logit / 1.6-1.8
    ratio = a.loc["peripheral", "estimate"] / probit.loc[("peripheral", "unscaled"), "estimate"]
    assert 1.4 < ratio < 2.0


def test_average_marginal_effects_are_probability_scale(shipped_fit):
    ame = shipped_fit.get("logit_ame").table
    std = ame[ame["scale"] != "original"].set_index("term")
    assert set(std.index) == {x.name for x in STUDY_TERMS}
    assert (std["estimate"].abs() < 1).all() and (std["std_error"] > 0).all()
    logit = shipped_fit.get("logit").table.set_index(["term", "scale"])
    assert np.sign(std.loc["peripheral", "estimate"]) == np.sign(
        logit.loc[("peripheral", "unscaled"), "estimate"]
    )


def test_ordered_logit_has_no_constant_and_increasing_cutpoints(shipped_fit):
    for rating in RATINGS:
        fit = shipped_fit.get("ordered_logit", rating)
        t = fit.table
        assert "Intercept" not in set(t["term"])
        assert {"takeoff", "facilitator"} <= set(t["term"])
        cuts = t[t["term"].str.startswith("cut ")]["estimate"].to_numpy()
        assert len(cuts) >= 3 and np.all(np.diff(cuts) > 0)
        assert fit.result.cov_type == "cluster"


def test_mixedlm_reports_fixed_effects_and_variance_components(shipped_fit):
    fit = shipped_fit.get("mixedlm")
    terms = set(fit.table["term"])
    assert {"Intercept", "takeoff", "var(country)", "var(region)", "var(residual)"} <= terms
    var = fit.table.set_index("term").loc[["var(country)", "var(region)", "var(residual)"], "estimate"]
    assert (var >= 0).all() and var["var(residual)"] > 0
    # the shipped data have no country effect on growth: the boundary must be flagged, not hidden
    if var["var(country)"] < 1e-8:
        assert "singular fit" in fit.table["warnings"].iloc[0]


def test_bayes_mixed_glm_reports_posterior_means_and_group_sds(shipped_fit):
    t = shipped_fit.get("bayes_mixed_glm").table.set_index(["term", "scale"])
    for g in ("sd(country)", "sd(region)"):
        row = t.loc[(g, "standardised")]
        assert 0 < row["ci_lower"] < row["estimate"] < row["ci_upper"]
    assert t["p_value"].isna().all()
    assert t.loc[("breadth", "standardised"), "std_error"] > 0


def test_results_write_csv_markdown_latex(shipped_fit, tmp_path):
    paths = shipped_fit.write(tmp_path)
    assert {p.name for p in paths.values()} == {"baselines.csv", "baselines.md", "baselines.tex"}
    back = tables.read_table(paths["csv"])
    assert len(back) == len(shipped_fit.table)


def test_main_writes_the_tables(small_survey, tmp_path, capsys):
    """The command line on a small survey file (the shipped data are fitted by the fixture above)."""
    data = tmp_path / "survey.csv"
    small_survey.data.to_csv(data, index=False)
    assert baselines.main(["--data", str(data), "--out", str(tmp_path / "res")]) == 0
    assert (tmp_path / "res" / "baselines.md").exists() and (tmp_path / "res" / "baselines.tex").exists()
    back = tables.read_table(tmp_path / "res" / "baselines.csv")
    assert set(back["model"]) >= {"logit", "ordered_logit", "mixedlm", "bayes_mixed_glm"}
    assert (back["n"] == len(small_survey.data)).all()
    assert "baselines.csv" in capsys.readouterr().out


def test_load_data_defaults_to_the_shipped_survey(default_survey):
    df = baselines.load_data()
    assert len(df) == len(default_survey.data)
    pd.testing.assert_series_equal(df["takeoff"], default_survey.data["takeoff"], check_dtype=False)


def test_listwise_deletion_reports_n():
    sim = simulate_survey(n_initiatives=200, n_countries=20, seed=3, scenario="mcar")
    fit = baselines.fit_logit(sim.data)
    design = baselines.prepare_design(sim.data, "takeoff")
    assert design.n_dropped > 0
    assert (fit.table["n"] == 200 - design.n_dropped).all()


# --------------------------------------------------------------------------- problems are caught


@pytest.fixture(scope="module")
def broken_fit(small_survey):
    """All baselines on data with two problems: take-off perfectly separated, no firm growth at all."""
    df = small_survey.data.copy()
    df["takeoff"] = df["anchor_firm"]  # one predictor predicts take-off perfectly
    df["firm_growth"] = np.nan  # nothing to fit
    logger = logging.getLogger("clusterpreneur.study.baselines")
    records: list[logging.LogRecord] = []
    handler = logging.Handler(level=logging.WARNING)
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        res = baselines.fit_baselines(df)
    finally:
        logger.removeHandler(handler)
    return res, [r.getMessage() for r in records]


def test_perfect_separation_is_reported_in_the_table_not_raised(broken_fit):
    res, log = broken_fit
    t = res.table
    for model in ("logit", "probit", "glm_binomial"):
        w = t.loc[t["model"] == model, "warnings"]
        assert w.str.contains("separation").all(), (model, w.iloc[0])
        assert "anchor_firm" in w.iloc[0]
    assert any(m.startswith("takeoff/logit:") and "separation" in m for m in log)
    # the other outcomes are still fitted
    assert (t.loc[t["model"] == "ordered_logit", "term"] != "(model failed)").all()
    assert len(t[t["model"] == "ordered_logit"]) > 3 * len(STUDY_TERMS)


def test_quasi_complete_separation_is_detected(small_survey):
    df = small_survey.data.copy()
    rng = np.random.default_rng(0)
    # every anchor-firm initiative takes off; the others take off at random
    df["takeoff"] = np.where(df["anchor_firm"] == 1, 1, rng.integers(0, 2, len(df)))
    fit = baselines.fit_logit(df)
    assert any(w.startswith("separation") and "anchor_firm" in w for w in fit.warnings)
    assert "separation" in fit.table["warnings"].iloc[0]


def test_no_separation_flag_on_overlapping_data(shipped_fit):
    assert not any("separation" in w for w in shipped_fit.warnings)
    design = shipped_fit.get("logit").design
    assert baselines.separation_check(design.X.assign(Intercept=1.0), design.y) == []


def test_one_failing_model_does_not_stop_the_others(broken_fit):
    res, log = broken_fit
    growth = res.get("mixedlm")
    assert growth.error is not None and not growth.converged
    row = growth.table.iloc[0]
    assert row["term"] == "(model failed)" and row["warnings"]
    assert any(m.startswith("firm_growth/mixedlm failed") for m in log)
    assert res.get("logit").error is None and len(res.get("logit").table) > 10
    assert res.get("bayes_mixed_glm").error is None


# --------------------------------------------------------------------------- recovery


def test_logit_recovers_attenuated_truth_on_observed_data(large_survey):
    """Pooled logit on the data as observed (sc_score = item mean).

    Checked: the ten terms not entangled with social capital or critical mass. Left out:
    ``sc_score`` and ``sc_score:peripheral`` (attenuated by measurement error),
    ``peripheral`` and ``prior_cluster`` (they carry the under-adjusted part of social
    capital's effect), ``log_firms`` (true 0, absorbs the threshold). Truth: the generating
    coefficient times ``1 / sqrt(1 + c^2 sigma^2)`` (about 0.935).
    """
    fit = baselines.fit_logit(large_survey.data)
    assert fit.converged and not any("separation" in w for w in fit.warnings)
    _assert_recovered(_coverage(fit, _logit_truth(large_survey, LOGIT_OBSERVED_TERMS)), "logit, observed")
    est = fit.table.set_index(["term", "scale"])["estimate"]
    assert est[("log_firms", "standardised")] > 0  # the linear term absorbs the threshold step


def test_logit_recovers_attenuated_truth_with_latent_social_capital(large_survey, latent_frame):
    """Pooled logit on the simulator's own design (latent social capital): every term but log_firms."""
    fit = baselines.fit_logit(latent_frame)
    _assert_recovered(_coverage(fit, _logit_truth(large_survey, LOGIT_LATENT_TERMS)), "logit, latent sc")


@pytest.mark.parametrize("rating", RATINGS)
def test_ordered_logit_recovers_takeoff_and_facilitator_effects(large_survey, rating):
    """Ordered logit on the observed data: the take-off and facilitator effects.

    Truth: ``rating_takeoff_effect`` and ``rating_facilitator_effect`` times
    ``1 / sqrt(1 + c^2 rating_sd^2)`` (about 0.905). The facilitator is independent of
    everything else in the simulator, so its effect is identified cleanly; take-off is
    slightly over-estimated because the item-mean score leaves part of social capital
    (which drives both take-off and the ratings) unadjusted: a bias below one standard
    error at this size (the latent-design test below has none). The other study terms'
    coefficients are not checked here: they stand in for the unmeasured part of social
    capital.
    """
    fit = baselines.fit_ordered_logit(large_survey.data, rating)
    assert fit.converged
    _assert_recovered(_coverage(fit, _rating_truth(large_survey, False)), f"{rating}, observed")


@pytest.mark.parametrize("rating", RATINGS)
def test_ordered_logit_recovers_every_coefficient_with_latent_social_capital(
    large_survey, latent_frame, rating
):
    """With latent social capital in the design, the ordered logit identifies every coefficient.

    Truth (attenuated by ``1 / sqrt(1 + c^2 rating_sd^2)``): take-off, facilitator and social
    capital (``rating_sc_effect``; the simulator's standardised latent trait is the
    design's ``sc_score`` column) and zero for every other study term.
    """
    fit = baselines.fit_ordered_logit(latent_frame, rating)
    _assert_recovered(_coverage(fit, _rating_truth(large_survey, True)), f"{rating}, latent sc")


@pytest.mark.slow
def test_coverage_over_many_seeds():
    """Coverage of 95% intervals over 10 seeds (latent design): near 95% for logit and ordered logit."""
    hits: dict[str, list[bool]] = {"logit": [], "ordered_logit": []}
    for seed in range(10):
        sim = simulate_survey(n_initiatives=4000, n_countries=200, seed=1000 + seed)
        frame = add_measures(sim.data).assign(sc_score=sim.latent["sc_latent"].to_numpy())
        cov = _coverage(baselines.fit_logit(frame), _logit_truth(sim, LOGIT_LATENT_TERMS))
        hits["logit"] += cov["covered95"].tolist()
        for rating in RATINGS:
            cov = _coverage(baselines.fit_ordered_logit(frame, rating), _rating_truth(sim, True))
            hits["ordered_logit"] += cov["covered95"].tolist()
    for model, h in hits.items():
        rate = float(np.mean(h))
        print(f"\n{model}: 95% interval coverage {rate:.3f} over {len(h)} intervals")
        assert 0.90 <= rate <= 0.99, (model, rate)
