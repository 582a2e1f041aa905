"""The verdict rule: from a hypothesis's posterior evidence to supported / not supported / inconclusive.

One rule, one function (:func:`verdict`), applied to every row of a hypothesis table by
:func:`apply_verdicts`; :meth:`VerdictRule.statement` says it in words for reports, and
:func:`combine_verdicts` answers a hypothesis that spans several terms. A different rule (for
example one that accounts for testing several hypotheses at once) is a different
:class:`VerdictRule`, and everything that reports verdicts follows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

SUPPORTED = "supported"
NOT_SUPPORTED = "not supported"
INCONCLUSIVE = "inconclusive"
PARTLY = "partly supported"
VERDICTS = (SUPPORTED, PARTLY, INCONCLUSIVE, NOT_SUPPORTED)


@dataclass(frozen=True)
class VerdictRule:
    """Thresholds of the verdict rule.

    ``prob``: probability of the equal-tailed posterior interval (the package's one interval
    convention, 95%); ``lean``: below this posterior probability of the predicted direction the
    posterior leans the other way.
    """

    prob: float = 0.95
    lean: float = 0.5

    @property
    def interval_label(self) -> str:
        return f"{self.prob:.0%} equal-tailed interval"

    def statement(self) -> str:
        """The rule in words (what a report prints once)."""
        return (
            f"A hypothesis is supported when the {self.interval_label} of its term lies entirely on "
            f"the predicted side of zero (the posterior probability of the predicted direction then "
            f"exceeds {(1 + self.prob) / 2:.3g}); not supported when that probability is below "
            f"{self.lean:g}, i.e. the posterior leans the other way; and inconclusive otherwise: it leans "
            "the predicted way but the interval includes zero. A hypothesis with several terms is "
            "supported when all are, not supported when none leans its way, partly supported when "
            "some but not all are supported, and inconclusive otherwise."
        )


def verdict(prob_direction: float, lower: float, upper: float, sign: int | str, rule: VerdictRule) -> str:
    """Verdict of one hypothesised term from P(predicted direction) and its interval."""
    positive = sign == "+" if isinstance(sign, str) else sign > 0
    if (lower > 0) if positive else (upper < 0):
        return SUPPORTED
    if prob_direction < rule.lean:
        return NOT_SUPPORTED
    return INCONCLUSIVE


def combine_verdicts(verdicts: Sequence[str]) -> str:
    """One answer for a hypothesis from the verdicts of its terms."""
    found = list(verdicts)
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
    """A copy of a hypothesis table (``prob_direction``, ``ci_lower``, ``ci_upper``,
    ``expected_sign``) with a ``verdict`` column."""
    out = table.copy()
    out["verdict"] = [
        verdict(p, lo, hi, s, rule)
        for p, lo, hi, s in zip(
            out["prob_direction"], out["ci_lower"], out["ci_upper"], out["expected_sign"], strict=True
        )
    ]
    return out
