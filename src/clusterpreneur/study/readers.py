"""Survey files onto the codebook: mapping, recoding, validation; writing survey files.

:func:`load_survey` reads a file with :func:`clusterpreneur.files.read_table` (which refuses
unreadable or ambiguous files: encodings, delimiters, title rows, duplicated columns,
formulas without results, damaged files), optionally renames and recodes its columns with a
TOML mapping file, turns missing codes (and SPSS user-missing values) into missing values and
validates the result with :func:`~clusterpreneur.study.schema.check_survey`. Every problem is
reported together in one :class:`~clusterpreneur.errors.SurveyValidationError`; columns that
are neither codebook variables nor mapped are reported as warnings (with the closest codebook
name). The file is never changed.

A mapping file (UTF-8, with or without byte-order mark) has up to four tables::

    [columns]               # file column = codebook name
    ci_code = "initiative_id"
    [recode.initiator]      # codebook name -> {file value = code}
    "gov" = 1
    [constants]             # codebook columns the file lacks, filled with one value
    survey_year = 2003
    [missing]               # file values that mean "missing", in every column but the ids
    codes = [99, "n/a"]
    [missing.sc_trust]      # ... or for one column (replaces the list above for it)
    codes = [8, 9]

Text values of a coded variable may also be the codebook's own labels ("strongly agree").
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from clusterpreneur.errors import (
    InputFileError,
    MappingError,
    Problem,
    SurveyValidationError,
    SurveyWarning,
)
from clusterpreneur.files import (
    SUPPORTED_EXTENSIONS,
    RawTable,
    extension,
    read_table,
    read_text,
    table_bytes,
)
from clusterpreneur.io import write_atomic
from clusterpreneur.study.codebook import CODEBOOK, Variable
from clusterpreneur.study.schema import check_survey, codebook_dtype, label_codes

MAPPING_TABLES = ("columns", "recode", "constants", "missing")
SIMILAR = 0.75
"""Least difflib similarity for "did you mean ...?"."""
EXAMPLE_ROWS = 5

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "Mapping",
    "SurveyCheck",
    "SurveyFileNotFoundError",
    "apply_mapping",
    "check_survey_file",
    "load_survey",
    "read_mapping",
    "write_survey",
]


class SurveyFileNotFoundError(InputFileError, FileNotFoundError):
    """A survey or mapping file does not exist."""


@dataclass(frozen=True)
class Mapping:
    """A parsed column-mapping file."""

    path: str
    columns: dict[str, str]
    recode: dict[str, dict[str, int | float]]
    constants: dict[str, object]
    missing: tuple[object, ...] = ()
    missing_by_column: dict[str, tuple[object, ...]] = field(default_factory=dict)

    def missing_codes(self, name: str) -> tuple[object, ...]:
        """File values that mean missing in codebook column ``name``."""
        if name in self.missing_by_column:
            return self.missing_by_column[name]
        return () if CODEBOOK[name].kind == "id" else self.missing


@dataclass
class SurveyCheck:
    """What :func:`check_survey_file` found: the frame in codebook form, problems and warnings."""

    frame: pd.DataFrame
    problems: list[Problem]
    warnings: list[Problem]


def closest(name: str, names: Iterable[str]) -> str | None:
    """The codebook-like name most similar to ``name`` (case-insensitive), if any is close."""
    names = list(names)
    lowered = {n.lower(): n for n in names}
    found = difflib.get_close_matches(str(name).strip().lower(), list(lowered), n=1, cutoff=SIMILAR)
    return lowered[found[0]] if found else None


def _did_you_mean(name: str, names: Iterable[str]) -> str:
    match = closest(name, names)
    return f" Did you mean {match!r}?" if match else ""


# --- mapping ---------------------------------------------------------------------------------------


def _mapping_error(path: Path, entry: str, what: str, fix: str) -> MappingError:
    return MappingError(f"{path}: entry {entry}: {what}. {fix}")


def _codebook_name(path: Path, entry: str, name: str, fix: str) -> None:
    if name not in CODEBOOK:
        raise _mapping_error(
            path, entry, f"{name!r} is not a codebook variable", fix + _did_you_mean(name, CODEBOOK)
        )


def _codes(path: Path, entry: str, value: object) -> tuple[object, ...]:
    if not isinstance(value, list) or not all(
        isinstance(v, int | float | str) and not isinstance(v, bool) for v in value
    ):
        raise _mapping_error(
            path, entry, "is not a list of codes", "Write it as codes = [99, -9] (numbers or quoted text)."
        )
    return tuple(value)


def _parse_missing(path: Path, table: object) -> tuple[tuple[object, ...], dict[str, tuple[object, ...]]]:
    if not isinstance(table, dict):
        raise _mapping_error(path, "[missing]", "is not a table", "Write it as [missing] with codes = [...].")
    codes, by_column = (), {}
    for key, value in table.items():
        if key == "codes":
            codes = _codes(path, "[missing] codes", value)
            continue
        entry = f"[missing.{key}]"
        _codebook_name(path, entry, key, "Name the table after the codebook variable (the mapped name).")
        if not isinstance(value, dict) or set(value) != {"codes"}:
            raise _mapping_error(path, entry, "is not a table with codes = [...]", "Write codes = [8, 9].")
        by_column[key] = _codes(path, f"{entry} codes", value["codes"])
    return codes, by_column


def read_mapping(path: str | Path, encoding: str | None = None) -> Mapping:
    """Parse and check a TOML column-mapping file (checks that need the data come later).

    The file is UTF-8 (a byte-order mark is fine) unless ``encoding`` says otherwise.
    """
    import tomllib

    from clusterpreneur.errors import DataFileError

    path = Path(path)
    if not path.exists():
        raise SurveyFileNotFoundError(f"{path}: mapping file not found. Check the path.")
    try:
        text = read_text(path, "mapping file", encoding=encoding, option="mapping_encoding")
    except DataFileError as err:
        raise MappingError(str(err.problems[0])) from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise MappingError(
            f"{path}: not valid TOML ({err}). Fix the syntax; see the example in "
            "clusterpreneur.study.readers."
        ) from err
    for key in doc:
        if key not in MAPPING_TABLES:
            raise _mapping_error(
                path,
                f"[{key}]",
                "unknown table",
                f"Use only the tables {', '.join(f'[{t}]' for t in MAPPING_TABLES)}."
                + _did_you_mean(key, MAPPING_TABLES),
            )
    columns = doc.get("columns", {})
    recode = doc.get("recode", {})
    constants = doc.get("constants", {})
    for table, value in (("columns", columns), ("recode", recode), ("constants", constants)):
        if not isinstance(value, dict):
            raise _mapping_error(
                path, table, "is not a table", f"Write it as [{table}] with key = value lines."
            )
    targets: dict[str, str] = {}
    for source, target in columns.items():
        entry = f"[columns] {source} = {target!r}"
        if not isinstance(target, str):
            raise _mapping_error(
                path,
                entry,
                "the target is not a column name",
                'Quote the codebook column name, e.g. ci_code = "initiative_id".',
            )
        _codebook_name(path, entry, target, "Map onto one of the names in data/CODEBOOK.md.")
        if target in targets:
            raise _mapping_error(
                path,
                entry,
                f"{targets[target]!r} is also mapped onto {target!r}",
                "Map exactly one file column onto each codebook name.",
            )
        targets[target] = source
    for name, table in recode.items():
        entry = f"[recode.{name}]"
        _codebook_name(
            path, entry, name, "Name the recode table after the codebook variable (the mapped name)."
        )
        if not isinstance(table, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in table.values()
        ):
            raise _mapping_error(
                path, entry, "is not a table of file value = numeric code", 'Write lines like "gov" = 1.'
            )
    for name in constants:
        _codebook_name(path, f"[constants] {name}", name, "Use a name from data/CODEBOOK.md.")
    missing, by_column = _parse_missing(path, doc.get("missing", {}))
    return Mapping(
        str(path),
        dict(columns),
        {k: {str(key).strip(): v for key, v in t.items()} for k, t in recode.items()},
        dict(constants),
        missing,
        by_column,
    )


def _key(value: object) -> str:
    """A file value as it would be written as a TOML key ("1", not "1.0")."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _keys(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """(code of each row, or -1 if missing; the distinct values as TOML keys), computed once per value."""
    codes, uniques = pd.factorize(column)
    return codes, [_key(v) for v in uniques]


def _allowed(var: Variable, code: float) -> bool:
    """Whether ``code`` is a value ``var`` admits (a label, a missing code, or in range)."""
    if var.nullable and code in var.missing_codes:
        return True
    if var.is_coded:
        return code in var.labels
    if var.kind in ("count", "year") and not float(code).is_integer():
        return False
    lo = -np.inf if var.minimum is None else var.minimum
    hi = np.inf if var.maximum is None else var.maximum
    return lo <= code <= hi


def _missing_codes(var: Variable) -> str:
    if not (var.nullable and var.missing_codes):
        return ""
    return " or a missing code " + " or ".join(f"{k} ({v})" for k, v in var.missing_codes.items())


def _row_list(raw: RawTable, positions: np.ndarray) -> str:
    shown = ", ".join(str(raw.rows.number(int(p))) for p in positions[:EXAMPLE_ROWS])
    more = " and more" if len(positions) > EXAMPLE_ROWS else ""
    return f"{raw.rows.unit}s {shown}{more}" if len(positions) else "no row"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass
class _Mapped:
    raw: RawTable
    problems: list[Problem]
    reported: set[tuple[int, str]]  # (data row, column) of cells already reported


def _blank_missing_codes(frame: pd.DataFrame, mapping: Mapping) -> None:
    for name in frame.columns:
        if name not in CODEBOOK:
            continue
        wanted = {_key(c) for c in mapping.missing_codes(name)}
        if not wanted:
            continue
        codes, keys = _keys(frame[name])
        hit = np.array([k in wanted for k in keys] + [False], dtype=bool)[codes]  # code -1 -> False
        if hit.any():
            frame[name] = frame[name].mask(hit)


def _recode(raw: RawTable, mapping: Mapping, name: str, table: dict, out: _Mapped) -> None:
    frame, var, path = raw.frame, CODEBOOK[name], mapping.path
    codes, keys = _keys(frame[name])
    target = [table.get(k) for k in keys]
    codebook_labels = label_codes(name) if var.is_coded else {}
    for key, code in table.items():
        if _allowed(var, code):
            continue
        at = np.flatnonzero(codes == keys.index(key)) if key in keys else np.array([], dtype=int)
        out.reported.update((int(p), name) for p in at)
        out.problems.append(
            Problem(
                path,
                None,
                None,
                name,
                f'"{key}" = {code:g}',
                var.rule(),
                f'The entry [recode.{name}] "{key}" = {code:g} gives a code the codebook does not have; '
                f"change it to {var.rule()}{_missing_codes(var)}. It applies to {len(at)} row(s) of "
                f"{raw.path}: "
                f"{_row_list(raw, at)}.",
            )
        )
    for j, key in enumerate(keys):
        if target[j] is not None or _is_number(key) or " ".join(key.lower().split()) in codebook_labels:
            continue
        for pos in np.flatnonzero(codes == j):
            out.reported.add((int(pos), name))
            line = None if raw.rows.unit == "data row" else raw.rows.number(int(pos))
            out.problems.append(
                Problem(
                    str(raw.path),
                    int(pos) + 1,
                    None,
                    name,
                    frame[name].iloc[pos],
                    f"every text value of {name} has a line in [recode.{name}] of {path}",
                    f'Add a line "<text>" = <code> for it to [recode.{name}] in {path} (codes: '
                    + ", ".join(f"{k}={v}" for k, v in var.labels.items())
                    + "), or correct the value in the file."
                    if var.is_coded
                    else f'Add a line "<text>" = <number> for it to [recode.{name}] in {path}, or correct '
                    "the value in the file.",
                    line,
                    raw.rows.unit,
                )
            )
    lookup = np.array([np.nan if t is None else float(t) for t in target] + [np.nan])
    recoded = lookup[codes]
    hit = ~np.isnan(recoded)
    if hit.any():
        column = frame[name].astype(object)
        column.iloc[np.flatnonzero(hit)] = recoded[hit]
        frame[name] = column


def apply_mapping(raw: RawTable, mapping: Mapping) -> _Mapped:
    """Rename, blank missing codes, recode and add constant columns as the mapping says.

    Returns a new table (``raw`` is untouched) and the problems of recoding.
    """
    path = Path(mapping.path)
    data_file = str(raw.path)
    frame = raw.frame
    for source, target in mapping.columns.items():
        entry = f"[columns] {source} = {target!r}"
        if source not in frame.columns:
            raise _mapping_error(
                path,
                entry,
                f"the data file {data_file} has no column {source!r}",
                f"Use one of the data's columns: {', '.join(map(str, frame.columns))}."
                + _did_you_mean(source, map(str, frame.columns)),
            )
        if target in frame.columns and target not in mapping.columns:
            raise _mapping_error(
                path,
                entry,
                f"the data file {data_file} already has a column {target!r}",
                "Remove this entry or rename one of the two columns.",
            )
    frame = frame.rename(columns=mapping.columns)
    for name in mapping.recode:
        if name not in frame.columns:
            raise _mapping_error(
                path,
                f"[recode.{name}]",
                f"the data file {data_file} has no column {name!r} to recode",
                "Name the table after the codebook name the column is mapped onto.",
            )
    for name in mapping.constants:
        if name in frame.columns:
            raise _mapping_error(
                path,
                f"[constants] {name}",
                f"the data file {data_file} already has a column {name!r}",
                "Remove the constant or the column.",
            )
    _blank_missing_codes(frame, mapping)
    labels = {mapping.columns.get(k, k): v for k, v in raw.value_labels.items()}
    out = _Mapped(RawTable(raw.path, frame, raw.rows, labels), [], set())
    for name, table in mapping.recode.items():
        _recode(out.raw, mapping, name, table, out)
        if name in labels:
            labels[name] = {table.get(_key(code), code): text for code, text in labels[name].items()}
    for name, value in mapping.constants.items():
        frame[name] = value
    return out


def _label_problems(raw: RawTable, source: str) -> list[Problem]:
    """Value labels in the file that disagree with the codebook labels of the same variable."""
    problems = []
    for name, file_labels in raw.value_labels.items():
        var = CODEBOOK.get(name)
        if var is None or not var.is_coded:
            continue
        for code, text in file_labels.items():
            if code in var.missing_codes:
                continue
            expected = var.labels.get(int(code)) if float(code).is_integer() else None
            if expected is None or expected.casefold() != str(text).strip().casefold():
                said = f"{int(code) if float(code).is_integer() else code}={text}"
                problems.append(
                    Problem(
                        source,
                        None,
                        None,
                        name,
                        said,
                        f"value labels agree with the codebook: {var.rule()}",
                        "Recode the variable to the codebook codes (a [recode] table in a mapping file "
                        "does this) or correct the value labels in the file.",
                    )
                )
    return problems


def _unknown_columns(frame: pd.DataFrame, source: str) -> list[Problem]:
    """Warnings for columns that are neither codebook variables nor mapped onto one."""
    out = []
    for name in frame.columns:
        if name in CODEBOOK:
            continue
        match = closest(name, CODEBOOK)
        how = f' ([columns] {name} = "{match or "<codebook name>"}" in a mapping file)'
        fix = (
            f"Did you mean {match!r}? Rename the column, or map it{how}."
            if match
            else f"If it is a codebook variable under another name, map it{how}."
        )
        out.append(
            Problem(
                source,
                None,
                None,
                str(name),
                None,
                "every column is a codebook variable or mapped onto one",
                f"{fix} As it is, the column is kept unchanged and no model uses it.",
            )
        )
    return out


def _hint_absent_columns(problems: list[Problem], unknown: list[Problem]) -> list[Problem]:
    """Point a missing required column at the file's column with a similar name."""
    similar = {closest(p.column, CODEBOOK): p.column for p in unknown}
    return [
        replace(
            p, fix=f"{p.fix} The file has a column {similar[p.column]!r}: rename or map it if it is this one."
        )
        if p.row is None and p.rule == "required column is present" and p.column in similar
        else p
        for p in problems
    ]


