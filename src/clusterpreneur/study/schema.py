"""Validation of survey frames against the codebook.

The pandera schema is built from :data:`~clusterpreneur.study.codebook.CODEBOOK`, so there is no
second list of variables. :func:`validate_survey` is applied to every dataset entering the
package. It

1. converts each codebook column to its codebook dtype (``string`` ids, ``Int64`` for
   coded, count and year variables, ``float64`` otherwise), turning the missing codes
   (-9, -8) of nullable variables into missing values and the codebook's own labels of a
   coded variable ("strongly agree", any case and spacing) into their codes; other text in a
   numeric column and fractions in a whole-number column are problems;
2. runs the pandera column checks lazily (codes, ranges, missing values, required columns);
3. runs the cross-row and cross-column rules (unique ids, one country per region,
   region-level variables constant within a region, board shares summing to one, firm
   counts and years in order) and, for a panel (a ``wave`` column with values), the panel's
   rules: one row per initiative and wave, every row with its wave, an initiative's waves
   without gaps and in time order (a later wave has a later ``survey_year``), no row after the
   wave an initiative took off in (take-off is absorbing), time-constant variables
   (:data:`~clusterpreneur.study.codebook.TIME_CONSTANT`: region, country, start year, ...) the
   same in every wave, and region-level variables constant within a region in each wave;

and raises one :class:`~clusterpreneur.errors.SurveyValidationError` listing every problem.
Rows are named as the user counts them in the file (:class:`~clusterpreneur.files.RowNumbers`:
file line of a CSV, sheet row of a workbook, else data row). The rules are vectorised, so a
survey of 200,000 initiatives validates in a few seconds.
The returned frame has the codebook columns in codebook order (absent optional columns
added as all-missing, except ``wave``: a cross-sectional survey stays one), then any unknown
extra columns unchanged, and the input's index.
The input frame is never modified.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc
from pandera.errors import SchemaErrors

from clusterpreneur.errors import Problem, SurveyValidationError
from clusterpreneur.files import RowNumbers
from clusterpreneur.study.codebook import (
    BOARD_COLUMNS,
    CODEBOOK,
    SHARE_TOLERANCE,
    TIME_CONSTANT,
    WAVE,
    Variable,
)

WHOLE_KINDS = frozenset({"binary", "ordinal", "nominal", "count", "year"})
LEVEL_ID = {"region": "region_id", "country": "country_id"}
MOVED = " (an initiative that moved is a new initiative: give it its own id)"


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


def normalised_label(text: pd.Series) -> pd.Series:
    """Text as labels are compared: lower case, single spaces, no spaces around."""
    return text.str.strip().str.lower().str.replace(r"\s+", " ", regex=True)


@cache
def label_codes(name: str) -> dict[str, int]:
    """The codebook labels of a coded variable (and of its missing codes), normalised, to their codes."""
    var = CODEBOOK[name]
    labels = {**var.labels, **(var.missing_codes if var.nullable else {})}
    return {" ".join(text.lower().split()): code for code, text in labels.items()}


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
    """Builds Problems that name the source, the row (as the user counts it) and the initiative."""

    def __init__(self, source: str, ids: pd.Series | None, rows: RowNumbers, n: int):
        self.source = source
        self.ids = ids
        self.rows = rows
        self.n = n
        self.problems: list[Problem] = []
        self.seen: set[tuple[int | None, str | None]] = set()
        self.by_column: dict[str | None, set[int]] = {}

    def where(self, pos: int) -> str:
        """How a message names the row at position ``pos``: "file line 7", "data row 6"."""
        return self.rows.label(pos)

    def flagged_mask(self, *columns: str) -> np.ndarray:
        """Rows where a cell in ``columns`` already has a problem."""
        mask = np.zeros(self.n, dtype=bool)
        for c in columns:
            if self.by_column.get(c):
                mask[list(self.by_column[c])] = True
        return mask

    def add(self, pos: int | None, column: str | None, value: object, rule: str, fix: str) -> None:
        key = (pos, column)
        if pos is not None and key in self.seen:
            return  # one problem per cell is enough
        self.seen.add(key)
        ident, line = None, None
        if pos is not None:
            self.by_column.setdefault(column, set()).add(pos)
            if self.ids is not None:
                raw = self.ids.iloc[pos]
                ident = None if pd.isna(raw) else str(raw)
            if self.rows.unit != "data row":
                line = self.rows.number(pos)
        self.problems.append(
            Problem(
                self.source,
                None if pos is None else pos + 1,
                ident,
                column,
                _plain(value),
                rule,
                fix,
                line,
                self.rows.unit,
            )
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


def _numbers(text: pd.Series) -> pd.Series:
    """Text to float64 (missing where it is not a number): Arrow's parser, pandas' if Arrow refuses."""
    try:
        parsed = pc.cast(pyarrow.array(text), pyarrow.float64())
        return pd.Series(parsed.to_numpy(zero_copy_only=False), index=text.index, dtype="float64")
    except (pyarrow.ArrowInvalid, pyarrow.ArrowNotImplementedError, TypeError):
        return pd.to_numeric(text, errors="coerce").astype("float64")


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
        numbers = _numbers(stripped)
        text = stripped.notna().to_numpy() & numbers.isna().to_numpy()
        if var.is_coded and text.any():  # the codebook's own labels: "strongly agree" -> 5
            codes = normalised_label(stripped[text]).map(label_codes(var.name)).astype("float64")
            numbers.loc[codes.index] = codes
            text = stripped.notna().to_numpy() & numbers.isna().to_numpy()
        how = (
            "a number or its label, e.g. " + repr(next(iter(var.labels.values())))
            if var.is_coded
            else "a number"
        )
        for pos in np.flatnonzero(text):
            out.add(
                int(pos),
                var.name,
                raw.iloc[pos],
                var.rule(),
                f"Replace the text by {how}. {value_fix(var)}",
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


def _first_of_group(groups: pd.Series, valid: np.ndarray) -> np.ndarray:
    """For each valid row, the position of the first valid row of its group (-1 elsewhere)."""
    codes, _ = pd.factorize(groups)
    ok = valid & (codes >= 0)
    first = np.full(len(codes), -1)
    if ok.any():
        pos = np.flatnonzero(ok)
        found, at = np.unique(codes[pos], return_index=True)
        lookup = np.full(codes.max() + 1, -1)
        lookup[found] = pos[at]
        first[ok] = lookup[codes[ok]]
    return first


def is_panel(df: pd.DataFrame) -> bool:
    """True when ``df`` is a panel of survey waves: it has a ``wave`` column with some value."""
    return WAVE in df and bool(df[WAVE].notna().any())


def _panel_keys(df: pd.DataFrame, *columns: str) -> pd.Series:
    """One key per row from ``columns`` plus the wave in a panel (missing when a part is missing)."""
    cols = [*columns, WAVE] if is_panel(df) else list(columns)
    parts = [df[c].astype("string") for c in cols]
    key = parts[0]
    for part in parts[1:]:
        key = key + "\x1f" + part
    return key


def _check_unique_ids(df: pd.DataFrame, out: _Collector) -> None:
    if "initiative_id" not in df:
        return
    panel = is_panel(df)
    ids = df["initiative_id"]
    keys = _panel_keys(df, "initiative_id")
    valid = keys.notna().to_numpy() & ~out.flagged_mask(WAVE)
    first = _first_of_group(keys, valid)
    for pos in np.flatnonzero(valid & (first != np.arange(len(ids)))):
        if panel:
            rule, fix = (
                "one row per initiative and wave",
                f"Initiative {ids.iloc[pos]!r} already has a row for wave {_plain(df[WAVE].iloc[pos])} in "
                f"{out.where(first[pos])}: remove the duplicated row or correct its wave.",
            )
        else:
            rule, fix = (
                "initiative_id is unique",
                f"The id is already used in {out.where(first[pos])}: give each initiative its own id "
                "or remove the duplicated row.",
            )
        out.add(int(pos), "initiative_id", ids.iloc[pos], rule, fix)


def _check_one_country(df: pd.DataFrame, out: _Collector) -> None:
    if "region_id" not in df or "country_id" not in df:
        return
    region, country = df["region_id"], df["country_id"]
    valid = region.notna().to_numpy() & country.notna().to_numpy()
    valid &= ~out.flagged_mask("region_id", "country_id")
    first = _first_of_group(region, valid)
    countries = country.to_numpy(dtype=object, na_value=None)
    differs = valid.copy()
    differs[valid] = countries[valid] != countries[first[valid]]
    for pos in np.flatnonzero(differs):
        home = int(first[pos])
        out.add(
            int(pos),
            "country_id",
            countries[pos],
            "a region belongs to exactly one country",
            f"Region {region.iloc[pos]!r} is in country {countries[home]!r} in {out.where(home)}: correct "
            "the country, or give regions of different countries different region_id values.",
        )


def _check_constant_within(
    df: pd.DataFrame, out: _Collector, name: str, group_col: str, rule: str, fix: str
) -> None:
    """Rows whose ``name`` differs from the first row of their group (by ``group_col``, and by
    wave in a panel when ``group_col`` is not the initiative); missing values are ignored.
    ``fix`` is formatted with ``where`` (the first row), ``group``, ``value`` (the first row's)."""
    col = df[name]
    numeric = pd.api.types.is_numeric_dtype(col.dtype)
    values = (
        col.to_numpy(dtype="float64", na_value=np.nan)
        if numeric
        else col.to_numpy(dtype=object, na_value=None)
    )
    missing = pd.isna(col).to_numpy()
    keys = df[group_col] if group_col == "initiative_id" else _panel_keys(df, group_col)
    valid = keys.notna().to_numpy() & ~missing & ~out.flagged_mask(group_col, name, WAVE)
    first = _first_of_group(keys, valid)
    differs = valid.copy()
    differs[valid] = values[valid] != values[first[valid]]
    for pos in np.flatnonzero(differs):
        ref = int(first[pos])
        out.add(
            int(pos),
            name,
            values[pos],
            rule,
            fix.format(
                where=out.where(ref).capitalize(), group=df[group_col].iloc[pos], value=_plain(values[ref])
            ),
        )


def _check_group_constant(df: pd.DataFrame, out: _Collector) -> None:
    """Region- and country-level variables must agree within a region or country (in each wave of
    a panel; missing ignored)."""
    in_wave = " in each wave" if is_panel(df) else ""
    for name, var in CODEBOOK.items():
        group_col = LEVEL_ID.get(var.level)
        if var.kind == "id" or group_col is None or name not in df or group_col not in df:
            continue
        _check_constant_within(
            df,
            out,
            name,
            group_col,
            f"{var.level}-level variable is constant within a {var.level}{in_wave}",
            f"{{where}} of {var.level} {{group!r}} has {{value!r}}: give every initiative of the "
            f"{var.level} the same value{in_wave}.",
        )


def _check_panel(df: pd.DataFrame, out: _Collector) -> None:
    """The panel's own rules (nothing for a cross-sectional survey): every row has its wave,
    time-constant variables are the same in every wave, waves follow each other without gaps and
    in time order, and there is no row after take-off."""
    if not is_panel(df) or "initiative_id" not in df:
        return
    for pos in np.flatnonzero(df[WAVE].isna().to_numpy() & ~out.flagged_mask(WAVE)):
        out.add(
            int(pos),
            WAVE,
            None,
            "every row of a panel has its wave",
            "Give the row its survey wave (1, 2, ...), or leave the wave column out if the survey is "
            "cross-sectional.",
        )
    for name in TIME_CONSTANT:
        if name in df:
            moved = MOVED if name in LEVEL_ID.values() else ""
            _check_constant_within(
                df,
                out,
                name,
                "initiative_id",
                f"{name} is the same in every wave of an initiative",
                f"{{where}} of initiative {{group!r}} has {{value!r}}: give every wave of the initiative the "
                f"same {name}{moved}.",
            )
    _check_wave_sequence(df, out)


def _check_wave_sequence(df: pd.DataFrame, out: _Collector) -> None:
    """Within each initiative (rows in wave order): no gap between waves, a later survey_year in a
    later wave, and no row after a wave with take-off."""
    ids, wave = df["initiative_id"], df[WAVE].astype("float64").to_numpy(na_value=np.nan)
    ok = ids.notna().to_numpy() & ~np.isnan(wave) & ~out.flagged_mask("initiative_id", WAVE)
    pos = np.flatnonzero(ok)
    codes, _ = pd.factorize(ids.iloc[pos])
    pos = pos[np.lexsort((wave[pos], codes))]  # by initiative, then wave
    codes, _ = pd.factorize(ids.iloc[pos])
    same = codes[1:] == codes[:-1]
    prev, this = pos[:-1][same], pos[1:][same]
    gap = wave[this] > wave[prev] + 1
    for p, q in zip(prev[gap], this[gap], strict=True):
        missing = ", ".join(str(int(w)) for w in range(int(wave[p]) + 1, int(wave[q])))
        out.add(
            int(q),
            WAVE,
            wave[q],
            "an initiative's waves follow each other without gaps",
            f"Initiative {ids.iloc[q]!r} has no row for wave {missing} between wave {int(wave[p])} "
            f"({out.where(p)}) and this one: add the missing row, or, if the initiative was not surveyed "
            f"then, remove its rows after wave {int(wave[p])} (the hazard of take-off needs every wave "
            "an initiative was at risk).",
        )
    if "survey_year" in df:
        year = df["survey_year"].astype("float64").to_numpy(na_value=np.nan)
        late = ~(year[this] > year[prev]) & ~np.isnan(year[this]) & ~np.isnan(year[prev])
        for p, q in zip(prev[late], this[late], strict=True):
            out.add(
                int(q),
                "survey_year",
                year[q],
                "a later wave has a later survey_year",
                f"Wave {int(wave[p])} of initiative {ids.iloc[q]!r} ({out.where(p)}) was surveyed in "
                f"{int(year[p])}, wave {int(wave[q])} in {int(year[q])}: correct the wave or the year.",
            )
    if "takeoff" in df:
        hit = pd.Series((df["takeoff"].astype("float64").to_numpy(na_value=np.nan) == 1)[pos])
        after = (hit.astype(int).groupby(codes).cumsum() - hit.astype(int)).to_numpy() > 0
        first_hit = pd.Series(np.where(hit, pos, len(df))).groupby(codes).transform("min").to_numpy()
        for q, p in zip(pos[after], first_hit[after], strict=True):
            out.add(
                int(q),
                WAVE,
                wave[q],
                "no row after take-off (take-off is absorbing: an initiative leaves the panel when it "
                "takes off)",
                f"Initiative {ids.iloc[q]!r} took off in wave {int(wave[p])} ({out.where(p)}): remove this "
                "row, or correct the take-off if the initiative had not taken off then.",
            )


def _check_board_shares(df: pd.DataFrame, out: _Collector) -> None:
    if not all(c in df for c in BOARD_COLUMNS):
        return
    shares = df[list(BOARD_COLUMNS)].astype("float64")
    total = shares.sum(axis=1, min_count=len(BOARD_COLUMNS))
    bad = (total.notna() & ((total - 1.0).abs() > SHARE_TOLERANCE)).to_numpy()
    for pos in np.flatnonzero(bad & ~out.flagged_mask(*BOARD_COLUMNS)):
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
    for pos in np.flatnonzero((a > b).to_numpy() & ~out.flagged_mask(low, high)):
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
    _check_panel,
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


def check_survey(
    df: pd.DataFrame, source: str = "<data frame>", rows: RowNumbers | None = None
) -> tuple[pd.DataFrame, list[Problem]]:
    """Convert ``df`` to codebook dtypes and return it with every problem found (no raising).

    ``rows`` says how the file numbers the frame's rows (default: data rows 1, 2, ...).
    """
    work = df.reset_index(drop=True)
    ids = work["initiative_id"].astype("string") if "initiative_id" in work else None
    out = _Collector(source, ids, rows or RowNumbers(), len(work))
    converted = {
        name: _convert(work[name], var, out)
        if name in work
        else pd.Series(None, index=work.index, dtype=codebook_dtype(var))
        for name, var in CODEBOOK.items()
        if name in work or not (var.required or name == WAVE)  # a cross-section gets no wave column
    }
    frame = pd.DataFrame(converted, index=work.index)
    del converted  # the frame holds its own copy: free the columns before pandera copies again
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


__all__ = ["check_survey", "codebook_dtype", "is_panel", "label_codes", "survey_schema", "validate_survey"]
