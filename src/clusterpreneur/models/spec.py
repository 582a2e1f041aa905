"""Declarative model specifications: plain data, validated against a frame, saved with every fit.

A :class:`ModelSpec` says *what* to fit (outcome and family, predictors, group levels, varying
slopes, latent measurement model, several ordinal outcomes, shrinkage, imputation, prior
overrides); :mod:`clusterpreneur.models.build` turns it into a PyMC model. Specs round-trip
through JSON (``to_json`` / ``from_json``) and have a content hash (``sha256``).

Every check here runs on the pandas frame before any PyMC graph is built or compiled, and
raises :class:`~clusterpreneur.errors.SpecError` with what is wrong and what to do.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
import pymc as pm

from clusterpreneur.errors import SpecError
from clusterpreneur.models.families import FAMILIES, FAMILY_PRIORS, get_family
from clusterpreneur.models.parametrize import FIXED_EFFECTS, check_name

Family = str
"""A family name: one of :data:`clusterpreneur.models.families.FAMILIES`."""

RESERVED_DIMS = ("term", "component", "item", "outcome", "main_term", "shrunk_term", "wave")
"""Dimension names the graph uses itself: no group level or observation dimension may take them."""


DEFAULT_PRIORS: dict[str, dict[str, Any]] = {
    "intercept": {"dist": "Normal", "mu": 0.0, "sigma": 1.5},
    "beta": {"dist": "Normal", "mu": 0.0, "sigma": 1.0},
    "sigma": {"dist": "HalfNormal", "sigma": 1.0},
    "cutpoints": {"dist": "Normal", "mu": 0.0, "sigma": 3.0},
    "difficulty": {"dist": "Normal", "mu": 0.0, "sigma": 2.0},
    "discrimination": {"dist": "LogNormal", "mu": 0.0, "sigma": 0.5},
    "horseshoe": {"tau0": 0.1, "slab_scale": 1.0, "slab_df": 4.0, "local_df": 1.0},
    "shrinkage_normal": {"sigma": 0.25},
    **FAMILY_PRIORS,
}
"""Weakly informative defaults on standardised predictors. Override any entry with
``ModelSpec(priors={...})``: keys are these names, or a specific parameter name such as
``"sigma_country"`` (which wins over ``"sigma"``); :meth:`ModelSpec.prior_keys` lists the keys a
model takes, and any other key is an error. ``sigma_residual`` (gaussian) and ``alpha``
(negative binomial) are the families' own parameters; for a gaussian outcome the defaults are
rescaled to the outcome's mean and SD (:mod:`clusterpreneur.models.families`).

