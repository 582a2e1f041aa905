"""The corpus of survey files as users send them: each loads correctly or is refused with a package
error naming file, row, column, value, rule and fix, and nothing in its folder changes.

Each case is a row of ``corpus/cases.toml`` (the expected outcome) and a builder here (the file:
a small seeded survey written, then damaged the way the case says). Add a case for every bad
input found: a builder below, a row in the table.
"""

from __future__ import annotations

import contextlib
import io
import tomllib
import warnings
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from clusterpreneur.cli import main
from clusterpreneur.errors import ClusterpreneurError, ProblemsError, SurveyWarning, shown
from clusterpreneur.study.readers import load_survey, write_survey
from clusterpreneur.study.simulate import simulate_survey

CASES = tomllib.loads((Path(__file__).parent / "corpus" / "cases.toml").read_text())["case"]
BASE = simulate_survey(n_initiatives=30, n_countries=4, seed=11).data
CLI_EXIT = {"loads": 0, "SurveyValidationError": 1}  # the other package errors here are usage errors: 2


def csv_text(df: pd.DataFrame = BASE) -> str:
    return df.to_csv(index=False, lineterminator="\n")


def set_cell(text: str, line: int, column: str, value: str) -> str:
    """CSV text with the cell of ``column`` on file line ``line`` (1 = header) replaced."""
    lines = text.split("\n")
    header = lines[0].split(",")
    cells = lines[line - 1].split(",")
    cells[header.index(column)] = value
    lines[line - 1] = ",".join(cells)
    return "\n".join(lines)


def survey(folder: Path, text: str | bytes, name: str = "survey.csv") -> dict:
    path = folder / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return {"survey": path}


def with_mapping(folder: Path, files: dict, toml: str | bytes) -> dict:
    path = folder / "map.toml"
    path.write_bytes(toml.encode() if isinstance(toml, str) else toml)
    return {**files, "mapping": path}


def excel(folder: Path, rows: list[list], name: str = "survey.xlsx") -> dict:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    path = folder / name
    book.save(path)
    return {"survey": path}


def frame_rows(df: pd.DataFrame = BASE) -> list[list]:
    """Header and rows of a frame as plain Python values (missing as None)."""
    values = df.astype(object).where(df.notna(), None).to_numpy().tolist()
    return [list(df.columns), *values]


def recoded_initiator(folder: Path, table: str) -> dict:
    df = BASE.copy()
    df["initiator"] = df["initiator"].map({1: "gov", 2: "firm", 3: "both"}).astype(object)
    return with_mapping(folder, survey(folder, csv_text(df)), table)


# --- builders: one per case of corpus/cases.toml ------------------------------------------------------


def b_clean(folder):
    return survey(folder, csv_text())


def b_bom_survey(folder):
    return survey(folder, "\ufeff" + csv_text())


def b_bom_mapping(folder):
    df = BASE.rename(columns={"sc_trust": "trust_q1"})
    return with_mapping(folder, survey(folder, csv_text(df)), '\ufeff[columns]\ntrust_q1 = "sc_trust"\n')


def b_crlf(folder):
    return survey(folder, set_cell(csv_text(), 5, "sc_trust", "9").replace("\n", "\r\n"))


def b_duplicated_header(folder):
    df = BASE.copy()
    df["sc_trust_copy"] = df["sc_trust"]
    return survey(folder, csv_text(df).replace("sc_trust_copy", "sc_trust", 1))


def b_misspelt_optional(folder):
    return survey(folder, csv_text(BASE.rename(columns={"firm_growth": "firm_grwoth"})))


def b_misspelt_required(folder):
    return survey(folder, csv_text(BASE.rename(columns={"peripheral": "periferal"})))


def b_latin1(folder):
    df = BASE.copy()
    df["region_id"] = df["region_id"].str.replace("C002-R", "Région-", regex=False)
    return survey(folder, csv_text(df).encode("latin-1"))


b_latin1_with_encoding = b_latin1


def b_utf16(folder):
    return survey(folder, csv_text().encode("utf-16"))


b_utf16_with_encoding = b_utf16


def b_unknown_encoding(folder):
    return survey(folder, csv_text())


def b_latin1_mapping(folder):
    df = BASE.rename(columns={"sc_trust": "confiance_été"})
    text = '[columns]\n"confiance_été" = "sc_trust"\n'.encode("latin-1")
    return with_mapping(folder, survey(folder, csv_text(df)), text)


b_latin1_mapping_with_encoding = b_latin1_mapping


def b_semicolons(folder):
    return survey(folder, BASE.to_csv(index=False, sep=";", lineterminator="\n"))


def b_tabs(folder):
    return survey(folder, BASE.to_csv(index=False, sep="\t", lineterminator="\n"))


def b_title_line_csv(folder):
    width = len(BASE.columns)
    return survey(folder, "Cluster initiative survey 2003" + "," * (width - 1) + "\n\n" + csv_text())