# --- public API ------------------------------------------------------------------------------------


def check_survey_file(
    path: str | Path,
    mapping: str | Path | None = None,
    *,
    encoding: str | None = None,
    mapping_encoding: str | None = None,
) -> SurveyCheck:
    """Read, map and check a survey file; return the frame, the problems and the warnings.

    Raises (instead of returning problems) only when the file cannot be read as a table
    (:class:`SurveyValidationError`), a file is missing (:class:`SurveyFileNotFoundError`), or
    the mapping file is malformed (:class:`MappingError`). See :func:`load_survey`.
    """
    from clusterpreneur.errors import DataFileError

    path = Path(path)
    extension(path)
    parsed = read_mapping(mapping, mapping_encoding) if mapping is not None else None
    if not path.exists():
        raise SurveyFileNotFoundError(f"{path}: survey file not found. Check the path.")
    try:
        raw = read_table(path, encoding=encoding, what="survey file")
    except DataFileError as err:
        raise SurveyValidationError(err.problems, err.source) from None
    mapped = apply_mapping(raw, parsed) if parsed is not None else _Mapped(raw, [], set())
    raw = mapped.raw
    source = str(path)
    frame, problems = check_survey(raw.frame, source, raw.rows)
    problems = [p for p in problems if p.row is None or (p.row - 1, p.column) not in mapped.reported]
    unknown = _unknown_columns(raw.frame, source)
    problems = _label_problems(raw, source) + mapped.problems + _hint_absent_columns(problems, unknown)
    return SurveyCheck(frame, problems, unknown)


