"""Model formulas: lme4/brms-style text -> the :class:`~clusterpreneur.models.design.Design` of a GLMM.

The text is parsed by `formulae` (the parser bambi uses); this module adds what a Bayesian
build needs on top: standardisation of continuous predictors, a fixed categorical encoding for
prediction, group levels as plain strings, missing-value masks, clear errors and a
multilinear decomposition for latent or imputed variables.

Examples::

    from clusterpreneur.models.formula import Formula

    f = Formula("p(incidence, size) ~ C(period) + (1 | herd)")      # binomial with trials
    d = f.design(df)              # d.X, d.column_names == ("period[2]", "period[3]", "period[4]")
    d.group("herd").codes         # level index of every row; d.group("herd").levels: str labels
    Formula("log_radon ~ floor + uranium + (1 + floor | county)").design(radon)
    Formula("takeoff ~ breadth * peripheral + C(initiator, Treatment(2)) + (1 | country:region)")
    Formula("y ~ x + z", standardize=False)          # or standardize=["x"]: only x
    new = d.encoding.design(new_rows, response=False) # prediction: same scaling and coding
    new.group("herd").unseen                          # rows whose herd was not in the fit data

What the formula may contain:

- ``y ~ ...`` (the response: numeric, 0/1, or an ordered categorical), or ``p(y, n)`` for
  binomial counts (``y`` successes of ``n`` trials; or ``Formula(..., trials="n")``);
- column names: numeric columns are continuous predictors (standardised by default: mean 0,
  SD 1 over the fit rows; 0/1 columns are never scaled), text, categorical and object columns
  are categorical; ``C(x)`` makes a numeric code categorical. A categorical enters as dummy
  columns named ``x[level]`` against a reference level: the first level (sorted, or the order
  of an ordered categorical), or the one named with formulae's syntax ``C(x, Treatment("b"))``
  or ``T(x, "b")``; only this (treatment) coding is accepted;
- ``x:z`` (interaction: the product of the standardised components), ``x*z`` (``x + z + x:z``),
  ``0 +`` or ``- 1`` (no intercept);
- ``(1 + x | g)`` varying intercept and slope by ``g``, ``(1 | g:h)`` one effect per observed
  combination of ``g`` and ``h`` (nested groups; levels named ``"g1:h1"``). Terms with the same
  factor form one :class:`GroupTerm`; ``(1 | g) + (0 + x | g)`` and ``(1 + x | g)`` are the same
  design (formulae does not tell them apart): whether the effects are correlated is the
  model's choice, not the formula's.

Transformations inside the formula (``np.log(x)``, ``I(x**2)``, splines, ``scale(x)``) are
refused: make a column (``df["log_x"] = np.log(df["x"])``) and use its name, so standardisation,
original-scale coefficients and the latent decomposition are all defined per column.

State. :class:`Formula` is the user's intent (text and options, serialisable, hashable).
:meth:`Formula.design` learns an :class:`Encoding` from the data (categorical levels, group
levels, centre and scale of each standardised column); the encoding is serialisable too and
rebuilds the same design, byte for byte, from the same data, or the design of new data.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import formulae
import numpy as np
import pandas as pd
from formulae.environment import Environment
from formulae.terms import Call, Intercept, Term
from formulae.terms.call_resolver import LazyVariable

from clusterpreneur.errors import SpecError
from clusterpreneur.models.design import Column, Design, GroupTerm, Multilinear, Part
from clusterpreneur.standardize import Standardizer

CATEGORICAL_CALLS = ("C", "T")
"""formulae's calls that make a categorical with treatment (reference-level) coding."""

Level = str | int | float
"""A categorical level as stored in JSON: text, or a number (an integral number as int)."""


def _canonical(value) -> Level:
    """One representation per level: integral numbers as int, other numbers as float, text as str."""
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return int(value) if float(value).is_integer() else float(value)
    return str(value)


def _sort_key(level: Level) -> tuple[int, Level]:
    return (isinstance(level, str), level)


def _rows(mask: np.ndarray, index: pd.Index, limit: int = 5) -> str:
    rows = [repr(r) for r in index[np.flatnonzero(mask)[:limit]]]
    more = f" and {int(mask.sum()) - limit} more" if mask.sum() > limit else ""
    return f"row(s) {', '.join(rows)}{more}"


def _is_numeric(s: pd.Series) -> bool:
    return (pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)) and not isinstance(
        s.dtype, pd.CategoricalDtype
    )


def _as_float(s: pd.Series) -> np.ndarray:
    return s.astype("float64").to_numpy(dtype="float64", na_value=np.nan)


