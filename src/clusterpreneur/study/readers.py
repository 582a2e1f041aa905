"""Reading and writing survey files: CSV, Excel, Stata, SPSS and Parquet.

:func:`load_survey` reads a file without touching it, optionally renames and recodes its
columns with a TOML mapping file, turns missing codes (and SPSS user-missing values) into
missing values and validates the result with :func:`~clusterpreneur.study.schema.validate_survey`.
Text in a numeric column, value labels that disagree with the codebook and every schema
problem are reported together in one :class:`~clusterpreneur.errors.SurveyValidationError`.

A mapping file has up to three tables::

    [columns]               # file column = codebook name
    ci_code = "initiative_id"
    [recode.initiator]      # codebook name -> {file value = code}
    "gov" = 1
    [constants]             # codebook columns the file lacks, filled with one value
    survey_year = 2003
"""

from __future__ import annotations

import io
import tempfile
import tomllib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyreadstat

from clusterpreneur.errors import (
    ClusterpreneurError,
    MappingError,
    Problem,
    SurveyValidationError,
    UnsupportedFormatError,
)
from clusterpreneur.io import write_atomic
from clusterpreneur.study.codebook import CODEBOOK
from clusterpreneur.study.schema import check_survey, codebook_dtype

SUPPORTED_EXTENSIONS: tuple[str, ...] = (".csv", ".xlsx", ".dta", ".sav", ".parquet")
MAPPING_TABLES = ("columns", "recode", "constants")


class SurveyFileNotFoundError(ClusterpreneurError, FileNotFoundError):
    """A survey or mapping file does not exist."""