Cutpoints (``cutpoints``, ``cutpoints_{outcome}``) and item difficulties (``difficulty``,
``difficulty_{item}``) are ordered vectors: each element has the stated ``Normal(mu, sigma)``
prior (a scalar ``mu`` is the mean of every element, or give one mean per element), restricted
to increasing order. The sampler starts from evenly spaced values (``linspace(-2, 2)`` shifted by
the mean), which changes the starting point only, not the prior."""


@dataclass(frozen=True)
class Derived:
    """A predictor computed from data columns (``compute(frame) -> Series``); see ``derived_from``."""

    inputs: tuple[str, ...]
    compute: Any


def derived_columns(spec: ModelSpec) -> dict[str, Derived]:
    """The derived predictors of ``spec.derived_from`` (``"package.module"`` whose
    ``DERIVED_COLUMNS`` maps names to :class:`Derived`), or none."""
    if not spec.derived_from:
        return {}
    try:
        module = importlib.import_module(spec.derived_from)
    except ImportError as exc:
        raise SpecError(
            f"spec {spec.name!r}: derived_from {spec.derived_from!r} cannot be imported: {exc}"
        ) from None
    table = getattr(module, "DERIVED_COLUMNS", None)
    if not isinstance(table, dict):
        raise SpecError(f"spec {spec.name!r}: module {spec.derived_from!r} has no DERIVED_COLUMNS dict")
    return table


@dataclass(frozen=True)
class Term:
    """One predictor: a column or the product (interaction) of several, joined by ':'.

    ``hypothesis`` (a label), ``sign`` (+1 / -1) and ``description`` are set for the terms a
    spec declares in ``hypotheses``.
    """

    name: str
    hypothesis: str | None = None
    sign: int = 0
    description: str = ""

    @property
    def components(self) -> tuple[str, ...]:
        return tuple(self.name.split(":"))

    @property
    def is_interaction(self) -> bool:
        return len(self.components) > 1


def component_columns(terms) -> list[str]:
    """The distinct columns the terms are products of, in order of first use."""
    return list(dict.fromkeys(c for t in terms for c in t.components))


def indicator(component: str) -> tuple[str, str] | None:
    """``("period", "p2")`` for a dummy component ``"period[p2]"``, else None."""
    if component.endswith("]") and "[" in component:
        column, level = component[:-1].split("[", 1)
        return column, level
    return None


@dataclass(frozen=True)
class GroupLevel:
    """A level of varying intercepts: dimension ``name`` (any name of yours, e.g. ``"herd"``)
    indexed by the ids in ``column``; ``"a:b"`` names one effect per observed combination of
    columns ``a`` and ``b`` (labels ``"a1:b1"``: nested groups).

    ``parent`` documents nesting (regions in countries); ids must be unique across the
    whole data (a region id is never reused in another country), which is checked.

    ``parametrization`` says how the sampler moves the effects (the model is the same):
    ``non-centred``, ``centred``, ``laplace`` or ``auto`` (default), see
    :mod:`clusterpreneur.models.parametrize`. It is not part of the spec's hash.
    """

    name: str
    column: str
    parent: str | None = None
    parametrization: str = "auto"

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.column.split(":"))

    def labels(self, df: pd.DataFrame) -> pd.Series:
        """Each row's level label (combinations joined by ':')."""
        parts = [df[c].map(_label) for c in self.columns]
        out = parts[0]
        for p in parts[1:]:
            out = out + ":" + p
        return out


@dataclass(frozen=True)
class VaryingSlope:
    """The coefficient of ``term`` varies by group level ``group`` (a :class:`GroupLevel` name)."""

    term: str
    group: str
    parametrization: str = "auto"  # as GroupLevel's

    @property
    def param(self) -> str:
        return f"{self.term.replace(':', '_x_')}_{self.group}"


@dataclass(frozen=True)
class LatentSpec:
    """A latent predictor measured by ordinal items (graded-response model, N(0, 1) identified).

    The latent variable replaces the predictor component ``replaces`` (e.g. the plug-in
    ``sc_score``) everywhere it appears in the design, including interactions.
    """

    name: str
    replaces: str
    items: tuple[str, ...]


