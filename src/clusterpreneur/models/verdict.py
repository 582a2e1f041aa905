"""The verdict rule: from the posterior evidence on the study's directional claims to
supported / not supported / inconclusive.

A *claim* is one hypothesised term with the sign it predicts; the claims of one model and outcome
(the study's eight: H1, H2, H3 twice, H4 twice, H5, H6) form a *family* judged together. One rule
(:class:`VerdictRule`), one function (:func:`verdicts`: the verdicts of one family), applied to
every family of a hypothesis table by :func:`apply_verdicts`; :meth:`VerdictRule.statement` says it
in words for reports, and :func:`combine_verdicts` answers a hypothesis that spans several terms.

Why this rule. Write ``p_k = 1 - P(claim k's sign | data)``. Where the true coefficient is zero and
the posterior is calibrated (about normal, dominated by the likelihood), ``P(beta_k > 0 | y) =
Phi(b_k / se_k)`` with the estimate ``b_k ~ N(0, se_k^2)``, so ``p_k`` is Uniform(0, 1): a
one-sided p-value. Reading each of eight claims at 0.975 (a 95% interval on the predicted side)
then expects ``8 x 0.025 = 0.2`` false findings per study and calls at least one in about 18% of
studies. The rule therefore applies **Holm's step-down** to the ``p_k`` of a family of ``m``
claims: sorted from the strongest, the ``i``-th is supported when it and every stronger claim
pass ``p <= alpha / (m - i + 1)``; the first threshold is Bonferroni's ``P > 1 - alpha / m``
(0.99375 for eight claims at 5%), the last ``P > 1 - alpha``. The probability that any claim whose
true coefficient is zero is called supported is then at most ``alpha`` per study, whatever the
dependence between the claims (Holm 1979), and more real effects are found than with Bonferroni
at the same guarantee. A weakly informative prior centred at zero only makes ``p_k`` larger.

Not chosen: the joint posterior probability that all claimed signs hold answers the conjunction
"all eight hold", not each claim; a simultaneous credible band over eight correlated coefficients
sets its width by an extreme quantile of a maximum over a few thousand draws (noisy) and its
guarantee under the null is no stronger. Holm needs only each claim's direction probability.
``adjust="none"`` judges each claim alone at ``1 - alpha`` (``VerdictRule(alpha=0.025,
adjust="none")`` is the rule used before: a 95% interval on the predicted side), kept so the two
can be compared on null surveys (``tests/models/test_verdict.py``, ``clusterpreneur.study.null_verdicts``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

SUPPORTED = "supported"
NOT_SUPPORTED = "not supported"
INCONCLUSIVE = "inconclusive"
PARTLY = "partly supported"
VERDICTS = (SUPPORTED, PARTLY, INCONCLUSIVE, NOT_SUPPORTED)
ADJUSTMENTS = ("holm", "none")
FAMILY = ("model", "outcome")
"""Columns of a hypothesis table that identify a family (those present are used)."""


@dataclass(frozen=True)
class VerdictRule:
    """Thresholds of the verdict rule.

    ``alpha``: the family-wise rate of false "supported" verdicts the rule allows per family of
    claims (one model, one outcome); ``adjust``: ``"holm"`` (the rule) or ``"none"`` (each claim
    alone at ``1 - alpha``); ``lean``: below this posterior probability of the predicted direction
    the posterior leans the other way; ``prob``: probability of the package's one interval
    convention (95% equal-tailed), used for the intervals reported beside the verdicts.
    """

    alpha: float = 0.05
    adjust: str = "holm"
    lean: float = 0.5
    prob: float = 0.95

    def __post_init__(self) -> None:
        if self.adjust not in ADJUSTMENTS:
            raise ValueError(f"VerdictRule(adjust={self.adjust!r}): choose one of {ADJUSTMENTS}")
        if not 0 < self.alpha < 1 or not 0 < self.lean < 1:
            raise ValueError(f"VerdictRule: alpha ({self.alpha}) and lean ({self.lean}) must lie in (0, 1)")

    def thresholds(self, m: int) -> np.ndarray:
        """P(direction) the strongest, second strongest, ... of ``m`` claims must exceed."""
        steps = np.arange(m)
        return 1 - self.alpha / (m - steps) if self.adjust == "holm" else np.full(m, 1 - self.alpha)

    def expected_by_chance(self, m: int, threshold: float | None = None) -> float:
        """How many of ``m`` claims with no real effect are expected to exceed ``threshold`` by
        chance: ``m x (1 - threshold)``, since each P(direction) is then Uniform(0, 1). The default
        threshold is the unadjusted reading of the reported intervals, ``(1 + prob) / 2`` (a 95%
        interval on the predicted side): 0.2 of eight claims."""
        t = (1 + self.prob) / 2 if threshold is None else threshold
        return m * (1 - t)

    def statement(self, m: int = 8) -> str:
        """The rule in words for a family of ``m`` claims (what a report prints once)."""
        t = self.thresholds(m)
        unadjusted = (1 + self.prob) / 2
        if self.adjust == "holm":
            how = (
                f"The {m} directional claims of a model are judged together (Holm's step-down "
                f"adjustment). Ordered from the highest posterior probability of the predicted "
                f"direction, they are called supported one after the other while the k-th one's "
                f"probability exceeds 1 − {self.alpha:g}/({m} − k + 1): {t[0]:.5g} for the first, "
                f"{t[1]:.5g} for the second, and so on down to {t[-1]:.3g} for the last; from the "
                f"first that falls short on, none is. Were no hypothesis true, each probability "
                f"would be uniformly distributed, so {m} × {1 - unadjusted:.3g} = "
                f"{self.expected_by_chance(m):.2g} of the claims would have a {self.prob:.0%} interval "
                f"on the predicted side by chance; the chance that this rule calls any of them "
                f"supported is at most {self.alpha:.0%}. "
            )
        else:
            how = (
                f"A claim is supported when the posterior probability of its predicted direction "
                f"exceeds {t[0]:.4g}, each claim on its own (no adjustment for the {m} claims: "
                f"{self.expected_by_chance(m, t[0]):.2g} are expected to pass by chance). "
            )
        return (
            how + f"A claim is not supported when that probability is below {self.lean:g} (the "
            "posterior leans the other way), and inconclusive otherwise. A hypothesis with several "
            "terms is supported when all are, not supported when none leans its way, partly "
            "supported when some but not all are supported, and inconclusive otherwise."
        )


def verdicts(prob_direction: Sequence[float], rule: VerdictRule) -> list[str]:
    """The verdicts of one family of claims from each claim's P(predicted direction)."""
    p = 1 - np.asarray(prob_direction, dtype=float)
    if np.isnan(p).any():
        raise ValueError("verdicts: a P(direction) is missing (NaN); every claim of the family needs one")
    m = len(p)
    passed = np.zeros(m, dtype=bool)
    limits = 1 - rule.thresholds(m)
    for step, k in enumerate(np.argsort(p, kind="stable")):
        if p[k] > limits[step]:
            if rule.adjust == "holm":
                break  # step-down: no weaker claim can pass once one fails
            continue
        passed[k] = True
    return [
        SUPPORTED if ok else NOT_SUPPORTED if 1 - q < rule.lean else INCONCLUSIVE
        for ok, q in zip(passed, p, strict=True)
    ]