@dataclass
class _Raw:
    """A file's raw columns plus what its metadata says about them."""

    frame: pd.DataFrame
    value_labels: dict[str, dict[float, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Mapping:
    """A parsed column-mapping file."""

    path: str
    columns: dict[str, str]
    recode: dict[str, dict[str, int | float]]
    constants: dict[str, object]


def _extension(path: Path) -> str:
    ext = path.suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        raise UnsupportedFormatError(
            f"{path}: the extension {ext or '(none)'!r} is not supported. Save the survey as one of "
            f"{', '.join(SUPPORTED_EXTENSIONS)}."
        )
    return ext


def _file_problem(path: Path, rule: str, fix: str) -> SurveyValidationError:
    return SurveyValidationError([Problem(str(path), None, None, None, None, rule, fix)], str(path))


# --- readers: each returns the file's columns as stored, without converting values -----------------


def _read_csv(path: Path) -> _Raw:
    # strings only, so that text in a numeric column is reported, not silently coerced;
    # only an empty cell is missing ("NA" may be a real id, e.g. Namibia)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig")
    return _Raw(frame)


def _read_xlsx(path: Path) -> _Raw:
    return _Raw(pd.read_excel(path, engine="openpyxl", dtype=object))


def _without_user_missing(frame: pd.DataFrame, meta) -> pd.DataFrame:
    """Blank SPSS user-missing values (discrete values and ranges) declared in the file."""
    out = frame.copy()
    for col, ranges in (getattr(meta, "missing_ranges", None) or {}).items():
        if col not in out or not pd.api.types.is_numeric_dtype(out[col].dtype):
            continue
        mask = pd.Series(False, index=out.index)
        for r in ranges:
            mask |= out[col].between(r["lo"], r["hi"])
        out[col] = out[col].mask(mask)
    return out


def _read_sav(path: Path) -> _Raw:
    frame, meta = pyreadstat.read_sav(path, user_missing=True)
    return _Raw(_without_user_missing(frame, meta), dict(meta.variable_value_labels))


def _read_dta(path: Path) -> _Raw:
    frame, meta = pyreadstat.read_dta(path)
    return _Raw(frame, dict(meta.variable_value_labels))


def _read_parquet(path: Path) -> _Raw:
    return _Raw(pd.read_parquet(path, engine="pyarrow"))


READERS: dict[str, Callable[[Path], _Raw]] = {
    ".csv": _read_csv,
    ".xlsx": _read_xlsx,
    ".dta": _read_dta,
    ".sav": _read_sav,
    ".parquet": _read_parquet,
}


# --- mapping ---------------------------------------------------------------------------------------


def _mapping_error(path: Path, entry: str, what: str, fix: str) -> MappingError:
    return MappingError(f"{path}: entry {entry}: {what}. {fix}")


def read_mapping(path: str | Path) -> Mapping:
    """Parse and check a TOML column-mapping file (checks that need the data come later)."""
    path = Path(path)
    if not path.is_file():
        raise SurveyFileNotFoundError(f"{path}: mapping file not found. Check the path.")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
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
                f"Use only the tables {', '.join(f'[{t}]' for t in MAPPING_TABLES)}.",
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
        if target not in CODEBOOK:
            raise _mapping_error(
                path,
                entry,
                f"{target!r} is not a codebook variable",
                "Map onto one of the names in data/CODEBOOK.md.",
            )
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
        if name not in CODEBOOK:
            raise _mapping_error(
                path,
                entry,
                f"{name!r} is not a codebook variable",
                "Name the recode table after the codebook variable (the mapped name).",
            )
        if not isinstance(table, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in table.values()
        ):
            raise _mapping_error(
                path, entry, "is not a table of file value = numeric code", 'Write lines like "gov" = 1.'
            )
    for name in constants:
        if name not in CODEBOOK:
            raise _mapping_error(
                path,
                f"[constants] {name}",
                f"{name!r} is not a codebook variable",
                "Use a name from data/CODEBOOK.md.",
            )
    return Mapping(str(path), dict(columns), {k: dict(v) for k, v in recode.items()}, dict(constants))


def _key(value: object) -> str:
    """A file value as it would be written as a TOML key ("1", not "1.0")."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def apply_mapping(raw: _Raw, mapping: Mapping, data_file: str) -> _Raw:
    """Rename, recode and add constant columns as the mapping says (a new _Raw; raw is untouched)."""
    path = Path(mapping.path)
    frame = raw.frame
    for source, target in mapping.columns.items():
        entry = f"[columns] {source} = {target!r}"
        if source not in frame.columns:
            raise _mapping_error(
                path,
                entry,
                f"the data file {data_file} has no column {source!r}",
                f"Use one of the data's columns: {', '.join(map(str, frame.columns))}.",
            )
        if target in frame.columns and target not in mapping.columns:
            raise _mapping_error(
                path,
                entry,
                f"the data file {data_file} already has a column {target!r}",
                "Remove this entry or rename one of the two columns.",
            )
    frame = frame.rename(columns=mapping.columns)
    labels = {mapping.columns.get(k, k): v for k, v in raw.value_labels.items()}
    for name, table in mapping.recode.items():
        if name not in frame.columns:
            raise _mapping_error(
                path,
                f"[recode.{name}]",
                f"the data file {data_file} has no column {name!r} to recode",
                "Name the table after the codebook name the column is mapped onto.",
            )
        frame[name] = frame[name].map(lambda v, t=table: t.get(_key(v), v) if pd.notna(v) else v)
        if name in labels:
            labels[name] = {table.get(_key(code), code): text for code, text in labels[name].items()}
    for name, value in mapping.constants.items():
        if name in frame.columns:
            raise _mapping_error(
                path,
                f"[constants] {name}",
                f"the data file {data_file} already has a column {name!r}",
                "Remove the constant or the column.",
            )
        frame[name] = value
    return _Raw(frame, labels)


def _label_problems(raw: _Raw, source: str) -> list[Problem]:
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


# --- public API ------------------------------------------------------------------------------------


def load_survey(path: str | Path, mapping: str | Path | None = None) -> pd.DataFrame:
    """Read a survey file, map it onto the codebook and validate it; the file is never modified.

    Supported formats: .csv, .xlsx, .dta, .sav, .parquet. Missing codes -9/-8 and SPSS
    user-missing values become missing. Raises :class:`SurveyValidationError` listing every
    problem, :class:`MappingError` for a bad mapping file, :class:`UnsupportedFormatError`
    for an unknown extension and :class:`SurveyFileNotFoundError` for a missing file.
    """
    path = Path(path)
    ext = _extension(path)
    parsed = read_mapping(mapping) if mapping is not None else None
    if not path.is_file():
        raise SurveyFileNotFoundError(f"{path}: survey file not found. Check the path.")
    if path.stat().st_size == 0:
        raise _file_problem(
            path,
            "the file holds a header row and at least one data row",
            "The file is empty: export the survey again.",
        )
    try:
        raw = READERS[ext](path)
    except (ValueError, OSError, KeyError, zipfile.BadZipFile, pyreadstat.ReadstatError) as err:
        raise _file_problem(
            path,
            f"the file is a readable {ext} file",
            f"It could not be read ({err}); export the survey again.",
        ) from err
    if raw.frame.empty:
        raise _file_problem(
            path,
            "the file holds a header row and at least one data row",
            "The file has no data rows: export the survey again.",
        )
    if parsed is not None:
        raw = apply_mapping(raw, parsed, str(path))
    frame, problems = check_survey(raw.frame, str(path))
    problems = _label_problems(raw, str(path)) + problems
    if problems:
        raise SurveyValidationError(problems, str(path))
    return frame


def _value_labels(df: pd.DataFrame) -> dict[str, dict[int, str]]:
    return {
        name: dict(CODEBOOK[name].labels) | dict(CODEBOOK[name].missing_codes)
        for name in df.columns
        if name in CODEBOOK and CODEBOOK[name].is_coded
    }


def _for_stats_package(df: pd.DataFrame) -> pd.DataFrame:
    """Nullable integers to float64 (NaN = system missing), strings to object."""
    out = df.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.StringDtype) or out[col].dtype == object:
            out[col] = out[col].astype(object).where(out[col].notna(), "")
        elif pd.api.types.is_numeric_dtype(out[col].dtype):
            out[col] = out[col].astype("float64")
    return out


def _write_sav(df: pd.DataFrame, path: Path) -> None:
    numeric = [c for c in df.columns if c in CODEBOOK and codebook_dtype(CODEBOOK[c]) != "string"]
    missing = {c: list(CODEBOOK[c].missing_codes) for c in numeric if CODEBOOK[c].missing_codes}
    pyreadstat.write_sav(
        _for_stats_package(df),
        path,
        variable_value_labels=_value_labels(df),
        missing_ranges=missing,
        column_labels={c: CODEBOOK[c].description[:255] for c in df.columns if c in CODEBOOK},
    )


def _write_dta(df: pd.DataFrame, path: Path) -> None:
    pyreadstat.write_dta(
        _for_stats_package(df),
        path,
        variable_value_labels=_value_labels(df),
        column_labels={c: CODEBOOK[c].description[:80] for c in df.columns if c in CODEBOOK},
    )


def _via_file(writer: Callable[[pd.DataFrame, Path], None], ext: str) -> Callable[[pd.DataFrame], bytes]:
    """Serialise with a writer that needs a path: write into a scratch folder and read the bytes."""

    def serialise(df: pd.DataFrame) -> bytes:
        with tempfile.TemporaryDirectory() as scratch:
            target = Path(scratch) / f"survey{ext}"
            writer(df, target)
            return target.read_bytes()

    return serialise


def _to_buffer(df: pd.DataFrame, method: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    getattr(df, method)(buffer, index=False, **kwargs)
    return buffer.getvalue()


SERIALISERS: dict[str, Callable[[pd.DataFrame], bytes]] = {
    ".csv": lambda df: df.to_csv(index=False, lineterminator="\n").encode(),
    ".xlsx": lambda df: _to_buffer(df, "to_excel", engine="openpyxl"),
    ".dta": _via_file(_write_dta, ".dta"),
    ".sav": _via_file(_write_sav, ".sav"),
    ".parquet": lambda df: _to_buffer(df, "to_parquet", engine="pyarrow"),
}


def write_survey(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a survey frame in the format of ``path``'s extension with :func:`clusterpreneur.io.write_atomic`.

    SPSS and Stata files carry the codebook's value labels and variable descriptions; SPSS files
    declare the missing codes -9/-8 as user-missing. Missing values are written as empty
    cells (CSV, Excel) or system missing. The index is not written.
    """
    path = Path(path)
    return write_atomic(path, SERIALISERS[_extension(path)](df))
