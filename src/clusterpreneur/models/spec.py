"""Declarative model specifications: plain data, validated against a frame, saved with every fit.

A :class:`ModelSpec` says *what* to fit (outcome and family, predictors, group levels, varying
slopes, latent measurement model, correlated ordinal outcomes, shrinkage, imputation, prior
overrides); :mod:`clusterpreneur.models.build` turns it into a PyMC model. Specs round-trip
through JSON (``to_json`` / ``from_json``) and have a content hash (``sha256``).

Every check here runs on the pandas frame before any PyMC graph is built or compiled, and
raises :class:`~clusterpreneur.errors.SpecError` with what is wrong and what to do.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
import pymc as pm

from clusterpreneur.errors import SpecError
from clusterpreneur.study.codebook import BOARD_COLUMNS, INVOLVE_COLUMNS, SC_ITEMS
from clusterpreneur.study.measures import ILR_NAMES, MEASURES, ilr_coordinates
from clusterpreneur.study.predictors import Term, component_columns, terms_from_names

Family = Literal["bernoulli", "binomial", "ordinal"]
FAMILIES: tuple[str, ...] = ("bernoulli", "binomial", "ordinal")

DIMS = ("initiative", "region", "country", "actor", "item", "outcome", "term", "wave")
"""The package's fixed dimension names (plus helper dims such as ``component``)."""

DEFAULT_PRIORS: dict[str, dict[str, Any]] = {
    "intercept": {"dist": "Normal", "mu": 0.0, "sigma": 1.5},
    "beta": {"dist": "Normal", "mu": 0.0, "sigma": 1.0},
    "sigma": {"dist": "HalfNormal", "sigma": 1.0},
    "cutpoints": {"dist": "Normal", "mu": 0.0, "sigma": 3.0},
    "difficulty": {"dist": "Normal", "mu": 0.0, "sigma": 2.0},
    "discrimination": {"dist": "LogNormal", "mu": 0.0, "sigma": 0.5},
    "lkj_eta": {"eta": 2.0},
    "horseshoe": {"tau0": 0.1, "slab_scale": 1.0, "slab_df": 4.0, "local_df": 1.0},
    "shrinkage_normal": {"sigma": 0.25},
}
"""Weakly informative defaults on standardised predictors. Override any entry with
``ModelSpec(priors={...})``: keys are these names, or a specific parameter name such as
``"sigma_country"`` (which wins over ``"sigma"``)."""

# raw survey columns each derived measure needs (for validation and clear errors)
DERIVED_INPUTS: dict[str, tuple[str, ...]] = {
    "breadth": INVOLVE_COLUMNS,
    "public_private": INVOLVE_COLUMNS,
    "board_diversity": BOARD_COLUMNS,
    "board_shannon": BOARD_COLUMNS,
    "lfr_index": ("unemp_gap", "tertiary_ratio", "rnd_ratio", "patent_ratio"),
    "sc_score": SC_ITEMS,
    "age": ("survey_year", "start_year"),
    "log_firms": ("n_firms",),
    **{name: (*BOARD_COLUMNS, "board_seats") for name in ILR_NAMES},
    **{f"active_{c.removeprefix('involve_')}": (c,) for c in INVOLVE_COLUMNS},
}


@dataclass(frozen=True)
class GroupLevel:
    """A level of varying intercepts: dimension ``name`` indexed by the ids in ``column``.

    ``parent`` documents nesting (regions in countries); ids must be unique across the
    whole survey (a region id is never reused in another country), which is checked.

    How the sampler moves the effects (the model is the same): non-centred (default),
    ``centered=True``, or ``laplace=True``: Laplace-centred, each effect shifted and scaled
    by the mode and curvature of its conditional posterior (exact; for many weakly informed
    groups, see :mod:`clusterpreneur.models.kernel`). Laplace-centring is applied by the
    compiled-kernel engine to a bernoulli or binomial outcome on a level without varying
    slopes; otherwise (and in the PyMC graph) the level is sampled non-centred. The fit's
    ``parametrization`` attribute records what was used.
    """

    name: str
    column: str
    parent: str | None = None
    centered: bool = False
    laplace: bool = False


@dataclass(frozen=True)
class VaryingSlope:
    """The coefficient of ``term`` varies by group level ``group`` (a :class:`GroupLevel` name)."""

    term: str
    group: str
    centered: bool = False

    @property
    def param(self) -> str:
        return f"{self.term.replace(':', '_x_')}_{self.group}"


