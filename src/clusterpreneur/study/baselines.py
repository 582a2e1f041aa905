"""statsmodels baselines for every outcome, reported in the tidy table format of :mod:`clusterpreneur.tables`.

Every model uses the shared predictor statement (:data:`clusterpreneur.study.predictors.STUDY_TERMS`)
through :func:`clusterpreneur.study.predictors.design_matrix`: one standardised design for the whole
survey (the standardiser is learned once on all rows, so every model's coefficients are per
standard deviation of the same scale), then listwise deletion of rows with a missing predictor,
outcome or group id for each model; ``n`` in the table is the number of rows used.

Models (the ``model`` column):

``logit``, ``probit``
    take-off, maximum likelihood with country-clustered (sandwich) standard errors;
``glm_binomial``
    take-off, binomial GLM (logit link) with model-based standard errors: same estimates as
    ``logit``, so the pair shows what clustering does to the standard errors;
``logit_ame``
    average marginal effects of the logit (``get_margeff(at="overall")``, binary columns as
    discrete changes), per standard deviation on the standardised scale;
``ordered_logit``
    one per performance rating (:data:`clusterpreneur.study.codebook.RATINGS`), ``OrderedModel``
    with ``distr="logit"`` and no constant, country-clustered standard errors. Regressors:
    the study terms plus :data:`RATING_EXTRA` (take-off and a dedicated facilitator), because
    the ratings are post-take-off judgements of the initiative and the facilitator is their
    one organisational driver in the Greenbook. What it identifies: the take-off and
    facilitator effects (on the marginal, i.e. attenuated, scale: the ratings share correlated
    initiative-level noise the model does not represent); the social-capital coefficient is
    attenuated by measurement error (item mean instead of the latent trait), and the other
    study terms only pick up what they share with latent social capital. Cutpoints are
    reported as thresholds ``cut j|j+1`` with delta-method standard errors;
``mixedlm``
    firm growth, linear mixed model (REML) with study terms plus :data:`GROWTH_EXTRA`, a
    random intercept per country and a region variance component where the data have more
    than one country and more regions than countries (otherwise the coarser structure that
    the data support). Variance parameters are reported as ``var(country)``,
    ``var(region)`` and ``var(residual)``;
``bayes_mixed_glm``
    take-off, ``BinomialBayesMixedGLM`` fitted by variational Bayes (``fit_vb``) with country
    and region variance components on the standardised design: posterior means and sds of the
    fixed effects (95% interval mean +- 1.96 sd, no p-value) and of the group standard
    deviations ``sd(country)``, ``sd(region)`` (log-normal posterior: interval and sd
    transformed from the log scale). VB is known to understate posterior sds;
``hazard_logit``
    take-off in a panel of survey waves (a ``wave`` column): the pooled discrete-time hazard,
    a logit of take-off in the interval ending at each wave on the initiative-waves at risk,
    with one baseline log-odds per wave (terms ``wave 1``, ``wave 2``, ...: no common intercept)
    plus the study terms at their values in that wave, country-clustered standard errors (an
    initiative's waves share its country). It has no group effects, so with unobserved
    heterogeneity it estimates population-averaged hazard coefficients, smaller in size than the
    conditional ones a hierarchical hazard model states. On a panel the cross-sectional take-off
    models are not fitted (an initiative's waves are not independent surveys); the ratings and
    firm growth models then run on the initiative-waves.

Every coefficient of a study term is reported twice: ``scale="standardised"`` and
``scale="original"`` (divided by :func:`clusterpreneur.models.hypotheses.original_scale_factor`;
for an interaction: per unit of the product of the centred components), except a term of 0/1
columns only (``peripheral``, ``anchor_firm``, ...), which has one scale and one row,
``scale="unscaled"`` (per change from 0 to 1), as in the Bayesian tables. Intercepts, cutpoints and
variance parameters exist only on the standardised design.

Problems statsmodels signals are caught per model: warnings (``ConvergenceWarning``,
``PerfectSeparationWarning``, ``HessianInversionWarning``, ...) and exceptions
(``PerfectSeparationError``, ``LinAlgError``, ...) go into the table's ``warnings`` column and
the log (logger ``clusterpreneur.study.baselines``) with the model that caused them; a model that
fails outright gives one ``(model failed)`` row and the others still run. Binary outcomes are
checked for complete or quasi-complete separation by a linear program (statsmodels 0.15's
``Logit`` does not flag it itself: it only reports non-convergence), and every binary fit
for huge coefficients or standard errors and fitted probabilities stuck at 0 or 1.

``python -m clusterpreneur.study.baselines --out results/baselines`` fits all of them on the shipped
data and writes ``baselines.csv``, ``baselines.md`` and ``baselines.tex`` (``nox -s baselines``).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.optimize import linprog
from scipy.stats import norm

from clusterpreneur import tables
from clusterpreneur.standardize import Standardizer
from clusterpreneur.study.codebook import RATINGS
from clusterpreneur.study.predictors import (
    STUDY_TERMS,
    Term,
    design_matrix,
    original_scale_factor,
    terms_from_names,
)
from clusterpreneur.study.schema import is_panel

logger = logging.getLogger("clusterpreneur.study.baselines")

TAKEOFF = "takeoff"
GROWTH = "firm_growth"
WAVE = "wave"
COUNTRY = "country_id"
REGION = "region_id"
RATING_EXTRA: tuple[str, ...] = ("takeoff", "facilitator")
"""Regressors added to the study terms for the ordered logits of the performance ratings."""
GROWTH_EXTRA: tuple[str, ...] = ("takeoff",)
"""Regressors added to the study terms for the mixed model of firm growth."""

DEFAULT_SEED = 20032
"""Seed of the variational-Bayes mixed GLM's random starting values (same seed, same table)."""

