"""Validation of survey frames against the codebook.

The pandera schema is built from :data:`~clusterpreneur.study.codebook.CODEBOOK`, so there is no
second list of variables. :func:`validate_survey` is applied to every dataset entering the
package. It

1. converts each codebook column to its codebook dtype (``string`` ids, ``Int64`` for
   coded, count and year variables, ``float64`` otherwise), turning the missing codes
   (-9, -8) of nullable variables into missing values; text in a numeric column and
   fractions in a whole-number column are problems;
2. runs the pandera column checks lazily (codes, ranges, missing values, required columns);
3. runs the cross-row and cross-column rules (unique ids, one country per region,
   region-level variables constant within a region, board shares summing to one, firm
   counts and years in order);

and raises one :class:`~clusterpreneur.errors.SurveyValidationError` listing every problem.
The returned frame has the codebook columns in codebook order (absent optional columns
added as all-missing), then any unknown extra columns unchanged, and the input's index.
The input frame is never modified.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from clusterpreneur.errors import Problem, SurveyValidationError
from clusterpreneur.study.codebook import BOARD_COLUMNS, CODEBOOK, SHARE_TOLERANCE, Variable

WHOLE_KINDS = frozenset({"binary", "ordinal", "nominal", "count", "year"})
LEVEL_ID = {"region": "region_id", "country": "country_id"}


def codebook_dtype(var: Variable) -> str:
    """The pandas dtype a codebook variable has in a validated frame."""
    return var.dtype


def _value_check(var: Variable) -> pa.Check | None:
    if var.is_coded:
        return pa.Check.isin(sorted(var.labels))
    if var.kind == "id":
        return pa.Check.str_length(min_value=1)
    if var.minimum is not None or var.maximum is not None:
        return pa.Check.in_range(min_value=var.minimum, max_value=var.maximum)
    return None


@cache
def survey_schema() -> pa.DataFrameSchema:
    """The pandera schema of a survey frame, derived from the codebook."""
    columns = {}
    for name, var in CODEBOOK.items():
        check = _value_check(var)
        columns[name] = pa.Column(
            codebook_dtype(var),
            checks=[check] if check is not None else [],
            nullable=var.nullable,
            required=var.required,
            description=var.description,
        )
    return pa.DataFrameSchema(columns, strict=False, coerce=False, name="survey")


def value_fix(var: Variable) -> str:
    """What to do about a value that breaks ``var``'s rule."""
    if var.is_coded:
        head = "Use one of the codes " + ", ".join(f"{k}={v}" for k, v in var.labels.items())
    elif var.kind == "id":
        head = "Give a non-empty identifier"
    else:
        head = f"Use {var.rule()}"
    if not var.nullable:
        return head + "; this column may not be missing."
    if var.missing_codes:
        codes = " or ".join(f"{k} ({v})" for k, v in var.missing_codes.items())
        return f"{head}, or a missing code {codes}, or leave the cell empty."
    return f"{head}, or leave the cell empty."


class _Collector:
    """Builds Problems that name the source, the 1-based row and the initiative."""

    def __init__(self, source: str, ids: pd.Series | None):
        self.source = source
        self.ids = ids
        self.problems: list[Problem] = []
        self.seen: set[tuple[int | None, str | None]] = set()

    def flagged(self, pos: int, *columns: str) -> bool:
        """True when a cell of row ``pos`` in ``columns`` already has a problem."""
        return any((pos, c) in self.seen for c in columns)

    def add(self, pos: int | None, column: str | None, value: object, rule: str, fix: str) -> None:
        key = (pos, column)
        if pos is not None and key in self.seen:
            return  # one problem per cell is enough
        self.seen.add(key)
        ident = None
        if pos is not None and self.ids is not None:
            raw = self.ids.iloc[pos]
            ident = None if pd.isna(raw) else str(raw)
        self.problems.append(
            Problem(self.source, None if pos is None else pos + 1, ident, column, _plain(value), rule, fix)
        )


