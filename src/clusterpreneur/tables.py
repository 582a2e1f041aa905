"""One tidy table format for every model's estimates, frequentist or Bayesian.

Every fitted model, whatever its family, is reported as rows of :data:`COLUMNS`:

``outcome``
    the modelled outcome column (``takeoff``, ``perf_growth``, ...);
``model``
    the model's short name (``logit``, ``ordered_logit``, ``bayes_mixed_glm``, ...);
``term``
    the parameter: a predictor of the shared predictor statement (``breadth:peripheral``),
    ``Intercept``, a cutpoint (``cut 1|2``) or a scale parameter (``sd(country)``);
``scale``
    ``"standardised"`` for the coefficient on the standardised design (and for every
    parameter with no original-scale version), ``"original"`` for the same coefficient per
    original unit of the predictor (see :func:`clusterpreneur.models.hypotheses.original_scale_factor`),
    ``"unscaled"`` for a parameter with one scale only: a term of 0/1 or dummy columns (per change
    from 0 to 1, in every table), an unstandardised predictor and the SD of varying intercepts
    (Bayesian tables, see :func:`clusterpreneur.models.hypotheses.coefficient_table`);
``estimate``, ``std_error``, ``ci_lower``, ``ci_upper``
    point estimate, standard error and 95% interval; a Bayesian model puts its posterior
    mean, posterior standard deviation and 95% credible interval here;
``p_value``
    two-sided p-value where the model has one (missing for Bayesian models);
``n``
    observations used by the fit (after listwise deletion);
``converged``
    the fitter's convergence flag (``False`` also for a model that failed outright);
``warnings``
    every problem the fit signalled (separation, non-convergence, singular fits, errors),
    joined by ``" | "``; empty when there was none.

The exporters write CSV, Markdown and LaTeX atomically through :func:`clusterpreneur.io.write_atomic`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clusterpreneur.files import csv_bytes
from clusterpreneur.io import write_atomic

COLUMNS: tuple[str, ...] = (
    "outcome",
    "model",
    "term",
    "scale",
    "estimate",
    "std_error",
    "ci_lower",
    "ci_upper",
    "p_value",
    "n",
    "converged",
    "warnings",
)
"""The tidy table's columns, in order."""

SCALES: tuple[str, ...] = ("standardised", "original", "unscaled")
"""Allowed values of the ``scale`` column."""

WARNING_SEPARATOR = " | "
"""Joins several warnings in one ``warnings`` cell."""

_FLOAT_COLUMNS = ("estimate", "std_error", "ci_lower", "ci_upper", "p_value")


def empty_table() -> pd.DataFrame:
    """A tidy table with no rows and the right dtypes."""
    return tidy(pd.DataFrame({c: [] for c in COLUMNS}))


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Coerce ``frame`` to the tidy format: exactly :data:`COLUMNS`, in order, with fixed dtypes.

    Raises ``ValueError`` when a column is missing or ``scale`` holds an unknown value.
    """
    missing = [c for c in COLUMNS if c not in frame]
    if missing:
        raise ValueError(f"tidy table lacks columns {missing}; it needs {list(COLUMNS)}")
    out = frame.loc[:, list(COLUMNS)].copy().reset_index(drop=True)
    for c in ("outcome", "model", "term", "scale", "warnings"):
        out[c] = out[c].fillna("").astype("string")
    for c in _FLOAT_COLUMNS:
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    out["n"] = pd.to_numeric(out["n"], errors="coerce").astype("Int64")
    out["converged"] = out["converged"].astype("boolean")
    bad = sorted(set(out["scale"].dropna()) - set(SCALES))
    if bad:
        raise ValueError(f"unknown scale value(s) {bad}; use one of {SCALES}")
    return out


def rows(
    *,
    outcome: str,
    model: str,
    terms: Sequence[str],
    estimate: Iterable[float],
    std_error: Iterable[float] | None = None,
    ci_lower: Iterable[float] | None = None,
    ci_upper: Iterable[float] | None = None,
    p_value: Iterable[float] | None = None,
    n: int | None = None,
    converged: bool | None = True,
    warnings: Sequence[str] | str = (),
    scale: str = "standardised",
) -> pd.DataFrame:
    """Tidy rows for one model's parameters (one row per term); missing pieces become NaN.

    Without ``ci_lower``/``ci_upper`` the 95% interval is the normal one, estimate +- 1.96 SE.
    """
    k = len(terms)

    def vec(x: Iterable[float] | None) -> np.ndarray:
        if x is None:
            return np.full(k, np.nan)
        arr = np.asarray(list(x) if not isinstance(x, np.ndarray | pd.Series) else x, dtype="float64")
        if arr.shape != (k,):
            raise ValueError(f"expected {k} values for {model}/{outcome}, got shape {arr.shape}")
        return arr

    est, se = vec(estimate), vec(std_error)
    z = 1.959963984540054
    lo = vec(ci_lower) if ci_lower is not None else est - z * se
    hi = vec(ci_upper) if ci_upper is not None else est + z * se
    text = warnings if isinstance(warnings, str) else WARNING_SEPARATOR.join(dict.fromkeys(warnings))
    return tidy(
        pd.DataFrame(
            {
                "outcome": outcome,
                "model": model,
                "term": list(terms),
                "scale": scale,
                "estimate": est,
                "std_error": se,
                "ci_lower": lo,
                "ci_upper": hi,
                "p_value": vec(p_value),
                "n": pd.array([n] * k, dtype="Int64"),
                "converged": pd.array([converged] * k, dtype="boolean"),
                "warnings": text,
            }
        )
    )


def failure_row(outcome: str, model: str, message: str, n: int | None = None) -> pd.DataFrame:
    """One row recording that a model could not be fitted at all (term ``(model failed)``)."""
    return rows(
        outcome=outcome,
        model=model,
        terms=["(model failed)"],
        estimate=[np.nan],
        n=n,
        converged=False,
        warnings=[message],
    )


def concat(tables: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Stack tidy tables (possibly from different model families) into one."""
    parts = [tidy(t) for t in tables if t is not None and len(t)]
    return tidy(pd.concat(parts, ignore_index=True)) if parts else empty_table()