def _canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class _Component:
    """One factor of a formula term: a column, or a categorical call on one column."""

    text: str  # as formulae names it: "x", "C(k)", 'T(f, "b")'
    variable: str  # the data column
    categorical_call: bool


@dataclass(frozen=True)
class _Term:
    text: str  # formulae's term name: "x:C(k)"
    components: tuple[_Component, ...]

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(c.variable for c in self.components)

    @property
    def name(self) -> str:
        """The readable name: categorical calls replaced by their column (``x:k``)."""
        return ":".join(c.variable for c in self.components)


@dataclass(frozen=True)
class _Parsed:
    response: str
    trials: str | None
    rhs: str
    intercept: bool
    common: tuple[_Term, ...]
    groups: tuple[tuple[str, tuple[str, ...], tuple[_Term | None, ...]], ...]  # factor, vars, exprs

    @property
    def components(self) -> tuple[_Component, ...]:
        """Every component of the common terms and of the group terms' expressions, in order."""
        terms = [*self.common, *(e for _, _, exprs in self.groups for e in exprs if e is not None)]
        return tuple(c for t in terms for c in t.components)

    @property
    def predictors(self) -> tuple[str, ...]:
        """Columns entering ``X`` or a ``Z``, in order of first use."""
        return tuple(dict.fromkeys(c.variable for c in self.components))

    @property
    def factors(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v for _, vs, _ in self.groups for v in vs))


def _component(obj, formula: str) -> _Component:
    if isinstance(obj, Call):
        callee, args = obj.call.callee, obj.call.args
        if callee not in CATEGORICAL_CALLS or not args or not isinstance(args[0], LazyVariable):
            raise SpecError(
                f"formula {formula!r}: {obj.name!r} is a transformation; the formula takes column names, "
                "C(column) / C(column, Treatment(level)) / T(column, level) for categoricals and "
                "p(successes, trials) as the response. Make a column (e.g. df['log_x'] = np.log(df['x'])) "
                "and use its name."
            )
        return _Component(obj.name, args[0].name, True)
    return _Component(obj.name, obj.name, False)


def _term(term, formula: str) -> _Term:
    return _Term(term.name, tuple(_component(c, formula) for c in term.components))


def _parse(text: str, trials: str | None) -> _Parsed:
    if not isinstance(text, str) or "~" not in text:
        raise SpecError(f"formula {text!r} has no '~': write 'response ~ predictors', e.g. 'y ~ x + (1 | g)'")
    try:
        model = formulae.model_description(text)
    except Exception as e:  # formulae raises ScanError, ParseError, ResolverError, ValueError...
        raise SpecError(f"formula {text!r} cannot be read: {e}. Check brackets, '+', ':' and '|'.") from e
    if model.response is None:
        raise SpecError(f"formula {text!r} has no response on the left of '~'")
    resp = model.response.term.components
    if len(resp) != 1:
        raise SpecError(f"formula {text!r}: the response must be one column or p(successes, trials)")
    comp = resp[0]
    if isinstance(comp, Call):
        args = comp.call.args
        if comp.call.callee != "p" or len(args) != 2 or comp.call.kwargs:
            raise SpecError(
                f"formula {text!r}: the response {comp.name!r} must be a column or p(successes, trials)"
            )
        if trials is not None:
            raise SpecError(f"formula {text!r}: give the trials either as p(y, n) or as trials=, not both")
        response, trials = args[0].name, args[1].name
    else:
        response = comp.name
    common = [t for t in model.common_terms if not isinstance(t, Intercept)]
    groups: dict[str, tuple[tuple[str, ...], list[_Term | None]]] = {}
    for g in model.group_terms:
        factor = g.factor
        if any(isinstance(c, Call) for c in factor.components):
            raise SpecError(
                f"formula {text!r}: a grouping factor must be columns (g or g:h), not {factor.name!r}"
            )
        variables = tuple(c.name for c in factor.components)
        expr = None if isinstance(g.expr, Intercept) else _term(g.expr, text)
        groups.setdefault(factor.name, (variables, []))[1].append(expr)
    return _Parsed(
        response=response,
        trials=trials,
        rhs=text.split("~", 1)[1],
        intercept=any(isinstance(t, Intercept) for t in model.common_terms),
        common=tuple(_term(t, text) for t in common if isinstance(t, Term)),
        groups=tuple((f, vs, tuple(exprs)) for f, (vs, exprs) in groups.items()),
    )