@dataclass(frozen=True)
class LatentSpec:
    """A latent predictor measured by ordinal items (graded-response model, N(0, 1) identified).

    The latent variable replaces the predictor component ``replaces`` (e.g. the plug-in
    ``sc_score``) everywhere it appears in the design, including interactions.
    """

    name: str = "sc_latent"
    replaces: str = "sc_score"
    items: tuple[str, ...] = SC_ITEMS


@dataclass(frozen=True)
class ModelSpec:
    """Plain-data model specification. See the module docstring and :data:`LADDER`.

    ``outcome`` is one column (``bernoulli`` / ``binomial`` / ``ordinal``) or, for ``ordinal``
    only, several columns modelled as correlated cumulative logits (an LKJ prior on the
    correlation of initiative-level effects over dim ``outcome``). ``categories`` fixes the
    ordinal categories (each must be observed); by default they are the integers from the
    observed minimum to maximum of each outcome, and a gap is an error.
    ``shrinkage_terms`` get a regularised-horseshoe (or tighter normal) prior instead of
    the default one. ``impute`` lists the predictor components whose missing values are
    imputed inside the model (``"auto"``: every component that has missing values).

    ``baseline`` names a discrete time column (the survey ``wave``): the model then has one
    intercept per observed value of it (``intercept`` over dim ``wave``) instead of a common
    one, the baseline log-odds of a discrete-time hazard, and the data are person-period rows:
    one row per ``id_column`` and ``baseline`` value (bernoulli only). The observation dim
    ``initiative`` then labels initiative-waves (``"<id> wave <k>"``).
    """

    name: str
    outcome: str | tuple[str, ...]
    family: Family = "bernoulli"
    terms: tuple[str, ...] = ()
    groups: tuple[GroupLevel, ...] = ()
    slopes: tuple[VaryingSlope, ...] = ()
    trials: str | None = None
    categories: tuple[int, ...] | None = None
    latent: LatentSpec | None = None
    shrinkage_terms: tuple[str, ...] = ()
    shrinkage: Literal["horseshoe", "normal"] = "horseshoe"
    impute: tuple[str, ...] | Literal["auto"] = "auto"
    id_column: str = "initiative_id"
    priors: dict[str, dict[str, Any]] = field(default_factory=dict)
    baseline: str | None = None
    description: str = ""

    # ----------------------------------------------------------------- derived properties
    @property
    def outcomes(self) -> tuple[str, ...]:
        return (self.outcome,) if isinstance(self.outcome, str) else tuple(self.outcome)

    @property
    def term_objects(self) -> tuple[Term, ...]:
        return terms_from_names(self.terms)

    @property
    def components(self) -> list[str]:
        return component_columns(self.term_objects)

    def prior(self, key: str, fallback: str | None = None) -> dict[str, Any]:
        """The prior settings for parameter ``key`` (user override, then ``fallback`` defaults)."""
        if key in self.priors:
            return dict(self.priors[key])
        if fallback is not None and fallback in self.priors:
            return dict(self.priors[fallback])
        return dict(DEFAULT_PRIORS[fallback if fallback is not None else key])

    def with_overrides(self, **changes) -> ModelSpec:
        """A copy with fields replaced (``priors`` are merged, not replaced)."""
        if "priors" in changes:
            changes["priors"] = {**self.priors, **changes["priors"]}
        return replace(self, **changes)

    # ----------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["outcome"] = self.outcome if isinstance(self.outcome, str) else list(self.outcome)
        return json.loads(json.dumps(d))  # tuples -> lists, plain JSON types only

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise SpecError(f"unknown model-spec field(s) {sorted(unknown)}; known fields: {sorted(known)}")
        d = dict(d)
        if not isinstance(d["outcome"], str):
            d["outcome"] = tuple(d["outcome"])
        d["groups"] = tuple(GroupLevel(**g) for g in d.get("groups", ()))
        d["slopes"] = tuple(VaryingSlope(**s) for s in d.get("slopes", ()))
        if d.get("latent") is not None:
            lat = dict(d["latent"])
            lat["items"] = tuple(lat.get("items", SC_ITEMS))
            d["latent"] = LatentSpec(**lat)
        for key in ("terms", "shrinkage_terms"):
            d[key] = tuple(d.get(key, ()))
        if d.get("categories") is not None:
            d["categories"] = tuple(int(c) for c in d["categories"])
        if isinstance(d.get("impute"), list):
            d["impute"] = tuple(d["impute"])
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        return cls.from_dict(json.loads(text))

    def sha256(self) -> str:
        """Content hash of the canonical JSON encoding."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    # ----------------------------------------------------------------- validation
    def check(self) -> None:
        """Internal consistency (no data needed)."""
        if self.family not in FAMILIES:
            raise SpecError(f"spec {self.name!r}: unknown family {self.family!r}; choose one of {FAMILIES}")
        if len(self.outcomes) > 1 and self.family != "ordinal":
            raise SpecError(
                f"spec {self.name!r}: several outcomes {self.outcomes} need family 'ordinal' "
                "(correlated cumulative logits); give one outcome for bernoulli/binomial"
            )
        if self.family == "binomial" and not self.trials:
            raise SpecError(f"spec {self.name!r}: family 'binomial' needs `trials` (a column of counts)")
        if len(set(self.terms)) != len(self.terms):
            raise SpecError(f"spec {self.name!r}: duplicated terms in {self.terms}")
        names = [g.name for g in self.groups]
        for g in self.groups:
            if g.name not in DIMS:
                raise SpecError(f"group level {g.name!r} must use one of the fixed dimension names {DIMS}")
            if g.parent is not None and g.parent not in names:
                raise SpecError(f"group level {g.name!r} names an unknown parent {g.parent!r}")
        laplace = [g.name for g in self.groups if g.laplace]
        if len(laplace) > 1:
            raise SpecError(f"spec {self.name!r}: only one group level can be Laplace-centred, not {laplace}")
        for g in self.groups:
            if g.laplace and g.centered:
                raise SpecError(f"group level {g.name!r}: choose centered or laplace, not both")
        for s in self.slopes:
            if s.term not in self.terms:
                raise SpecError(f"varying slope of {s.term!r}: the term is not in the spec's terms")
            if s.group not in names:
                raise SpecError(f"varying slope of {s.term!r} by unknown group level {s.group!r}")
        for t in self.shrinkage_terms:
            if t not in self.terms:
                raise SpecError(f"shrinkage term {t!r} is not in the spec's terms")
        if self.shrinkage not in ("horseshoe", "normal"):
            raise SpecError(f"shrinkage must be 'horseshoe' or 'normal', not {self.shrinkage!r}")
        if self.baseline is not None and (self.family != "bernoulli" or len(self.outcomes) > 1):
            raise SpecError(
                f"spec {self.name!r}: a baseline per {self.baseline!r} (discrete-time hazard) needs one "
                f"bernoulli outcome, not family {self.family!r} with outcomes {self.outcomes}"
            )
        if self.latent is not None and self.latent.replaces not in self.components:
            raise SpecError(
                f"latent variable {self.latent.name!r} replaces {self.latent.replaces!r}, which no term uses"
            )
        for key, p in self.priors.items():
            if not isinstance(p, dict):
                raise SpecError(f"prior override {key!r} must be a dict such as {{'dist': 'Normal', ...}}")
            dist = p.get("dist")
            if dist is not None and not isinstance(getattr(pm, dist, None), type):
                raise SpecError(f"prior override {key!r}: {dist!r} is not a PyMC distribution")

    def required_columns(self, df: pd.DataFrame) -> list[str]:
        """Columns ``df`` needs for this spec (derived measures count via their raw inputs)."""
        need: list[str] = [self.id_column, *(g.column for g in self.groups)]
        if self.baseline is not None:
            need.append(self.baseline)
        for c in self.components:
            if self.latent is not None and c == self.latent.replaces:
                need += list(self.latent.items)
            elif c not in df.columns:
                need += list(DERIVED_INPUTS.get(c, (c,)))
        return list(dict.fromkeys(need))

    def missing_columns(self, df: pd.DataFrame, *, with_outcome: bool = True) -> list[str]:
        need = self.required_columns(df)
        if with_outcome:
            need += [*self.outcomes, *([self.trials] if self.trials else [])]
        return [c for c in dict.fromkeys(need) if c not in df.columns]

    def validate(self, df: pd.DataFrame) -> None:
        """Every check against the data that can fail, before anything is compiled."""
        self.check()
        missing = self.missing_columns(df)
        if missing:
            raise SpecError(
                f"spec {self.name!r} names column(s) not in the data: {missing}. Map your columns to "
                "these names first (or change the spec's outcome/terms/groups)."
            )
        for g in self.groups:
            if df[g.column].isna().any():
                raise SpecError(f"group column {g.column!r} has missing ids: every row needs a {g.name}")
            parent = next((p for p in self.groups if p.name == g.parent), None)
            if parent is not None:
                n_parents = df.groupby(g.column, observed=True)[parent.column].nunique()
                bad = n_parents[n_parents > 1].index.tolist()
                if bad:
                    raise SpecError(
                        f"{g.name} ids {bad[:5]} occur in several {parent.name}s: ids of a nested "
                        "level must be unique across the survey (prefix them with the parent id)"
                    )
        if self.baseline is not None:
            t = _numeric(df[self.baseline])
            if t.isna().any() or (t != np.round(t)).any():
                raise SpecError(
                    f"spec {self.name!r}: the time column {self.baseline!r} must hold whole numbers "
                    "(the survey wave) in every row"
                )
            if df.duplicated([self.id_column, self.baseline]).any():
                raise SpecError(
                    f"spec {self.name!r}: ids repeat within a {self.baseline}: a person-period frame has "
                    f"one row per {self.id_column!r} and {self.baseline!r}"
                )
        elif df[self.id_column].duplicated().any():
            hint = " (a panel: fit the hazard model M6, or one wave)" if "wave" in df.columns else ""
            raise SpecError(f"id column {self.id_column!r} has duplicated ids{hint}")
        for y in self.outcomes:
            check_outcome(self, df, y)
        if self.latent is not None:
            for item in self.latent.items:
                vals = _numeric(df[item]).dropna()
                if vals.empty or (vals != np.round(vals)).any():
                    raise SpecError(f"latent item {item!r} must hold integer ordinal codes")


def _numeric(s: pd.Series) -> pd.Series:
    try:
        return pd.to_numeric(s, errors="raise").astype("float64")
    except (TypeError, ValueError) as exc:
        raise SpecError(f"column {s.name!r} is not numeric: {exc}") from None


def ordinal_categories(spec: ModelSpec, y: pd.Series) -> list[int]:
    """The categories of an ordinal outcome (declared or observed range); each must be used."""
    vals = _numeric(y).dropna()
    cats = (
        list(spec.categories)
        if spec.categories is not None
        else list(range(int(vals.min()), int(vals.max()) + 1))
    )
    if len(cats) < 2:
        raise SpecError(f"ordinal outcome {y.name!r} needs at least two categories, found {cats}")
    extra = sorted(set(vals.astype(int)) - set(cats))
    if extra:
        raise SpecError(f"ordinal outcome {y.name!r} has values {extra} outside its categories {cats}")
    unused = [c for c in cats if c not in set(vals.astype(int))]
    if unused:
        raise SpecError(
            f"ordinal outcome {y.name!r} never uses categor{'y' if len(unused) == 1 else 'ies'} {unused} "
            f"of {cats}: its cutpoint is not identified. Merge the category with a neighbour "
            "(recode) or declare the categories that occur with ModelSpec(categories=...)."
        )
    return cats


def check_outcome(spec: ModelSpec, df: pd.DataFrame, y: str) -> None:
    vals = _numeric(df[y]).dropna()
    if vals.empty:
        raise SpecError(f"outcome {y!r} has no observed values")
    if (vals != np.round(vals)).any():
        raise SpecError(f"outcome {y!r} is not integer-valued: family {spec.family!r} does not fit")
    if spec.family == "bernoulli":
        bad = sorted(set(vals.unique()) - {0.0, 1.0})
        if bad:
            raise SpecError(
                f"family 'bernoulli' needs a 0/1 outcome, but {y!r} has values {bad[:6]}: use "
                "family 'ordinal' for ratings or 'binomial' with trials for counts"
            )
    elif spec.family == "binomial":
        n = _numeric(df[spec.trials]).reindex(vals.index)
        if n.isna().any() or (n != np.round(n)).any() or (n < 1).any():
            raise SpecError(f"trials column {spec.trials!r} must hold positive integers where {y!r} is seen")
        if (vals < 0).any() or (vals > n).any():
            raise SpecError(f"binomial outcome {y!r} must lie between 0 and {spec.trials!r}")
    else:
        ordinal_categories(spec, df[y])


def component_frame(spec: ModelSpec, df: pd.DataFrame) -> pd.DataFrame:
    """Float frame of the spec's predictor components (derived measures computed as needed)."""
    out = pd.DataFrame(index=df.index)
    ilr = None
    for c in spec.components:
        if c in df.columns:
            out[c] = _numeric(df[c])
        elif c in MEASURES:
            out[c] = MEASURES[c](df).astype("float64")
        elif c in ILR_NAMES:
            ilr = ilr_coordinates(df) if ilr is None else ilr
            out[c] = ilr[c]
        elif c.startswith("active_"):
            src = f"involve_{c.removeprefix('active_')}"
            x = _numeric(df[src])
            out[c] = (x >= 1).astype("float64").where(x.notna())
        else:  # validate() prevents this
            raise SpecError(f"predictor component {c!r} is neither a column nor a known measure")
    return out.astype("float64")