def b_title_row_excel(folder):
    return excel(folder, [["Cluster initiative survey 2003"], [], *frame_rows()])


def b_excel_formula_without_result(folder):
    rows = frame_rows()
    col = rows[0].index("n_members") + 1
    letter = openpyxl.utils.get_column_letter(col)
    rows[4][col - 1] = f"={letter}2+{letter}3"  # openpyxl saves formulas without results
    return excel(folder, rows)


def b_excel_error_value(folder):
    rows = frame_rows()
    rows[3][rows[0].index("public_funding")] = "#DIV/0!"
    return excel(folder, rows)


def b_excel_trailing_empty_rows(folder):
    return excel(folder, [*frame_rows(), [], [None] * 3, []])


def b_xlsx_named_csv(folder):
    buffer = io.BytesIO()
    BASE.to_excel(buffer, index=False)
    return survey(folder, buffer.getvalue())


def b_folder_as_survey(folder):
    (folder / "survey.csv").mkdir()
    return {"survey": folder / "survey.csv"}


def b_folder_as_mapping(folder):
    (folder / "map.toml").mkdir()
    return {**survey(folder, csv_text()), "mapping": folder / "map.toml"}


def b_recode_to_unknown_code(folder):
    return recoded_initiator(folder, '[recode.initiator]\n"gov" = 7\n"firm" = 2\n"both" = 3\n')


def b_text_missing_from_recode(folder):
    return recoded_initiator(folder, '[recode.initiator]\n"gov" = 1\n"firm" = 2\n')


def b_likert_labels(folder):
    df = BASE.copy()
    labels = {1: "Strongly disagree", 2: "disagree", 3: "Neither", 4: " agree ", 5: "STRONGLY  AGREE"}
    df["sc_vision"] = df["sc_vision"].map(labels).astype(object)
    df["office"] = df["office"].map({0: "no", 1: "Yes"}).astype(object)
    return survey(folder, csv_text(df))


def b_likert_misspelt_labels(folder):
    df = BASE.copy()
    df["sc_vision"] = df["sc_vision"].map({1: "stronlgy disagree", 2: "disagree", 3: "neither", 4: "agree",
                                           5: "stronlgy agree"}).astype(object)  # fmt: skip
    return survey(folder, csv_text(df))


def b_missing_codes_global(folder):
    text = set_cell(set_cell(csv_text(), 2, "sc_trust", "99"), 3, "public_funding", "99")
    return with_mapping(folder, survey(folder, text), "[missing]\ncodes = [99]\n")


def b_missing_codes_per_column(folder):
    text = set_cell(set_cell(csv_text(), 2, "sc_trust", "8"), 3, "n_members", "8")
    return with_mapping(folder, survey(folder, text), "[missing.sc_trust]\ncodes = [8]\n")


def b_missing_code_undeclared(folder):
    return survey(folder, set_cell(csv_text(), 2, "sc_trust", "99"))


