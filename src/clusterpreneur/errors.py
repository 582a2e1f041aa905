"""Package-specific exceptions. Every message says what is wrong and what to do.

Values taken from a user's file (cell values, ids, column names) are shown quoted, with
control characters escaped (an id holding a line break cannot forge a line of the report)
and cut to :data:`SHOWN_CHARACTERS` characters.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

SHOWN_CHARACTERS = 60
"""Longest text shown of one value, id or column name in a message."""
LISTED_PER_GROUP = 3
"""Identical problems (same file, column, rule, fix) beyond this many are summarised in one line."""
SUMMARY_EXAMPLES = 5


class ClusterpreneurError(Exception):
    """Base class of every error the package raises on purpose."""


def shown(value: object) -> str:
    """``value`` as it appears in a message: text quoted, escaped and cut; numbers plain."""
    if isinstance(value, str):
        cut = value[:SHOWN_CHARACTERS]
        text = repr(cut)  # escapes line breaks, tabs, other control and invisible characters
        if len(value) > SHOWN_CHARACTERS:
            text += f"... ({len(value):,} characters)"
        return text
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def plain_text(text: str) -> str:
    """``text`` with control characters escaped, unquoted (for paths in messages)."""
    return text if text.isprintable() else repr(text)[1:-1]


@dataclass(frozen=True)
class Problem:
    """One problem found in an input file.

    ``row`` is the 1-based data row (header not counted; ``None`` for a problem of the whole
    file or column). ``line`` is where the user finds the row in the file, counted in
    ``unit``: ``"file line"`` for CSV (the header is line 1), ``"sheet row"`` for Excel,
    ``"data row"`` for formats without lines (Stata, SPSS, Parquet, data frames), where it
    equals ``row``.
    """

    file: str
    row: int | None
    initiative_id: str | None
    column: str | None
    value: object
    rule: str
    fix: str
    line: int | None = None
    unit: str = "data row"

    @property
    def location(self) -> str | None:
        """Where the problem is, as the user counts rows: ``"file line 7"``, ``"data row 6"``."""
        if self.line is not None:
            return f"{self.unit} {self.line}"
        if self.row is not None:
            return f"data row {self.row}"
        return None

    def __str__(self) -> str:
        where = [plain_text(self.file)]
        if self.location is not None:
            where.append(self.location)
        if self.initiative_id is not None:
            where.append(f"initiative {shown(self.initiative_id)}")
        if self.column is not None:
            where.append(f"column {shown(self.column)}")
        value = "" if self.value is None else f": value {shown(self.value)}"
        return f"{', '.join(where)}{value} breaks the rule '{self.rule}'. {self.fix}"


def _summary(group: list[Problem]) -> str:
    """One line for many identical problems: count, first places, distinct values."""
    first = group[0]
    where = [plain_text(first.file)]
    if first.column is not None:
        where.append(f"column {shown(first.column)}")
    places = [p.location for p in group if p.location is not None]
    unit = places[0].rsplit(" ", 1)[0] if places else "row"
    numbers = ", ".join(p.rsplit(" ", 1)[1] for p in places[:SUMMARY_EXAMPLES])
    more = ", ..." if len(places) > SUMMARY_EXAMPLES else ""
    counts = Counter(shown(p.value) for p in group if p.value is not None)
    values = ", ".join(f"{v} ({n}x)" for v, n in counts.most_common(SUMMARY_EXAMPLES))
    if len(counts) > SUMMARY_EXAMPLES:
        values += f" and {len(counts) - SUMMARY_EXAMPLES} other value(s)"
    detail = [f"{unit}s {numbers}{more}"] if places else []
    if values:
        detail.append(f"{len(counts)} distinct value(s): {values}")
    return (
        f"{', '.join(where)}: {len(group)} values break the rule '{first.rule}' "
        f"({'; '.join(detail)}). {first.fix}"
    )


def summarise(problems: list[Problem]) -> list[str]:
    """Message lines: each problem on its own, identical ones (same file, column, rule and fix)
    beyond :data:`LISTED_PER_GROUP` summarised in one line at the place of the first."""
    groups: dict[tuple, list[Problem]] = {}
    for p in problems:
        groups.setdefault((p.file, p.column, p.rule, p.fix), []).append(p)
    lines, done = [], set()
    for p in problems:
        key = (p.file, p.column, p.rule, p.fix)
        group = groups[key]
        if len(group) <= LISTED_PER_GROUP:
            lines.append(str(p))
        elif key not in done:
            done.add(key)
            lines.append(_summary(group))
    return lines


class ProblemsError(ClusterpreneurError):
    """An input breaks rules; ``problems`` lists every problem found at once."""

    def __init__(self, problems: list[Problem], source: str):
        self.problems = list(problems)
        self.source = source
        lines = [f"{plain_text(source)}: {len(self.problems)} problem(s) found; the file was not changed."]
        lines += [f"  - {line}" for line in summarise(self.problems)]
        super().__init__("\n".join(lines))


class DataFileError(ProblemsError):
    """A data file cannot be read as a table (encoding, delimiter, header, damaged file)."""


class SurveyValidationError(ProblemsError):
    """A survey file breaks the codebook; ``problems`` lists every problem found at once."""


class SurveyWarning(UserWarning):
    """Something in a survey file that is probably a mistake but does not stop the analysis."""


class InputFileError(ClusterpreneurError, OSError):
    """An input file does not exist, is a folder or cannot be opened."""


class MappingError(ClusterpreneurError):
    """A column-mapping file is malformed or does not fit the data."""


class UnsupportedFormatError(ClusterpreneurError):
    """The file's extension (or a reading option such as the encoding) is not one the readers know."""


class SpecError(ClusterpreneurError):
    """A model specification does not fit the data or is inconsistent."""


class FitIntegrityError(ClusterpreneurError):
    """A saved fit was damaged or edited since it was written, or does not match the data given."""


class FitFileError(ClusterpreneurError):
    """A file given as a saved fit cannot be read as one (empty, truncated, not NetCDF, not a fit)."""


class ConvergenceError(ClusterpreneurError):
    """A fit failed the convergence gate and reporting was not explicitly overridden.

    ``gate`` holds the gate's result (a :class:`~clusterpreneur.diagnostics.GateResult`) when
    known, so a caller can word the advice for where it is shown (``gate.message("cli")``).
    """

    def __init__(self, message: str, gate=None):
        super().__init__(message)
        self.gate = gate
