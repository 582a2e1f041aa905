"""Tabular data files (CSV, Excel, Stata, SPSS, Parquet) for any dataset: read safely, write reproducibly.

Reading (:func:`read_table`) never changes the file and refuses, with a
:class:`~clusterpreneur.errors.DataFileError` naming file, line, value, rule and what to do,
what would otherwise load wrongly or fail obscurely: text that is not UTF-8 (other encodings
by an explicit ``encoding``; a UTF-8 byte-order mark is fine), a CSV separated by semicolons
or tabs, a title line or row above the column names, duplicated or empty column names, lines
with more fields than the header, Excel formulas without a saved result, damaged or truncated
Parquet, Stata and SPSS files, and files of another format under a known extension. Rows
are numbered as the user finds them (:class:`RowNumbers`): CSV by file line, Excel by sheet
row, the other formats by data row. Completely empty rows of CSV and Excel files are
skipped; column names lose surrounding spaces; values are returned as stored (CSV values as
text), to be converted by the caller.

Writing (:func:`table_bytes`) gives the same bytes for the same frame in every format: the
timestamps inside Excel, SPSS and Stata files are fixed to :data:`FIXED_TIMESTAMP`; Parquet
files carry page checksums and a checksum of their whole content, both verified on reading
(a Parquet file from elsewhere, without them, is checked only as far as its format allows).
:func:`csv_bytes` is the CSV writer of every output table: text cells that a spreadsheet would
run as a formula are neutralised.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
import tempfile
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from clusterpreneur.errors import DataFileError, InputFileError, Problem, UnsupportedFormatError

SUPPORTED_EXTENSIONS: tuple[str, ...] = (".csv", ".xlsx", ".dta", ".sav", ".parquet")
ENCODED_EXTENSIONS: tuple[str, ...] = (".csv", ".dta", ".sav")
"""Formats whose text encoding may be given (Excel and Parquet files declare their own)."""
FIXED_TIMESTAMP = datetime(2000, 1, 1, tzinfo=UTC)
"""Creation time written into Excel, SPSS and Stata files, so that the same data give the same bytes."""
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""Text cells starting with these are run as formulas by spreadsheets (OWASP CSV injection)."""
PARQUET_CHECKSUM = b"content_sha256"
"""Key of the Parquet metadata entry holding :func:`frame_sha256` of the data written."""
HEADER_SCAN = 10
"""Lines (rows) looked at to find a title above the column names."""

