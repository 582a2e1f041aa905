"""Reader tables: labelled columns, spanners, per-column number formats; HTML, LaTeX and Markdown.

A :class:`ReaderTable` is built from a data frame and a list of :class:`Column` (name, label,
format, spanner). Every cell is formatted once, by its column's format, into text; one
``great_tables.GT`` object of that text renders the HTML and the LaTeX, and the same text gives
the Markdown, so the three never disagree. Formats: ``text``, ``int`` (counts, ESS: 2,421),
``num1``/``num2``/``num3`` (fixed decimals), ``p`` (p-values with a floor: "< 0.001"), ``prob``
(probabilities: 0.973, "> 0.999"), ``pct`` (12.5%), ``yesno``. An interval is one text column
made with :func:`interval`. Minus signs are typographic (U+2212) in HTML and Markdown, ASCII in
LaTeX.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

MINUS = "\u2212"


def _missing(v: Any) -> bool:
    if v is None or v is pd.NA:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _num(v: float, digits: int) -> str:
    text = f"{v:,.{digits}f}"
    if text.startswith("-") and float(text.replace(",", "")) == 0:
        text = text[1:]  # no "-0.00"
    return text.replace("-", MINUS)


def fmt_int(v: Any) -> str:
    return "" if _missing(v) else _num(float(v), 0)


def fmt_p(v: Any) -> str:
    if _missing(v):
        return ""
    return "< 0.001" if float(v) < 0.001 else f"{float(v):.3f}"


def fmt_prob(v: Any) -> str:
    if _missing(v):
        return ""
    v = float(v)
    if v >= 0.9995:
        return "> 0.999"
    if v < 0.0005:
        return "< 0.001"
    return f"{v:.3f}"


def fmt_pct(v: Any) -> str:
    return "" if _missing(v) else f"{100 * float(v):.1f}%"


def fmt_yesno(v: Any) -> str:
    if _missing(v):
        return ""
    if isinstance(v, str):
        return {"true": "yes", "false": "no"}.get(v.lower(), v)
    return "yes" if bool(v) else "no"


FORMATS: dict[str, Callable[[Any], str]] = {
    "text": lambda v: "" if _missing(v) else str(v),
    "int": fmt_int,
    "num1": lambda v: "" if _missing(v) else _num(float(v), 1),
    "num2": lambda v: "" if _missing(v) else _num(float(v), 2),
    "num3": lambda v: "" if _missing(v) else _num(float(v), 3),
    "p": fmt_p,
    "prob": fmt_prob,
    "pct": fmt_pct,
    "yesno": fmt_yesno,
}


def number(v: Any, digits: int = 2) -> str:
    """A number as the tables print it (typographic minus), '' for missing."""
    return "" if _missing(v) else _num(float(v), digits)


def interval(lower: Any, upper: Any, digits: int = 2) -> str:
    """``[lower, upper]`` with the tables' number format; '' when either end is missing."""
    if _missing(lower) or _missing(upper):
        return ""
    return f"[{_num(float(lower), digits)}, {_num(float(upper), digits)}]"


@dataclass(frozen=True)
class Column:
    """One column of a reader table: frame column, header, format and an optional spanner."""

    name: str
    label: str
    fmt: str = "text"
    spanner: str | None = None


@dataclass
class ReaderTable:
    """A formatted table: text cells, column labels and spanners, optional stub and row groups."""

    name: str
    cells: pd.DataFrame
    columns: tuple[Column, ...]
    stub: str | None = None
    group: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def n_rows(self) -> int:
        return len(self.cells)

    def row_labels(self) -> list[str]:
        """The first visible cell of every row (what a reader finds each row by)."""
        first = self.stub or self.columns[0].name
        return list(self.cells[first])

    def _gt(self, ascii_minus: bool):
        from great_tables import GT

        cells = self.cells.map(lambda s: s.replace(MINUS, "-")) if ascii_minus else self.cells
        gt = GT(cells, rowname_col=self.stub, groupname_col=self.group, id=f"table-{self.name}")
        gt = gt.cols_label(**{c.name: c.label for c in self.columns if c.name in cells})
        spanners: dict[str, list[str]] = {}
        for c in self.columns:
            if c.spanner:
                spanners.setdefault(c.spanner, []).append(c.name)
        for label, cols in spanners.items():
            gt = gt.tab_spanner(label=label, columns=cols, id=f"{self.name}-{label}")
        right = [c.name for c in self.columns if c.fmt != "text" and c.name != self.stub]
        if right:
            gt = gt.cols_align("right", columns=right)
        left = [c.name for c in self.columns if c.fmt == "text" and c.name not in (self.stub, self.group)]
        if left:
            gt = gt.cols_align("left", columns=left)
        for note in self.notes:
            gt = gt.tab_source_note(note)
        return gt

    def html(self) -> str:
        """great_tables' HTML (its style sheet inside), lines without their indentation."""
        return re.sub(r"\n[ \t]+", "\n", self._gt(False).as_raw_html())

    def latex(self) -> str:
        return self._gt(True).as_latex()

    def markdown(self) -> str:
        """GitHub-flavoured Markdown: spanner joined to the column label, row groups as a column."""
        cols = [c for c in self.columns if c.name in self.cells]
        if self.group:
            cols = [
                Column(self.group, self.group.replace("_", " ")),
                *[c for c in cols if c.name != self.group],
            ]
        head = [f"{c.spanner}: {c.label}" if c.spanner else c.label for c in cols]
        rule = ["---" if c.fmt == "text" else "---:" for c in cols]
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join(rule) + "|"]
        for _, row in self.cells.iterrows():
            lines.append("| " + " | ".join(str(row[c.name]).replace("|", "\\|") for c in cols) + " |")
        text = "\n".join(lines) + "\n"
        if self.notes:
            text += "\n" + "\n".join(self.notes) + "\n"
        return text


def typeset(
    name: str,
    frame: pd.DataFrame,
    columns: Sequence[Column],
    *,
    stub: str | None = None,
    group: str | None = None,
    notes: Sequence[str] = (),
) -> ReaderTable:
    """Format ``frame``'s columns (each by its :class:`Column` format) into a :class:`ReaderTable`.

    ``stub`` names the column that labels the rows, ``group`` the column whose values head row
    groups; both must be among ``columns``.
    """
    missing = [c.name for c in columns if c.name not in frame]
    if missing:
        raise KeyError(f"table {name!r}: columns {missing} not in the frame ({list(frame.columns)})")

    def cell(fmt: str, v: Any) -> str:
        return v if isinstance(v, str) else FORMATS[fmt](v)  # text made by number() / interval() stays

    cells = pd.DataFrame(
        {c.name: [cell(c.fmt, v) for v in frame[c.name]] for c in columns}, index=range(len(frame))
    )
    return ReaderTable(name, cells, tuple(columns), stub=stub, group=group, notes=tuple(notes))
