"""Derived measures computed from a validated survey frame.

Every function takes and returns pandas objects aligned on the input's index and is
pure: the input frame is never modified.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clusterpreneur.models.spec import Derived
from clusterpreneur.standardize import Standardizer as Standardizer  # re-export for older imports
from clusterpreneur.study.codebook import ACTORS, BOARD_COLUMNS, INVOLVE_COLUMNS, SC_ITEMS

ACTIVE_LEVEL = 1
"""An actor type counts as active when its involvement is at least 'minor' (code 1)."""

ILR_NAMES: tuple[str, ...] = ("ilr_research", "ilr_policy", "ilr_industry_finance")
"""Pivot (balance) coordinates: research vs the rest, policy vs industry+finance, industry vs finance."""


def breadth(df: pd.DataFrame) -> pd.Series:
    """Number of active actor types (0-4); missing if any involvement is missing."""
    inv = df[list(INVOLVE_COLUMNS)]
    out = (inv >= ACTIVE_LEVEL).sum(axis=1).astype("float64")
    out[inv.isna().any(axis=1)] = np.nan
    return out.rename("breadth")


def blau_diversity(df: pd.DataFrame) -> pd.Series:
    """Blau index of board shares, 1 - sum(s^2): 0 for one actor type, 0.75 for four equal."""
    s = df[list(BOARD_COLUMNS)].astype("float64")
    return (1.0 - (s**2).sum(axis=1, min_count=len(ACTORS))).rename("board_diversity")


def shannon_diversity(df: pd.DataFrame) -> pd.Series:
    """Shannon entropy of board shares in nats (0 log 0 = 0): at most log(4)."""
    s = df[list(BOARD_COLUMNS)].astype("float64").to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(s > 0, -s * np.log(s), 0.0)
    out = terms.sum(axis=1)
    out[np.isnan(s).any(axis=1)] = np.nan
    return pd.Series(out, index=df.index, name="board_shannon")


def replace_zero_shares(df: pd.DataFrame) -> pd.DataFrame:
    """Multiplicative zero replacement of board shares (Martin-Fernandez et al. 2003).

    A zero share becomes ``delta = 0.5 / board_seats`` (half a seat) and the non-zero
    shares shrink by the factor ``1 - k * delta`` (k zeros), so rows still sum to one and
    ratios between non-zero parts are kept.
    """
    s = df[list(BOARD_COLUMNS)].astype("float64").to_numpy()
    s = s / s.sum(axis=1, keepdims=True)
    delta = (0.5 / df["board_seats"].astype("float64").to_numpy())[:, None]
    zeros = s <= 0
    k = zeros.sum(axis=1, keepdims=True)
    out = np.where(zeros, delta, s * (1.0 - k * delta))
    return pd.DataFrame(out, index=df.index, columns=list(BOARD_COLUMNS))


def ilr_coordinates(df: pd.DataFrame) -> pd.DataFrame:
    """Isometric log-ratio (pivot) coordinates of board composition, zeros replaced first.

    ``z_i = sqrt((D-i)/(D-i+1)) * log(x_i / geometric_mean(x_{i+1..D}))`` with parts in
    the order research, policy, industry, finance.
    """
    x = np.log(replace_zero_shares(df).to_numpy())
    d = x.shape[1]
    coords = []
    for i in range(d - 1):
        rest = x[:, i + 1 :].mean(axis=1)
        coords.append(np.sqrt((d - i - 1) / (d - i)) * (x[:, i] - rest))
    return pd.DataFrame(np.column_stack(coords), index=df.index, columns=list(ILR_NAMES))


def public_private(df: pd.DataFrame) -> pd.Series:
    """1 when policy actors and at least one private actor type (industry, finance) are active.

    Missing only when the missing involvements could change the answer (three-valued logic):
    an inactive policy actor, or inactive industry and finance, give 0 whatever else is missing.
    """
    inv = df[list(INVOLVE_COLUMNS)].astype("float64")
    known = inv.notna()
    on = inv >= ACTIVE_LEVEL
    active, inactive = known & on, known & ~on
    private = ["involve_industry", "involve_finance"]
    public_on, public_off = active["involve_policy"], inactive["involve_policy"]
    private_on, private_off = active[private].any(axis=1), inactive[private].all(axis=1)
    out = pd.Series(np.nan, index=df.index, name="public_private")
    out[public_off | private_off] = 0.0
    out[public_on & private_on] = 1.0
    return out


def less_favoured_index(df: pd.DataFrame) -> pd.Series:
    """Less-favoured-region index: 0 at the national level, higher is more disadvantaged.

    The mean of four indicators in 'halvings' against the national level: the
    unemployment gap per 2 percentage points and -log2 of the tertiary-education, R&D and
    patent ratios. North Jutland (gap +1.7, ratios 1/1.5, 2/3, 2/3) scores about 0.65.
    """
    parts = [
        df["unemp_gap"].astype("float64") / 2.0,
        -np.log2(df["tertiary_ratio"].astype("float64")),
        -np.log2(df["rnd_ratio"].astype("float64")),
        -np.log2(df["patent_ratio"].astype("float64")),
    ]
    return (sum(parts) / 4.0).rename("lfr_index")


def social_capital_score(df: pd.DataFrame) -> pd.Series:
    """Plug-in social capital: mean of the available Likert items (1-5)."""
    return df[list(SC_ITEMS)].astype("float64").mean(axis=1).rename("sc_score")


def initiative_age(df: pd.DataFrame) -> pd.Series:
    """Years since the initiative started, at the survey year."""
    return (df["survey_year"] - df["start_year"]).astype("float64").rename("age")


def log_firms(df: pd.DataFrame) -> pd.Series:
    """Natural log of the number of firms in the cluster."""
    return np.log(df["n_firms"].astype("float64")).rename("log_firms")


def add_measures(df: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``df`` with every derived measure added as a column."""
    out = df.copy()
    for col in (
        "breadth",
        "board_diversity",
        "board_shannon",
        "public_private",
        "lfr_index",
        "sc_score",
        "age",
        "log_firms",
    ):
        out[col] = MEASURES[col](df)
    out[list(ILR_NAMES)] = ilr_coordinates(df)
    for a in ACTORS:
        out[f"active_{a}"] = (
            (df[f"involve_{a}"] >= ACTIVE_LEVEL).astype("float64").where(df[f"involve_{a}"].notna())
        )
    return out