_MAGIC = {
    b"PK\x03\x04": ".xlsx",  # a zip archive: xlsx (or another Office file)
    b"\xd0\xcf\x11\xe0": ".xls",  # OLE2: Excel 97-2003
    b"PAR1": ".parquet",
    b"$FL2": ".sav",
    b"$FL3": ".sav",
    b"<stata_dta>": ".dta",
}
_DOC_DATES = re.compile(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


@dataclass(frozen=True)
class RowNumbers:
    """How the user counts the rows of a file: the number shown for each data row.

    ``unit`` is ``"file line"`` (CSV, header = line 1), ``"sheet row"`` (Excel) or
    ``"data row"`` (other formats and data frames: data row *i* is ``i + 1``).
    """

    unit: str = "data row"
    numbers: np.ndarray | None = None

    def number(self, pos: int) -> int:
        """The number of the data row at 0-based position ``pos``."""
        return pos + 1 if self.numbers is None else int(self.numbers[pos])

    def label(self, pos: int) -> str:
        return f"{self.unit} {self.number(pos)}"

    def take(self, positions: np.ndarray) -> RowNumbers:
        """The numbers of the rows at ``positions`` (when rows are dropped)."""
        numbers = np.asarray(positions) + 1 if self.numbers is None else self.numbers[positions]
        return RowNumbers(self.unit, numbers)


@dataclass
class RawTable:
    """A file's columns as stored, with what its metadata says and how its rows are numbered."""

    path: Path
    frame: pd.DataFrame
    rows: RowNumbers = field(default_factory=RowNumbers)
    value_labels: dict[str, dict[float, str]] = field(default_factory=dict)


# --- opening -------------------------------------------------------------------------------------


def check_input_file(path: str | Path, what: str, suffixes: tuple[str, ...] = ()) -> Path:
    """``path`` as a Path if it is a file; else :class:`InputFileError` saying what it is instead."""
    path = Path(path)
    if path.is_dir():
        inside = sorted(p.name for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
        hint = f" It holds {', '.join(inside[:5])}." if inside else ""
        raise InputFileError(f"{path} is a folder, not a {what}: give the path of the file itself.{hint}")
    if not path.is_file():
        raise InputFileError(f"{path}: {what} not found. Check the path.")
    return path


def extension(path: Path) -> str:
    """The lower-case extension of ``path`` if the readers know it, else UnsupportedFormatError."""
    ext = path.suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        raise UnsupportedFormatError(
            f"{path}: the extension {ext or '(none)'!r} is not supported. Save the data as one of "
            f"{', '.join(SUPPORTED_EXTENSIONS)}."
        )
    return ext


def _problem(path: Path, rule: str, fix: str, *, value=None, column=None, line=None, unit="file line"):
    return Problem(str(path), None, None, column, value, rule, fix, line, unit)


def _fail(path: Path, rule: str, fix: str, **where) -> DataFileError:
    return DataFileError([_problem(path, rule, fix, **where)], str(path))


def _other_format(data: bytes, path: Path, ext: str) -> None:
    """Refuse a file whose first bytes say it is another format than its extension."""
    for magic, actual in _MAGIC.items():
        if data.startswith(magic) and actual != ext:
            raise _fail(
                path,
                f"the file is a readable {ext} file",
                f"Its content is a {actual} file: rename it to {path.stem}{actual}"
                + (" after saving it as .xlsx in Excel" if actual == ".xls" else "")
                + f", or export the data again as {ext}.",
            )


# --- text ------------------------------------------------------------------------------------------


def _codec(encoding: str, path: Path | None = None) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise UnsupportedFormatError(
            f"{'' if path is None else f'{path}: '}unknown encoding {encoding!r}: give a Python codec "
            "name such as 'latin-1', 'cp1252' or 'utf-16'."
        ) from None


def _pass_encoding(option: str | None, codec: str) -> str:
    if option is None:
        return ""
    flag = "--" + option.replace("_", "-")
    return f", or pass its encoding: {option}='{codec}' in Python, {flag} {codec} on the command line"


def decode_text(data: bytes, path: Path, encoding: str | None = None, option: str | None = "encoding") -> str:
    """Text of a file: UTF-8 (a byte-order mark is dropped) unless ``encoding`` is given.

    Bytes that are not text in that encoding raise :class:`DataFileError` naming the file line
    and saying how to fix it; ``option`` is the name of the caller's encoding option (``None``
    if it has none).
    """
    codec = "utf-8" if encoding is None else _codec(encoding)
    if encoding is None and data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise _fail(
            path,
            "the file is UTF-8 text",
            "It is UTF-16 text (a 'Unicode text' export): save it as UTF-8"
            + _pass_encoding(option, "utf-16")
            + ".",
            line=1,
        )
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        start = data.rfind(b"\n", 0, err.start) + 1
        context = data[start : err.start + 20].split(b"\n")[0].decode(codec, errors="replace")
        guess = "cp1252"  # Windows' Western European text, a superset of Latin-1
        try:
            data.decode(guess)
        except UnicodeDecodeError:
            guess = "<encoding>"
        raise DataFileError(
            [
                _problem(
                    path,
                    f"the file is {codec} text",
                    f"Byte 0x{data[err.start]:02X} at position {err.start - start + 1} of the line is "
                    f"not {codec}. Save the file as UTF-8 (in Excel: Save As 'CSV UTF-8')"
                    f"{_pass_encoding(option, guess)}.",
                    value=context,
                    line=line,
                )
            ],
            str(path),
        ) from None
    return text.removeprefix("\ufeff")


def read_text(
    path: str | Path, what: str, *, encoding: str | None = None, option: str | None = "encoding"
) -> str:
    """A text file (TOML, ...) as :func:`decode_text` reads it; :class:`InputFileError` if absent."""
    path = check_input_file(path, what, (".toml",))
    return decode_text(path.read_bytes(), path, encoding, option)


# --- header checks shared by CSV and Excel -----------------------------------------------------------


def _header_problems(path: Path, rows: list[tuple[int, list]], unit: str) -> list[Problem]:
    """A title above the column names: the first row has at most two filled cells and a row
    below it (within :data:`HEADER_SCAN`) has more and at least three."""
    if not rows:
        return []
    (first_no, first), rest = rows[0], rows[1:HEADER_SCAN]
    filled = [str(v).strip() for v in first if v is not None and str(v).strip()]
    widths = [(sum(1 for v in r if v is not None and str(v).strip()), no) for no, r in rest]
    wider = [(w, no) for w, no in widths if w > len(filled) and w >= 3]
    if len(filled) > 2 or not wider:
        return []
    header_no = max(wider, key=lambda t: (t[0], -t[1]))[1]
    return [
        _problem(
            path,
            "the column names are in the first line"
            if unit == "file line"
            else "the column names are in the first row",
            f"{unit.capitalize()} {first_no} holds a title, and the column names seem to be in {unit} "
            f"{header_no}: delete the {unit}s above the column names and save the file again.",
            value=" ".join(filled),
            line=first_no,
            unit=unit,
        )
    ]


def _column_names(path: Path, names: list, has_data: list[bool], line: int | None, unit: str):
    """Column names stripped of spaces; problems for duplicated names and unnamed columns with data.

    Returns (names, positions of the columns to keep, problems): unnamed empty columns are dropped.
    """
    clean = ["" if n is None else str(n).strip() for n in names]
    problems, keep = [], []
    for j, name in enumerate(clean):
        if name:
            keep.append(j)
        elif has_data[j]:
            problems.append(
                _problem(
                    path,
                    "every column has a name",
                    f"Column {j + 1} has values but no name: give it a name (a codebook name, or one "
                    "the mapping file maps) or delete it.",
                    column=f"(column {j + 1})",
                    line=line,
                    unit=unit,
                )
            )
    counts = Counter(n for n in clean if n)
    for name, n in counts.items():
        if n > 1:
            where = [j + 1 for j, c in enumerate(clean) if c == name]
            problems.append(
                _problem(
                    path,
                    "column names are unique",
                    f"Columns {', '.join(map(str, where))} are all named {name!r}: rename or delete all "
                    "but one (only one of them can be the variable).",
                    column=name,
                    line=line,
                    unit=unit,
                )
            )
    return clean, keep, problems


def _drop_empty_rows(frame: pd.DataFrame, rows: RowNumbers) -> tuple[pd.DataFrame, RowNumbers]:
    empty = frame.isna().all(axis=1).to_numpy()
    if not empty.any():
        return frame, rows
    keep = np.flatnonzero(~empty)
    return frame.iloc[keep].reset_index(drop=True), rows.take(keep)


# --- CSV -------------------------------------------------------------------------------------------


def _records(text: str, limit: int | None = None):
    """(first file line, fields) of each non-blank CSV record, as pandas sees them."""
    reader = csv.reader(io.StringIO(text, newline=""))
    previous = 0
    try:
        for fields in reader:
            start, previous = previous + 1, reader.line_num
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            yield start, fields
            if limit is not None:
                limit -= 1
                if limit == 0:
                    return
    except csv.Error:
        return


def _delimiter_problem(path: Path, header: list[str], line: int) -> Problem | None:
    if len(header) != 1:
        return None
    for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "vertical bars")):
        if header[0].count(sep) >= 1:
            return _problem(
                path,
                "columns are separated by commas",
                f"The column names are separated by {name}, not commas (spreadsheets set to many "
                "European languages save CSV so): export the file again as comma-separated CSV ('CSV "
                "UTF-8 (Comma delimited)' in Excel), or save it as .xlsx.",
                value=header[0],
                line=line,
            )
    return None


