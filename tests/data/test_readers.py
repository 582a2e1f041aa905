"""Reading, mapping and writing survey files; bad input never changes a file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from clusterpreneur import load_survey, simulate_survey, write_survey
from clusterpreneur.errors import MappingError, SurveyValidationError, UnsupportedFormatError
from clusterpreneur.study.codebook import CROSS_SECTION, INVOLVEMENT
from clusterpreneur.study.datasets import CASES_FILE, DATA_DIR, SURVEY_FILE
from clusterpreneur.study.readers import SUPPORTED_EXTENSIONS, SurveyFileNotFoundError

FORMATS = ("csv", "xlsx", "dta", "sav", "parquet")


@pytest.fixture(scope="module")
def mcar_survey() -> pd.DataFrame:
    """A small survey with item non-response."""
    data = simulate_survey(n_initiatives=30, n_countries=4, seed=11, scenario="mcar").data
    assert data.isna().any().sum() >= 4
    return data


@pytest.fixture
def frame(mcar_survey) -> pd.DataFrame:
    return mcar_survey.copy()


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def failing_load(path: Path, error: type[Exception] = SurveyValidationError, mapping: Path | None = None):
    """Load ``path`` expecting ``error``; assert that no file in its folder was created or changed."""
    before = snapshot(path.parent)
    with pytest.raises(error) as info:
        load_survey(path, mapping=mapping)
    assert snapshot(path.parent) == before
    return info.value


def line_for(err: SurveyValidationError, row: int | None, column: str) -> str:
    """The message line of the problem at ``row`` and ``column``, checking it names the file."""
    lines = [str(p) for p in err.problems if p.row == row and p.column == column]
    assert len(lines) == 1, str(err)
    assert lines[0] in str(err) and lines[0].startswith(err.source)
    return lines[0]


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    path.write_text(df.to_csv(index=False, lineterminator="\n"))
    return path


# --- bad input --------------------------------------------------------------------------------------


def test_missing_required_column(tmp_path, frame):
    path = write_csv(frame.drop(columns=["peripheral"]), tmp_path / "s.csv")
    err = failing_load(path)
    line = line_for(err, None, "peripheral")
    assert str(path) in line and "'required column is present'" in line and "Add the column" in line


def test_unknown_category_code(tmp_path, frame):
    frame.loc[4, "initiator"] = 7
    path = write_csv(frame, tmp_path / "s.csv")
    line = line_for(failing_load(path), 5, "initiator")
    assert f"{path}, file line 6, initiative 'CI00005', column 'initiator': value 7" in line
    assert "rule 'one of the codes 1=public, 2=private, 3=joint'" in line
    assert "or a missing code -9" in line


def test_out_of_range_likert(tmp_path, frame):
    frame.loc[0, "sc_networks"] = 6
    path = write_csv(frame, tmp_path / "s.csv")
    line = line_for(failing_load(path), 1, "sc_networks")
    assert "file line 2, initiative 'CI00001'" in line and "value 6" in line and "5=strongly agree" in line


def test_duplicated_initiative_id(tmp_path, frame):
    frame.loc[6, "initiative_id"] = "CI00003"
    path = write_csv(frame, tmp_path / "s.csv")
    line = line_for(failing_load(path), 7, "initiative_id")
    assert "value 'CI00003'" in line and "'initiative_id is unique'" in line
    assert "file line 8" in line and "already used in file line 4" in line


def test_region_in_two_countries(tmp_path, frame):
    region = frame.loc[0, "region_id"]
    last = int(np.flatnonzero(frame["region_id"] == region)[-1])
    frame.loc[last, "country_id"] = "XYZ"
    path = write_csv(frame, tmp_path / "s.csv")
    line = line_for(failing_load(path), last + 1, "country_id")
    assert "value 'XYZ'" in line and "a region belongs to exactly one country" in line


def test_board_shares_not_summing_to_one(tmp_path, frame):
    row = int(np.flatnonzero(frame["board_research"] > 0.1)[0])
    frame.loc[row, "board_research"] -= 0.1
    path = write_csv(frame, tmp_path / "s.csv")
    line = line_for(failing_load(path), row + 1, "board_research+board_policy+board_industry+board_finance")
    assert "value 0.9" in line and "board shares sum to one within 0.01" in line


def test_text_in_numeric_csv_column(tmp_path, frame):
    text = write_csv(frame, tmp_path / "s.csv").read_text().splitlines()
    header = text[0].split(",")
    cells = text[3].split(",")
    cells[header.index("n_firms")] = "about forty"
    text[3] = ",".join(cells)
    path = tmp_path / "s.csv"
    path.write_text("\n".join(text) + "\n")
    line = line_for(failing_load(path), 3, "n_firms")
    assert "value 'about forty'" in line and "a whole number in [1, 1e+06]" in line
    assert "Replace the text by a number" in line


def test_na_text_is_not_silently_missing(tmp_path, frame):
    frame["sc_trust"] = frame["sc_trust"].astype(object)
    frame.loc[1, "sc_trust"] = "NA"
    line = line_for(failing_load(write_csv(frame, tmp_path / "s.csv")), 2, "sc_trust")
    assert "value 'NA'" in line


def test_several_problems_reported_at_once(tmp_path, frame):
    frame = frame.drop(columns=["lifecycle"])
    frame.loc[0, "sc_trust"] = 0
    frame.loc[1, "initiative_id"] = "CI00001"
    frame.loc[2, "unemp_gap"] = 99.0
    err = failing_load(write_csv(frame, tmp_path / "s.csv"))
    assert err.problems[0].column == "lifecycle"
    for row, column in [(1, "sc_trust"), (2, "initiative_id"), (3, "unemp_gap")]:
        line_for(err, row, column)
    assert str(err).startswith(f"{tmp_path / 's.csv'}: {len(err.problems)} problem(s) found")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    err = failing_load(path)
    assert str(path) in str(err) and "empty" in str(err)


def test_header_without_rows(tmp_path, frame):
    path = write_csv(frame.iloc[:0], tmp_path / "s.csv")
    assert "no data rows" in str(failing_load(path))


@pytest.mark.parametrize("ext", FORMATS)
def test_unreadable_file(tmp_path, ext):
    path = tmp_path / f"broken.{ext}"
    path.write_bytes(b"garbage\x00\xff\xfe not a survey")
    err = failing_load(path)
    rule = "a complete Parquet file" if ext == "parquet" else f"a readable .{ext} file"
    assert str(path) in str(err) and rule in str(err)


def test_unsupported_extension(tmp_path):
    path = tmp_path / "survey.json"
    path.write_text("{}")
    err = failing_load(path, UnsupportedFormatError)
    assert str(path) in str(err) and "'.json'" in str(err)
    assert all(ext in str(err) for ext in SUPPORTED_EXTENSIONS)


def test_missing_file(tmp_path):
    with pytest.raises(SurveyFileNotFoundError, match="not found"):
        load_survey(tmp_path / "nothing.csv")
    assert list(tmp_path.iterdir()) == []


def test_spss_value_labels_disagree_with_codebook(tmp_path, frame):
    path = write_survey(frame, tmp_path / "s.sav")
    data, meta = pyreadstat.read_sav(path)
    labels = dict(meta.variable_value_labels)
    labels["involve_industry"] = {0: "none", 1: "minor", 2: "moderate", 3: "major", 5: "leading"}
    pyreadstat.write_sav(data, path, variable_value_labels=labels)
    line = line_for(failing_load(path), None, "involve_industry")
    assert "value '5=leading'" in line and "4=leading" in line and "value labels agree" in line


# --- mapping files ----------------------------------------------------------------------------------

USER_CODES = {1: "gov", 2: "firm", 3: "both"}

MAPPING = """\
[columns]
ci_code = "initiative_id"
trust_q1 = "sc_trust"
who_started = "initiator"