def b_parquet_bytes_flipped(folder):
    import pyarrow.parquet as pq

    path = write_survey(BASE, folder / "survey.parquet")
    chunk = pq.ParquetFile(path).metadata.row_group(0).column(list(BASE.columns).index("n_firms"))
    data = bytearray(path.read_bytes())
    data[chunk.data_page_offset + chunk.total_compressed_size // 2] ^= 0x5A  # inside a data page
    path.write_bytes(bytes(data))
    return {"survey": path}


def b_parquet_truncated(folder):
    path = write_survey(BASE, folder / "survey.parquet")
    path.write_bytes(path.read_bytes()[:2000])
    return {"survey": path}


def b_parquet_duplicated_columns(folder):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table([pa.array([1, 2]), pa.array([3, 4])], names=["sc_trust", "sc_trust"])
    pq.write_table(table, folder / "survey.parquet")
    return {"survey": folder / "survey.parquet"}


def b_encoding_for_parquet(folder):
    return {"survey": write_survey(BASE, folder / "survey.parquet")}


def b_long_id(folder):
    df = BASE.copy().astype({"initiative_id": object})
    df.loc[[2, 3], "initiative_id"] = "X" * 10_000  # a duplicated 10,000-character id
    return survey(folder, csv_text(df))


def b_id_with_line_break(folder):
    df = BASE.copy().astype({"initiative_id": object})
    df.loc[2, "initiative_id"] = "CI1\n  - forged line"
    df.loc[2, "sc_trust"] = 9
    return survey(folder, csv_text(df))


def b_unquoted_comma(folder):
    text = csv_text()
    lines = text.split("\n")
    lines[6] = lines[6].replace(",", ",Aalborg, DK,", 1)
    return survey(folder, "\n".join(lines))


def b_unnamed_column_with_data(folder):
    text = csv_text()
    lines = [line + ",x" for line in text.rstrip("\n").split("\n")]
    lines[0] = lines[0][:-1]  # header: empty name
    return survey(folder, "\n".join(lines) + "\n")


def b_blank_lines_and_quoted_newline(folder):
    df = BASE.copy().astype({"region_id": object})
    df.loc[1, "region_id"] = "C001-R0001"  # same region, line break in another text column below
    text = set_cell(csv_text(df), 8, "lifecycle", "7")
    lines = text.split("\n")
    lines[2] = lines[2].replace("C001-R0001", '"C001-\nR0001"', 1)  # file line 3 now spans two lines
    lines.insert(4, "")  # a blank line
    return survey(folder, "\n".join(lines))


def b_empty_file(folder):
    return survey(folder, b"")


def b_header_only(folder):
    return survey(folder, csv_text().split("\n")[0] + "\n")


def b_binary_csv(folder):
    return survey(folder, b"\x00\x01\x02garbage\xff\xfe")


BUILDERS = {name[2:].replace("_", "-"): fn for name, fn in dict(globals()).items() if name.startswith("b_")}


# --- the test ----------------------------------------------------------------------------------------


def snapshot(folder: Path) -> dict[str, tuple[bytes, int] | str]:
    out = {}
    for p in sorted(folder.rglob("*")):
        out[str(p.relative_to(folder))] = "folder" if p.is_dir() else (p.read_bytes(), p.stat().st_mtime_ns)
    return out


def options(case: dict, files: dict) -> dict:
    return {
        "mapping": files.get("mapping"),
        "encoding": case.get("encoding"),
        "mapping_encoding": case.get("mapping_encoding"),
    }


def check_problem(case: dict, err: ProblemsError, files: dict) -> None:
    """Some problem has the case's file, location, column, value, rule and fix; its line is in the message."""
    named = files[case.get("file", "survey")]
    candidates = [
        p
        for p in err.problems
        if p.file == str(named)
        and p.location == case.get("location")
        and p.column == case.get("column")
        and case.get("value", "") in ("" if p.value is None else shown(p.value))
        and case["rule"] in p.rule
        and case["fix"] in p.fix
    ]
    assert candidates, f"no problem matches the case; the error says:\n{err}"
    message = str(err)
    assert all(line.startswith(("  - ", str(files["survey"]))) for line in message.split("\n")), message
    for fragment in (case["rule"], case["fix"]):
        assert fragment in message
    if "location" in case:  # "file line 3", or "file lines 3, ..." where identical problems are summarised
        unit, number = case["location"].rsplit(" ", 1)
        assert case["location"] in message or f"{unit}s {number}" in message, message
    if "max_lines" in case:
        assert len(message.split("\n")) <= case["max_lines"], message
    if "max_chars" in case:
        assert max(len(line) for line in message.split("\n")) <= case["max_chars"], message


def check_loaded(case: dict, df: pd.DataFrame) -> None:
    """The loaded frame is the seeded survey with exactly the case's changes."""
    expected = BASE.copy()
    for column, rows in case.get("blanked", {}).items():
        expected.loc[rows, column] = np.nan
    for column, row, value in case.get("set", []):
        expected.loc[row, column] = value
    if "replaced" in case:
        column, old, new = case["replaced"]
        expected[column] = expected[column].str.replace(old, new, regex=False)
    for column in case.get("absent", []):
        expected[column] = np.nan
    pd.testing.assert_frame_equal(df[list(BASE.columns)], expected, check_exact=False, rtol=1e-12)


@contextlib.contextmanager
def warns(case: dict):
    """Expect the case's SurveyWarning; or, if it names none, turn any SurveyWarning into an error."""
    if "warning" in case:
        with pytest.warns(SurveyWarning, match=case["warning"]):
            yield
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error", SurveyWarning)
            yield


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_corpus_case(case, tmp_path, capsys):
    files = BUILDERS[case["name"]](tmp_path)
    before = snapshot(tmp_path)
    if case["expect"] == "loads":
        with warns(case):
            df = load_survey(files["survey"], **options(case, files))
        check_loaded(case, df)
    else:
        with warns(case), pytest.raises(ClusterpreneurError) as info:
            load_survey(files["survey"], **options(case, files))
        err = info.value
        assert type(err).__name__ == case["expect"], repr(err)
        if isinstance(err, ProblemsError):
            check_problem(case, err, files)
        else:
            named = files[case.get("file", "survey")]
            assert str(named) in str(err)
            for fragment in case["message"]:
                assert fragment in str(err), str(err)
    assert snapshot(tmp_path) == before
    # the command line says the same, without a traceback, and writes nothing either
    capsys.readouterr()
    argv = ["validate", str(files["survey"])]
    for key, value in options(case, files).items():
        if value is not None:
            argv += ["--" + key.replace("_", "-"), str(value)]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == CLI_EXIT.get(case["expect"], 2), err
    assert "Traceback" not in err
    if "warning" in case:
        assert "warning: " in err and case["warning"] in err
    assert snapshot(tmp_path) == before


def test_every_case_has_a_builder_and_every_builder_a_case():
    assert sorted(c["name"] for c in CASES) == sorted(BUILDERS)