@dataclass(frozen=True)
class Formula:
    """A model formula and the options of its design: the user's intent, serialisable.

    ``standardize``: ``True`` (every continuous predictor), ``False`` (none) or the columns to
    standardise. ``trials``: the column of binomial trials (instead of ``p(y, n)``).
    ``latent``: columns whose values are parameters of the model (a latent score); they need not
    be in the data (then their columns of ``X`` are NaN until the build supplies the values, see
    :meth:`Encoding.decompose`) and are never standardised.
    """

    text: str
    standardize: bool | tuple[str, ...] = True
    trials: str | None = None
    latent: tuple[str, ...] = ()

    def __post_init__(self):
        if isinstance(self.standardize, str) or isinstance(self.latent, str):
            raise SpecError("standardize and latent take a list of column names, e.g. standardize=['x']")
        if not isinstance(self.standardize, bool):
            object.__setattr__(self, "standardize", tuple(self.standardize))
        object.__setattr__(self, "latent", tuple(self.latent))
        _ = self.parsed  # syntax errors now, not at the first design

    @cached_property
    def parsed(self) -> _Parsed:
        return _parse(self.text, self.trials)

    @property
    def response(self) -> str:
        return self.parsed.response

    @property
    def trials_column(self) -> str | None:
        return self.parsed.trials

    @property
    def factors(self) -> tuple[str, ...]:
        """The grouping factors as written: ``("herd",)``, ``("country", "country:region")``."""
        return tuple(f for f, _, _ in self.parsed.groups)

    @property
    def columns(self) -> tuple[str, ...]:
        """Every data column the formula uses (latent ones excluded)."""
        p = self.parsed
        cols = [p.response, *([p.trials] if p.trials else []), *p.predictors, *p.factors]
        return tuple(c for c in dict.fromkeys(cols) if c not in self.latent)

    def to_dict(self) -> dict:
        std = self.standardize if isinstance(self.standardize, bool) else list(self.standardize)
        return {"formula": self.text, "standardize": std, "trials": self.trials, "latent": list(self.latent)}

    @classmethod
    def from_dict(cls, d: Mapping) -> Formula:
        std = d.get("standardize", True)
        return cls(
            d["formula"],
            standardize=std if isinstance(std, bool) else tuple(std),
            trials=d.get("trials"),
            latent=tuple(d.get("latent", ())),
        )

    def sha256(self) -> str:
        return hashlib.sha256(_canonical_json(self.to_dict()).encode()).hexdigest()

    def check_columns(self, data: pd.DataFrame, response: bool = True) -> None:
        """Raise SpecError naming every formula column missing from ``data`` and its close matches."""
        p = self.parsed
        needed = list(self.columns)
        if not response:
            needed = [c for c in needed if c not in (p.response, p.trials)]
        missing = [c for c in needed if c not in data.columns]
        if missing:
            have = [str(c) for c in data.columns]
            hints = []
            for c in missing:
                close = difflib.get_close_matches(c, have, n=3, cutoff=0.6)
                hints.append(f"{c!r}" + (f" (did you mean {', '.join(map(repr, close))}?)" if close else ""))
            raise SpecError(
                f"formula {self.text!r}: column(s) not in the data: {', '.join(hints)}. "
                f"The data has {len(have)} columns: {', '.join(have[:30])}{' ...' if len(have) > 30 else ''}"
            )

    def observed(self, data: pd.DataFrame) -> np.ndarray:
        """Rows whose response (and trials) are observed: the rows a model can be fitted on."""
        self.check_columns(data)
        cols = [self.response, *([self.trials_column] if self.trials_column else [])]
        return data[cols].notna().all(axis=1).to_numpy()

    def design(self, data: pd.DataFrame) -> Design:
        """Learn the encoding from ``data`` and return its design (see the module docstring)."""
        design = _learn(self, data).design(data)
        _check_identifiable(design)
        return design