def _long_line(path: Path, text: str, n_names: int) -> DataFileError:
    for start, fields in _records(text):
        if len(fields) > n_names:
            return _fail(
                path,
                f"every line has at most as many fields as the header ({n_names})",
                f"File line {start} has {len(fields)} fields: quote values that contain a comma "
                '("Aalborg, DK"), or remove the extra commas.',
                value=",".join(fields),
                line=start,
            )
    return _fail(path, "the file is a readable .csv file", "It could not be parsed; export it again.")


def _line_numbers(utf8: bytes, header_line: int, n_records: int) -> RowNumbers:
    """File line of each data record (fast when every record is one line and no line is blank)."""
    lines = utf8.count(b"\n") + (0 if utf8.endswith(b"\n") else 1)
    if utf8.count(b"\r") == utf8.count(b"\r\n") and lines == header_line + n_records:
        return RowNumbers("file line", np.arange(header_line + 1, header_line + 1 + n_records))
    starts = [start for start, _ in _records(utf8.decode())][1:]
    if len(starts) != n_records:
        return RowNumbers()  # cannot tell the lines apart: count data rows
    return RowNumbers("file line", np.asarray(starts))


def _read_csv(path: Path, encoding: str | None) -> RawTable:
    data = path.read_bytes()
    _other_format(data, path, ".csv")
    if encoding is None and data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        decode_text(data[:2], path)  # says it is UTF-16 and how to read it
    if b"\x00" in data[:8192] and encoding is None:
        raise _fail(
            path,
            "the file is a readable .csv file",
            "It holds binary data, not text: export the data again as CSV.",
        )
    text = decode_text(data, path, encoding)
    head = list(_records(text[: 1 << 16], HEADER_SCAN))
    # pandas reads UTF-8 bytes (a str in a StringIO would take four bytes a character)
    utf8 = data.removeprefix(codecs.BOM_UTF8) if _codec(encoding or "utf-8") == "utf-8" else text.encode()
    del text
    if not head:
        raise _fail(path, "the file holds a header line and at least one data line", "The file is empty.")
    header_line, header = head[0]
    problems = [p for p in [_delimiter_problem(path, header, header_line)] if p]
    problems += _header_problems(path, head, "file line")
    if problems:
        raise DataFileError(problems, str(path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            # text only, so that text in a numeric column is reported, not silently coerced; only
            # an empty cell is missing ("NA" may be a real id, e.g. Namibia)
            frame = pd.read_csv(
                io.BytesIO(utf8), dtype=str, keep_default_na=False, na_values=[""], index_col=False
            )
    except (pd.errors.ParserError, pd.errors.ParserWarning):
        raise _long_line(path, utf8.decode(), len(header)) from None
    except pd.errors.EmptyDataError:
        raise _fail(path, "the file holds a header line and at least one data line", "It is empty.") from None
    rows = _line_numbers(utf8, header_line, len(frame))
    has_data = frame.notna().any(axis=0).tolist()
    names, keep, problems = _column_names(path, header, has_data, header_line, "file line")
    if problems:
        raise DataFileError(problems, str(path))
    frame = frame.iloc[:, keep]
    frame.columns = [names[j] for j in keep]
    frame, rows = _drop_empty_rows(frame, rows)
    return RawTable(path, frame, rows)


# --- Excel -----------------------------------------------------------------------------------------


def _formula_problems(path: Path, data: bytes, values: list[tuple], first: int, names: list) -> list[Problem]:
    """Formula cells without a saved result (openpyxl reads them as empty) in the data area."""
    import openpyxl

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/") and n.endswith(".xml")]
        if not any(re.search(rb"<f[ >/]", archive.read(n)) for n in sheets):
            return []
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    try:
        formulas = list(book.worksheets[0].iter_rows(min_row=1, values_only=True))
    finally:
        book.close()
    problems = []
    for r in range(first, min(len(values), len(formulas))):
        for c, cell in enumerate(formulas[r]):
            if (
                isinstance(cell, str)
                and cell.startswith("=")
                and (c >= len(values[r]) or values[r][c] is None)
            ):
                problems.append(
                    _problem(
                        path,
                        "every cell holds a value",
                        "The cell holds a formula whose result was never saved (the file was written "
                        "by a program that does not calculate): open the workbook in Excel or "
                        "LibreOffice and save it, or paste the values over the formulas.",
                        value=cell,
                        column=names[c] if c < len(names) and names[c] else f"(column {c + 1})",
                        line=r + 1,
                        unit="sheet row",
                    )
                )
    return problems


def _read_xlsx(path: Path, encoding: str | None) -> RawTable:
    import openpyxl

    data = path.read_bytes()
    _other_format(data, path, ".xlsx")
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as err:
        raise _fail(
            path,
            "the file is a readable .xlsx file",
            f"It could not be opened ({err}): save it again as .xlsx (Excel Workbook).",
        ) from None
    try:
        values = list(book.worksheets[0].iter_rows(min_row=1, values_only=True))
    finally:
        book.close()
    filled = [r for r in range(len(values)) if any(v is not None and str(v).strip() for v in values[r])]
    if not filled:
        raise _fail(path, "the file holds a header row and at least one data row", "The sheet is empty.")
    head = [(r + 1, list(values[r])) for r in filled[:HEADER_SCAN]]
    problems = _header_problems(path, head, "sheet row")
    if problems:
        raise DataFileError(problems, str(path))
    header_at = filled[0]
    width = max(len(values[r]) for r in filled)
    body = [tuple(row) + (None,) * (width - len(row)) for row in values[header_at + 1 :]]
    frame = pd.DataFrame(body, columns=range(width), dtype=object)
    header = list(values[header_at]) + [None] * (width - len(values[header_at]))
    has_data = frame.notna().any(axis=0).tolist() if len(frame) else [False] * width
    names, keep, problems = _column_names(path, header, has_data, header_at + 1, "sheet row")
    problems += _formula_problems(path, data, values, header_at + 1, names)
    if problems:
        raise DataFileError(problems, str(path))
    frame = frame.iloc[:, keep]
    frame.columns = [names[j] for j in keep]
    rows = RowNumbers("sheet row", np.arange(header_at + 2, header_at + 2 + len(frame)))
    frame, rows = _drop_empty_rows(frame, rows)
    return RawTable(path, frame, rows)


# --- Stata, SPSS, Parquet ----------------------------------------------------------------------------


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


def _read_stats_file(path: Path, encoding: str | None, ext: str) -> RawTable:
    import pyreadstat

    _other_format(path.read_bytes()[:16], path, ext)
    kwargs = {} if encoding is None else {"encoding": _codec(encoding)}
    try:
        if ext == ".sav":
            frame, meta = pyreadstat.read_sav(path, user_missing=True, **kwargs)
            frame = _without_user_missing(frame, meta)
        else:
            frame, meta = pyreadstat.read_dta(path, **kwargs)
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError, OSError, ValueError) as err:
        hint = (
            "pass the file's encoding (encoding='latin-1' in Python, --encoding latin-1 on the command line)"
            if "encoding" in str(err).lower() or "convert" in str(err).lower()
            else "the file is damaged or truncated: copy or export it again"
        )
        raise _fail(
            path, f"the file is a readable {ext} file", f"It could not be read ({err}): {hint}."
        ) from None
    return RawTable(path, frame, RowNumbers(), dict(meta.variable_value_labels))


def _read_sav(path: Path, encoding: str | None) -> RawTable:
    return _read_stats_file(path, encoding, ".sav")


def _read_dta(path: Path, encoding: str | None) -> RawTable:
    return _read_stats_file(path, encoding, ".dta")


def _read_parquet(path: Path, encoding: str | None) -> RawTable:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = path.read_bytes()
    _other_format(data, path, ".parquet")
    if len(data) < 12 or not (data.startswith(b"PAR1") and data.endswith(b"PAR1")):
        raise _fail(
            path,
            "the file is a complete Parquet file",
            "It does not start and end with the Parquet marker 'PAR1': it is truncated or not a Parquet "
            "file. Copy or export it again.",
        )
    damaged = "the file is an undamaged Parquet file"
    try:
        names = pq.ParquetFile(pa.BufferReader(data)).schema_arrow.names
        problems = _column_names(path, names, [True] * len(names), None, "data row")[2]
        if problems:
            raise DataFileError(problems, str(path))
        table = pq.read_table(pa.BufferReader(data), page_checksum_verification=True)
        frame = table.to_pandas()
    except (pa.ArrowException, OSError, ValueError) as err:
        raise _fail(path, damaged, f"It is damaged ({err}): copy or export it again.") from None
    stored = (table.schema.metadata or {}).get(PARQUET_CHECKSUM)
    if stored is not None and stored.decode(errors="replace") != frame_sha256(frame):
        raise _fail(
            path,
            damaged,
            "Its content differs from the checksum written into it: it is damaged. Copy or export it again.",
        )
    return RawTable(path, frame, RowNumbers())


READERS: dict[str, Callable[[Path, str | None], RawTable]] = {
    ".csv": _read_csv,
    ".xlsx": _read_xlsx,
    ".dta": _read_dta,
    ".sav": _read_sav,
    ".parquet": _read_parquet,
}


def read_table(path: str | Path, *, encoding: str | None = None, what: str = "data file") -> RawTable:
    """Read a CSV, Excel, Stata, SPSS or Parquet file as stored, without changing it.

    ``encoding`` names the text encoding of a CSV, Stata or SPSS file that is not UTF-8.
    Raises :class:`InputFileError` (no such file, a folder), :class:`UnsupportedFormatError`
    (extension, encoding name) or :class:`DataFileError` (everything that makes the file
    unreadable or ambiguous; see the module docstring).
    """
    path = Path(path)
    ext = extension(path)
    if encoding is not None and ext not in ENCODED_EXTENSIONS:
        raise UnsupportedFormatError(
            f"{path}: {ext} files declare their own encoding; drop the encoding option (it applies to "
            f"{', '.join(ENCODED_EXTENSIONS)} files)."
        )
    if encoding is not None:
        _codec(encoding, path)
    path = check_input_file(path, what, SUPPORTED_EXTENSIONS)
    if path.stat().st_size == 0:
        raise _fail(path, "the file holds a header and at least one data row", "The file is empty.")
    raw = READERS[ext](path, encoding)
    if raw.frame.empty:
        raise _fail(
            path,
            "the file holds a header and at least one data row",
            "The file has no data rows: export the data again.",
        )
    return raw


# --- writing -------------------------------------------------------------------------------------


def frame_sha256(df: pd.DataFrame) -> str:
    """SHA-256 of a frame's column names, dtypes and values (not its index)."""
    head = json.dumps([[str(c), str(t)] for c, t in df.dtypes.items()]).encode()
    rows = pd.util.hash_pandas_object(df, index=False).to_numpy() if len(df.columns) else np.array([])
    return hashlib.sha256(head + rows.astype("<u8").tobytes()).hexdigest()


def _neutralised(column: pd.Series) -> pd.Series:
    """Text cells that a spreadsheet would run as a formula, prefixed with an apostrophe."""
    if pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
        return column

    def safe(value):
        if isinstance(value, str) and value.startswith(FORMULA_START) and not _NUMBER.fullmatch(value):
            return "'" + value
        return value

    return column.map(safe)


def csv_bytes(df: pd.DataFrame, float_format: str | None = "%.10g") -> bytes:
    """CSV of an output table (no index, ``\\n`` line ends, UTF-8), safe to open in a spreadsheet.

    Text cells starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return get a leading
    apostrophe (OWASP's advice against CSV injection), unless the text is a plain number;
    numeric columns are written as numbers (negative numbers stay numbers).
    """
    safe = df.apply(_neutralised) if len(df.columns) else df
    return safe.to_csv(index=False, lineterminator="\n", float_format=float_format).encode()


def _fixed_zip(payload: bytes) -> bytes:
    """A zip archive (xlsx) with fixed member timestamps and fixed document dates."""
    stamp = FIXED_TIMESTAMP.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(payload)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = _DOC_DATES.sub(rb"\g<1>" + stamp + rb"\g<3>", content)
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIMESTAMP.timetuple()[:6])
            fixed.compress_type = info.compress_type
            fixed.external_attr = info.external_attr
            dst.writestr(fixed, content)
    return out.getvalue()


