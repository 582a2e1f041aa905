"""Schema validation of in-memory survey frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clusterpreneur import CODEBOOK, validate_survey
from clusterpreneur.errors import SurveyValidationError
from clusterpreneur.study.codebook import BOARD_COLUMNS, CROSS_SECTION, required_columns
from clusterpreneur.study.schema import check_survey, codebook_dtype, survey_schema

SOURCE = "frame.csv"


def problems_of(df: pd.DataFrame) -> list:
    with pytest.raises(SurveyValidationError) as info:
        validate_survey(df, source=SOURCE)
    assert info.value.source == SOURCE
    assert str(info.value).startswith(f"{SOURCE}: {len(info.value.problems)} problem(s)")
    return info.value.problems


def only(problems: list, column: str) -> object:
    found = [p for p in problems if p.column == column]
    assert len(found) == 1, problems
    return found[0]


def test_schema_is_derived_from_the_codebook():
    schema = survey_schema()
    assert list(schema.columns) == list(CODEBOOK)
    for name, var in CODEBOOK.items():
        assert schema.columns[name].required == var.required
        assert schema.columns[name].nullable == var.nullable
        expected = pd.api.types.pandas_dtype(codebook_dtype(var))
        if var.kind == "id":  # pandera does not tell the two pandas string dtypes apart
            assert isinstance(schema.columns[name].dtype.type, pd.StringDtype)
        else:
            assert schema.columns[name].dtype.type == expected


def test_valid_frame_passes_with_codebook_dtypes_and_is_not_modified(small_survey):
    raw = small_survey.data.astype(object)
    before = raw.copy()
    out = validate_survey(raw)
    pd.testing.assert_frame_equal(raw, before)
    pd.testing.assert_frame_equal(out, small_survey.data)
    assert "wave" not in out  # a cross-sectional survey stays one
    for name in CROSS_SECTION:
        var = CODEBOOK[name]
        assert out[name].dtype == pd.api.types.pandas_dtype(codebook_dtype(var)), name
    assert out["initiative_id"].isna().sum() == 0 and out["initiative_id"].dtype.na_value is pd.NA


def test_order_index_extra_and_optional_columns(survey_frame):
    df = survey_frame.drop(columns=["firm_growth", "member_fees"])
    df.insert(0, "interviewer", "anna")
    df = df[list(reversed(df.columns))]
    df.index = pd.RangeIndex(100, 100 + len(df))
    out = validate_survey(df)
    assert list(out.columns) == [*CROSS_SECTION, "interviewer"]
    assert out["firm_growth"].isna().all() and out["member_fees"].dtype == "float64"
    assert (out["interviewer"] == "anna").all()
    assert out.index.equals(df.index)


def test_missing_codes_become_missing(survey_frame):
    survey_frame["sc_trust"] = survey_frame["sc_trust"].astype(object)
    survey_frame.loc[0, "sc_trust"] = -9
    survey_frame.loc[1, "public_funding"] = -8.0
    out = validate_survey(survey_frame)
    assert pd.isna(out.loc[0, "sc_trust"]) and np.isnan(out.loc[1, "public_funding"])


def test_missing_code_in_a_non_nullable_column_is_reported(survey_frame):
    survey_frame.loc[2, "survey_year"] = -9
    p = only(problems_of(survey_frame), "survey_year")
    assert (p.row, p.value, p.initiative_id) == (3, -9, "CI00003")
    assert "may not be missing" in p.fix


def test_missing_required_columns_one_problem_each(survey_frame):
    problems = problems_of(survey_frame.drop(columns=["takeoff", "sc_trust"]))
    assert sorted(p.column for p in problems) == ["sc_trust", "takeoff"]
    assert all(p.row is None and p.rule == "required column is present" for p in problems)


def test_missing_optional_columns_are_fine(survey_frame):
    optional = [c for c in CROSS_SECTION if c not in required_columns()]
    assert optional
    validate_survey(survey_frame.drop(columns=optional))


def test_null_in_non_nullable_id(survey_frame):
    survey_frame.loc[4, "region_id"] = pd.NA
    p = only(problems_of(survey_frame), "region_id")
    assert (p.row, p.rule) == (5, "no missing value")


def test_fraction_in_whole_number_column(survey_frame):
    survey_frame["n_firms"] = survey_frame["n_firms"].astype("float64")
    survey_frame.loc[0, "n_firms"] = 12.5
    p = only(problems_of(survey_frame), "n_firms")
    assert (p.row, p.value) == (1, 12.5) and "whole number" in p.rule


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("lifecycle", 4, "one of the codes 1=emerging"),
        ("unemp_gap", 31.0, "a number in [-30, 30]"),
        ("board_seats", 0, "a whole number in [1, 200]"),
    ],
)
def test_column_rules(survey_frame, column, value, rule):
    survey_frame.loc[5, column] = value
    # region-level columns must stay constant within the region: change the whole region
    if CODEBOOK[column].level == "region":
        region = survey_frame.loc[5, "region_id"]
        survey_frame.loc[survey_frame["region_id"] == region, column] = value
        rows = set(np.flatnonzero(survey_frame["region_id"] == region) + 1)
    else:
        rows = {6}
    problems = problems_of(survey_frame)
    assert {p.row for p in problems} == rows
    assert all(p.column == column and p.value == value and rule in p.rule for p in problems)


def test_duplicated_initiative_id(survey_frame):
    survey_frame.loc[9, "initiative_id"] = "CI00002"
    p = only(problems_of(survey_frame), "initiative_id")
    assert (p.row, p.value, p.rule) == (10, "CI00002", "initiative_id is unique")
    assert "row 2" in p.fix


def test_region_in_two_countries(survey_frame):
    region = survey_frame.loc[0, "region_id"]
    rows = np.flatnonzero(survey_frame["region_id"] == region)
    assert len(rows) >= 2
    survey_frame.loc[rows[-1], "country_id"] = "ZZZ"
    p = only(problems_of(survey_frame), "country_id")
    assert (p.row, p.value, p.rule) == (rows[-1] + 1, "ZZZ", "a region belongs to exactly one country")


def test_region_level_variable_varies_within_region(survey_frame):
    region = survey_frame.loc[0, "region_id"]
    rows = np.flatnonzero(survey_frame["region_id"] == region)
    survey_frame.loc[rows[-1], "peripheral"] = 1 - survey_frame.loc[rows[-1], "peripheral"]
    p = only(problems_of(survey_frame), "peripheral")
    assert p.row == rows[-1] + 1
    assert p.rule == "region-level variable is constant within a region"


def test_board_shares_must_sum_to_one(survey_frame):
    survey_frame.loc[3, "board_finance"] += 0.05
    survey_frame.loc[4, "board_finance"] += 0.005  # within tolerance
    survey_frame.loc[5, "board_finance"] = np.nan  # incomplete rows are not summed
    problems = problems_of(survey_frame)
    assert len(problems) == 1
    p = problems[0]
    assert p.row == 4 and p.column == "+".join(BOARD_COLUMNS)
    assert p.value == pytest.approx(1.05) and "sum to one within 0.01" in p.rule


@pytest.mark.parametrize(
    ("change", "column", "rule"),
    [
        ({"n_firms": 10, "n_firms_10plus": 11}, "n_firms_10plus", "n_firms_10plus <= n_firms"),
        ({"start_year": 2000, "formalised_year": 1999}, "formalised_year", "start_year <= formalised_year"),
        ({"start_year": 2004, "formalised_year": pd.NA}, "start_year", "start_year <= survey_year"),
    ],
)
def test_order_rules(survey_frame, change, column, rule):
    for col, value in change.items():
        survey_frame.loc[7, col] = value
    p = only(problems_of(survey_frame), column)
    assert (p.row, p.rule) == (8, rule)


def test_every_problem_reported_at_once(survey_frame):
    survey_frame = survey_frame.drop(columns=["takeoff"]).astype(object)
    survey_frame.loc[0, "sc_vision"] = 9
    survey_frame.loc[1, "n_members"] = "many"
    survey_frame.loc[2, "initiative_id"] = "CI00001"
    survey_frame.loc[3, "board_policy"] = 0.9
    problems = problems_of(survey_frame)
    got = [(p.row, p.column) for p in problems]
    assert got == [
        (None, "takeoff"),
        (1, "sc_vision"),
        (2, "n_members"),
        (3, "initiative_id"),
        (4, "+".join(BOARD_COLUMNS)),
    ]


def test_check_survey_returns_problems_without_raising(survey_frame):
    survey_frame.loc[0, "sc_vision"] = 9
    frame, problems = check_survey(survey_frame, SOURCE)
    assert [p.column for p in problems] == ["sc_vision"]
    assert list(frame.columns) == list(CROSS_SECTION)


def test_numeric_ids_become_text_without_decimals(survey_frame):
    survey_frame["initiative_id"] = np.arange(1.0, len(survey_frame) + 1)
    out = validate_survey(survey_frame)
    assert out["initiative_id"].tolist()[:2] == ["1", "2"]
