"""Hierarchical Bayesian model ladder (PyMC 6): specs, building, fitting, saving, prediction.

Quick use::

    from clusterpreneur.models import fit_model, load_fit
    from clusterpreneur.study import LADDER
    fit = fit_model(LADDER["M2"], df, seed=1)
    fit.hypotheses(); fit.save("results/models/M2.nc")
    fit = load_fit("results/models/M2.nc", df)      # refuses if df changed
    fit.predict(new_rows); fit.what_if(cases, {"twice the firms": {"n_firms": lambda d: 2 * d["n_firms"]}})
"""

from clusterpreneur.models.build import Prepared, build_model, prepare
from clusterpreneur.models.fit import FittedModel, data_sha256, fit_model, sample_prior_predictive
from clusterpreneur.models.hypotheses import coefficient_table, hypothesis_table
from clusterpreneur.models.persist import load_fit, save_fit
from clusterpreneur.models.predict import predict, what_if
from clusterpreneur.models.spec import DEFAULT_PRIORS, GroupLevel, LatentSpec, ModelSpec, VaryingSlope
from clusterpreneur.models.verdict import VerdictRule, apply_verdicts, combine_verdicts, verdicts

__all__ = [
    "DEFAULT_PRIORS",
    "FittedModel",
    "GroupLevel",
    "LatentSpec",
    "ModelSpec",
    "Prepared",
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
