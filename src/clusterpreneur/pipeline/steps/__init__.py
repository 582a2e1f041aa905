"""The study's steps, one module each (see :mod:`clusterpreneur.pipeline.step` for the protocol).

In the order :func:`clusterpreneur.pipeline.plan.plan` lists them:

- :mod:`.data`: read and validate the survey and the cases once; note whether the data are simulated;
- :mod:`.descriptives`: the survey by region type, missing answers;
- :mod:`.baselines`: statsmodels baselines of every outcome;
- :mod:`.model`: sample one rung of the ladder; a compact, compressed fit;
- :mod:`.estimates`: coefficient and hypothesis tables of one fit;
- :mod:`.diagnostics`: convergence gate, PSIS-LOO, calibration / category checks, prior sensitivity and
  their figures for one fit;
- :mod:`.comparison`: PSIS-LOO comparison of the take-off models;
- :mod:`.forest`: Bayes (reference model) beside the statsmodels logit;
- :mod:`.hypotheses`: verdicts on H1-H6 for every reportable fit and their figure;
- :mod:`.cases`: the North Jutland cases and their what-if scenarios;
- :mod:`.report`: the paper (HTML, optionally PDF) with its tables and figures.
"""