def format_cell(value: Any, digits: int = 3) -> str:
    """One table cell as text: numbers rounded, missing values empty, booleans yes/no."""
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return ""
        if v.is_integer() and abs(v) < 1e9:
            return str(int(v)) if abs(v) >= 1000 else f"{v:.{digits}f}"
        if v != 0 and (abs(v) >= 10 ** (digits + 3) or abs(v) < 10 ** (-digits)):
            return f"{v:.{digits}g}" if abs(v) >= 1 else f"{v:.{max(digits - 1, 1)}e}"
        return f"{v:.{digits}f}"
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def format_p(value: Any, digits: int = 3) -> str:
    """A p-value with a floor: ``< 0.001`` below 10**-digits, else ``digits`` decimals."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    v = float(value)
    return f"< {10**-digits:.{digits}f}" if v < 10**-digits else f"{v:.{digits}f}"


def _cells(table: pd.DataFrame, digits: int) -> list[list[str]]:
    """Text cells: counts as integers, p-values with a floor, other numbers to ``digits`` decimals."""
    t = tidy(table)
    p_col = list(COLUMNS).index("p_value")
    return [
        [format_p(v, digits) if j == p_col else format_cell(v, digits) for j, v in enumerate(row)]
        for row in t.itertuples(index=False, name=None)
    ]


def to_csv_bytes(table: pd.DataFrame) -> bytes:
    """Deterministic CSV (full precision, Unix newlines, empty cells for missing, no formula cells)."""
    return csv_bytes(tidy(table))


def to_markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub-flavoured Markdown table (numbers rounded to ``digits``; ``|`` escaped)."""
    head = "| " + " | ".join(COLUMNS) + " |"
    numeric = set(_FLOAT_COLUMNS) | {"n"}
    rule = "|" + "|".join("---:" if c in numeric else "---" for c in COLUMNS) + "|"
    body = [
        "| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in row) + " |"
        for row in _cells(table, digits)
    ]
    return "\n".join([head, rule, *body]) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters in plain text."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(
    table: pd.DataFrame, digits: int = 3, caption: str | None = None, label: str | None = None
) -> str:
    """A ``longtable`` (needs ``\\usepackage{longtable}``) with every tidy column; text escaped."""
    numeric = set(_FLOAT_COLUMNS) | {"n"}
    spec = "".join("r" if c in numeric else "l" for c in COLUMNS[:-1]) + "p{5cm}"
    head = " & ".join(latex_escape(c) for c in COLUMNS) + r" \\"
    lines = [rf"\begin{{longtable}}{{{spec}}}"]
    if caption:
        lines.append(
            rf"\caption{{{latex_escape(caption)}}}" + (rf"\label{{{label}}}" if label else "") + r"\\"
        )
    lines += [r"\hline", head, r"\hline", r"\endhead"]
    lines += [" & ".join(latex_escape(cell) for cell in row) + r" \\" for row in _cells(table, digits)]
    lines += [r"\hline", r"\end{longtable}"]
    return "\n".join(lines) + "\n"


def write_tables(
    table: pd.DataFrame,
    directory: str | Path,
    stem: str,
    digits: int = 3,
    caption: str | None = None,
) -> dict[str, Path]:
    """Write ``<stem>.csv``, ``<stem>.md`` and ``<stem>.tex`` into ``directory`` atomically.

    Returns ``{"csv": path, "markdown": path, "latex": path}``.
    """
    directory = Path(directory)
    return {
        "csv": write_atomic(directory / f"{stem}.csv", to_csv_bytes(table)),
        "markdown": write_atomic(directory / f"{stem}.md", to_markdown(table, digits)),
        "latex": write_atomic(
            directory / f"{stem}.tex", to_latex(table, digits, caption=caption, label=f"tab:{stem}")
        ),
    }


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a tidy table written by :func:`write_tables` (CSV) back with the right dtypes."""
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={"warnings": "string"})
    frame["converged"] = frame["converged"].map({True: True, False: False, "True": True, "False": False})
    return tidy(frame)
