"""Descriptive statistics of the study's variables, overall and by region type, and missingness.

:data:`DESCRIBE` lists the variables the study describes (column and reader's label, scale in
brackets); :func:`descriptives_table` gives their number of answers, mean and SD overall and for
core and peripheral regions; :func:`missingness_table` counts missing answers per survey
variable.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clusterpreneur.study.codebook import CODEBOOK
from clusterpreneur.study.measures import add_measures

DESCRIBE: tuple[tuple[str, str], ...] = (
    ("takeoff", "Take-off (share)"),
    ("perf_competitiveness", "Rating: improved competitiveness (1-5)"),
    ("perf_growth", "Rating: cluster growth (1-5)"),
    ("perf_goals", "Rating: goals met (1-5)"),
    ("firm_growth", "Growth of the number of firms"),
    ("involve_research", "Involvement: research (0-4)"),
    ("involve_policy", "Involvement: policy (0-4)"),
    ("involve_industry", "Involvement: industry (0-4)"),
    ("involve_finance", "Involvement: finance (0-4)"),
    ("breadth", "Breadth: actor types involved (0-4)"),
    ("public_private", "Public and private actors mixed (share)"),
    ("board_diversity", "Board diversity (Blau, 0-0.75)"),
    ("sc_score", "Social capital: item mean (1-5)"),
    ("prior_cluster", "Previous successful cluster (share)"),
    ("lfr_index", "Less-favoured-region index"),
    ("n_firms", "Firms in the cluster"),
    ("anchor_firm", "Large anchor firm present (share)"),
    ("university", "University present (share)"),
    ("venture_capital", "Venture capital present (share)"),
    ("age", "Initiative age (years)"),
    ("facilitator", "Dedicated facilitator (share)"),
)
"""The described variables: (column, label) in table order."""

GROUPS: tuple[tuple[str, str], ...] = (("all", "All"), ("core", "Core"), ("peripheral", "Peripheral"))
"""Column prefixes of :func:`descriptives_table` and their labels."""


def descriptives_table(df: pd.DataFrame) -> pd.DataFrame:
    """Number of answers, mean and SD of the study's variables, overall and by region type.

    Columns ``variable, label`` and ``<group>_n, <group>_mean, <group>_sd`` for the groups of
    :data:`GROUPS`; the first row counts the initiatives.
    """
    frame = add_measures(df)
    groups = {
        "all": frame,
        "core": frame[frame["peripheral"] == 0],
        "peripheral": frame[frame["peripheral"] == 1],
    }
    rows: list[dict[str, Any]] = [
        {
            "variable": "initiatives",
            "label": "Initiatives",
            **{
                f"{g}_{s}": v
                for g, sub in groups.items()
                for s, v in (("n", len(sub)), ("mean", np.nan), ("sd", np.nan))
            },
        }
    ]
    for col, label in DESCRIBE:
        if col not in frame:
            continue
        row: dict[str, Any] = {"variable": col, "label": label}
        for g, sub in groups.items():
            x = pd.to_numeric(sub[col], errors="coerce").astype("float64").dropna()
            row[f"{g}_n"] = len(x)
            row[f"{g}_mean"] = float(x.mean()) if len(x) else np.nan
            row[f"{g}_sd"] = float(x.std(ddof=1)) if len(x) > 1 else np.nan
        rows.append(row)
    out = pd.DataFrame(rows)
    for g, _ in GROUPS:
        out[f"{g}_n"] = out[f"{g}_n"].astype("int64")
    return out


def missingness_table(df: pd.DataFrame) -> pd.DataFrame:
    """Survey variables with missing answers: ``variable, description, missing, share``
    (sorted by count, largest first); empty when every answer is there. A variable whose missing
    value is itself an answer ("missing if never") is not counted."""
    n = len(df)
    rows = []
    for var in CODEBOOK.values():
        if var.name not in df or "missing if" in var.description:
            continue
        k = int(df[var.name].isna().sum())
        if k:
            rows.append({"variable": var.name, "description": var.description, "missing": k, "share": k / n})
    out = pd.DataFrame(rows, columns=["variable", "description", "missing", "share"])
    return out.sort_values(["missing", "variable"], ascending=[False, True], ignore_index=True)