HUGE_COEF = 10.0
"""|coefficient| on the standardised scale above which a binary fit is flagged (quasi-separation)."""
HUGE_SE = 25.0
"""Standard error above which a binary fit is flagged (flat likelihood: quasi-separation)."""
EXTREME_PROB = 1e-6
"""Fitted probabilities closer than this to 0 or 1 are counted as perfectly predicted."""

Z95 = float(norm.ppf(0.975))


@dataclass
class Design:
    """A model's complete-case data: standardised design, outcome and group ids."""

    X: pd.DataFrame
    y: pd.Series
    country: pd.Series
    region: pd.Series
    terms: tuple[Term, ...]
    standardizer: Standardizer
    n_dropped: int

    @property
    def n(self) -> int:
        return len(self.y)


@dataclass
class BaselineFit:
    """One fitted model: its tidy rows, the statsmodels result and what went wrong."""

    outcome: str
    model: str
    table: pd.DataFrame
    result: object | None = None
    converged: bool = False
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    design: Design | None = None


@dataclass
class BaselineResults:
    """All baselines: ``fits`` in fitting order and one tidy ``table`` of every row."""

    fits: list[BaselineFit]

    @property
    def table(self) -> pd.DataFrame:
        return tables.concat(f.table for f in self.fits)

    @property
    def warnings(self) -> list[str]:
        """Every problem, prefixed by ``outcome/model``."""
        return [f"{f.outcome}/{f.model}: {w}" for f in self.fits for w in f.warnings]

    def get(self, model: str, outcome: str | None = None) -> BaselineFit:
        for f in self.fits:
            if f.model == model and (outcome is None or f.outcome == outcome):
                return f
        raise KeyError(f"no fit for model {model!r}" + (f" and outcome {outcome!r}" if outcome else ""))

    def write(self, directory: str | Path, stem: str = "baselines") -> dict[str, Path]:
        """Write the table as CSV, Markdown and LaTeX (atomically) into ``directory``."""
        return tables.write_tables(self.table, directory, stem, caption="statsmodels baselines")


# --------------------------------------------------------------------------- helpers


def prepare_design(
    df: pd.DataFrame,
    outcome: str,
    terms: tuple[Term, ...] = STUDY_TERMS,
    extra: tuple[str, ...] = (),
    standardizer: Standardizer | None = None,
) -> Design:
    """Standardised design of ``terms`` (+ ``extra`` columns) and the complete cases for ``outcome``."""
    all_terms = tuple(terms) + terms_from_names([e for e in extra if e not in {t.name for t in terms}])
    X, std = design_matrix(df, all_terms, standardizer)
    y = pd.to_numeric(df[outcome], errors="coerce").astype("float64")
    country = df[COUNTRY].astype("string") if COUNTRY in df else pd.Series("all", index=df.index)
    region = df[REGION].astype("string") if REGION in df else country
    keep = X.notna().all(axis=1) & y.notna() & country.notna() & region.notna()
    return Design(
        X=X[keep],
        y=y[keep],
        country=country[keep],
        region=region[keep],
        terms=all_terms,
        standardizer=std,
        n_dropped=int((~keep).sum()),
    )