def _plain(value: object) -> object:
    """A printable scalar: numpy scalars to Python, missing to None, whole floats to int."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _convert(raw: pd.Series, var: Variable, out: _Collector) -> pd.Series:
    """Convert one column to its codebook dtype, reporting values that cannot be converted."""
    if var.kind == "id":
        if pd.api.types.is_float_dtype(raw.dtype) and (raw.dropna() % 1 == 0).all():
            raw = raw.astype("Int64")  # numeric ids from Stata/SPSS: "101", not "101.0"
        text = raw.astype("string").str.strip()
        return text.mask(text == "")
    if pd.api.types.is_bool_dtype(raw.dtype) or pd.api.types.is_numeric_dtype(raw.dtype):
        numbers = raw.astype("float64")
    else:
        stripped = raw.astype("string").str.strip()
        stripped = stripped.mask(stripped == "")
        numbers = pd.to_numeric(stripped, errors="coerce").astype("float64")
        for pos in np.flatnonzero(stripped.notna().to_numpy() & numbers.isna().to_numpy()):
            out.add(
                int(pos),
                var.name,
                raw.iloc[pos],
                var.rule(),
                f"Replace the text by a number. {value_fix(var)}",
            )
    if var.nullable and var.missing_codes:
        numbers = numbers.mask(numbers.isin(list(var.missing_codes)))
    if var.kind not in WHOLE_KINDS:
        return numbers
    fractional = numbers.notna() & np.isfinite(numbers) & (numbers != np.round(numbers))
    infinite = numbers.notna() & ~np.isfinite(numbers)
    for pos in np.flatnonzero((fractional | infinite).to_numpy()):
        out.add(int(pos), var.name, raw.iloc[pos], var.rule(), value_fix(var))
    return numbers.mask(fractional | infinite).astype("Int64")


def _column_problems(frame: pd.DataFrame, out: _Collector) -> None:
    """Run the pandera schema lazily and translate its failure cases."""
    try:
        survey_schema().validate(frame, lazy=True)
    except SchemaErrors as err:
        cases = err.failure_cases
        for case in cases.itertuples(index=False):
            if case.check == "column_in_dataframe":
                name = str(case.failure_case)
                out.add(
                    None,
                    name,
                    None,
                    "required column is present",
                    f"Add the column {name!r} ({CODEBOOK[name].description}) to the file, or map "
                    "the file's column onto it in a mapping file.",
                )
                continue
            var = CODEBOOK.get(case.column)
            if var is None:
                out.add(None, case.column, case.failure_case, str(case.check), "Check the column.")
                continue
            pos = None if case.index is None or pd.isna(case.index) else int(case.index)
            if case.check == "not_nullable":
                out.add(pos, var.name, None, "no missing value", f"Fill in {var.rule()}.")
            else:
                out.add(pos, var.name, case.failure_case, var.rule(), value_fix(var))


def _check_unique_ids(df: pd.DataFrame, out: _Collector) -> None:
    if "initiative_id" not in df:
        return
    ids = df["initiative_id"]
    first: dict[str, int] = {}
    for pos, ident in enumerate(ids):
        if pd.isna(ident):
            continue
        if ident in first:
            out.add(
                pos,
                "initiative_id",
                ident,
                "initiative_id is unique",
                f"The id is already used in row {first[ident] + 1}: give each initiative its own id "
                "or remove the duplicated row.",
            )
        else:
            first[ident] = pos


def _check_one_country(df: pd.DataFrame, out: _Collector) -> None:
    if "region_id" not in df or "country_id" not in df:
        return
    seen: dict[str, tuple[str, int]] = {}
    for pos, (region, country) in enumerate(zip(df["region_id"], df["country_id"], strict=True)):
        if pd.isna(region) or pd.isna(country) or out.flagged(pos, "region_id", "country_id"):
            continue
        if region not in seen:
            seen[region] = (country, pos)
        elif seen[region][0] != country:
            home, home_pos = seen[region]
            out.add(
                pos,
                "country_id",
                country,
                "a region belongs to exactly one country",
                f"Region {region!r} is in country {home!r} in row {home_pos + 1}: correct the "
                "country, or give regions of different countries different region_id values.",
            )


def _check_group_constant(df: pd.DataFrame, out: _Collector) -> None:
    """Region- and country-level variables must agree within a region or country (missing ignored)."""
    for name, var in CODEBOOK.items():
        group_col = LEVEL_ID.get(var.level)
        if var.kind == "id" or group_col is None or name not in df or group_col not in df:
            continue
        first: dict[str, tuple[object, int]] = {}
        for pos, (group, value) in enumerate(zip(df[group_col], df[name], strict=True)):
            if pd.isna(group) or pd.isna(value) or out.flagged(pos, group_col, name):
                continue
            if group not in first:
                first[group] = (value, pos)
            elif first[group][0] != value:
                ref, ref_pos = first[group]
                out.add(
                    pos,
                    name,
                    value,
                    f"{var.level}-level variable is constant within a {var.level}",
                    f"Row {ref_pos + 1} of {var.level} {group!r} has {_plain(ref)!r}: give every "
                    f"initiative of the {var.level} the same value.",
                )


def _check_board_shares(df: pd.DataFrame, out: _Collector) -> None:
    if not all(c in df for c in BOARD_COLUMNS):
        return
    shares = df[list(BOARD_COLUMNS)].astype("float64")
    total = shares.sum(axis=1, min_count=len(BOARD_COLUMNS))
    bad = total.notna() & ((total - 1.0).abs() > SHARE_TOLERANCE)
    for pos in np.flatnonzero(bad.to_numpy()):
        if out.flagged(int(pos), *BOARD_COLUMNS):
            continue
        out.add(
            int(pos),
            "+".join(BOARD_COLUMNS),
            round(float(total.iloc[pos]), 6),
            f"board shares sum to one within {SHARE_TOLERANCE}",
            "Give each share as seats of that actor type / board_seats so the four shares sum to one.",
        )


def _check_order(df: pd.DataFrame, out: _Collector, low: str, high: str, column: str, fix: str) -> None:
    """Report rows where ``low > high`` (both present), naming ``column``."""
    if low not in df or high not in df:
        return
    a, b = df[low].astype("float64"), df[high].astype("float64")
    for pos in np.flatnonzero((a > b).to_numpy()):
        if out.flagged(int(pos), low, high):
            continue
        out.add(
            int(pos),
            column,
            df[column].iloc[pos],
            f"{low} <= {high}",
            fix.format(low=_plain(a.iloc[pos]), high=_plain(b.iloc[pos])),
        )


CrossRule = Callable[[pd.DataFrame, _Collector], None]

CROSS_RULES: tuple[CrossRule, ...] = (
    _check_unique_ids,
    _check_one_country,
    _check_group_constant,
    _check_board_shares,
    lambda df, out: _check_order(
        df,
        out,
        "n_firms_10plus",
        "n_firms",
        "n_firms_10plus",
        "{low} firms with more than 10 employees but only {high} firms: correct either count.",
    ),
    lambda df, out: _check_order(
        df,
        out,
        "start_year",
        "formalised_year",
        "formalised_year",
        "Formalised in {high} but started in {low}: correct either year.",
    ),
    lambda df, out: _check_order(
        df,
        out,
        "start_year",
        "survey_year",
        "start_year",
        "Started in {low} but surveyed in {high}: correct either year.",
    ),
)


def check_survey(df: pd.DataFrame, source: str = "<data frame>") -> tuple[pd.DataFrame, list[Problem]]:
    """Convert ``df`` to codebook dtypes and return it with every problem found (no raising)."""
    work = df.reset_index(drop=True)
    ids = work["initiative_id"].astype("string") if "initiative_id" in work else None
    out = _Collector(source, ids)
    converted = {
        name: _convert(work[name], var, out)
        if name in work
        else pd.Series(None, index=work.index, dtype=codebook_dtype(var))
        for name, var in CODEBOOK.items()
        if name in work or not var.required
    }
    frame = pd.DataFrame(converted, index=work.index)
    _column_problems(frame, out)
    for rule in CROSS_RULES:
        rule(frame, out)
    extra = [c for c in work.columns if c not in CODEBOOK]
    result = pd.concat([frame, work[extra]], axis=1) if extra else frame
    result.index = df.index
    order = {name: i for i, name in enumerate(CODEBOOK)}
    problems = sorted(
        out.problems,
        key=lambda p: (p.row is not None, p.row or 0, order.get(p.column or "", len(order))),
    )
    return result, problems


def validate_survey(df: pd.DataFrame, source: str = "<data frame>") -> pd.DataFrame:
    """Validate a survey frame against the codebook; return it with codebook dtypes and column order.

    Raises :class:`SurveyValidationError` listing every problem at once. Unknown extra columns
    are kept, unchanged, after the codebook columns. ``df`` itself is not modified.
    """
    frame, problems = check_survey(df, source)
    if problems:
        raise SurveyValidationError(problems, source)
    return frame


__all__ = ["check_survey", "codebook_dtype", "survey_schema", "validate_survey"]
