"""Derived measures against values computed by hand on a four-row toy frame."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from clusterpreneur.standardize import Standardizer
from clusterpreneur.study.codebook import BOARD_COLUMNS, CODEBOOK, INVOLVE_COLUMNS
from clusterpreneur.study.measures import (
    ILR_NAMES,
    add_measures,
    blau_diversity,
    breadth,
    ilr_coordinates,
    initiative_age,
    less_favoured_index,
    log_firms,
    public_private,
    replace_zero_shares,
    shannon_diversity,
    social_capital_score,
)
from clusterpreneur.study.schema import codebook_dtype

NA = pd.NA
LN2 = math.log(2)


@pytest.fixture
def toy() -> pd.DataFrame:
    """A: North Jutland-like; B: policy only; C: policy inactive, finance unknown; D: sparse answers."""
    rows = {
        "involve_research": [4, 0, 2, NA],
        "involve_policy": [3, 2, 0, 3],
        "involve_industry": [2, 0, 0, 0],
        "involve_finance": [1, 0, NA, NA],
        "board_research": [0.5, 0.0, 0.25, 0.25],
        "board_policy": [0.25, 1.0, 0.0, 0.25],
        "board_industry": [0.125, 0.0, 0.75, 0.25],
        "board_finance": [0.125, 0.0, 0.0, 0.25],
        "board_seats": [8, 4, 4, 10],
        "sc_trust": [4, 1, 5, NA],
        "sc_concerted": [4, 2, 5, NA],
        "sc_vision": [4, 3, 5, NA],
        "sc_networks": [4, NA, 5, NA],
        "peripheral": [1, 0, 0, 1],
        "unemp_gap": [1.7, 0.0, -2.0, 4.0],
        "tertiary_ratio": [1 / 1.5, 1.0, 2.0, 0.5],
        "rnd_ratio": [2 / 3, 1.0, 2.0, 0.25],
        "patent_ratio": [2 / 3, 1.0, 2.0, 1.0],
        "survey_year": [2005, 2005, 2005, 2005],
        "start_year": [2000, 2005, 1995, NA],
        "n_firms": [35, 1, 10, 100],
    }
    return pd.DataFrame({k: pd.Series(v, dtype=codebook_dtype(CODEBOOK[k])) for k, v in rows.items()})


def assert_values(series: pd.Series, expected: list[float]) -> None:
    np.testing.assert_allclose(series.to_numpy(dtype="float64"), expected, rtol=1e-12, atol=1e-15)


def test_breadth(toy):
    assert_values(breadth(toy), [4, 1, np.nan, np.nan])


def test_blau_diversity(toy):
    # A: 1 - (1/4 + 1/16 + 1/64 + 1/64) = 0.65625
    assert_values(blau_diversity(toy), [0.65625, 0.0, 1 - (0.0625 + 0.5625), 0.75])


def test_shannon_diversity(toy):
    # A: 0.5 ln 2 + 0.25 ln 4 + 2 * 0.125 ln 8 = 1.75 ln 2
    expected = [1.75 * LN2, 0.0, 0.25 * math.log(4) + 0.75 * math.log(4 / 3), math.log(4)]
    assert_values(shannon_diversity(toy), expected)


def test_diversity_is_missing_with_a_missing_share(toy):
    toy.loc[0, "board_finance"] = np.nan
    assert np.isnan(blau_diversity(toy)[0]) and np.isnan(shannon_diversity(toy)[0])


def test_replace_zero_shares(toy):
    out = replace_zero_shares(toy)
    # B: 4 seats -> delta = 0.5 / 4 = 0.125; three zeros -> the policy share shrinks to 1 - 3 * 0.125
    # C: two zeros -> the non-zero shares shrink by 1 - 2 * 0.125 = 0.75
    expected = [
        [0.5, 0.25, 0.125, 0.125],
        [0.125, 0.625, 0.125, 0.125],
        [0.1875, 0.125, 0.5625, 0.125],
        [0.25, 0.25, 0.25, 0.25],
    ]
    np.testing.assert_allclose(out.to_numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-12)
    assert list(out.columns) == list(BOARD_COLUMNS)
    assert out.loc[2, "board_research"] / out.loc[2, "board_industry"] == pytest.approx(0.25 / 0.75)


def test_ilr_coordinates(toy):
    out = ilr_coordinates(toy)
    assert list(out.columns) == list(ILR_NAMES)
    # A: logs are (-1, -2, -3, -3) ln 2
    # z1 = sqrt(3/4) (-1 - (-8/3)) ln 2; z2 = sqrt(2/3) (-2 - (-3)) ln 2; z3 = sqrt(1/2) * 0
    np.testing.assert_allclose(
        out.loc[0], [math.sqrt(3 / 4) * 5 / 3 * LN2, math.sqrt(2 / 3) * LN2, 0.0], atol=1e-12
    )
    # B after zero replacement (0.125, 0.625, 0.125, 0.125): z1 = -sqrt(3/4) ln5 / 3, z2 = sqrt(2/3) ln5
    np.testing.assert_allclose(
        out.loc[1], [-math.sqrt(3 / 4) * math.log(5) / 3, math.sqrt(2 / 3) * math.log(5), 0.0], atol=1e-12
    )
    np.testing.assert_allclose(out.loc[3], 0.0, atol=1e-12)  # equal shares sit at the origin


def test_public_private(toy):
    # A both; B policy only; C policy inactive, so 0 whatever finance is; D policy active, private unknown
    assert_values(public_private(toy), [1, 0, 0, np.nan])


@pytest.mark.parametrize("dtype", ["float64", "Int64"])
def test_public_private_with_unknown_policy(toy, dtype):
    inv = toy[list(INVOLVE_COLUMNS)].astype(dtype)
    inv.loc[1, "involve_policy"] = None  # private inactive: 0 regardless of policy
    inv.loc[0, "involve_policy"] = None  # private active: unknown
    assert_values(public_private(inv), [np.nan, 0, 0, np.nan])


def test_less_favoured_index(toy):
    north_jutland = (1.7 / 2 + 3 * math.log2(1.5)) / 4
    assert north_jutland == pytest.approx(0.651222, abs=1e-6)
    # B national level; C (-2 pp, doubled ratios) = -1; D (2 + 1 + 2 + 0) / 4 = 1.25
    assert_values(less_favoured_index(toy), [north_jutland, 0.0, -1.0, 1.25])


def test_social_capital_score(toy):
    assert_values(social_capital_score(toy), [4.0, 2.0, 5.0, np.nan])


def test_initiative_age(toy):
    assert_values(initiative_age(toy), [5.0, 0.0, 10.0, np.nan])


def test_log_firms(toy):
    assert_values(log_firms(toy), [math.log(35), 0.0, math.log(10), math.log(100)])


def test_standardizer(toy):
    std = Standardizer.fit(toy, ["board_seats", "peripheral", "sc_networks"])
    # seats (8, 4, 4, 10): mean 6.5, squared deviations 2.25 + 6.25 + 6.25 + 12.25 = 27, sd sqrt(27 / 4)
    assert std.center == {"board_seats": 6.5, "peripheral": 0.0, "sc_networks": 4.5}
    assert std.scale == pytest.approx({"board_seats": math.sqrt(6.75), "peripheral": 1.0, "sc_networks": 0.5})
    out = std.transform(toy)
    assert_values(out["board_seats"], [1.5, -2.5, -2.5, 3.5] / np.sqrt(6.75))
    assert_values(out["peripheral"], [1, 0, 0, 1])  # binary: untouched
    assert_values(out["sc_networks"], [-1, np.nan, 1, np.nan])
    pd.testing.assert_frame_equal(out.drop(columns=list(std.center)), toy.drop(columns=list(std.center)))
    again = Standardizer.from_dict(json.loads(json.dumps(std.to_dict())))
    assert again == std
    pd.testing.assert_frame_equal(again.transform(toy), out)


def test_standardizer_constant_and_empty_columns(toy):
    std = Standardizer.fit(toy, ["survey_year"])
    assert (std.center["survey_year"], std.scale["survey_year"]) == (2005.0, 1.0)
    toy["sc_trust"] = pd.Series([NA] * 4, dtype="Int64")
    with pytest.raises(ValueError, match="sc_trust"):
        Standardizer.fit(toy, ["sc_trust"])


def test_add_measures_keeps_input(toy):
    before = toy.copy()
    out = add_measures(toy)
    pd.testing.assert_frame_equal(toy, before)
    assert_values(out["breadth"], [4, 1, np.nan, np.nan])
    assert_values(out["active_finance"], [1, 0, np.nan, np.nan])
    assert_values(out[ILR_NAMES[2]], ilr_coordinates(toy)[ILR_NAMES[2]].to_numpy())