def _with_const(X: pd.DataFrame) -> pd.DataFrame:
    out = X.copy()
    out.insert(0, "Intercept", 1.0)
    return out


def _codes(s: pd.Series) -> np.ndarray:
    return pd.Categorical(s).codes.astype("int64")


@contextlib.contextmanager
def _capture() -> Iterator[list[str]]:
    """Record every warning raised inside as ``"Category: message"`` (deduplicated, in order)."""
    found: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield found
    for w in caught:
        msg = f"{w.category.__name__}: {str(w.message).strip().splitlines()[0]}"
        if msg not in found:
            found.append(msg)


def _one_scale_terms(names: list[str], design: Design) -> set[str]:
    """The study terms among ``names`` whose every component keeps its own scale (0/1 columns): their
    coefficient is per change from 0 to 1, reported once as ``scale="unscaled"``."""
    known = {t.name: t for t in design.terms}
    keeps = design.standardizer.keeps_scale
    return {nm for nm in names if nm in known and all(keeps(c) for c in known[nm].components)}


def _original_rows(
    outcome: str,
    model: str,
    names: list[str],
    est: np.ndarray,
    se: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    p: np.ndarray,
    design: Design,
    converged: bool,
    problems: list[str],
    one_scale: set[str],
) -> pd.DataFrame:
    """Original-scale copies of the study-term rows (coefficient / original_scale_factor), except
    the ``one_scale`` terms."""
    known = {t.name: t for t in design.terms}
    idx = [i for i, nm in enumerate(names) if nm in known and nm not in one_scale]
    if not idx:
        return tables.empty_table()
    f = np.array([original_scale_factor(known[names[i]], design.standardizer) for i in idx])
    return tables.rows(
        outcome=outcome,
        model=model,
        terms=[names[i] for i in idx],
        estimate=est[idx] / f,
        std_error=se[idx] / f,
        ci_lower=lo[idx] / f,
        ci_upper=hi[idx] / f,
        p_value=p[idx],
        n=design.n,
        converged=converged,
        warnings=problems,
        scale="original",
    )


def _coef_table(
    outcome: str,
    model: str,
    names: list[str],
    est,
    se,
    lo,
    hi,
    p,
    design: Design,
    converged: bool,
    problems: list[str],
    original: bool = True,
) -> pd.DataFrame:
    est, se, lo, hi = (np.asarray(v, dtype="float64") for v in (est, se, lo, hi))
    p = np.full(len(names), np.nan) if p is None else np.asarray(p, dtype="float64")
    std_rows = tables.rows(
        outcome=outcome,
        model=model,
        terms=names,
        estimate=est,
        std_error=se,
        ci_lower=lo,
        ci_upper=hi,
        p_value=p,
        n=design.n,
        converged=converged,
        warnings=problems,
    )
    one_scale = _one_scale_terms(names, design)
    std_rows.loc[std_rows["term"].isin(one_scale), "scale"] = "unscaled"
    if not original:
        return std_rows
    return tables.concat(
        [
            std_rows,
            _original_rows(outcome, model, names, est, se, lo, hi, p, design, converged, problems, one_scale),
        ]
    )


def _log(outcome: str, model: str, problems: list[str]) -> None:
    for msg in problems:
        logger.warning("%s/%s: %s", outcome, model, msg)


# --------------------------------------------------------------------------- separation


def separation_check(X: pd.DataFrame, y: pd.Series | np.ndarray, tol: float = 1e-7) -> list[str]:
    """Names of the columns of a direction that (quasi-)separates ``y``; empty when there is none.

    Linear program (after Konis 2007): find ``b`` in the box ``[-1, 1]`` with
    ``s_i x_i'b >= 0`` for every row (``s = 2y - 1``) maximising ``sum_i s_i x_i'b``. A
    positive optimum means a linear predictor that never misclassifies and classifies some
    rows with certainty: complete or quasi-complete separation, so the maximum-likelihood
    estimate does not exist (some coefficient goes to infinity). ``X`` should hold the
    intercept column. If the LP solver fails the check returns no names.
    """
    A = np.asarray(X, dtype="float64") * (2.0 * np.asarray(y, dtype="float64") - 1.0)[:, None]
    res = linprog(
        c=-A.sum(axis=0),
        A_ub=-A,
        b_ub=np.zeros(len(A)),
        bounds=[(-1.0, 1.0)] * A.shape[1],
        method="highs",
    )
    if res.status != 0 or -res.fun <= tol * max(1, len(A)):
        return []
    b = res.x
    margins = A @ b
    if margins.max() <= tol:
        return []
    cols = list(X.columns) if isinstance(X, pd.DataFrame) else [f"x{j}" for j in range(A.shape[1])]
    return [c for c, v in zip(cols, b, strict=True) if abs(v) > 1e-6]


