"""What a model formula turns a data frame into: the design of a hierarchical GLM.

A :class:`Design` holds the common (fixed-effects) matrix ``X`` without its intercept, the
response (and binomial trials), and one :class:`GroupTerm` per grouping factor with its levels,
the level code of every row and its own small matrix ``Z`` (``1`` for a varying intercept, then
varying slopes). :class:`Multilinear` writes ``X`` and every ``Z`` as multilinear functions of
variables whose values are parameters (a latent score, imputed values). Built by
:mod:`clusterpreneur.models.formula`; this module only holds and combines arrays.

Scales. Standardised columns are ``(x - center) / scale``; an interaction column is the product
of its standardised components. :attr:`Column.scale` is the product of the components' scales,
so ``coefficient / scale`` is the effect per original unit (per unit of each component for an
interaction). 0/1 columns (binary variables, dummies of a categorical) have ``scale == 1``: one
scale. A main effect that also enters an interaction is its effect where the other components
are zero on this scale: at the *centre* (mean) of a centred component (:attr:`Column.centred`),
but at 0 of a 0/1 column, which is never centred (with ``breadth + breadth:peripheral`` the
coefficient of ``breadth`` is its effect where ``peripheral`` is 0). An interaction's own
coefficient / scale equals the interaction coefficient of the same model on the uncentred
variables. The intercept is the linear predictor at the centres (and at the
reference levels) and has no original-scale counterpart of its own.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from clusterpreneur.models.formula import Encoding

ColumnKind = Literal["continuous", "binary", "categorical", "interaction"]


@dataclass(frozen=True)
class Column:
    """One column of the common design matrix ``X``."""

    name: str  # "x", "period[p2]", "x:z"
    term: str  # the formula term it comes from: "x", "period", "x:z"
    kind: ColumnKind
    components: tuple[str, ...]  # the data columns it is a product of
    binary: bool  # 0/1 by construction (binary variables and dummies only): never scaled
    scale: float  # coefficient / scale = effect per original unit; 1 for an unscaled column
    centred: bool  # a component was centred: see the module docstring


@dataclass(frozen=True, eq=False)
class GroupTerm:
    """Everything about one grouping factor: its levels, each row's level and its ``Z`` columns.

    ``codes[i]`` indexes ``levels``; a level not seen when the encoding was learned (only possible
    for new data) has code ``-1``, its label in ``row_levels`` and ``unseen[i]`` true, so
    prediction can draw its effect from the population (one draw per distinct new label).
    """

    factor: str  # the user's name: "herd", "country:region"
    levels: tuple[str, ...]  # plain str (nutpie rejects numpy scalars as coords)
    codes: np.ndarray  # int64, one per row
    row_levels: tuple[str, ...]  # each row's level label, seen or not
    columns: tuple[str, ...]  # "1" for the varying intercept, then slopes: "x", "period[p2]"
    Z: np.ndarray  # float64, rows x len(columns)

    @property
    def unseen(self) -> np.ndarray:
        """Rows whose level was not in the data the encoding was learned from."""
        return self.codes < 0

    @property
    def new_levels(self) -> tuple[str, ...]:
        """The distinct unseen labels, sorted."""
        return tuple(sorted({self.row_levels[i] for i in np.flatnonzero(self.unseen)}))

    @property
    def intercept(self) -> bool:
        return "1" in self.columns


@dataclass(frozen=True, eq=False)
class Design:
    """The arrays of one hierarchical GLM for the rows of one data frame (see the module docstring)."""

    encoding: Encoding  # formula, options and everything learned from the fit data (serialisable)
    index: pd.Index  # the data frame's row labels
    X: np.ndarray  # float64, rows x columns, NaN where a component is missing
    columns: tuple[Column, ...]
    intercept: bool  # the linear predictor has a common intercept (not a column of X)
    groups: tuple[GroupTerm, ...]
    response: str | None  # None when built for prediction
    y: np.ndarray | None  # float64 (codes of an ordered categorical response)
    response_levels: tuple | None  # categories of an ordered categorical response
    trials_name: str | None
    trials: np.ndarray | None
    missing: Mapping[str, np.ndarray]  # variable -> rows where it is missing (its columns are NaN)

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def binary(self) -> tuple[str, ...]:
        """Columns that are 0/1 by construction (binary variables, dummies, their products)."""
        return tuple(c.name for c in self.columns if c.binary)

    @property
    def scales(self) -> np.ndarray:
        """Per column: divide a coefficient by it for the effect per original unit."""
        return np.array([c.scale for c in self.columns], dtype="float64")

    def group(self, factor: str) -> GroupTerm:
        for g in self.groups:
            if g.factor == factor:
                return g
        raise KeyError(f"no grouping factor {factor!r}; the design has {[g.factor for g in self.groups]}")

    def frame(self) -> pd.DataFrame:
        """``X`` as a data frame on the data's index (no intercept column)."""
        return pd.DataFrame(self.X, index=self.index, columns=list(self.column_names))

    def to_original(self, coefficients: np.ndarray) -> np.ndarray:
        """Coefficients (last axis over columns) per original unit: ``coefficients / scale``."""
        return np.asarray(coefficients, dtype="float64") / self.scales


Part = tuple[str, ...]  # a sorted subset of the decomposed variables; () is the constant part


@dataclass(frozen=True, eq=False)
class Multilinear:
    """``X`` and each group's ``Z`` as multilinear functions of some variables' values.

    ``X = sum over parts S of common[S] * prod(v[:, None] for v in S)``, the same for
    ``groups[factor]``; the variables are on the standardised scale the design uses (a latent
    variable or a variable that is not standardised: its own scale). Parts that are zero
    everywhere are left out, so ``common[("v",)]`` exists only if ``v`` enters ``X``.
    """

    variables: tuple[str, ...]
    common: Mapping[Part, np.ndarray]
    groups: Mapping[str, Mapping[Part, np.ndarray]]

    @staticmethod
    def parts(variables: tuple[str, ...]) -> list[Part]:
        """Every subset of ``variables`` in a fixed order (by size, then as listed)."""
        return [p for k in range(len(variables) + 1) for p in itertools.combinations(variables, k)]

    @staticmethod
    def combine(parts: Mapping[Part, np.ndarray], values: Mapping[str, np.ndarray]) -> np.ndarray:
        """Evaluate one multilinear matrix at the given values (one per row for each variable)."""
        out = None
        for part, mat in parts.items():
            term = mat
            for v in part:
                term = term * np.asarray(values[v], dtype="float64")[:, None]
            out = term if out is None else out + term
        return out

    def evaluate(self, values: Mapping[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``X`` and ``{factor: Z}`` at the given variable values."""
        zs = {f: self.combine(p, values) for f, p in self.groups.items()}
        return self.combine(self.common, values), zs
