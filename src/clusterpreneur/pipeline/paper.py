"""The paper registry: its sections in order, and every table and figure with title and caption.

A :class:`Section` names its template (``pipeline/templates/sections/<id>.html.j2``, the text)
and the exhibits it shows; an :class:`Exhibit` names the builder in
:mod:`clusterpreneur.pipeline.exhibits` that makes it from the steps' artefacts, its title and
a one-sentence caption. Tables and figures are numbered in the order of :data:`SECTIONS`
(``Table 1``..., ``Table A1``... in the appendix), counting only those that appear in a run.
A new section (say, simulation-based calibration results) is a :class:`Section` here, its
template and, if it needs new numbers, a step in :mod:`clusterpreneur.pipeline.plan`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from clusterpreneur.pipeline import exhibits as ex


@dataclass(frozen=True)
class Exhibit:
    """One table or figure of the paper."""

    name: str
    kind: Literal["table", "figure"]
    title: str
    caption: str
    build: Callable[[ex.Sources], Any]
    side_by_side: bool = False  # figures: several panels per row (small figures)


@dataclass(frozen=True)
class Section:
    """One section: ``sections/<id>.html.j2`` shows the text and places the exhibits."""

    id: str
    heading: str
    exhibits: tuple[str, ...] = ()
    appendix: bool = False


EXHIBITS: dict[str, Exhibit] = {
    e.name: e
    for e in (
        Exhibit(
            "descriptives", "table", "The survey by region type",
            "Number of answers (N), mean and standard deviation of each variable, over all initiatives "
            "and separately for initiatives in core and in peripheral regions.",
            ex.descriptives,
        ),
        Exhibit(
            "missingness", "table", "Missing answers",
            "Survey questions with missing answers; the models impute missing predictors and leave out "
            "missing outcomes.",
            ex.missingness,
        ),
        Exhibit(
            "ladder", "table", "The model ladder as fitted",
            "Each rung adds one idea to the one before; the reference model answers the hypotheses and "
            "predicts the cases.",
            ex.ladder,
        ),
        Exhibit(
            "hypotheses_figure", "figure", "The hypothesised take-off effects across the ladder",
            "Posterior median and 95% interval of each hypothesised coefficient on the standardised scale, "
            "one colour per take-off model; an interval on the predicted side of the dashed zero line "
            "is not yet a supported hypothesis: the verdicts allow for judging eight claims at once "
            "(Methods).",
            ex.hypotheses_figure,
        ),
        Exhibit(
            "hypotheses", "table", "Hypotheses H1-H6 under the reference model",
            "P(direction) is the posterior probability that the coefficient has the predicted sign; the "
            "same coefficient is given per standard deviation of each predictor and per original unit, "
            "with the verdict of the rule stated in the Methods and the P(direction) each claim had to "
            "exceed under it (Threshold).",
            ex.hypotheses,
        ),
        Exhibit(
            "verdicts", "table", "Verdicts across the ladder",
            "The combined verdict on each hypothesis under every reported model, for take-off and, under "
            "M4, for the three performance ratings.",
            ex.verdict_matrix,
        ),
        Exhibit(
            "forest", "figure", "Bayesian and classical estimates side by side",
            "Standardised take-off coefficients of the reference model (posterior mean, 95% interval) "
            "beside the logit with country-clustered standard errors (estimate, 95% confidence interval); "
            "the numbers are in {{ ref('coefficients') }} and {{ ref('baselines') }}.",
            ex.forest_figure,
        ),
        Exhibit(
            "comparison", "table", "Predictive comparison of the take-off models",
            "Expected log predictive density by PSIS leave-one-out cross-validation (higher is better), "
            "the difference to the best model with its standard error, and stacking weights.",
            ex.comparison,
        ),
        Exhibit(
            "cases_figure", "figure", "The North Jutland cases and what-if scenarios",
            "Posterior probability of take-off (left) and its change from the case as coded (right, paired "
            "per posterior draw) under the reference model, with 95% intervals; the numbers are in the "
            "table below.",
            ex.cases_figure,
        ),
        Exhibit(
            "cases", "table", "The North Jutland cases and what-if scenarios",
            "Denmark and North Jutland are not in the survey, so each prediction draws a new country and "
            "region effect from the fitted population (its interval includes that uncertainty).",
            ex.cases,
        ),
        Exhibit(
            "gate", "table", "Convergence gate",
            "Largest R-hat and smallest bulk and tail effective sample size over all parameter elements, "
            "divergent transitions and the smallest E-BFMI of each fit, against the gate's thresholds.",
            ex.gate,
        ),
        Exhibit(
            "convergence", "figure", "Trace and rank plots",
            "For the eight parameter elements of each fit with the smallest bulk ESS: the chains' traces "
            "and, per chain, the rank ECDF minus the uniform with a 95% simultaneous band (draws thinned "
            "to about one per effective sample, as the band assumes independent draws).",
            ex.convergence_figures,
        ),
        Exhibit(
            "calibration_scores", "table", "Calibration of the predicted take-off probabilities",
            "Brier score of the leave-one-out probabilities split into miscalibration (MCB), "
            "discrimination (DSC) and uncertainty (UNC), Brier = MCB - DSC + UNC; p is the share of "
            "outcomes simulated from the probabilities with a larger MCB.",
            ex.ppc_scores,
        ),
        Exhibit(
            "calibration", "figure", "Calibration plots",
            "Share of initiatives that took off against their leave-one-out predicted probability "
            "(PAV-calibrated step line); the band holds 95% of such lines for outcomes drawn from the "
            "probabilities themselves, so a calibrated model stays inside it almost everywhere.",
            ex.calibration_figures,
            side_by_side=True,
        ),
        Exhibit(
            "counts", "table", "Answers per category: observed and predicted",
            "Observed number of initiatives per answer against the posterior predictive mean and 95% "
            "interval; 'outside' marks an observed count outside that interval.",
            ex.category_counts,
        ),
        Exhibit(
            "counts_figure", "figure", "Observed and predicted answers to the performance ratings",
            "Bars: posterior predictive mean count of each answer with its 95% interval; dots: observed "
            "counts (a diamond where the count lies outside the interval).",
            ex.counts_figures,
        ),
        Exhibit(
            "loo", "table", "PSIS-LOO of every fit and influential initiatives",
            "Expected log predictive density per fit and outcome; initiatives whose Pareto k exceeds the "
            "sample-size dependent threshold have unreliable leave-one-out estimates (all of them are "
            "listed in tables/high_k.csv).",
            ex.loo,
        ),
        Exhibit(
            "sensitivity", "table", "Prior sensitivity",
            "Sensitivity of each parameter's posterior to power-scaling the prior and the likelihood "
            "(cumulative Jensen-Shannon distance, flagged above 0.05), beside the prior's and the "
            "posterior's SD, the contraction 1 - var(posterior)/var(prior) and the shift of the posterior "
            "mean in prior SDs.",
            ex.sensitivity,
        ),
        Exhibit(
            "coefficients", "table", "Take-off coefficients of every model",
            "Posterior mean and 95% interval on the standardised scale (log-odds per SD of each predictor; "
            "0/1 predictors per unit); SD rows are the group-level standard deviations.",
            ex.coefficients,
        ),
        Exhibit(
            "rating_coefficients", "table", "Coefficients of the performance-rating model",
            "Posterior mean and 95% interval of the cumulative-logit coefficients of each rating on the "
            "standardised scale.",
            ex.rating_coefficients,
        ),
        Exhibit(
            "baselines", "table", "Classical baselines",
            "statsmodels estimates with 95% confidence intervals (logit and probit with country-clustered "
            "standard errors, binomial GLM, average marginal effects, variational-Bayes mixed logit, "
            "ordered logits, mixed model of firm growth), per SD of each predictor and per original unit.",
            ex.baselines,
        ),
        Exhibit(
            "kfold", "table", "Cross-validation by country",
            "Expected log predictive density of the initiatives of each country when the model is refitted "
            "without that country's fold (new country, region and initiative effects integrated over their "
            "fitted population), summed over countries, beside the leave-one-out estimate whose "
            "Pareto k diagnostics it does not need; the two answer different questions.",
            ex.kfold,
        ),
        Exhibit(
            "sbc", "table", "Simulation-based calibration of the ladder",
            "For each rung, data simulated from its priors and refitted exactly as the reported fit "
            "(fit_model, same sampler and parametrisation); a rung is calibrated when the rank of every "
            "true parameter among its posterior draws is uniform (pot_c test, Holm-adjusted, 5%).",
            ex.sbc,
        ),
        Exhibit(
            "sbc_figure", "figure", "Rank ECDF differences of simulation-based calibration",
            "Per parameter element, the ECDF of the fractional ranks minus the uniform's, with the p-value "
            "of the uniformity test before the Holm adjustment; a curve far from zero points to a "
            "miscalibrated posterior.",
            ex.sbc_figures,
        ),
    )
}  # fmt: skip
"""Every table and figure, by name."""

SECTIONS: tuple[Section, ...] = (
    Section("question", "1. The question"),
    Section("data", "2. Data", ("descriptives", "missingness")),
    Section("methods", "3. Methods", ("ladder",)),
    Section("results", "4. Results: the hypotheses", ("hypotheses_figure", "hypotheses", "verdicts")),
    Section("robustness", "5. Bayesian and classical estimates; model comparison", ("forest", "comparison")),
    Section("cases", "6. Worked example: the North Jutland cases", ("cases_figure", "cases")),
    Section("limitations", "7. Limitations"),
    Section("appendix-convergence", "A. Convergence", ("gate", "convergence"), appendix=True),
    Section(
        "appendix-checks",
        "B. Predictive checks",
        ("calibration_scores", "calibration", "counts", "counts_figure", "loo", "kfold"),
        appendix=True,
    ),
    Section("appendix-sensitivity", "C. Prior sensitivity", ("sensitivity",), appendix=True),
    Section(
        "appendix-estimates",
        "D. All estimates",
        ("coefficients", "rating_coefficients", "baselines"),
        appendix=True,
    ),
    Section("appendix-sbc", "E. Simulation-based calibration", ("sbc", "sbc_figure"), appendix=True),
    Section("appendix-reproduce", "F. Reproducing this report", appendix=True),
)
"""The paper's sections in reading order."""


def shown(result: Any) -> bool:
    """Whether a built exhibit appears (and gets a number)."""
    return isinstance(result, ex.TableResult) or (isinstance(result, list) and len(result) > 0)


def numbering(results: Mapping[str, Any]) -> dict[str, str]:
    """``{exhibit: "Table 2" | "Figure A1"}`` for the exhibits that appear, in section order."""
    counters: dict[tuple[str, bool], int] = {}
    out = {}
    for section in SECTIONS:
        for name in section.exhibits:
            if not shown(results.get(name)):
                continue
            kind = EXHIBITS[name].kind
            key = (kind, section.appendix)
            counters[key] = counters.get(key, 0) + 1
            prefix = "A" if section.appendix else ""
            out[name] = f"{kind.capitalize()} {prefix}{counters[key]}"
    return out
