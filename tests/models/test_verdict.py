"""The verdict rule: Holm's step-down over a model's eight directional claims, and its
false-verdict rate on null studies against the unadjusted rule it replaced.

Null studies without fitting. Where a coefficient is zero and the posterior is calibrated (about
normal, likelihood-dominated), the estimate is ``b ~ N(0, Sigma)`` (its sampling distribution)
and the posterior is ``N(b, Sigma)``, so ``P(beta_k > 0 | y) = Phi(b_k / se_k)`` is
Uniform(0, 1). Each simulated study draws ``b`` from that sampling distribution, with ``Sigma``
the large-sample covariance ``(X' W X)^-1`` of the study's own logistic design (so the eight
claims are as correlated as in the study), then posterior-like draws around it, and reads
P(direction) from the draws as :func:`~clusterpreneur.models.hypothesis_table` does. The real
fits are in ``tests/test_null_verdicts.py`` (slow).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clusterpreneur.models.verdict import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    PARTLY,
    SUPPORTED,
    VerdictRule,
    apply_verdicts,
    combine_verdicts,
    verdicts,
)
from clusterpreneur.pipeline.steps.hypotheses import answers

RULE = VerdictRule()
BEFORE = VerdictRule(alpha=0.025, adjust="none")  # a 95% interval on the predicted side


def test_holm_thresholds_start_at_bonferroni_and_end_at_alpha():
    t = RULE.thresholds(8)
    assert t[0] == pytest.approx(1 - 0.05 / 8) and t[1] == pytest.approx(1 - 0.05 / 7)
    assert t[-1] == pytest.approx(0.95) and np.all(np.diff(t) < 0)
    assert RULE.expected_by_chance(8) == pytest.approx(0.2)  # 8 claims x 0.025
    assert RULE.expected_by_chance(8, t[0]) == pytest.approx(0.05)
    assert np.all(BEFORE.thresholds(8) == 0.975)


def test_step_down_stops_at_the_first_claim_that_falls_short():
    p = [0.999, 0.992, 0.99, 0.7, 0.3, 0.6, 0.55, 0.96]
    # sorted: 0.999 passes 0.99375; 0.992 fails 0.99286, so 0.99 cannot pass 0.99167 either
    assert verdicts(p, RULE) == [SUPPORTED] + [INCONCLUSIVE] * 3 + [NOT_SUPPORTED] + [INCONCLUSIVE] * 3
    assert verdicts(p, BEFORE)[:3] == [SUPPORTED] * 3  # the old rule calls all three
    strong = [0.9999] * 7 + [0.96]  # every stronger claim passed: the last needs only 0.95
    assert verdicts(strong, RULE) == [SUPPORTED] * 8
    assert verdicts(strong, BEFORE)[-1] == INCONCLUSIVE


def test_old_rule_is_the_95_interval_on_the_predicted_side():
    rng = np.random.default_rng(0)
    for mean in (-3.0, -1.0, 0.5, 1.5, 2.5, 4.0):
        d = rng.normal(mean, 1.0, 4000)
        lo = np.quantile(d, 0.025)
        [v] = verdicts([np.mean(d > 0)], BEFORE)
        assert (v == SUPPORTED) == (lo > 0), mean


def test_rule_refuses_unknown_adjustments_and_missing_probabilities():
    with pytest.raises(ValueError, match="adjust"):
        VerdictRule(adjust="bonferroni-ish")
    with pytest.raises(ValueError, match="missing"):
        verdicts([0.9, np.nan], RULE)


def test_each_model_and_outcome_is_its_own_family_and_h3_keeps_one_answer():
    terms = ["breadth", "sc_score", "sc_score:peripheral"]
    rows = []
    for model, probs in (("M1", [0.999, 0.9999, 0.999]), ("M2", [0.999, 0.9999, 0.97])):
        for term, p in zip(terms, probs, strict=True):
            rows.append(
                {"model": model, "outcome": "takeoff", "hypothesis": "H1" if term == "breadth" else "H3",
                 "term": term, "prob_direction": p}
            )  # fmt: skip
    table = apply_verdicts(pd.DataFrame(rows), RULE)
    assert set(table["claims"]) == {3} and list(table["expected_by_chance"]) == pytest.approx([3 * 0.025] * 6)
    m2 = table[table["model"] == "M2"].set_index("term")
    # M2: 0.9999 passes 1 - 0.05/3, 0.999 passes 1 - 0.05/2, 0.97 passes 0.95
    assert list(m2["threshold"]) == pytest.approx([1 - 0.05 / 2, 1 - 0.05 / 3, 0.95])
    assert (m2["verdict"] == SUPPORTED).all()
    one = apply_verdicts(pd.DataFrame(rows).assign(prob_direction=[0.999, 0.9999, 0.7] * 2), RULE)
    got = answers(one).set_index(["model", "hypothesis"])["verdict"]
    assert got[("M1", "H3")] == PARTLY and got[("M1", "H1")] == SUPPORTED
    assert combine_verdicts([NOT_SUPPORTED, NOT_SUPPORTED]) == NOT_SUPPORTED


# ------------------------------------------------------------------ null studies, no fitting


def _claims_covariance() -> tuple[np.ndarray, list[str]]:
    """Large-sample covariance of the eight hypothesised coefficients in a study-sized survey."""
    from clusterpreneur.study.measures import add_measures
    from clusterpreneur.study.predictors import STUDY_TERMS, design_matrix
    from clusterpreneur.study.simulate import simulate_survey

    df = add_measures(
        simulate_survey(n_initiatives=250, n_countries=30, seed=4, scenario="null_hypotheses").data
    )
    X, _ = design_matrix(df, STUDY_TERMS)
    X = np.column_stack([np.ones(len(X)), X.to_numpy()])
    p = df["takeoff"].mean()
    cov = np.linalg.inv(X.T @ X * p * (1 - p))
    hyp = [j + 1 for j, t in enumerate(STUDY_TERMS) if t.hypothesis]
    signs = [t.sign for t in STUDY_TERMS if t.hypothesis]
    return cov[np.ix_(hyp, hyp)], signs


def null_studies(n_studies: int, n_draws: int, seed: int) -> np.ndarray:
    """P(direction) of each study's eight claims (studies x 8) under the null."""
    cov, signs = _claims_covariance()
    chol = np.linalg.cholesky(cov)
    rng = np.random.default_rng(seed)
    out = np.empty((n_studies, len(signs)))
    for start in range(0, n_studies, 500):
        k = min(500, n_studies - start)
        b = rng.standard_normal((k, len(signs))) @ chol.T  # estimates: the sampling distribution
        draws = b[:, None, :] + rng.standard_normal((k, n_draws, len(signs))) @ chol.T  # posterior
        out[start : start + k] = np.mean(np.asarray(signs) * draws > 0, axis=1)
    return out