def _separation_messages(design: Design, X: pd.DataFrame | None = None) -> list[str]:
    """Problems of a binary outcome on ``X`` (default: the design with an intercept): constant, separated."""
    y = design.y.to_numpy()
    if np.unique(y).size < 2:
        return [f"outcome is constant ({y[0] if len(y) else 'no rows'}): nothing to estimate"]
    cols = separation_check(_with_const(design.X) if X is None else X, y)
    if not cols:
        return []
    return [
        "separation: a linear combination of ["
        + ", ".join(cols)
        + "] predicts the outcome perfectly (complete or quasi-complete separation); the MLE does not "
        "exist and those coefficients and their SEs are meaningless - drop or merge the predictor, "
        "or use a penalised/Bayesian fit"
    ]


def _quasi_separation_messages(params: np.ndarray, bse: np.ndarray, fitted: np.ndarray) -> list[str]:
    out = []
    big = np.abs(params) > HUGE_COEF
    if big.any() or (np.asarray(bse) > HUGE_SE).any():
        out.append(
            f"possible quasi-separation: |coefficient| up to {np.nanmax(np.abs(params)):.3g}, "
            f"SE up to {np.nanmax(bse):.3g} on the standardised scale"
        )
    extreme = int(((fitted < EXTREME_PROB) | (fitted > 1 - EXTREME_PROB)).sum())
    if extreme:
        out.append(
            f"possible quasi-separation: {extreme} fitted probabilities within {EXTREME_PROB:g} of 0 or 1"
        )
    return out


# --------------------------------------------------------------------------- take-off


def _fit_binary(df: pd.DataFrame, terms: tuple[Term, ...], outcome: str, family: str) -> BaselineFit:
    design = prepare_design(df, outcome, terms)
    cls = sm.Logit if family == "logit" else sm.Probit
    return _fit_clustered(cls, _with_const(design.X), design, outcome, family)


def _fit_clustered(cls, X: pd.DataFrame, design: Design, outcome: str, model: str) -> BaselineFit:
    """Maximum likelihood of the binary model ``cls`` (Logit, Probit) of ``design.y`` on ``X`` with
    country-clustered SEs, every problem it signals collected."""
    problems = _separation_messages(design, X)
    with _capture() as caught:
        res = cls(design.y, X).fit(
            disp=False, maxiter=200, cov_type="cluster", cov_kwds={"groups": _codes(design.country)}
        )
    problems += caught
    converged = bool(res.mle_retvals.get("converged", False))
    if not converged:
        problems.append(f"not converged after {res.mle_retvals.get('iterations', '?')} iterations")
    problems += _quasi_separation_messages(res.params.to_numpy(), res.bse.to_numpy(), res.predict())
    if design.country.nunique() < 20:
        problems.append(f"only {design.country.nunique()} country clusters: clustered SEs are unreliable")
    return _binary_fit(outcome, model, list(X.columns), res, design, converged, problems)


def _binary_fit(outcome, model, names, res, design, converged, problems) -> BaselineFit:
    """Tidy rows, log line and BaselineFit of a fitted take-off model."""
    ci = res.conf_int(0.05)
    table = _coef_table(
        outcome, model, names, res.params, res.bse, ci[0], ci[1], res.pvalues, design, converged, problems
    )
    _log(outcome, model, problems)
    return BaselineFit(outcome, model, table, res, converged, problems, design=design)


def fit_logit(df: pd.DataFrame, terms: tuple[Term, ...] = STUDY_TERMS, outcome: str = TAKEOFF) -> BaselineFit:
    """Logit of ``outcome`` on the standardised study terms, country-clustered SEs."""
    return _fit_binary(df, terms, outcome, "logit")


