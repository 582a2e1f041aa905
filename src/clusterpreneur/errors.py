"""Package-specific exceptions. Every message says what is wrong and what to do."""

from __future__ import annotations

from dataclasses import dataclass


class ClusterpreneurError(Exception):
    """Base class of every error the package raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One problem found in an input file."""

    file: str
    row: int | None  # 1-based data row (header not counted), None for file-level problems
    initiative_id: str | None
    column: str | None
    value: object
    rule: str
    fix: str

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.initiative_id is not None:
            where.append(f"initiative {self.initiative_id}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        value = "" if self.value is None else f": value {self.value!r}"
        return f"{', '.join(where)}{value} breaks the rule '{self.rule}'. {self.fix}"


class SurveyValidationError(ClusterpreneurError):
    """A survey file breaks the codebook; ``problems`` lists every problem found at once."""

    def __init__(self, problems: list[Problem], source: str):
        self.problems = list(problems)
        self.source = source
        lines = [f"{source}: {len(self.problems)} problem(s) found; the file was not changed."]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class MappingError(ClusterpreneurError):
    """A column-mapping file is malformed or does not fit the data."""


class UnsupportedFormatError(ClusterpreneurError):
    """The file's extension is not one the readers know."""


class SpecError(ClusterpreneurError):
    """A model specification does not fit the data or is inconsistent."""


class FitIntegrityError(ClusterpreneurError):
    """A saved fit does not match its specification or data (hash mismatch)."""


class ConvergenceError(ClusterpreneurError):
    """A fit failed the convergence gate and reporting was not explicitly overridden."""