[recode.initiator]
"gov" = 1
"firm" = 2
"both" = 3

[constants]
survey_year = 2003
"""


def user_file(frame: pd.DataFrame, folder: Path) -> Path:
    user = frame.drop(columns=["survey_year"]).rename(
        columns={"initiative_id": "ci_code", "sc_trust": "trust_q1", "initiator": "who_started"}
    )
    user["who_started"] = user["who_started"].map(USER_CODES)
    return write_csv(user, folder / "user.csv")


def test_mapping_renames_recodes_and_fills_constants(tmp_path, frame):
    path = user_file(frame, tmp_path)
    mapping = tmp_path / "map.toml"
    mapping.write_text(MAPPING)
    before = snapshot(tmp_path)
    out = load_survey(path, mapping=mapping)
    assert snapshot(tmp_path) == before
    pd.testing.assert_frame_equal(out, frame)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda m: m.replace("trust_q1 =", "trust_q9 ="), ["trust_q9", "has no column", "user.csv"]),
        (lambda m: m.replace('"initiator"', '"sc_trust"'), ["who_started", "also mapped onto 'sc_trust'"]),
        (lambda m: m.replace('"initiator"', '"starter"'), ["'starter' is not a codebook variable"]),
        (lambda m: m.replace('"gov" = 1', '"gov" = '), ["not valid TOML"]),
        (lambda m: m.replace("[constants]", "[constant]"), ["[constant]", "unknown table"]),
        (lambda m: m.replace("[recode.initiator]", "[recode.starter]"), ["[recode.starter]"]),
        (lambda m: m + "initiator = 1\n", ["[constants] initiator", "already has a column"]),
        (lambda m: m + '[missing]\ncodes = "99"\n', ["[missing] codes", "is not a list of codes"]),
        (lambda m: m + "[missing.sc_trus]\ncodes = [8]\n", ["[missing.sc_trus]", "Did you mean 'sc_trust'?"]),
        (lambda m: m.replace('"initiator"', '"initator"'), ["Did you mean 'initiator'?"]),
        (lambda m: m.replace("[constants]", "[constant]"), ["Did you mean 'constants'?"]),
    ],
    ids=[
        "absent-column",
        "two-onto-one",
        "unknown-target",
        "malformed",
        "unknown-table",
        "unknown-recode",
        "constant-clash",
        "missing-not-a-list",
        "missing-unknown-column",
        "target-misspelt",
        "table-misspelt",
    ],
)
def test_bad_mapping(tmp_path, frame, edit, expected):
    path = user_file(frame, tmp_path)
    mapping = tmp_path / "map.toml"
    mapping.write_text(edit(MAPPING))
    err = failing_load(path, MappingError, mapping)
    assert str(mapping) in str(err)
    assert "entry" in str(err) or "TOML" in str(err)
    for part in expected:
        assert part in str(err)


def test_unmapped_text_code_is_reported_with_row(tmp_path, frame):
    path = user_file(frame, tmp_path)
    mapping = tmp_path / "map.toml"
    mapping.write_text(MAPPING.replace('"both" = 3\n', ""))
    err = failing_load(path, mapping=mapping)
    rows = {p.row for p in err.problems}
    assert rows == set(np.flatnonzero(frame["initiator"] == 3) + 1)
    assert all(p.column == "initiator" and p.value == "both" for p in err.problems)


def test_spss_labels_checked_after_recode(tmp_path, frame):
    shifted = frame.copy()
    shifted["lifecycle"] = shifted["lifecycle"] + 10
    path = tmp_path / "s.sav"
    write_survey(shifted, path)
    data, meta = pyreadstat.read_sav(path)
    labels = dict(meta.variable_value_labels, lifecycle={11: "emerging", 12: "growing", 13: "mature"})
    pyreadstat.write_sav(data, path, variable_value_labels=labels)
    mapping = tmp_path / "map.toml"
    mapping.write_text('[recode.lifecycle]\n"11" = 1\n"12" = 2\n"13" = 3\n')
    pd.testing.assert_frame_equal(load_survey(path, mapping=mapping), frame)


# --- round trips and writing ------------------------------------------------------------------------


@pytest.mark.parametrize("ext", FORMATS)
def test_round_trip(tmp_path, mcar_survey, ext):
    path = write_survey(mcar_survey, tmp_path / f"survey.{ext}")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind
    out = load_survey(path)
    pd.testing.assert_frame_equal(out, mcar_survey, check_exact=ext == "parquet", rtol=1e-12)


def test_missing_codes_become_missing_on_load(tmp_path, frame):
    frame = frame.astype(object)
    frame.loc[0, "sc_trust"] = -9
    frame.loc[1, "public_funding"] = -8
    out = load_survey(write_csv(frame, tmp_path / "s.csv"))
    assert pd.isna(out.loc[0, "sc_trust"]) and np.isnan(out.loc[1, "public_funding"])


def test_spss_user_missing_values_become_missing(tmp_path, frame):
    path = write_survey(frame, tmp_path / "s.sav")
    data, meta = pyreadstat.read_sav(path)
    data.loc[0, "sc_vision"] = 99
    data.loc[1, "sc_vision"] = -8
    pyreadstat.write_sav(
        data,
        path,
        variable_value_labels=meta.variable_value_labels,
        missing_ranges={"sc_vision": [99, -8]},
    )
    out = load_survey(path)
    assert out.loc[[0, 1], "sc_vision"].isna().all()
    pd.testing.assert_series_equal(out.loc[2:, "sc_vision"], frame.loc[2:, "sc_vision"])


@pytest.mark.parametrize("ext", ["sav", "dta"])
def test_stats_files_carry_codebook_labels(tmp_path, frame, ext):
    path = write_survey(frame, tmp_path / f"s.{ext}")
    reader = pyreadstat.read_sav if ext == "sav" else pyreadstat.read_dta
    _, meta = reader(path, metadataonly=True, user_missing=True)
    labels = meta.variable_value_labels["involve_policy"]
    assert {int(k): v for k, v in labels.items() if k >= 0} == INVOLVEMENT
    if ext == "sav":
        assert meta.missing_ranges["sc_trust"] == [{"lo": -9.0, "hi": -9.0}, {"lo": -8.0, "hi": -8.0}]


def test_write_replaces_existing_file(tmp_path, frame):
    path = tmp_path / "s.parquet"
    path.write_bytes(b"old")
    write_survey(frame, path)
    pd.testing.assert_frame_equal(load_survey(path), frame)
    with pytest.raises(UnsupportedFormatError):
        write_survey(frame, tmp_path / "s.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.parquet"]


# --- shipped data -----------------------------------------------------------------------------------


def test_shipped_default_survey_loads(default_survey):
    out = load_survey(DATA_DIR / SURVEY_FILE)
    assert list(out.columns) == list(CROSS_SECTION)  # a cross-sectional survey has no wave column
    pd.testing.assert_frame_equal(out, default_survey.data, rtol=1e-5)


def test_north_jutland_cases_load():
    out = load_survey(DATA_DIR / CASES_FILE)
    assert list(out["initiative_id"]) == ["DNK-Biomedico", "DNK-WirelessICT"]
