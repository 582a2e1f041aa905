"""Hierarchical Bayesian GLMMs (PyMC 6): specs, building, fitting, saving, prediction.

The generic core: it knows no study (the cluster study's ladder is a layer on top). Quick use::

    from clusterpreneur.models import ModelSpec, fit_model, load_fit
    spec = ModelSpec.from_formula("p(incidence, size) ~ C(period) + (1 | herd)", df, family="binomial")
    print(spec)                                      # formula, family, groups, priors
    fit = fit_model(spec, df, seed=1)
    fit.coefficients(); fit.save("results/fits/herd.nc")
    fit = load_fit("results/fits/herd.nc", df)      # refuses if df changed
    fit.predict(new_rows)
"""

from clusterpreneur.models.build import Prepared, build_model, prepare
from clusterpreneur.models.fit import FittedModel, data_sha256, fit_model, sample_prior_predictive
from clusterpreneur.models.hypotheses import coefficient_table, hypothesis_table
from clusterpreneur.models.persist import load_fit, save_fit
from clusterpreneur.models.predict import predict, what_if
from clusterpreneur.models.spec import DEFAULT_PRIORS, GroupLevel, LatentSpec, ModelSpec, Term, VaryingSlope
from clusterpreneur.models.verdict import VerdictRule, apply_verdicts, combine_verdicts, verdicts

__all__ = [
    "DEFAULT_PRIORS",
    "FittedModel",
    "GroupLevel",
    "LatentSpec",
    "ModelSpec",
    "Prepared",
    "Term",
    "VaryingSlope",
    "VerdictRule",
    "apply_verdicts",
    "build_model",
    "coefficient_table",
    "combine_verdicts",
    "data_sha256",
    "fit_model",
    "hypothesis_table",
    "load_fit",
    "predict",
    "prepare",
    "sample_prior_predictive",
    "save_fit",
    "verdicts",
    "what_if",
]