def load_survey(
    path: str | Path,
    mapping: str | Path | None = None,
    *,
    encoding: str | None = None,
    mapping_encoding: str | None = None,
) -> pd.DataFrame:
    """Read a survey file, map it onto the codebook and validate it; the file is never modified.

    Supported formats: .csv, .xlsx, .dta, .sav, .parquet. Text is UTF-8 (with or without a
    byte-order mark) unless ``encoding`` names another (CSV, Stata, SPSS; ``mapping_encoding``
    for the mapping file). Missing codes -9/-8, the mapping's ``[missing]`` codes and SPSS
    user-missing values become missing. Columns neither in the codebook nor mapped give a
    :class:`SurveyWarning` (with the closest codebook name). Raises
    :class:`SurveyValidationError` listing every problem, :class:`MappingError` for a bad
    mapping file, :class:`UnsupportedFormatError` for an unknown extension or encoding and
    :class:`InputFileError` (:class:`SurveyFileNotFoundError`) for a missing file or a folder.
    """
    check = check_survey_file(path, mapping, encoding=encoding, mapping_encoding=mapping_encoding)
    for warning in check.warnings:
        warnings.warn(str(warning), SurveyWarning, stacklevel=2)
    if check.problems:
        raise SurveyValidationError(check.problems, str(path))
    return check.frame


def _value_labels(df: pd.DataFrame) -> dict[str, dict[int, str]]:
    return {
        name: dict(CODEBOOK[name].labels) | dict(CODEBOOK[name].missing_codes)
        for name in df.columns
        if name in CODEBOOK and CODEBOOK[name].is_coded
    }


def write_survey(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a survey frame in the format of ``path``'s extension with :func:`clusterpreneur.io.write_atomic`.

    SPSS and Stata files carry the codebook's value labels and variable descriptions; SPSS files
    declare the missing codes -9/-8 as user-missing. Missing values are written as empty
    cells (CSV, Excel) or system missing. The index is not written. The same frame gives the
    same bytes in every format (fixed timestamps inside Excel, SPSS and Stata files).
    """
    path = Path(path)
    numeric = [c for c in df.columns if c in CODEBOOK and codebook_dtype(CODEBOOK[c]) != "string"]
    payload = table_bytes(
        df,
        extension(path),
        value_labels=_value_labels(df),
        column_labels={c: CODEBOOK[c].description for c in df.columns if c in CODEBOOK},
        missing_ranges={c: list(CODEBOOK[c].missing_codes) for c in numeric if CODEBOOK[c].missing_codes},
    )
    return write_atomic(path, payload)
