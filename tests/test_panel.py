"""The panel simulator: reproducible, a valid panel, its dynamics, and a truth that reproduces
every row's hazard (restated on any standardisation)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from clusterpreneur.standardize import Standardizer
from clusterpreneur.study.codebook import TIME_CONSTANT
from clusterpreneur.study.measures import add_measures
from clusterpreneur.study.panel import PanelParams, simulate_panel
from clusterpreneur.study.predictors import STUDY_TERMS, Term, component_columns, design_matrix, restate
from clusterpreneur.study.schema import check_survey, is_panel
from clusterpreneur.study.simulate import to_csv_bytes


@pytest.fixture(scope="module")
def panel():
    return simulate_panel(300, 20, seed=11)


def test_same_seed_gives_the_same_bytes(tmp_path, panel):
    again = simulate_panel(300, 20, seed=11)
    assert to_csv_bytes(again.data) == to_csv_bytes(panel.data)
    assert panel.save(tmp_path / "a") == again.save(tmp_path / "b")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "panel.csv",
        "panel_latent.csv",
        "panel_truth.json",
    ]
    assert to_csv_bytes(simulate_panel(300, 20, seed=12).data) != to_csv_bytes(panel.data)


def test_the_panel_is_valid_and_has_the_panels_shape(panel):
    df = panel.data
    frame, problems = check_survey(df)
    assert problems == [] and is_panel(frame)
    assert not df.duplicated(["initiative_id", "wave"]).any()
    assert df["survey_year"].tolist() == df["wave"].map({1: 2003, 2: 2008, 3: 2013}).tolist()
    for _, rows in df.groupby("initiative_id"):
        waves = rows["wave"].to_numpy()
        assert (np.diff(waves) == 1).all()  # in order, without gaps
        assert rows["takeoff"].iloc[:-1].eq(0).all()  # absorbing: take-off only in the last row
        assert (rows[list(TIME_CONSTANT)].nunique() <= 1).all()
    entered = df.groupby("initiative_id")["wave"].min().value_counts(normalize=True).sort_index()
    assert entered.to_numpy() == pytest.approx([0.6, 0.25, 0.15], abs=0.08)
    assert df["initiative_id"].nunique() == 300  # every initiative is seen at least once


def test_what_varies_between_waves_varies(panel):
    df = add_measures(panel.data)
    later = df[df["wave"] > df.groupby("initiative_id")["wave"].transform("min")]
    prev = df.groupby("initiative_id").shift(1).loc[later.index]
    assert (later["age"] - prev["age"]).eq(5).all()  # age grows with the survey year
    for col in ("involve_policy", "breadth", "sc_trust", "n_firms"):
        changed = (later[col] != prev[col]).mean()
        assert 0.05 < changed < 0.95, col
    np.testing.assert_allclose(later["firm_growth"], np.log(later["n_firms"] / prev["n_firms"]), atol=1e-4)
    assert df.groupby("initiative_id")["firm_growth"].head(1).isna().all()  # no previous wave at entry
    assert (later["lifecycle"] >= prev["lifecycle"]).all() and (
        later["anchor_firm"] >= prev["anchor_firm"]
    ).all()


def test_truth_reproduces_every_rows_hazard_on_its_own_standardisation(panel):
    """eta of every row = restated baseline + restated design . coefficients + group effects."""
    truth = panel.hazard_truth()
    frame = add_measures(panel.data)
    frame["sc_score"] = panel.latent["sc_latent"].to_numpy()
    X, _ = design_matrix(frame, STUDY_TERMS)  # standardised over the panel's own rows
    hazard = panel.truth["hazard"]
    eta = (
        panel.data["wave"].map(truth["baseline"]).to_numpy(dtype=float)
        + X.to_numpy() @ np.array([truth["coefficients"][t.name] for t in STUDY_TERMS])
        + panel.data["country_id"].map(hazard["country_effects"]).to_numpy(dtype=float)
        + panel.data["region_id"].map(hazard["region_effects"]).to_numpy(dtype=float)
    )
    np.testing.assert_allclose(eta, panel.latent["hazard_eta"], atol=2e-5)
    assert truth["coefficients"]["involve_policy"] != pytest.approx(
        hazard["coefficients_standardised"]["involve_policy"]
    )


def test_truth_json_is_complete(panel):
    truth = json.loads(json.dumps(panel.truth))
    assert truth["waves"] == {"1": 2003, "2": 2008, "3": 2013}
    assert set(truth["hazard"]["baseline"]) == {"1", "2", "3"}
    assert set(truth["hazard"]["coefficients_standardised"]) == {t.name for t in STUDY_TERMS}
    assert truth["n_rows"] == len(panel.data) and truth["params"]["dropout"] == 0.15


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="one value per wave"):
        PanelParams(wave_years=(2003, 2013))
    with pytest.raises(ValueError, match="increasing"):
        PanelParams(wave_years=(2013, 2003, 2008))
    with pytest.raises(ValueError, match="sum to one"):
        PanelParams(entry_shares=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="unknown terms"):
        PanelParams(coefficients={"shoe_size": 1.0})


def test_restate_is_exact_and_refuses_what_it_cannot_state():
    rng = np.random.default_rng(3)
    raw = pd.DataFrame({"a": rng.normal(5, 2, 200), "b": rng.integers(0, 2, 200), "c": rng.gamma(2, 3, 200)})
    terms = (Term("a"), Term("b"), Term("c"), Term("a:b"), Term("a:c"))
    coefs = {"a": 0.4, "b": -0.7, "c": 0.2, "a:b": 0.5, "a:c": -0.3}
    cols = component_columns(terms)
    source, target = Standardizer.fit(raw.iloc[:80], cols), Standardizer.fit(raw.iloc[60:], cols)
    new, shift = restate(coefs, terms, source, target)
    before, _ = design_matrix(raw, terms, source)
    after, _ = design_matrix(raw, terms, target)
    b = np.array([coefs[t.name] for t in terms])
    np.testing.assert_allclose(
        before.to_numpy() @ b, shift + after.to_numpy() @ np.array([new[t.name] for t in terms])
    )
    assert new["a:b"] == pytest.approx(0.5 * target.scale["a"] / source.scale["a"])
    with pytest.raises(ValueError, match="part a is not a term"):
        restate(coefs, (Term("b"), Term("c"), Term("a:b"), Term("a:c")), source, target)


def test_the_command_line_writes_a_panel_that_validates(tmp_path, capsys):
    from clusterpreneur.cli import main

    out = tmp_path / "sim" / "panel.csv"
    args = ["simulate", "--panel", "--out", str(out), "--n-initiatives", "60", "--n-countries", "6"]
    assert main(args) == 0
    assert "60 initiatives in" in capsys.readouterr().out
    truth = json.loads((tmp_path / "sim" / "panel_truth.json").read_text())
    assert truth["generator"] == "clusterpreneur.study.panel.simulate_panel"
    assert main(["validate", str(out)]) == 0
    assert "valid panel - 60 initiatives" in capsys.readouterr().out
    assert main(["fit", str(out), "--model", "M1"]) == 2  # the ladder is cross-sectional
    assert "is a panel" in capsys.readouterr().err
    assert main(["simulate", "--panel", "--scenario", "mar", "--out", str(out)]) == 2
