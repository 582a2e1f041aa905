"""M4, the ratings given take-off: its design and the recovery of the initiative-effect scale.

The simulator draws each rating from a cumulative logit of take-off (1.0), standardised latent
social capital (0.4) and the facilitator (0.3) plus correlated initiative effects with SD
``rating_sd`` (0.8) and correlation ``rating_corr`` (0.5): M4 with its initiative effects is that
model once take-off and the facilitator are terms (latent social capital is put in ``sc_score``).
"""

from __future__ import annotations

import numpy as np
import pytest

from clusterpreneur.models.build import prepare
from clusterpreneur.study.ladder import LADDER
from clusterpreneur.study.simulate import SimulationParams, simulate_survey


def test_m4_conditions_the_ratings_on_takeoff_and_the_facilitator(survey_frame):
    prep = prepare(LADDER["M4"], survey_frame)
    assert {"takeoff", "facilitator"} <= set(prep.coords["term"])
    assert {"takeoff", "facilitator"} <= set(prep.binary)  # 0/1, not rescaled


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="open: with STUDY_TERMS in M4 sigma_initiative sits near 3 (truth 0.8) even given take-off; "
    "with only the generating terms (take-off, facilitator, social capital) it is recovered",
)
def test_m4_recovers_the_initiative_effect_scale_without_prior_data_conflict():
    from clusterpreneur.diagnostics.sensitivity import prior_sensitivity
    from clusterpreneur.models import fit_model

    sim = simulate_survey(400, 40, seed=3)
    df = sim.data.copy()
    df["sc_score"] = sim.latent["sc_latent"].to_numpy()
    fit = fit_model(LADDER["M4"], df, draws=1000, tune=1000, chains=2, seed=4)
    lo, hi = np.quantile(fit.posterior["sigma_initiative"].values, [0.05, 0.95])
    assert lo <= SimulationParams().rating_sd <= hi, (lo, hi)
    psense = prior_sensitivity(fit.idata, var_names=["sigma_initiative"]).set_index("parameter")
    assert not psense.loc["sigma_initiative", "prior_data_conflict"], psense