def fit_probit(
    df: pd.DataFrame, terms: tuple[Term, ...] = STUDY_TERMS, outcome: str = TAKEOFF
) -> BaselineFit:
    """Probit of ``outcome`` on the standardised study terms, country-clustered SEs."""
    return _fit_binary(df, terms, outcome, "probit")


def fit_glm_binomial(
    df: pd.DataFrame, terms: tuple[Term, ...] = STUDY_TERMS, outcome: str = TAKEOFF
) -> BaselineFit:
    """Binomial GLM (logit link, IRLS) of ``outcome``, model-based SEs."""
    model = "glm_binomial"
    design = prepare_design(df, outcome, terms)
    Xc = _with_const(design.X)
    problems = _separation_messages(design)
    with _capture() as caught:
        res = sm.GLM(design.y, Xc, family=sm.families.Binomial()).fit(maxiter=100)
    problems += caught
    converged = bool(res.converged)
    if not converged:
        problems.append("IRLS not converged")
    problems += _quasi_separation_messages(
        res.params.to_numpy(), res.bse.to_numpy(), res.fittedvalues.to_numpy()
    )
    return _binary_fit(outcome, model, list(Xc.columns), res, design, converged, problems)


def average_marginal_effects(binary_fit: BaselineFit) -> BaselineFit:
    """Average marginal effects of a fitted logit (or probit), with its clustered covariance.

    ``dP/dx`` averaged over the sample for every design column; 0/1 columns as the discrete
    change from 0 to 1. An interaction column's AME is that of the product column itself.
    Standardised scale: per standard deviation; original scale: per original unit.
    """
    res, design = binary_fit.result, binary_fit.design
    model = f"{binary_fit.model}_ame"
    if res is None or design is None:
        raise ValueError(f"{binary_fit.outcome}/{binary_fit.model} has no result to take margins of")
    with _capture() as caught:
        frame = res.get_margeff(at="overall", method="dydx", dummy=True).summary_frame(alpha=0.05)
    problems = [*binary_fit.warnings, *caught]
    names = [str(nm) for nm in frame.index]
    table = _coef_table(
        binary_fit.outcome,
        model,
        names,
        frame["dy/dx"],
        frame["Std. Err."],
        frame.iloc[:, 4],
        frame.iloc[:, 5],
        frame["Pr(>|z|)"],
        design,
        binary_fit.converged,
        problems,
    )
    _log(binary_fit.outcome, model, list(caught))
    return BaselineFit(binary_fit.outcome, model, table, frame, binary_fit.converged, problems, design=design)


# --------------------------------------------------------------------------- ratings


def _threshold_rows(res, k_exog: int) -> tuple[np.ndarray, np.ndarray]:
    """Cutpoints ``a_1, a_1 + exp(a_2), ...`` and their delta-method SEs."""
    raw = np.asarray(res.params)[k_exog:]
    cov = np.asarray(res.cov_params())[k_exog:, k_exog:]
    cuts = np.cumsum(np.r_[raw[0], np.exp(raw[1:])])
    J = np.zeros((raw.size, raw.size))
    J[:, 0] = 1.0
    for j in range(1, raw.size):
        J[j:, j] = np.exp(raw[j])
    se = np.sqrt(np.clip(np.diag(J @ cov @ J.T), 0, None))
    return cuts, se


