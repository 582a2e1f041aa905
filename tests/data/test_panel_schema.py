"""Validation of panels (one row per initiative and survey wave): every rule of a panel, each
problem named by file, row, column, value, rule and fix; a cross-section is unchanged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clusterpreneur.errors import SurveyValidationError
from clusterpreneur.study.panel import simulate_panel
from clusterpreneur.study.readers import load_survey, write_survey
from clusterpreneur.study.schema import check_survey, is_panel, validate_survey


@pytest.fixture(scope="module")
def shipped_size_panel():
    return simulate_panel(120, 12, seed=3)


@pytest.fixture
def panel(shipped_size_panel) -> pd.DataFrame:
    """A fresh copy of a valid simulated panel (rows by initiative, then wave)."""
    return shipped_size_panel.data.copy()


def _rows_of(df: pd.DataFrame, n_waves: int, took_off: bool | None = None) -> tuple[str, np.ndarray]:
    """An initiative with ``n_waves`` rows (and take-off in its last one, if asked) and its rows."""
    for ident, rows in df.groupby("initiative_id", sort=True):
        if len(rows) == n_waves and (took_off is None or bool(rows["takeoff"].iloc[-1]) == took_off):
            return ident, rows.index.to_numpy()
    raise AssertionError(f"no initiative with {n_waves} waves")


def _problems(df: pd.DataFrame) -> list:
    _frame, problems = check_survey(df, "panel.csv")
    return problems


def test_a_valid_panel_passes_and_keeps_its_waves(panel):
    out = validate_survey(panel)
    assert is_panel(out) and out["wave"].dtype == "Int64" and out["wave"].tolist() == panel["wave"].tolist()


def test_two_rows_for_one_initiative_and_wave(panel):
    ident, rows = _rows_of(panel, 3)
    panel.loc[rows[1], "wave"] = 1
    panel.loc[rows[1], "survey_year"] = 2003
    found = [p for p in _problems(panel) if p.rule == "one row per initiative and wave"]
    assert len(found) == 1
    p = found[0]
    assert (p.row, p.column, p.value, p.initiative_id) == (rows[1] + 1, "initiative_id", ident, ident)
    assert f"wave 1 in data row {rows[0] + 1}" in p.fix and "remove the duplicated row" in p.fix


def test_no_row_after_take_off(panel):
    _ident, rows = _rows_of(panel, 2, took_off=False)
    first, second = panel.loc[rows, "wave"]
    panel.loc[rows[0], "takeoff"] = 1
    (p,) = _problems(panel)
    assert (p.row, p.column, p.value) == (rows[1] + 1, "wave", second)
    assert p.rule.startswith("no row after take-off")
    assert f"took off in wave {first} (data row {rows[0] + 1})" in p.fix


def test_a_gap_between_waves(panel):
    ident, rows = _rows_of(panel, 3)
    panel = panel.drop(index=rows[1])
    (p,) = _problems(panel)
    assert (p.column, p.value, p.initiative_id) == ("wave", 3, ident)
    assert p.rule == "an initiative's waves follow each other without gaps"
    assert "no row for wave 2" in p.fix and "remove its rows after wave 1" in p.fix


def test_a_later_wave_has_a_later_survey_year(panel):
    _ident, rows = _rows_of(panel, 2)
    panel.loc[rows[1], "survey_year"] = panel.loc[rows[0], "survey_year"]
    found = [p for p in _problems(panel) if p.column == "survey_year"]
    assert len(found) == 1 and found[0].row == rows[1] + 1
    assert found[0].rule == "a later wave has a later survey_year"


@pytest.mark.parametrize("column", ["start_year", "region_id", "initiator"])
def test_time_constant_variables_do_not_change(panel, column):
    ident, rows = _rows_of(panel, 3)
    value = {
        "start_year": 1990,
        "region_id": panel.loc[_rows_of(panel, 1)[1][0], "region_id"],
        "initiator": 3,
    }
    new = value[column] if panel.loc[rows[0], column] != value[column] else 2
    panel.loc[rows[2], column] = new
    found = [p for p in _problems(panel) if p.rule == f"{column} is the same in every wave of an initiative"]
    assert len(found) == 1
    p = found[0]
    assert (p.row, p.value, p.initiative_id) == (rows[2] + 1, new, ident)
    assert f"Data row {rows[0] + 1} of initiative {ident!r}" in p.fix
    if column == "region_id":
        assert "give it its own id" in p.fix


def test_region_variables_may_change_between_waves_but_not_within_one(panel):
    wave2 = panel["wave"] == 2
    panel.loc[wave2, "unemp_gap"] = panel.loc[wave2, "unemp_gap"] + 0.5  # every region, wave 2
    assert _problems(panel) == []
    region = panel.loc[wave2, "region_id"].value_counts().index[0]
    rows = np.flatnonzero(wave2 & (panel["region_id"] == region))
    assert len(rows) >= 2
    panel.iloc[rows[-1], panel.columns.get_loc("unemp_gap")] += 1.0
    (p,) = _problems(panel)
    assert (p.row, p.column) == (rows[-1] + 1, "unemp_gap")
    assert p.rule == "region-level variable is constant within a region in each wave"


def test_every_row_of_a_panel_has_its_wave(panel):
    panel["wave"] = panel["wave"].astype("Float64")
    panel.loc[4, "wave"] = pd.NA
    found = [p for p in _problems(panel) if p.column == "wave"]
    assert [(p.row, p.rule) for p in found] == [(5, "every row of a panel has its wave")]


def test_a_cross_section_with_an_empty_wave_column_is_a_cross_section(survey_frame):
    survey_frame["wave"] = pd.NA
    out = validate_survey(survey_frame)
    assert not is_panel(out)
    survey_frame.loc[9, "initiative_id"] = "CI00002"
    with pytest.raises(SurveyValidationError) as err:
        validate_survey(survey_frame)
    assert [p.rule for p in err.value.problems] == ["initiative_id is unique"]


def test_a_panel_file_names_its_lines(tmp_path, panel):
    ident, rows = _rows_of(panel, 2, took_off=False)
    panel.loc[rows[0], "takeoff"] = 1
    path = write_survey(panel, tmp_path / "panel.csv")
    with pytest.raises(SurveyValidationError) as err:
        load_survey(path)
    text = str(err.value)
    assert f"file line {rows[1] + 2}" in text and ident in text
    assert f"took off in wave {panel.loc[rows[0], 'wave']}" in text
    assert f"file line {rows[0] + 2}" in text  # the fix points at the take-off row