@dataclass(frozen=True)
class Encoding:
    """A formula plus what was learned from the fit data; turns any frame into its design.

    ``categories``: the levels of each categorical column, the reference first unless the
    formula names another; ``groups``: the levels of each grouping factor; ``binary``: numeric
    columns that were 0/1; ``standardizer``: centre and scale of each standardised column.
    """

    formula: Formula
    categories: Mapping[str, tuple[Level, ...]]
    groups: Mapping[str, tuple[str, ...]]
    binary: tuple[str, ...]
    standardizer: Standardizer = field(default_factory=Standardizer)

    def to_dict(self) -> dict:
        return {
            "formula": self.formula.to_dict(),
            "categories": {k: list(v) for k, v in self.categories.items()},
            "groups": {k: list(v) for k, v in self.groups.items()},
            "binary": list(self.binary),
            "standardizer": self.standardizer.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> Encoding:
        return cls(
            formula=Formula.from_dict(d["formula"]),
            categories={k: tuple(v) for k, v in d["categories"].items()},
            groups={k: tuple(v) for k, v in d["groups"].items()},
            binary=tuple(d["binary"]),
            standardizer=Standardizer.from_dict(d["standardizer"]),
        )

    def to_json(self) -> str:
        return _canonical_json(self.to_dict())

    def sha256(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    def design(self, data: pd.DataFrame, response: bool = True) -> Design:
        """The design of ``data`` with this encoding (``response=False``: for prediction)."""
        f = self.formula
        f.check_columns(data, response=response)
        frame, missing = self._frame(data)
        X, columns, Zs = self._evaluate(frame, missing)
        groups = tuple(self._group(data, factor, Z, names) for factor, (Z, names) in Zs.items())
        y = levels = trials = None
        if response:
            y, levels, trials = self._response(data)
        return Design(
            encoding=self,
            index=data.index,
            X=X,
            columns=columns,
            intercept=f.parsed.intercept,
            groups=groups,
            response=f.response if response else None,
            y=y,
            response_levels=levels,
            trials_name=f.trials_column if response else None,
            trials=trials,
            missing={v: m for v, m in missing.items() if m.any()},
        )

    def values(self, data: pd.DataFrame, variable: str) -> np.ndarray:
        """A numeric predictor as the design uses it (standardised if it is), NaN where missing.

        With :meth:`decompose`, the observed values to combine with imputed ones; a latent
        variable absent from the data is NaN in every row.
        """
        if variable not in self.formula.parsed.predictors or variable in self.categories:
            raise SpecError(f"formula {self.formula.text!r}: {variable!r} is not a numeric predictor")
        if variable not in data.columns and variable in self.formula.latent:
            return np.full(len(data), np.nan)
        x = _as_float(data[variable])
        if variable in self.standardizer.center:
            x = (x - self.standardizer.center[variable]) / self.standardizer.scale[variable]
        return x

    def decompose(self, data: pd.DataFrame, variables: Sequence[str]) -> Multilinear:
        """``X`` and each ``Z`` as multilinear functions of ``variables`` (standardised values).

        Evaluates the design with the variables set to 0 and 1 (every combination) and checks
        it at 2: a variable entering non-linearly (as a categorical, say) raises SpecError.
        Rows where a variable is missing get a design all the same (its values are parameters).
        At :meth:`values` the result equals :meth:`design` exactly for products of up to two
        columns, and to rounding (the order of the multiplications) beyond.
        """
        variables = tuple(dict.fromkeys(variables))
        f = self.formula
        for v in variables:
            if v not in f.parsed.predictors:
                raise SpecError(
                    f"formula {f.text!r}: {v!r} is not a predictor of the formula "
                    f"(predictors: {', '.join(f.parsed.predictors)})"
                )
            if v in self.categories:
                raise SpecError(
                    f"formula {f.text!r}: {v!r} is categorical; a latent/imputed variable may enter only "
                    "linearly, as a number"
                )
        f.check_columns(data, response=False)
        frame, missing = self._frame(data)
        for v in variables:
            missing[v] = np.zeros(len(frame), dtype=bool)

        def at(values: Mapping[str, float]):
            fr = frame.copy()
            for v in variables:
                fr[v] = float(values.get(v, 0.0))
            X, _, Zs = self._evaluate(fr, missing)
            return X, {g: Z for g, (Z, _) in Zs.items()}

        parts = Multilinear.parts(variables)
        corners = {p: at(dict.fromkeys(p, 1.0)) for p in parts}

        def mobius(get) -> dict[Part, np.ndarray]:
            out = {}
            for p in parts:
                acc = None
                for q in parts:
                    if set(q) <= set(p):
                        sign = -1.0 if (len(p) - len(q)) % 2 else 1.0
                        acc = sign * get(corners[q]) if acc is None else acc + sign * get(corners[q])
                out[p] = acc
            return {p: m for p, m in out.items() if p == () or np.any(np.nan_to_num(m, nan=1.0) != 0)}

        common = mobius(lambda c: c[0])
        groups = {g: mobius(lambda c, g=g: c[1][g]) for g in corners[()][1]}
        result = Multilinear(variables, common, groups)
        checks = [{v: 2.0} for v in variables] + (
            [dict.fromkeys(variables, 2.0)] if len(variables) > 1 else []
        )
        for point in checks:
            X, Zs = at(point)
            values = {v: np.full(len(frame), point.get(v, 0.0)) for v in variables}
            X2, Zs2 = result.evaluate(values)
            same = np.allclose(X, X2, rtol=1e-10, atol=1e-10, equal_nan=True) and all(
                np.allclose(Zs[g], Zs2[g], rtol=1e-10, atol=1e-10, equal_nan=True) for g in Zs
            )
            if not same:
                raise SpecError(
                    f"formula {f.text!r}: a latent/imputed variable may enter only linearly "
                    f"(in every term, at most once): {', '.join(point)} does not"
                )
        return result

    # --- internals -------------------------------------------------------------------------

    def _frame(self, data: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
        """The predictors as formulae should see them: standardised, coded, no missing values."""
        f = self.formula
        cols: dict[str, object] = {}
        missing: dict[str, np.ndarray] = {}
        n = len(data)
        for v in f.parsed.predictors:
            if v in f.latent and v not in data.columns:
                cols[v], missing[v] = np.zeros(n), np.ones(n, dtype=bool)
                continue
            s = data[v]
            miss = s.isna().to_numpy()
            if v in self.categories:
                levels = list(self.categories[v])
                lookup = {level: i for i, level in enumerate(levels)}
                values = [levels[0] if m else _canonical(x) for x, m in zip(s.tolist(), miss, strict=True)]
                codes = np.array([lookup.get(x, -1) for x in values], dtype="int64")
                unseen = codes < 0
                if unseen.any():
                    bad = sorted({values[i] for i in np.flatnonzero(unseen)}, key=_sort_key)
                    raise SpecError(
                        f"column {v!r} has level(s) {bad} in {_rows(unseen, data.index)} that the model was "
                        f"not fitted with (levels: {levels}); a categorical predictor cannot take a new level"
                    )
                cols[v] = pd.Categorical.from_codes(codes, categories=levels, ordered=True)
            else:
                _require_numeric(s, v, f.text, "a numeric predictor")
                cols[v] = np.where(miss, 0.0, self.values(data, v))
            missing[v] = miss
        for v in f.parsed.factors:
            if v not in cols:
                cols[v] = pd.Categorical(np.zeros(n, dtype="int64"))  # formulae needs the column
        return pd.DataFrame(cols, index=pd.RangeIndex(n)), missing

    def _evaluate(
        self, frame: pd.DataFrame, missing: Mapping[str, np.ndarray]
    ) -> tuple[np.ndarray, tuple[Column, ...], dict[str, tuple[np.ndarray, tuple[str, ...]]]]:
        f = self.formula
        p = f.parsed
        n = len(frame)
        # an empty namespace: names come from the frame and formulae's own transforms (C, T) only
        dm = formulae.design_matrices(p.rhs, frame, na_action="error", env=Environment([{}]))
        blocks, columns = [], []
        if dm.common is not None:
            full = np.asarray(dm.common.design_matrix, dtype="float64").reshape(n, -1)
            labels = list(dm.common.as_dataframe().columns)
            for name, sl in dm.common.slices.items():
                if name == "Intercept":
                    continue
                t = _term(dm.common.terms[name], f.text)  # formulae may add terms to keep full rank
                block = full[:, sl].copy()
                rows = _any_missing(t.variables, missing, n)
                block[rows] = np.nan
                blocks.append(block)
                columns += [self._column(_rename(lab, t), t) for lab in labels[sl]]
        X = np.ascontiguousarray(np.column_stack(blocks) if blocks else np.zeros((n, 0)), dtype="float64")
        Zs: dict[str, tuple[np.ndarray, tuple[str, ...]]] = {}
        if dm.group is not None:
            by_factor: dict[str, list] = {}
            for gt in dm.group.terms.values():
                by_factor.setdefault(gt.factor.name, []).append(gt)
            for factor in (fac for fac, _, _ in p.groups):
                zcols, names = [], []
                terms = sorted(by_factor[factor], key=lambda gt: not isinstance(gt.expr, Intercept))
                for gt in terms:  # the varying intercept first, however the formula orders them
                    if isinstance(gt.expr, Intercept):
                        zcols.append(np.ones((n, 1)))
                        names.append("1")
                        continue
                    t = _term(gt.expr, f.text)
                    block = np.asarray(gt.expr.data, dtype="float64").reshape(n, -1).copy()
                    block[_any_missing(t.variables, missing, n)] = np.nan
                    zcols.append(block)
                    names += [_rename(lab, t) for lab in gt.expr.labels]
                Zs[factor] = (np.ascontiguousarray(np.column_stack(zcols), dtype="float64"), tuple(names))
        return X, tuple(columns), Zs

    def _column(self, name: str, term: _Term) -> Column:
        comps = term.variables
        numeric = [c for c in comps if c not in self.categories]
        std = self.standardizer
        if len(comps) > 1:
            kind = "interaction"
        elif comps[0] in self.categories:
            kind = "categorical"
        else:
            kind = "binary" if comps[0] in self.binary else "continuous"
        return Column(
            name=name,
            term=term.name,
            kind=kind,
            components=comps,
            binary=all(c in self.categories or c in self.binary for c in comps),
            scale=float(np.prod([std.scale.get(c, 1.0) for c in numeric])),
            centred=any(std.center.get(c, 0.0) != 0.0 for c in numeric),
        )

    def _group(self, data: pd.DataFrame, factor: str, Z: np.ndarray, names: tuple[str, ...]) -> GroupTerm:
        variables = next(vs for fac, vs, _ in self.formula.parsed.groups if fac == factor)
        labels = _group_labels(data, variables, factor, self.formula.text)
        levels = self.groups[factor]
        lookup = {lev: i for i, lev in enumerate(levels)}
        codes = np.array([lookup.get(lab, -1) for lab in labels], dtype="int64")
        return GroupTerm(factor, tuple(levels), codes, tuple(labels), names, Z)

    def _response(self, data: pd.DataFrame):
        f = self.formula
        y_col, n_col = f.response, f.trials_column
        s = data[y_col]
        unobserved = ~f.observed(data)
        if unobserved.any():
            what = f"response {y_col!r}" + (f" or trials {n_col!r}" if n_col else "")
            raise SpecError(
                f"formula {f.text!r}: the {what} is missing in {int(unobserved.sum())} of {len(data)} rows "
                f"({_rows(unobserved, data.index)}); fitting would drop them. Select the observed rows "
                "first: data[formula.observed(data)]."
            )
        levels = None
        if isinstance(s.dtype, pd.CategoricalDtype):
            if not s.dtype.ordered:
                raise SpecError(
                    f"formula {f.text!r}: the response {y_col!r} is an unordered categorical; make it "
                    "numeric or an ordered categorical (pd.Categorical(..., ordered=True))"
                )
            levels = tuple(_canonical(c) for c in s.dtype.categories)
            y = s.cat.codes.to_numpy().astype("float64")
        else:
            _require_numeric(s, y_col, f.text, "the response")
            y = _as_float(s)
        trials = None
        if n_col:
            _require_numeric(data[n_col], n_col, f.text, "the trials")
            trials = _as_float(data[n_col])
        return y, levels, trials


def _any_missing(variables: Iterable[str], missing: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    for v in variables:
        out |= missing[v]
    return out


def _rename(label: str, term: _Term) -> str:
    """formulae's label with categorical calls replaced by their column: ``C(k)[2]`` -> ``k[2]``."""
    if label == "Intercept":
        return "1"
    for c in term.components:
        if c.categorical_call:
            label = label.replace(c.text + "[", c.variable + "[")
    return label


def _require_numeric(s: pd.Series, column: str, formula: str, role: str) -> None:
    if _is_numeric(s):
        return
    hint = "convert it (pd.to_numeric)" + (
        " or write C(column) for a categorical" if "predictor" in role else ""
    )
    raise SpecError(
        f"formula {formula!r}: column {column!r} ({s.dtype}) is used as {role} but is not numeric; {hint}"
    )


def _group_labels(data: pd.DataFrame, variables: tuple[str, ...], factor: str, formula: str) -> list[str]:
    parts = data[list(variables)]
    miss = parts.isna().any(axis=1).to_numpy()
    if miss.any():
        raise SpecError(
            f"formula {formula!r}: grouping factor {factor!r} is missing in {int(miss.sum())} rows "
            f"({_rows(miss, data.index)}); every row needs a group: fill in the level or drop the rows"
        )
    cols = [[str(_canonical(x)) for x in parts[v].tolist()] for v in variables]
    return [":".join(t) for t in zip(*cols, strict=True)]


def _learn(formula: Formula, data: pd.DataFrame) -> Encoding:
    """Learn categorical and group levels, binary columns and the standardiser from ``data``."""
    formula.check_columns(data)
    p = formula.parsed
    if len(data) == 0:
        raise SpecError(f"formula {formula.text!r}: the data has no rows")
    categorical_calls = {c.variable for c in p.components if c.categorical_call}
    both = categorical_calls & {c.variable for c in p.components if not c.categorical_call}
    categories: dict[str, tuple[Level, ...]] = {}
    binary: list[str] = []
    continuous: list[str] = []
    for v in p.predictors:
        if v in formula.latent:
            if v in categorical_calls:
                raise SpecError(f"formula {formula.text!r}: latent {v!r} cannot be categorical")
            continue
        s = data[v]
        numeric = _is_numeric(s)
        if v in categorical_calls or not numeric:
            if v in both and numeric:
                raise SpecError(
                    f"formula {formula.text!r}: {v!r} is used both as a number and inside C(); use one"
                )
            if v not in categorical_calls and _numbers_as_text(s):
                raise SpecError(
                    f"formula {formula.text!r}: column {v!r} holds numbers stored as text ({s.dtype}); "
                    "convert it (pd.to_numeric) to use it as a number, or write C("
                    + v
                    + ") for a categorical"
                )
            categories[v] = _levels(s, v, formula.text, data.index)
        else:
            x = _as_float(s)
            observed = x[~np.isnan(x)]
            if observed.size == 0:
                raise SpecError(f"formula {formula.text!r}: column {v!r} has no observed values")
            if set(np.unique(observed)) <= {0.0, 1.0}:
                binary.append(v)
            else:
                continuous.append(v)
    std_cols = _standardized(formula, continuous, binary, categories)  # binary ones: centre 0, scale 1
    frame = pd.DataFrame({c: _as_float(data[c]) for c in std_cols}, index=data.index)
    standardizer = Standardizer.fit(frame, std_cols)
    groups = {}
    for factor, variables, _ in p.groups:
        _group_labels(data, variables, factor, formula.text)  # refuses missing labels
        combos = data[list(variables)].drop_duplicates().itertuples(index=False)
        keys = sorted(
            (tuple(_canonical(x) for x in row) for row in combos), key=lambda k: [_sort_key(x) for x in k]
        )
        groups[factor] = tuple(dict.fromkeys(":".join(str(x) for x in k) for k in keys))
    return Encoding(formula, categories, groups, tuple(binary), standardizer)


def _numbers_as_text(s: pd.Series) -> bool:
    if isinstance(s.dtype, pd.CategoricalDtype):
        return False
    observed = s.dropna()
    return not observed.empty and pd.to_numeric(observed, errors="coerce").notna().all()


def _levels(s: pd.Series, v: str, formula: str, index: pd.Index) -> tuple[Level, ...]:
    if s.isna().all():
        raise SpecError(f"formula {formula!r}: categorical column {v!r} has no observed values")
    if isinstance(s.dtype, pd.CategoricalDtype) and s.dtype.ordered:
        present = set(s.dropna().tolist())
        return tuple(_canonical(c) for c in s.dtype.categories if c in present)
    return tuple(sorted({_canonical(x) for x in s.dropna().tolist()}, key=_sort_key))


def _standardized(
    formula: Formula, continuous: list[str], binary: list[str], categories: Mapping
) -> list[str]:
    option = formula.standardize
    numeric = [v for v in formula.parsed.predictors if v in continuous or v in binary]
    if option is True:
        return numeric
    if option is False:
        return []
    for c in option:
        if c in categories:
            raise SpecError(f"formula {formula.text!r}: standardize names {c!r}, a categorical column")
        if c not in numeric:
            raise SpecError(
                f"formula {formula.text!r}: standardize names {c!r}, which is not a numeric predictor "
                f"of the formula (numeric predictors: {', '.join(numeric) or 'none'})"
            )
    return [c for c in numeric if c in option]


def _check_identifiable(design: Design) -> None:
    """Refuse columns that are zero in every row (an empty level or combination) or not 0/1 dummies."""
    enc = design.encoding
    for j, col in enumerate(design.columns):
        x = design.X[:, j]
        x = x[~np.isnan(x)]
        if x.size and not np.any(x != 0):
            why = (
                "no row has this level or combination of levels"
                if any(c in enc.categories for c in col.components)
                else "the column is constant (it is zero after centring) or zero in every row"
            )
            raise SpecError(
                f"formula {enc.formula.text!r}: column {col.name!r} is zero in every row: {why}; "
                "its coefficient cannot be estimated. Drop the term or merge levels."
            )
        if col.kind == "categorical" and not set(np.unique(x)) <= {0.0, 1.0}:
            raise SpecError(
                f"formula {enc.formula.text!r}: {col.term!r} is not coded with 0/1 dummies; only "
                "reference-level (treatment) coding is supported: C(x), C(x, Treatment(level)) or T(x, level)"
            )


def spec_from_formula(
    formula: str,
    data: pd.DataFrame,
    *,
    family: str | None = None,
    priors: Mapping | None = None,
    hypotheses: Mapping | None = None,
    trials: str | None = None,
    standardize: bool | Sequence[str] = True,
    name: str | None = None,
    group_names: Mapping[str, str] | None = None,
    obs_dim: str = "obs",
    id_column: str | None = None,
    description: str = "",
    **fields,
):
    """A :class:`~clusterpreneur.models.spec.ModelSpec` from a formula (``ModelSpec.from_formula``).

    The formula is read by :class:`Formula` (see the module docstring): ``p(y, n)`` or
    ``trials=`` for binomial counts, ``C(x)`` and text columns as categoricals against a
    reference level, ``x:z`` and ``x*z``, varying slopes ``(1 + x | g)``, nested groups
    ``(1 | a:b)``. The spec's terms are the columns of the formula's design matrix (a dummy is
    ``column[level]``), so the graph builds the same matrix; its group levels are named after the
    grouping factors (``a:b`` becomes ``a_b``; ``group_names`` renames them). ``family`` defaults
    to ``binomial`` with trials, else ``bernoulli``. ``hypotheses`` maps terms to their expected
    sign (+1 / -1). Rows with a missing predictor are dropped when the model is prepared (a
    formula spec imputes nothing). Other ``ModelSpec`` fields (``categories``, ``shrinkage_terms``
    ...) pass through ``fields``.
    """
    from clusterpreneur.models.spec import GroupLevel, ModelSpec, VaryingSlope

    f = Formula(
        formula,
        standardize=standardize if isinstance(standardize, bool) else tuple(standardize),
        trials=trials,
    )
    rows = data.loc[f.observed(data)]
    design = f.design(rows)
    if family is None:
        family = "binomial" if f.trials_column else "bernoulli"
    if f.trials_column and family != "binomial":
        raise SpecError(
            f"formula {formula!r}: trials (p(y, n) or trials=) need family 'binomial', not {family!r}"
        )
    if not design.intercept and family != "ordinal":
        raise SpecError(
            f"formula {formula!r}: a model without a common intercept ('0 +' / '- 1') is only available for "
            "family 'ordinal' (whose cutpoints take its place); keep the intercept"
        )
    terms = design.column_names
    names = dict(group_names or {})
    unknown = sorted(set(names) - {g.factor for g in design.groups})
    if unknown:
        raise SpecError(
            f"formula {formula!r}: group_names renames {unknown}, which are not grouping factors "
            f"({[g.factor for g in design.groups]})"
        )
    groups, slopes = [], []
    for g in design.groups:
        level = names.get(g.factor, g.factor.replace(":", "_"))
        if not g.intercept:
            raise SpecError(
                f"formula {formula!r}: the effects by {g.factor!r} have no varying intercept; write "
                f"(1 + ... | {g.factor}) (this model's varying slopes come with a varying intercept)"
            )
        groups.append(GroupLevel(level, g.factor))
        for col in g.columns:
            if col == "1":
                continue
            if col not in terms:
                raise SpecError(
                    f"formula {formula!r}: {col!r} varies by {g.factor!r} but is not a common term; "
                    f"add it to the common part (y ~ {col.split('[')[0]} + (1 + ... | {g.factor}))"
                )
            slopes.append(VaryingSlope(col, level))
    enc = design.encoding
    categorical = {}
    for column, levels in enc.categories.items():
        dummies = {c.split("[", 1)[1][:-1] for c in terms if c.startswith(f"{column}[") and ":" not in c}
        reference = [lv for lv in levels if str(lv) not in dummies]
        first = reference[:1] if len(reference) == 1 else []
        categorical[column] = [*first, *(lv for lv in levels if lv not in first)]
    spec = ModelSpec(
        name=name or f.response,
        outcome=f.response,
        family=family,
        terms=tuple(terms),
        groups=tuple(groups),
        slopes=tuple(slopes),
        trials=f.trials_column,
        impute=(),
        id_column=id_column,
        obs_dim=obs_dim,
        standardize=f.standardize,
        categorical=categorical,
        hypotheses=dict(hypotheses or {}),
        formula=formula,
        priors={k: dict(v) for k, v in (priors or {}).items()},
        description=description,
        **fields,
    )
    spec.check()
    return spec