def fit_ordered_logit(
    df: pd.DataFrame,
    rating: str,
    terms: tuple[Term, ...] = STUDY_TERMS,
    extra: tuple[str, ...] = RATING_EXTRA,
) -> BaselineFit:
    """Ordered logit (``OrderedModel``, no constant) of one rating, country-clustered SEs."""
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    model = "ordered_logit"
    design = prepare_design(df, rating, terms, extra)
    levels = np.unique(design.y)
    problems: list[str] = []
    if levels.size < 2:
        raise ValueError(f"{rating} has fewer than two observed levels")
    with _capture() as caught:
        om = OrderedModel(design.y.to_numpy(), design.X, distr="logit")
        res = om.fit(
            method="bfgs",
            disp=False,
            maxiter=500,
            cov_type="cluster",
            cov_kwds={"groups": _codes(design.country)},
        )
    problems += caught
    converged = bool(res.mle_retvals.get("converged", False))
    if not converged:
        problems.append("BFGS not converged")
    k = design.X.shape[1]
    bse = np.asarray(res.bse)
    if np.abs(np.asarray(res.params)[:k]).max() > HUGE_COEF or (bse > HUGE_SE).any():
        problems.append("possible quasi-separation: huge coefficient or standard error")
    if design.country.nunique() < 20:
        problems.append(f"only {design.country.nunique()} country clusters: clustered SEs are unreliable")
    ci = np.asarray(res.conf_int(0.05))
    names = list(design.X.columns)
    coef = _coef_table(
        rating,
        model,
        names,
        np.asarray(res.params)[:k],
        bse[:k],
        ci[:k, 0],
        ci[:k, 1],
        np.asarray(res.pvalues)[:k],
        design,
        converged,
        problems,
    )
    cuts, cut_se = _threshold_rows(res, k)
    labels = [f"cut {levels[j]:g}|{levels[j + 1]:g}" for j in range(levels.size - 1)]
    cut_rows = tables.rows(
        outcome=rating,
        model=model,
        terms=labels,
        estimate=cuts,
        std_error=cut_se,
        n=design.n,
        converged=converged,
        warnings=problems,
    )
    _log(rating, model, problems)
    return BaselineFit(rating, model, tables.concat([coef, cut_rows]), res, converged, problems)


# --------------------------------------------------------------------------- firm growth


def _safe_names(names: list[str]) -> dict[str, str]:
    return {nm: f"x{j}" for j, nm in enumerate(names)}


def fit_mixedlm_growth(
    df: pd.DataFrame,
    terms: tuple[Term, ...] = STUDY_TERMS,
    outcome: str = GROWTH,
    extra: tuple[str, ...] = GROWTH_EXTRA,
) -> BaselineFit:
    """Linear mixed model of firm growth: country random intercepts and a region variance component."""
    model = "mixedlm"
    design = prepare_design(df, outcome, terms, extra)
    names = list(design.X.columns)
    safe = _safe_names(names)
    data = design.X.rename(columns=safe)
    data["y"], data["country"], data["region"] = design.y, design.country, design.region
    n_c, n_r = design.country.nunique(), design.region.nunique()
    problems: list[str] = []
    formula = "y ~ " + " + ".join(safe.values())
    if n_c >= 2:
        groups, vc = "country", ({"region": "0 + C(region)"} if n_r > n_c else None)
        if vc is None:
            problems.append("no region level beyond countries: region variance component left out")
    elif n_r >= 2:
        groups, vc = "region", None
        problems.append("one country only: region random intercepts, no country level")
    else:
        raise ValueError("firm growth mixed model needs at least two countries or regions")
    with _capture() as caught:
        mm = sm.MixedLM.from_formula(formula, data=data, groups=groups, vc_formula=vc, re_formula="1")
        res = mm.fit(reml=True, method=["lbfgs", "powell"])
    problems += caught
    converged = bool(getattr(res, "converged", False))
    if not converged:
        problems.append("REML optimisation not converged")
    fe = res.fe_params
    k = len(fe)
    inv = {v: k for k, v in safe.items()}
    fe_names = ["Intercept" if nm == "Intercept" else inv[nm] for nm in fe.index]
    bse_fe = np.asarray(res.bse_fe)
    if not np.isfinite(bse_fe).all():
        problems.append("singular fit: non-finite fixed-effect standard errors")
    p = np.asarray(res.pvalues)[:k]
    ci = np.asarray(res.conf_int(0.05))[:k]
    coef = _coef_table(
        outcome, model, fe_names, fe.to_numpy(), bse_fe, ci[:, 0], ci[:, 1], p, design, converged, problems
    )
    var_names = [f"var({groups})"]
    var_est = [float(np.asarray(res.cov_re)[0, 0])]
    if vc is not None:
        var_names.append("var(region)")
        var_est.append(float(np.asarray(res.vcomp)[0]))
    var_names.append("var(residual)")
    var_est.append(float(res.scale))
    if any(v < 1e-8 for v in var_est[:-1]):
        problems.append("singular fit: a variance component is estimated at zero (boundary)")
    var_rows = tables.rows(
        outcome=outcome,
        model=model,
        terms=var_names,
        estimate=var_est,
        n=design.n,
        converged=converged,
        warnings=problems,
    )
    coef["warnings"] = tables.WARNING_SEPARATOR.join(dict.fromkeys(problems))
    _log(outcome, model, problems)
    return BaselineFit(outcome, model, tables.concat([coef, var_rows]), res, converged, problems)


