"""The generic file layer: row numbering, messages that cannot be forged, byte-identical writing in
every format, CSV outputs safe in spreadsheets, Parquet checksums, study configurations with a BOM."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clusterpreneur.cli import main
from clusterpreneur.errors import DataFileError, Problem, SurveyValidationError, shown, summarise
from clusterpreneur.files import FIXED_TIMESTAMP, csv_bytes, read_table, table_bytes
from clusterpreneur.pipeline.config import ConfigError, load_config
from clusterpreneur.study.simulate import simulate_survey

FORMATS = (".csv", ".xlsx", ".sav", ".dta", ".parquet")


# --- messages ------------------------------------------------------------------------------------


def test_shown_values_are_quoted_escaped_and_cut():
    assert shown("abc") == "'abc'"
    assert shown(np.int64(7)) == "7" and shown(0.5) == "0.5"
    forged = shown("CI1\n  - forged line\r\x1b[2J")
    assert "\n" not in forged and "\r" not in forged and "\x1b" not in forged and "\\n" in forged
    long = shown("X" * 10_000)
    assert len(long) < 100 and long.endswith("(10,000 characters)")


def test_problem_names_row_as_the_file_counts_it():
    line = Problem("s.csv", 5, "CI5", "sc_trust", 9, "rule", "Fix.", 6, "file line")
    assert str(line).startswith("s.csv, file line 6, initiative 'CI5', column 'sc_trust': value 9")
    assert str(Problem("s.sav", 5, None, "x", None, "rule", "Fix.")).startswith("s.sav, data row 5, column")


def test_identical_problems_are_summarised_per_column():
    many = [Problem("s.csv", i, None, "sc_trust", "lots" if i % 2 else 9, "r", "F.", i + 1, "file line")
            for i in range(1, 41)]  # fmt: skip
    other = Problem("s.csv", 2, None, "lifecycle", 7, "r2", "G.", 3, "file line")
    lines = summarise([*many, other])
    assert len(lines) == 2
    assert "40 values break the rule 'r'" in lines[0] and "file lines 2, 3, 4, 5, 6, ..." in lines[0]
    assert "2 distinct value(s): 'lots' (20x), 9 (20x)" in lines[0]
    assert lines[1] == str(other)
    err = SurveyValidationError([*many, other], "s.csv")
    assert err.problems[0] is many[0] and len(str(err).split("\n")) == 3


# --- reading ---------------------------------------------------------------------------------------


def test_csv_rows_are_numbered_by_file_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('a,b\n1,2\n\n3,"x\ny"\n,\n4,5\n')
    raw = read_table(path)
    assert raw.rows.unit == "file line"
    assert [raw.rows.number(i) for i in range(len(raw.frame))] == [2, 4, 7]  # blank and empty rows skipped
    assert raw.frame["b"].tolist() == ["2", "x\ny", "5"]


def test_excel_rows_are_numbered_by_sheet_row(tmp_path):
    path = tmp_path / "t.xlsx"
    path.write_bytes(table_bytes(pd.DataFrame({"a": [1, None, 3], "b": ["x", None, "z"]}), ".xlsx"))
    raw = read_table(path)
    assert (raw.rows.unit, raw.rows.label(1)) == ("sheet row", "sheet row 4")


def test_parquet_content_checksum_catches_a_changed_value(tmp_path):
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"]})
    path = tmp_path / "t.parquet"
    path.write_bytes(table_bytes(df, ".parquet"))
    pd.testing.assert_frame_equal(read_table(path).frame, df)
    table = pq.read_table(path)  # same metadata (with the checksum), one value changed
    changed = table.set_column(0, "a", pa.array([1.0, 2.0, 4.0]))
    pq.write_table(changed, path)
    with pytest.raises(DataFileError, match="differs from the checksum written into it"):
        read_table(path)


# --- writing ---------------------------------------------------------------------------------------


def test_csv_outputs_neutralise_formula_text_but_not_numbers():
    df = pd.DataFrame(
        {
            "id": ['=HYPERLINK("http://x","y")', "+1-2", "@SUM(A1)", "\tcmd", "-12", "plain", "-x"],
            "mean": [-0.5, 1.0, -2.0, 0.0, 3.0, -1e-3, np.nan],
        }
    )
    text = csv_bytes(df).decode()
    back = pd.read_csv(io.StringIO(text), keep_default_na=False, na_values={"mean": [""]})
    assert back["id"].tolist() == ['\'=HYPERLINK("http://x","y")', "'+1-2", "'@SUM(A1)", "'\tcmd", "-12",
                                   "plain", "'-x"]  # fmt: skip
    assert back["mean"].iloc[:6].tolist() == [-0.5, 1.0, -2.0, 0.0, 3.0, -0.001]
    assert "\n-0.5\n" not in text and ",-0.5\n" in text  # negative numbers are written as numbers


@pytest.mark.parametrize("ext", FORMATS)
def test_simulate_gives_the_same_bytes_in_every_format(tmp_path, ext):
    """`clusterpreneur simulate` twice with one seed: identical files, fixed timestamps inside."""
    paths = [tmp_path / f"run{k}" / f"survey{ext}" for k in (1, 2)]
    for path in paths:
        argv = ["simulate", "--out", str(path), "--n-initiatives", "40", "--n-countries", "5", "--seed", "3"]
        assert main(argv) == 0
    first, second = (p.read_bytes() for p in paths)
    assert first == second
    t = FIXED_TIMESTAMP
    if ext == ".xlsx":
        with zipfile.ZipFile(paths[0]) as archive:
            assert {i.date_time for i in archive.infolist()} == {(t.year, t.month, t.day, 0, 0, 0)}
            core = archive.read("docProps/core.xml").decode()
        assert core.count(t.strftime("%Y-%m-%dT%H:%M:%SZ")) == 2
    elif ext == ".sav":
        assert first[92:109] == b"01 Jan 0000:00:00"
    elif ext == ".dta":
        assert b"<timestamp>\x1101 Jan 2000 00:00</timestamp>" in first


def test_same_frame_written_later_has_the_same_bytes(tmp_path, monkeypatch):
    """The fixed timestamps do not depend on the clock (openpyxl and zipfile read it in Python)."""
    import time

    df = simulate_survey(n_initiatives=20, n_countries=3, seed=2).data
    before = table_bytes(df, ".xlsx")
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)
    assert table_bytes(df, ".xlsx") == before


# --- study configuration ---------------------------------------------------------------------------


def test_study_config_with_bom_loads_and_latin1_is_refused_clearly(tmp_path):
    path = tmp_path / "study.toml"
    path.write_bytes(b'\xef\xbb\xbf[study]\ntitle = "caf\xc3\xa9"\nseed = 3\n')
    assert load_config(path).title == "café" and load_config(path).seed == 3
    path.write_bytes('[study]\ntitle = "café"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"file line 2.*utf-8 text.*Save the file as UTF-8"):
        load_config(path)
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path)
    assert main(["report", "--config", str(path)]) == 2
