"""M6, the discrete-time hazard of take-off, recovers the panel simulator's known hazard.

The panel (:func:`clusterpreneur.study.panel.simulate_panel`) draws take-off in each wave with
``logit P = baseline[wave] + X beta + u_country + u_region``, ``X`` the standardised STUDY_TERMS
with latent social capital for ``sc_score``: M6 is that model. The check puts the latent social
capital in the ``sc_score`` column (the simulator's own design; the item average would attenuate
its two terms, as in the cross-sectional recovery tests) and restates the truth on the
standardisation the fit learns from the panel's rows (:meth:`SimulatedPanel.hazard_truth`).

Quantities: the three baseline log-odds, every coefficient, ``sigma_country`` and
``sigma_region``. With calibrated 90% intervals the number covered is about Binomial(k, 0.9);
the rule asks for at least 80% (P(Binomial(22, 0.9) < 18) is about 0.07 per seed).
"""

from __future__ import annotations

import numpy as np
import pytest

from clusterpreneur.models import fit_model
from clusterpreneur.study.ladder import LADDER
from clusterpreneur.study.panel import simulate_panel

MIN_COVERAGE = 0.8


def oracle_frame(panel):
    """The panel's rows with latent social capital in ``sc_score``."""
    df = panel.data.copy()
    df["sc_score"] = panel.latent["sc_latent"].to_numpy()
    return df


def coverage(fit, panel) -> dict[str, bool]:
    """Whether each true hazard parameter lies in the fit's central 90% interval."""
    truth = panel.hazard_truth()
    post = fit.posterior
    out = {}

    def inside(name, draws, value):
        lo, hi = np.quantile(np.asarray(draws).reshape(-1), [0.05, 0.95])
        out[name] = bool(lo <= value <= hi)

    for wave, value in truth["baseline"].items():
        inside(f"wave {wave}", post["intercept"].sel(wave=str(wave)).values, value)
    for term, value in truth["coefficients"].items():
        inside(term, post["beta"].sel(term=term).values, value)
    for name in ("sigma_country", "sigma_region"):
        inside(name, post[name].values, panel.truth["hazard"][name])
    return out


def fit_m6(panel, seed: int):
    return fit_model(LADDER["M6"], oracle_frame(panel), draws=400, tune=400, chains=2, seed=seed)


@pytest.fixture(scope="module")
def small_panel():
    """300 initiatives in 30 countries over three waves (about 480 initiative-waves)."""
    return simulate_panel(300, 30, seed=61)


@pytest.fixture(scope="module")
def m6_fit(small_panel):
    return fit_m6(small_panel, seed=1)


def test_m6_is_fitted_on_person_period_rows(m6_fit, small_panel):
    post = m6_fit.posterior
    assert post["intercept"].dims[-1] == "wave"
    assert list(post["intercept"]["wave"].values) == ["1", "2", "3"]
    assert len(m6_fit.data) == len(small_panel.data)
    labels = m6_fit.idata["log_likelihood"]["takeoff"]["initiative"].values
    assert len(set(labels)) == len(labels)  # one label per initiative and wave
    table = m6_fit.coefficients().set_index("term")
    assert {"wave 1", "wave 2", "wave 3"} <= set(table.index)
    assert "intercept" not in table.index


def test_m6_recovers_the_hazard_in_90_intervals(m6_fit, small_panel):
    covered = coverage(m6_fit, small_panel)
    assert len(covered) == 3 + len(LADDER["M6"].terms) + 2
    assert np.mean(list(covered.values())) >= MIN_COVERAGE, covered


def test_m6_predicts_by_wave(m6_fit, small_panel):
    rows = oracle_frame(small_panel).head(4)
    pred = m6_fit.predict(rows, draws=50)
    assert pred["mean"].between(0, 1).all()
    bad = rows.assign(wave=9)
    with pytest.raises(Exception, match="not among the waves"):
        m6_fit.predict(bad, draws=50)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [62, 63, 64, 65])
def test_m6_recovers_the_hazard_over_seeds(seed):
    """Several seeded panels (500 initiatives, 40 countries): each covers at least 80%."""
    panel = simulate_panel(500, 40, seed=seed)
    covered = coverage(fit_m6(panel, seed=seed), panel)
    assert np.mean(list(covered.values())) >= MIN_COVERAGE, covered


def test_the_command_line_fits_a_panel_with_m6(tmp_path, capsys):
    from clusterpreneur.cli import main
    from clusterpreneur.models.persist import read_fit

    data = tmp_path / "panel.csv"
    sim = ["simulate", "--panel", "--out", str(data), "--n-initiatives", "60", "--n-countries", "6"]
    assert main(sim) == 0
    out = tmp_path / "m6.nc"
    args = ["fit", str(data), "--out", str(out), "--draws", "60", "--tune", "60", "--chains", "1"]
    assert main([*args, "--sampler", "pymc", "--no-gate"]) == 0
    assert read_fit(out).attrs["clusterpreneur_model"] == "M6"
    assert main(["fit", "--model", "M6", "--out", str(out)]) == 2  # the shipped survey is no panel
    assert "needs a panel" in capsys.readouterr().err