MEASURES = {
    "breadth": breadth,
    "board_diversity": blau_diversity,
    "board_shannon": shannon_diversity,
    "public_private": public_private,
    "lfr_index": less_favoured_index,
    "sc_score": social_capital_score,
    "age": initiative_age,
    "log_firms": log_firms,
}


def _active(column: str):
    def compute(df: pd.DataFrame) -> pd.Series:
        x = pd.to_numeric(df[column]).astype("float64")
        return (x >= ACTIVE_LEVEL).astype("float64").where(x.notna())

    return compute


def _ilr(name: str):
    return lambda df: ilr_coordinates(df)[name]


DERIVED_COLUMNS: dict[str, Derived] = {
    "breadth": Derived(INVOLVE_COLUMNS, breadth),
    "public_private": Derived(INVOLVE_COLUMNS, public_private),
    "board_diversity": Derived(BOARD_COLUMNS, blau_diversity),
    "board_shannon": Derived(BOARD_COLUMNS, shannon_diversity),
    "lfr_index": Derived(("unemp_gap", "tertiary_ratio", "rnd_ratio", "patent_ratio"), less_favoured_index),
    "sc_score": Derived(SC_ITEMS, social_capital_score),
    "age": Derived(("survey_year", "start_year"), initiative_age),
    "log_firms": Derived(("n_firms",), log_firms),
    **{name: Derived((*BOARD_COLUMNS, "board_seats"), _ilr(name)) for name in ILR_NAMES},
    **{f"active_{a}": Derived((f"involve_{a}",), _active(f"involve_{a}")) for a in ACTORS},
}
"""The study's measures as derived predictors of the core's specs (``ModelSpec(derived_from=
"clusterpreneur.study.measures")``): the survey columns each needs and how it is computed."""