# --------------------------------------------------------------------------- VB mixed GLM


def fit_bayes_mixed_glm(
    df: pd.DataFrame,
    terms: tuple[Term, ...] = STUDY_TERMS,
    outcome: str = TAKEOFF,
    *,
    seed: int = DEFAULT_SEED,
) -> BaselineFit:
    """``BinomialBayesMixedGLM`` by variational Bayes, country and region variance components.

    ``seed`` seeds ``fit_vb``'s random starting values (``rng``); without it statsmodels draws
    them from fresh OS entropy and the table differs from run to run.
    """
    from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM

    model = "bayes_mixed_glm"
    design = prepare_design(df, outcome, terms)
    names = list(design.X.columns)
    safe = _safe_names(names)
    data = design.X.rename(columns=safe)
    data["y"], data["country"], data["region"] = design.y, design.country, design.region
    vcf = {}
    if design.country.nunique() >= 2:
        vcf["country"] = "0 + C(country)"
    if design.region.nunique() > design.country.nunique():
        vcf["region"] = "0 + C(region)"
    if not vcf:
        raise ValueError("the mixed GLM needs at least two countries or regions")
    problems = _separation_messages(design)
    with _capture() as caught:
        mm = BinomialBayesMixedGLM.from_formula("y ~ " + " + ".join(safe.values()), vcf, data)
        # L-BFGS-B: same optimum as the default BFGS, about twice as fast
        res = mm.fit_vb(fit_method="L-BFGS-B", rng=np.random.default_rng(seed))
        if not bool(getattr(res.optim_retvals, "success", True)):
            res = mm.fit_vb(fit_method="BFGS", rng=np.random.default_rng(seed))
    problems += caught
    opt = getattr(res, "optim_retvals", None)
    converged = bool(getattr(opt, "success", True))
    if not converged:
        problems.append(f"VB optimisation not converged: {getattr(opt, 'message', '')}")
    inv = {v: k for k, v in safe.items()}
    fe_names = ["Intercept" if nm == "Intercept" else inv[nm] for nm in mm.exog_names]
    m, s = np.asarray(res.fe_mean), np.asarray(res.fe_sd)
    coef = _coef_table(
        outcome, model, fe_names, m, s, m - Z95 * s, m + Z95 * s, None, design, converged, problems
    )
    vm, vs = np.asarray(res.vcp_mean), np.asarray(res.vcp_sd)
    vc_rows = tables.rows(
        outcome=outcome,
        model=model,
        terms=[f"sd({nm})" for nm in mm.vcp_names],
        estimate=np.exp(vm + vs**2 / 2),
        std_error=np.sqrt((np.exp(vs**2) - 1) * np.exp(2 * vm + vs**2)),
        ci_lower=np.exp(vm - Z95 * vs),
        ci_upper=np.exp(vm + Z95 * vs),
        n=design.n,
        converged=converged,
        warnings=problems,
    )
    _log(outcome, model, problems)
    return BaselineFit(outcome, model, tables.concat([coef, vc_rows]), res, converged, problems)


# --------------------------------------------------------------------------- panel hazard


def fit_hazard_logit(
    df: pd.DataFrame, terms: tuple[Term, ...] = STUDY_TERMS, outcome: str = TAKEOFF
) -> BaselineFit:
    """Pooled discrete-time logit of ``outcome`` in a panel: a baseline log-odds per wave plus the
    standardised study terms, country-clustered SEs (one row per initiative and wave at risk)."""
    if not is_panel(df):
        raise ValueError("the discrete-time hazard needs a panel: a wave column numbering the survey waves")
    model = "hazard_logit"
    design = prepare_design(df, outcome, terms)
    wave = pd.to_numeric(df.loc[design.X.index, WAVE], errors="coerce")
    keep = wave.notna()
    design = Design(
        X=design.X[keep], y=design.y[keep], country=design.country[keep], region=design.region[keep],
        terms=design.terms, standardizer=design.standardizer, n_dropped=design.n_dropped + int((~keep).sum()),
    )  # fmt: skip
    waves = sorted(int(w) for w in wave[keep].unique())
    dummies = pd.DataFrame(
        {f"wave {w}": (wave[keep] == w).astype("float64") for w in waves}, index=design.X.index
    )
    return _fit_clustered(sm.Logit, pd.concat([dummies, design.X], axis=1), design, outcome, model)


