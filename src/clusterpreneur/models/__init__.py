"""Hierarchical Bayesian model ladder (PyMC 6): specs, building, fitting, saving, prediction.

Quick use::

    from clusterpreneur.models import fit_model, load_fit
    from clusterpreneur.study import LADDER
    fit = fit_model(LADDER["M2"], df, seed=1)
    fit.hypotheses(); fit.save("results/models/M2.nc")
    fit = load_fit("results/models/M2.nc", df)      # refuses if df changed
    fit.predict(new_rows); fit.what_if(cases, NORTH_JUTLAND_SCENARIOS)
"""

from clusterpreneur.models.build import Prepared, build_model, prepare
from clusterpreneur.models.fit import FittedModel, data_sha256, fit_model, sample_prior_predictive
from clusterpreneur.models.hypotheses import coefficient_table, hypothesis_table
from clusterpreneur.models.persist import load_fit, save_fit
from clusterpreneur.models.predict import NORTH_JUTLAND_SCENARIOS, predict, what_if
from clusterpreneur.models.spec import DEFAULT_PRIORS, GroupLevel, LatentSpec, ModelSpec, VaryingSlope

__all__ = [
    "DEFAULT_PRIORS",
    "NORTH_JUTLAND_SCENARIOS",
    "FittedModel",
    "GroupLevel",
    "LatentSpec",
    "ModelSpec",
    "Prepared",
    "VaryingSlope",
    "build_model",
    "coefficient_table",
    "data_sha256",
    "fit_model",
    "hypothesis_table",
    "load_fit",
    "predict",
    "prepare",
    "sample_prior_predictive",
    "save_fit",
    "what_if",
]