@dataclass(frozen=True)
class ModelSpec:
    """Plain-data model specification. See the module docstring; build one from a formula with
    :meth:`from_formula` (the study's ladder is in :mod:`clusterpreneur.study.ladder`).

    ``outcome`` is one column (``bernoulli`` / ``binomial`` / ``ordinal``) or, for ``ordinal``
    only, several columns modelled as cumulative logits over dim ``outcome`` that share one
    effect per observation (``sigma_{obs_dim}``: a varying intercept per observation over its
    answers; with one answer per outcome, outcome-specific effects would not be identified).
    ``categories`` fixes the
    ordinal categories (each must be observed); by default they are the integers from the
    observed minimum to maximum of each outcome, and a gap is an error.
    ``terms`` are columns or products of columns (``"x:z"``); a dummy of a categorical column
    is ``"column[level]"`` with the levels (reference first) in ``categorical``.
    ``obs_dim`` names the observation dimension and ``id_column`` the column of observation
    ids (``None``: the row number). ``standardize``: ``True`` standardises every continuous
    component (0/1 columns and dummies never), ``False`` none, or a tuple of columns.
    ``hypotheses`` maps a term to its expected sign (``+1`` / ``-1``), or to
    ``{"sign": ..., "label": ..., "description": ...}``. ``derived_from`` names a module whose
    ``DERIVED_COLUMNS`` computes predictors from other columns (the study's measures).
    ``shrinkage_terms`` get a regularised-horseshoe (or tighter normal) prior instead of
    the default one. ``impute`` lists the predictor components whose missing values are
    imputed inside the model (``"auto"``: every component that has missing values).
    ``family`` is a name in :data:`clusterpreneur.models.families.FAMILIES` (bernoulli,
    binomial with ``trials``, ordinal, gaussian, poisson, negative_binomial).

    ``weights`` names a column of non-negative likelihood weights (as brms' ``weights()``):
    observation ``i``'s log-likelihood is multiplied by ``w_i``. They are frequency or
    importance weights of the likelihood: weight 2 counts a row as if it had been seen twice,
    so posterior SDs shrink roughly as ``1 / sqrt(sum of weights)`` and weights that do not sum
    to the number of real, independent observations make the posterior over- or
    under-confident. They are not survey design weights: a weighted posterior is not
    design-consistent inference about a population (for that, model the design variables or
    post-stratify). The fit's ``log_likelihood`` group (and LOO) is the unweighted pointwise
    log-likelihood. Only the outcome's likelihood is weighted: a row's imputed predictor values
    stay one parameter each (not repeated), and a latent measurement model refuses weights.

    ``formula`` keeps the formula text a spec was made from (see :meth:`from_formula`).

    ``baseline`` names a discrete time column (the survey ``wave``): the model then has one
    intercept per observed value of it (``intercept`` over dim ``wave``) instead of a common
    one, the baseline log-odds of a discrete-time hazard, and the data are person-period rows:
    one row per ``id_column`` and ``baseline`` value (bernoulli only). The observation dim
    then labels initiative-waves (``"<id> wave <k>"``).
    """

    name: str
    outcome: str | tuple[str, ...]
    family: Family = "bernoulli"
    terms: tuple[str, ...] = ()
    groups: tuple[GroupLevel, ...] = ()
    slopes: tuple[VaryingSlope, ...] = ()
    trials: str | None = None
    weights: str | None = None
    categories: tuple[int, ...] | None = None
    latent: LatentSpec | None = None
    shrinkage_terms: tuple[str, ...] = ()
    shrinkage: Literal["horseshoe", "normal"] = "horseshoe"
    impute: tuple[str, ...] | Literal["auto"] = "auto"
    id_column: str | None = None
    obs_dim: str = "obs"
    standardize: bool | tuple[str, ...] = True
    categorical: dict[str, list] = field(default_factory=dict)
    hypotheses: dict[str, Any] = field(default_factory=dict)
    derived_from: str | None = None
    formula: str | None = None
    priors: dict[str, dict[str, Any]] = field(default_factory=dict)
    baseline: str | None = None
    description: str = ""
    fixed_effects: Literal["auto", "qr", "plain"] = "auto"

    # ----------------------------------------------------------------- derived properties
    @property
    def outcomes(self) -> tuple[str, ...]:
        return (self.outcome,) if isinstance(self.outcome, str) else tuple(self.outcome)

    @property
    def term_objects(self) -> tuple[Term, ...]:
        """The terms, those named in ``hypotheses`` with their sign, label and description."""
        out = []
        for name in self.terms:
            h = self.hypotheses.get(name)
            if h is None:
                out.append(Term(name))
                continue
            h = {"sign": h} if not isinstance(h, dict) else h
            out.append(Term(name, h.get("label") or name, int(h["sign"]), h.get("description", "")))
        return tuple(out)

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

    def prior_parameters(self) -> dict[str, str]:
        """Every parameter with a prior in this model, mapped to its default entry of
        :data:`DEFAULT_PRIORS` (a key of ``priors`` may name either)."""
        out: dict[str, str] = {}
        family = get_family(self.family)
        if family.has_intercept and len(self.outcomes) == 1:
            out["intercept"] = "intercept"
        for key in family.parameters:
            out[key] = key
        main = [t for t in self.terms if t not in self.shrinkage_terms]
        if main:
            out["beta_main" if self.shrinkage_terms else "beta"] = "beta"
        if self.shrinkage_terms:
            out["horseshoe" if self.shrinkage == "horseshoe" else "shrinkage_normal"] = (
                "horseshoe" if self.shrinkage == "horseshoe" else "shrinkage_normal"
            )
        for g in self.groups:
            out[f"sigma_{g.name}"] = "sigma"
        for s in self.slopes:
            out[f"sigma_{s.param}"] = "sigma"
        if self.family == "ordinal":
            for y in self.outcomes:
                out[f"cutpoints_{y}"] = "cutpoints"
            if len(self.outcomes) > 1:
                out[f"sigma_{self.obs_dim}"] = "sigma"
        if self.latent is not None:
            out["discrimination"] = "discrimination"
            for item in self.latent.items:
                out[f"difficulty_{item}"] = "difficulty"
        return out

    def prior_keys(self) -> list[str]:
        """The keys ``priors`` may use for this model: parameter names and their default entries."""
        params = self.prior_parameters()
        return sorted({*params, *params.values()})

    def with_overrides(self, **changes) -> ModelSpec:
        """A copy with fields replaced (``priors`` are merged, not replaced)."""
        if "priors" in changes:
            changes["priors"] = {**self.priors, **changes["priors"]}
        return replace(self, **changes)

    @classmethod
    def from_formula(cls, formula: str, data: pd.DataFrame, **options) -> ModelSpec:
        """A spec from a model formula (see :func:`clusterpreneur.models.formula.spec_from_formula`)."""
        from clusterpreneur.models.formula import spec_from_formula

        return spec_from_formula(formula, data, **options)

    def __str__(self) -> str:
        return describe(self)

    # ----------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["outcome"] = self.outcome if isinstance(self.outcome, str) else list(self.outcome)
        if d["weights"] is None:  # a later field: left out at its default, so earlier specs keep their hash
            del d["weights"]
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
        d["groups"] = tuple(GroupLevel(**_legacy_parametrization(g)) for g in d.get("groups", ()))
        d["slopes"] = tuple(VaryingSlope(**_legacy_parametrization(s)) for s in d.get("slopes", ()))
        if d.get("latent") is not None:
            lat = dict(d["latent"])
            lat["items"] = tuple(lat["items"])
            d["latent"] = LatentSpec(**lat)
        for key in ("terms", "shrinkage_terms"):
            d[key] = tuple(d.get(key, ()))
        if isinstance(d.get("standardize"), list):
            d["standardize"] = tuple(d["standardize"])
        if d.get("categories") is not None:
            d["categories"] = tuple(int(c) for c in d["categories"])
        if isinstance(d.get("impute"), list):
            d["impute"] = tuple(d["impute"])
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        return cls.from_dict(json.loads(text))

    def sha256(self) -> str:
        """Content hash of what the model means: the canonical JSON encoding without the
        sampler's parametrisation choices (``parametrization`` of levels and slopes,
        ``fixed_effects``), so re-parametrising a model does not make it another model."""
        d = self.to_dict()
        d.pop("fixed_effects")
        for part in (*d["groups"], *d["slopes"]):
            part.pop("parametrization")
        text = json.dumps(d, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    # ----------------------------------------------------------------- validation
    def check(self) -> None:
        """Internal consistency (no data needed)."""
        if self.family not in FAMILIES:
            raise SpecError(f"spec {self.name!r}: unknown family {self.family!r}; choose one of {FAMILIES}")
        family = get_family(self.family)
        if len(self.outcomes) > 1 and self.family != "ordinal":
            raise SpecError(
                f"spec {self.name!r}: several outcomes {self.outcomes} need family 'ordinal' "
                f"(cumulative logits sharing an effect per observation); give one outcome for {self.family!r}"
            )
        if family.needs_trials and not self.trials:
            raise SpecError(f"spec {self.name!r}: family {self.family!r} needs `trials` (a column of counts)")
        if self.trials and not family.needs_trials:
            raise SpecError(f"spec {self.name!r}: `trials` is for family 'binomial', not {self.family!r}")
        if self.weights is not None and not (isinstance(self.weights, str) and self.weights):
            raise SpecError(f"spec {self.name!r}: `weights` must name a column, not {self.weights!r}")
        if self.weights and self.latent is not None:
            raise SpecError(
                f"spec {self.name!r}: likelihood weights with a latent measurement model are not "
                "supported (the item likelihoods would stay unweighted); drop `weights` or `latent`"
            )
        scales = [f"sigma_{g.name}" for g in self.groups] + [f"sigma_{s.param}" for s in self.slopes]
        clash = sorted(set(scales) & set(family.parameters))
        if clash:
            raise SpecError(
                f"spec {self.name!r}: group-level scale(s) {clash} would share the name of the "
                f"{self.family} family's own parameter; rename the group level"
            )
        if len(set(self.terms)) != len(self.terms):
            raise SpecError(f"spec {self.name!r}: duplicated terms in {self.terms}")
        names = [g.name for g in self.groups]
        if not isinstance(self.obs_dim, str) or not self.obs_dim or self.obs_dim in RESERVED_DIMS:
            raise SpecError(
                f"spec {self.name!r}: obs_dim {self.obs_dim!r} must be a name other than {RESERVED_DIMS}"
            )
        taken = {*RESERVED_DIMS, self.obs_dim}
        if len(set(names)) != len(names):
            raise SpecError(f"spec {self.name!r}: group level names repeat: {names}")
        for g in self.groups:
            if not g.name or g.name in taken or ":" in g.name or "/" in g.name:
                raise SpecError(
                    f"group level {g.name!r}: choose a name without ':' or '/' other than the observation "
                    f"dimension {self.obs_dim!r} and {RESERVED_DIMS} (the graph's own dimensions)"
                )
            if g.parent is not None and g.parent not in names:
                raise SpecError(f"group level {g.name!r} names an unknown parent {g.parent!r}")
        for g in self.groups:
            check_name(g.parametrization, f"group level {g.name!r}")
        for s in self.slopes:
            check_name(s.parametrization, f"varying slope of {s.term!r} by {s.group!r}")
        if self.fixed_effects not in ("auto", *FIXED_EFFECTS):
            raise SpecError(
                f"spec {self.name!r}: fixed_effects must be one of {('auto', *FIXED_EFFECTS)}, "
                f"not {self.fixed_effects!r}"
            )
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
        valid = self.prior_keys()
        if "lkj_eta" in self.priors:
            raise SpecError(
                f"spec {self.name!r}: prior key 'lkj_eta' no longer exists: several ordinal outcomes share "
                "one effect per observation (no correlation matrix, no LKJ prior); remove the key"
            )
        unknown = [k for k in self.priors if k not in valid]
        if unknown:
            raise SpecError(
                f"spec {self.name!r}: prior key(s) {unknown} name no parameter of this model; "
                f"the valid keys are {valid}"
            )
        for term, h in self.hypotheses.items():
            if term not in self.terms:
                raise SpecError(
                    f"spec {self.name!r}: hypothesis on {term!r}, which is not a term; "
                    f"terms: {list(self.terms)}"
                )
            sign = h.get("sign") if isinstance(h, dict) else h
            if sign not in (1, -1):
                raise SpecError(
                    f"spec {self.name!r}: the hypothesis on {term!r} needs sign +1 or -1, not {sign!r}"
                )
        for key, p in self.priors.items():
            if not isinstance(p, dict):
                raise SpecError(f"prior override {key!r} must be a dict such as {{'dist': 'Normal', ...}}")
            dist = p.get("dist")
            if dist is not None and not isinstance(getattr(pm, dist, None), type):
                raise SpecError(f"prior override {key!r}: {dist!r} is not a PyMC distribution")

    def required_columns(self, df: pd.DataFrame) -> list[str]:
        """Columns ``df`` needs for this spec (derived predictors count via their inputs)."""
        need: list[str] = [
            *([self.id_column] if self.id_column else []),
            *(c for g in self.groups for c in g.columns),
        ]
        if self.baseline is not None:
            need.append(self.baseline)
        derived = derived_columns(self)
        for c in self.components:
            dummy = indicator(c)
            if self.latent is not None and c == self.latent.replaces:
                need += list(self.latent.items)
            elif dummy is not None and dummy[0] in self.categorical:
                need.append(dummy[0])
            elif c not in df.columns:
                need += list(derived[c].inputs) if c in derived else [c]
        return list(dict.fromkeys(need))

    def missing_columns(self, df: pd.DataFrame, *, with_outcome: bool = True) -> list[str]:
        need = self.required_columns(df)
        if with_outcome:
            need += [*self.outcomes, *(c for c in (self.trials, self.weights) if c)]
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
            if df[list(g.columns)].isna().any(axis=None):
                raise SpecError(f"group column {g.column!r} has missing ids: every row needs a {g.name}")
            parent = next((p for p in self.groups if p.name == g.parent), None)
            if parent is not None:
                pair = pd.DataFrame({"g": g.labels(df), "p": parent.labels(df)})
                n_parents = pair.groupby("g", observed=True)["p"].nunique()
                bad = n_parents[n_parents > 1].index.tolist()
                if bad:
                    raise SpecError(
                        f"{g.name} ids {bad[:5]} occur in several {parent.name}s: ids of a nested "
                        "level must be unique across the survey (prefix them with the parent id)"
                    )
        if self.baseline is not None:
            if not self.id_column:
                raise SpecError(
                    f"spec {self.name!r}: a baseline per {self.baseline!r} needs person-period rows "
                    "identified by id_column"
                )
            t = as_numeric(df[self.baseline])
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
        elif self.id_column and df[self.id_column].duplicated().any():
            hint = " (a panel: fit the hazard model M6, or one wave)" if "wave" in df.columns else ""
            raise SpecError(f"id column {self.id_column!r} has duplicated ids{hint}")
        for y in self.outcomes:
            check_outcome(self, df, y)
        if self.weights:
            check_weights(self, df)
        if self.latent is not None:
            for item in self.latent.items:
                vals = as_numeric(df[item]).dropna()
                if vals.empty or (vals != np.round(vals)).any():
                    raise SpecError(f"latent item {item!r} must hold integer ordinal codes")


def _legacy_parametrization(d: dict) -> dict:
    """Specs saved before ``parametrization`` said ``centered=True`` / ``laplace=True``."""
    d = dict(d)
    centred, laplace = d.pop("centered", False), d.pop("laplace", False)
    if "parametrization" not in d and (centred or laplace):
        d["parametrization"] = "laplace" if laplace else "centred"
    return d


def as_numeric(s: pd.Series) -> pd.Series:
    try:
        return pd.to_numeric(s, errors="raise").astype("float64")
    except (TypeError, ValueError) as exc:
        raise SpecError(f"column {s.name!r} is not numeric: {exc}") from None


def ordinal_categories(spec: ModelSpec, y: pd.Series) -> list[int]:
    """The categories of an ordinal outcome (declared or observed range); each must be used."""
    vals = as_numeric(y).dropna()
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
    """The observed values of outcome ``y`` fit the spec's family (its registry check)."""
    vals = as_numeric(df[y]).dropna()
    trials = as_numeric(df[spec.trials]) if spec.trials else None
    get_family(spec.family).check_outcome(vals, trials)
    if spec.family == "ordinal":
        ordinal_categories(spec, df[y])


def check_weights(spec: ModelSpec, df: pd.DataFrame) -> None:
    """Likelihood weights: numeric, finite, >= 0 wherever an outcome is observed, not all 0."""
    w = as_numeric(df[spec.weights])
    seen = pd.concat([as_numeric(df[y]) for y in spec.outcomes], axis=1).notna().any(axis=1)
    w = w[seen]
    bad = w.isna() | ~np.isfinite(w) | (w < 0)
    if bad.any():
        rows = ", ".join(map(str, w.index[bad][:5].tolist()))
        raise SpecError(
            f"weights column {spec.weights!r} must hold finite numbers >= 0 wherever the outcome is "
            f"observed; rows {rows} do not ({int(bad.sum())} in all)"
        )
    if float(w.sum()) <= 0:
        raise SpecError(f"weights column {spec.weights!r} sums to 0: no observation would count")


def component_frame(spec: ModelSpec, df: pd.DataFrame) -> pd.DataFrame:
    """Float frame of the spec's predictor components: columns, dummies ``column[level]`` of the
    spec's categorical columns (NaN where the column is missing; a level the spec does not know
    is an error) and derived predictors (``derived_from``)."""
    out = pd.DataFrame(index=df.index)
    derived = derived_columns(spec)
    for c in spec.components:
        dummy = indicator(c)
        if dummy is not None and dummy[0] in spec.categorical:
            column, level = dummy
            labels = df[column].map(_label)
            known = {str(_canonical_level(v)) for v in spec.categorical[column]}
            new = sorted(set(labels.dropna()) - known)
            if new:
                raise SpecError(
                    f"column {column!r} has level(s) {new} the model does not know (levels: "
                    f"{spec.categorical[column]}); a categorical predictor cannot take a new level"
                )
            out[c] = (labels == level).astype("float64").where(labels.notna())
        elif c in df.columns:
            out[c] = as_numeric(df[c])
        elif c in derived:
            out[c] = pd.Series(derived[c].compute(df), index=df.index).astype("float64")
        else:  # validate() prevents this
            raise SpecError(f"predictor component {c!r} is neither a column nor a known derived predictor")
    return out.astype("float64")


def _canonical_level(value):
    """One representation per level: integral numbers as int, other numbers as float, text as str."""
    if isinstance(value, bool | np.bool_ | int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return int(value) if float(value).is_integer() else float(value)
    return str(value)


def _label(value) -> str | None:
    """A level label: the canonical value as text (``3.0`` and ``3`` are both ``"3"``), None if missing."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(_canonical_level(value))


def _prior_text(settings: dict[str, Any]) -> str:
    s = dict(settings)
    dist = s.pop("dist", None)
    args = ", ".join(f"{k}={v:g}" if isinstance(v, int | float) else f"{k}={v}" for k, v in s.items())
    return f"{dist}({args})" if dist else args


def describe(spec: ModelSpec) -> str:
    """A readable statement of the model: formula, family, observations, terms, groups, priors."""
    link = get_family(spec.family).link if spec.family in FAMILIES else ""
    outcome = ", ".join(spec.outcomes) + (f" of {spec.trials} trials" if spec.trials else "")
    ids = spec.id_column or "the row number"
    lines = [f"ModelSpec {spec.name!r}" + (f": {spec.description}" if spec.description else "")]
    if spec.formula:
        lines.append(f"  formula       {spec.formula}")
    lines += [
        f"  family        {spec.family}" + (f" ({link} link)" if link else ""),
        f"  outcome       {outcome}",
        f"  observations  dim {spec.obs_dim!r}, ids from {ids}",
    ]
    std = spec.standardize
    scaling = (
        "continuous components standardised (mean 0, SD 1); 0/1 columns and dummies unscaled"
        if std is True
        else "no component standardised"
        if std is False
        else f"standardised: {', '.join(std)}; other components as given"
    )
    lines.append(f"  terms         {', '.join(spec.terms) or '(none)'}")
    lines.append(f"                {scaling}")
    for column, levels in spec.categorical.items():
        lines.append(f"  categorical   {column}: reference {levels[0]!r}, levels {list(levels)}")
    for g in spec.groups:
        slopes = [s.term for s in spec.slopes if s.group == g.name]
        what = "varying intercept" + (f" and slopes of {', '.join(slopes)}" if slopes else "")
        parent = f", nested in {g.parent}" if g.parent else ""
        lines.append(f"  group         {g.name} (column {g.column}{parent}): {what}")
    if spec.latent is not None:
        lat = spec.latent
        lines.append(
            f"  latent        {lat.name} replaces {lat.replaces}, measured by {', '.join(lat.items)}"
        )
    if spec.shrinkage_terms:
        lines.append(f"  shrinkage     {spec.shrinkage} on {', '.join(spec.shrinkage_terms)}")
    for t in spec.term_objects:
        if t.sign:
            label = f" ({t.hypothesis})" if t.hypothesis and t.hypothesis != t.name else ""
            lines.append(f"  hypothesis    {t.name} {'>' if t.sign > 0 else '<'} 0{label}")
    lines.append("  priors")
    params = spec.prior_parameters()
    width = max((len(p) for p in params), default=0) + 2
    for param, default in params.items():
        source = "set" if param in spec.priors else f"default {default!r}" if param != default else "default"
        if param not in spec.priors and default in spec.priors:
            source = f"set as {default!r}"
        lines.append(f"    {param:<{width}}{_prior_text(spec.prior(param, default))}   [{source}]")
    return "\n".join(lines)