# --------------------------------------------------------------------------- all of them


def _run(outcome: str, model: str, fn: Callable[[], BaselineFit]) -> BaselineFit:
    """Run one fit; an exception becomes a ``(model failed)`` row and a logged error."""
    try:
        with _capture() as caught:
            fit = fn()
    except Exception as exc:  # one failing model must not stop the others
        msg = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
        logger.error("%s/%s failed: %s", outcome, model, msg)
        return BaselineFit(outcome, model, tables.failure_row(outcome, model, msg), None, False, [msg], msg)
    extra = [w for w in caught if w not in fit.warnings]
    if extra:  # warnings raised outside the model's own capture (e.g. in the design)
        fit.warnings += extra
        fit.table["warnings"] = tables.WARNING_SEPARATOR.join(dict.fromkeys(fit.warnings))
        _log(outcome, model, extra)
    return fit


def fit_baselines(
    df: pd.DataFrame, terms: tuple[Term, ...] = STUDY_TERMS, *, seed: int = DEFAULT_SEED
) -> BaselineResults:
    """Fit every baseline that the data's columns allow; each model's problems stay in its rows.

    A panel (a ``wave`` column) gets the discrete-time hazard instead of the cross-sectional
    take-off models. ``seed`` makes the one stochastic baseline (the variational-Bayes mixed GLM)
    reproducible.
    """
    fits: list[BaselineFit] = []
    if TAKEOFF in df and is_panel(df):
        fits.append(_run(TAKEOFF, "hazard_logit", lambda: fit_hazard_logit(df, terms)))
    elif TAKEOFF in df:
        logit = _run(TAKEOFF, "logit", lambda: fit_logit(df, terms))
        fits.append(logit)
        if logit.result is not None:
            fits.append(_run(TAKEOFF, "logit_ame", lambda: average_marginal_effects(logit)))
        fits.append(_run(TAKEOFF, "probit", lambda: fit_probit(df, terms)))
        fits.append(_run(TAKEOFF, "glm_binomial", lambda: fit_glm_binomial(df, terms)))
        fits.append(_run(TAKEOFF, "bayes_mixed_glm", lambda: fit_bayes_mixed_glm(df, terms, seed=seed)))
    for rating in RATINGS:
        if rating in df:
            fits.append(_run(rating, "ordered_logit", lambda r=rating: fit_ordered_logit(df, r, terms)))
    if GROWTH in df:
        fits.append(_run(GROWTH, "mixedlm", lambda: fit_mixedlm_growth(df, terms)))
    if not fits:
        raise ValueError(f"no outcome columns found: need one of {[TAKEOFF, *RATINGS, GROWTH]}")
    return BaselineResults(fits)


# --------------------------------------------------------------------------- command line


def load_data(path: str | Path | None = None, mapping: str | Path | None = None) -> pd.DataFrame:
    """Read and validate a survey (default: the shipped ``data/survey.csv``) with ``readers.load_survey``."""
    from clusterpreneur.study.datasets import default_survey_path
    from clusterpreneur.study.readers import load_survey

    return load_survey(Path(path) if path is not None else default_survey_path(), mapping=mapping)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m clusterpreneur.study.baselines",
        description="Fit the statsmodels baselines of every outcome and write tidy tables "
        "(CSV, Markdown, LaTeX).",
    )
    parser.add_argument("--data", help="survey file (default: the shipped data/survey.csv)")
    parser.add_argument("--mapping", help="TOML column mapping for --data (see clusterpreneur.study.readers)")
    parser.add_argument("--out", default="results/baselines", help="output folder (default: %(default)s)")
    parser.add_argument("--stem", default="baselines", help="file name stem (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    df = load_data(args.data, args.mapping)
    results = fit_baselines(df)
    paths = results.write(args.out, args.stem)
    table = results.table
    n_models = table[["outcome", "model"]].drop_duplicates().shape[0]
    flagged = table.loc[table["warnings"] != "", ["outcome", "model"]].drop_duplicates()
    print(f"{n_models} models, {len(table)} rows; {len(flagged)} model(s) with warnings")
    for kind, p in paths.items():
        print(f"{kind:>8}: {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