def false_rates(probs: np.ndarray, rule: VerdictRule) -> tuple[float, float]:
    """Share of studies with any claim called supported; share of claims called supported."""
    called = np.array([[v == SUPPORTED for v in verdicts(p, rule)] for p in probs])
    return float(called.any(axis=1).mean()), float(called.mean())


def test_null_studies_call_a_false_supported_in_at_most_5_percent_with_the_rule():
    n = 4000
    probs = null_studies(n, n_draws=1000, seed=20261203)
    # the derivation: P(direction) is Uniform(0, 1) under the null (a tenth above 0.9, a twentieth above 0.95)
    assert abs(np.mean(probs > 0.9) - 0.10) < 0.01 and abs(np.mean(probs > 0.95) - 0.05) < 0.008
    new_any, new_claims = false_rates(probs, RULE)
    old_any, old_claims = false_rates(probs, BEFORE)
    se = np.sqrt(0.05 * 0.95 / n)
    above = np.mean((probs > 0.95).any(axis=1))
    print(f"null studies ({n}): any false supported {new_any:.3f} (rule) vs {old_any:.3f} (before); "
          f"claims {new_claims:.4f} vs {old_claims:.4f}; any P > 0.95 {above:.3f}")  # fmt: skip
    assert new_any <= 0.05 + 2.5 * se
    assert new_any > 0.02  # Holm spends its 5%, it is not vacuous
    assert old_any > 0.12  # about 1 - 0.975^8 = 18% with independent claims
    assert old_claims == pytest.approx(0.025, abs=0.004)


def test_the_rule_still_finds_real_effects():
    """Eight real effects at 3.5 standard errors: Holm calls most of them."""
    cov, signs = _claims_covariance()
    se = np.sqrt(np.diag(cov))
    rng = np.random.default_rng(1)
    chol = np.linalg.cholesky(cov)
    truth = 3.5 * se * np.asarray(signs)
    found = []
    for _ in range(300):
        b = truth + chol @ rng.standard_normal(len(signs))
        draws = b + rng.standard_normal((1000, len(signs))) @ chol.T
        p = np.mean(np.asarray(signs) * draws > 0, axis=0)
        found.append(np.mean([v == SUPPORTED for v in verdicts(p, RULE)]))
    assert np.mean(found) > 0.7  # Bonferroni alone: about 84% (z > 2.50)
