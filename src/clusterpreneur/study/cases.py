"""The North Jutland cases as a worked example: the case of the what-if scenarios and their registry.

:data:`SCENARIOS` is the study's one list of what-if scenarios for the Biomedico initiative
(section 6 of ``analysis/STUDY.md``): each changes the coded case in one respect the case study
discusses (critical mass, an anchor firm, the policy actors, social capital, the financiers).
:func:`case_predictions` predicts the cases as coded and the scenarios with a fitted take-off
model through :func:`clusterpreneur.models.predict.what_if` (paired per posterior draw); the
pipeline's ``cases`` step and ``clusterpreneur predict --what-if`` both call it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from clusterpreneur.errors import ClusterpreneurError
from clusterpreneur.study.codebook import ACTORS, SC_ITEMS

CASE_ID = "DNK-Biomedico"
"""The case the what-if scenarios change (the paper's Biomedico initiative)."""

AS_CODED = "as coded"


def _without_policy(d: pd.DataFrame) -> pd.DataFrame:
    """No policy actor: policy involvement 0 and its board seats removed (shares renormalised)."""
    out = d.copy()
    share = out["board_policy"].astype(float)
    seats = out["board_seats"].astype(float)
    rest = 1.0 - share
    for a in (a for a in ACTORS if a != "policy"):
        out[f"board_{a}"] = (out[f"board_{a}"].astype(float) / rest).round(6)
    out["board_policy"] = 0.0
    out["board_seats"] = np.maximum((seats * rest).round(), 1).astype(int)
    out["involve_policy"] = 0
    return out


def _social_capital(shift: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(d: pd.DataFrame) -> pd.DataFrame:
        return d.assign(**{item: (d[item].astype(float) + shift).clip(1, 5) for item in SC_ITEMS})

    return change


SCENARIOS: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "large anchor firm": lambda d: d.assign(anchor_firm=1),
    "twice the firms": lambda d: d.assign(n_firms=d["n_firms"] * 2, n_firms_10plus=d["n_firms_10plus"] * 2),
    "no policy actor": _without_policy,
    "finance actors leading": lambda d: d.assign(involve_finance=4),
    "weaker social capital (each item -1)": _social_capital(-1),
    "stronger social capital (each item +1)": _social_capital(+1),
}
"""The what-if scenarios: name -> function from the case's rows to the changed rows."""


def validate_rows(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Validate each row on its own (cases and scenarios are not one survey: no cross-row rules)."""
    from clusterpreneur.study.schema import validate_survey

    parts = [validate_survey(df.iloc[[i]], f"{source}, row {i + 1}") for i in range(len(df))]
    return pd.concat(parts, ignore_index=True)


def check_scenarios(cases: pd.DataFrame, case_id: str = CASE_ID) -> pd.DataFrame:
    """Every scenario applied to ``case_id``, each row validated against the codebook (an error
    names the scenario); run before any sampling so that a bad case file fails early."""
    target = case_rows(cases, case_id)
    rows = [
        change(target.copy()).assign(initiative_id=f"{case_id} | {name}")
        for name, change in SCENARIOS.items()
    ]
    return validate_rows(pd.concat(rows, ignore_index=True), "what-if scenarios")


def case_rows(cases: pd.DataFrame, case_id: str = CASE_ID) -> pd.DataFrame:
    """The rows of ``case_id`` (a clear error when the cases do not hold it)."""
    target = cases[cases["initiative_id"].astype(str) == case_id]
    if target.empty:
        raise ClusterpreneurError(
            f"the cases have no initiative {case_id!r} for the what-if scenarios; they hold "
            f"{', '.join(sorted(cases['initiative_id'].astype(str)))}. Name one with --case."
        )
    return target.reset_index(drop=True)


def case_predictions(fit, cases: pd.DataFrame, *, case_id: str = CASE_ID, seed: int = 0) -> pd.DataFrame:
    """Take-off probability of every case as coded and of ``case_id`` under each scenario.

    Columns: ``case, scenario, group_status, mean, sd, ci_lower, median, ci_upper`` (95%
    equal-tailed), ``diff_mean, diff_lower, diff_upper`` (scenario minus as coded, paired per
    posterior draw, 95%), ``p_increase`` and ``n_draws``.
    """
    from clusterpreneur.models.predict import predict, what_if

    ids = cases["initiative_id"].astype(str)
    scen = what_if(fit, case_rows(cases, case_id), SCENARIOS, seed=seed, baseline=AS_CODED)
    others = cases[ids != case_id].reset_index(drop=True)
    parts = [scen]
    if len(others):
        rest = predict(fit, others, seed=seed)
        parts.append(rest.assign(scenario=AS_CODED))
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "case", out.pop(fit.spec.id_column).astype(str))
    out.insert(1, "scenario", out.pop("scenario"))
    order = {c: i for i, c in enumerate(ids)}
    out = out.sort_values("case", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
    return out