def thresholds_of(prob_direction: Sequence[float], rule: VerdictRule) -> np.ndarray:
    """The threshold each claim of a family faced: the one of its rank among the family."""
    p = 1 - np.asarray(prob_direction, dtype=float)
    out = np.empty(len(p))
    out[np.argsort(p, kind="stable")] = rule.thresholds(len(p))
    return out


def combine_verdicts(found: Sequence[str]) -> str:
    """One answer for a hypothesis from the verdicts of its terms."""
    found = list(found)
    if not found:
        return INCONCLUSIVE
    if all(v == SUPPORTED for v in found):
        return SUPPORTED
    if any(v == SUPPORTED for v in found):
        return PARTLY
    if all(v == NOT_SUPPORTED for v in found):
        return NOT_SUPPORTED
    return INCONCLUSIVE


def apply_verdicts(table: pd.DataFrame, rule: VerdictRule) -> pd.DataFrame:
    """A copy of a hypothesis table (``prob_direction``; families by ``model`` and ``outcome``)
    with ``verdict``, ``threshold`` (the P(direction) that claim had to exceed), ``claims`` (the
    family's size) and ``expected_by_chance`` (how many of the family's claims would have a 95%
    interval on the predicted side with no real effect: :meth:`VerdictRule.expected_by_chance`)."""
    out = table.copy()
    keys = [c for c in FAMILY if c in out]
    groups = out.groupby(keys, sort=False).groups.values() if keys else [out.index]
    out["verdict"] = ""
    out["threshold"] = np.nan
    out["claims"] = 0
    out["expected_by_chance"] = np.nan
    for idx in groups:
        probs = out.loc[idx, "prob_direction"].to_numpy(float)
        out.loc[idx, "verdict"] = verdicts(probs, rule)
        out.loc[idx, "threshold"] = thresholds_of(probs, rule)
        out.loc[idx, "claims"] = len(idx)
        out.loc[idx, "expected_by_chance"] = rule.expected_by_chance(len(idx))
    return out