def _fixed_stats_timestamp(payload: bytes, ext: str) -> bytes:
    """SPSS and Stata files with the creation time set to :data:`FIXED_TIMESTAMP` (same length)."""
    data = bytearray(payload)
    t = FIXED_TIMESTAMP
    month = _MONTHS[t.month - 1]  # the formats want English month names, whatever the locale
    if ext == ".sav":  # header record: creation date 'dd Mon yy' at byte 92, time 'hh:mm:ss' at 101
        if re.fullmatch(rb"\d\d \w{3} \d\d\d\d:\d\d:\d\d", bytes(data[92:109])):
            data[92:109] = f"{t.day:02d} {month} {t.year % 100:02d}{t:%H:%M:%S}".encode()
        return bytes(data)
    start = data.find(b"<timestamp>", 0, 512)  # Stata 117+: <timestamp>, length byte, 'dd Mon yyyy hh:mm'
    if start >= 0:
        at = start + len(b"<timestamp>")
        stamp = f"{t.day:02d} {month} {t.year} {t:%H:%M}".encode()
        if data[at] == len(stamp):
            data[at + 1 : at + 1 + len(stamp)] = stamp
    return bytes(data)


def _stats_bytes(df: pd.DataFrame, ext: str, **meta) -> bytes:
    import pyreadstat

    writer = pyreadstat.write_sav if ext == ".sav" else pyreadstat.write_dta
    if ext == ".dta":
        meta.pop("missing_ranges", None)
    meta = {k: v for k, v in meta.items() if v}
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / f"table{ext}"
        writer(df, target, **meta)
        return _fixed_stats_timestamp(target.read_bytes(), ext)


def _for_stats_package(df: pd.DataFrame) -> pd.DataFrame:
    """Nullable integers to float64 (NaN = system missing), strings to object ('' = missing)."""
    out = df.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.StringDtype) or out[col].dtype == object:
            out[col] = out[col].astype(object).where(out[col].notna(), "")
        elif pd.api.types.is_numeric_dtype(out[col].dtype):
            out[col] = out[col].astype("float64")
    return out


def table_bytes(
    df: pd.DataFrame,
    ext: str,
    *,
    value_labels: dict[str, dict[int, str]] | None = None,
    column_labels: dict[str, str] | None = None,
    missing_ranges: dict[str, list[float]] | None = None,
) -> bytes:
    """``df`` (without its index) as the bytes of a ``ext`` file; the same frame gives the same bytes.

    CSV cells are written as they are (data files must read back unchanged); Excel, SPSS and
    Stata files carry :data:`FIXED_TIMESTAMP`; SPSS and Stata files carry ``value_labels``
    and ``column_labels`` (cut to the format's limits), SPSS files declare ``missing_ranges``
    as user-missing; Parquet files carry page checksums and :func:`frame_sha256` of the data.
    """
    if ext == ".csv":
        return df.to_csv(index=False, lineterminator="\n").encode()
    if ext == ".xlsx":
        buffer = io.BytesIO()
        df.to_excel(buffer, index=False, engine="openpyxl")
        return _fixed_zip(buffer.getvalue())
    if ext == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(df, preserve_index=False)
        metadata = {**(table.schema.metadata or {}), PARQUET_CHECKSUM: frame_sha256(df).encode()}
        buffer = io.BytesIO()
        pq.write_table(table.replace_schema_metadata(metadata), buffer, write_page_checksum=True)
        return buffer.getvalue()
    if ext in (".sav", ".dta"):
        limit = 255 if ext == ".sav" else 80
        labels = {c: text[:limit] for c, text in (column_labels or {}).items()}
        return _stats_bytes(
            _for_stats_package(df),
            ext,
            variable_value_labels=value_labels,
            column_labels=labels,
            missing_ranges=missing_ranges,
        )
    raise UnsupportedFormatError(f"cannot write {ext!r} files; use one of {', '.join(SUPPORTED_EXTENSIONS)}")


__all__ = [
    "ENCODED_EXTENSIONS",
    "FIXED_TIMESTAMP",
    "SUPPORTED_EXTENSIONS",
    "RawTable",
    "RowNumbers",
    "check_input_file",
    "csv_bytes",
    "decode_text",
    "extension",
    "read_table",
    "read_text",
    "table_bytes",
]


def read_data(path: str | Path, *, encoding: str | None = None, what: str = "data file") -> pd.DataFrame:
    """A data file of any dataset as a frame for a model: :func:`read_table`, then every text
    column whose observed values are all numbers made numeric (other text stays text, e.g. the
    levels of a categorical)."""
    frame = read_table(path, encoding=encoding, what=what).frame.copy()
    for column in frame.columns:
        s = frame[column]
        if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
            continue
        observed = s.dropna()
        numbers = pd.to_numeric(observed, errors="coerce")
        if not observed.empty and numbers.notna().all():
            frame[column] = pd.to_numeric(s)
    return frame
