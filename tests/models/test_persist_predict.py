"""Save / load (NetCDF and Zarr), integrity refusal, prediction and what-if scenarios."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clusterpreneur.errors import FitIntegrityError, SpecError
from clusterpreneur.models import NORTH_JUTLAND_SCENARIOS, FittedModel, ModelSpec, load_fit
from clusterpreneur.study.datasets import north_jutland_cases


def _new_rows(df: pd.DataFrame) -> pd.DataFrame:
    seen = df.iloc[:20].copy()
    unseen = seen.copy()
    unseen["country_id"] = "ZZZ"
    unseen["region_id"] = [f"ZZZ-R{i}" for i in range(len(unseen))]
    unseen["initiative_id"] = unseen["initiative_id"] + "-new"
    new_region = seen.copy()
    new_region["region_id"] = new_region["country_id"] + "-RNEW"
    new_region["initiative_id"] = new_region["initiative_id"] + "-nr"
    return pd.concat([seen, unseen, new_region], ignore_index=True)


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_save_load_predict_identical(m2_small_fit, mcar_survey, tmp_path, suffix):
    path = m2_small_fit.save(tmp_path / f"m2{suffix}")
    loaded = load_fit(path, mcar_survey.data)
    assert loaded.spec == m2_small_fit.spec
    assert loaded.imputed == m2_small_fit.imputed
    rows = _new_rows(mcar_survey.data)
    pd.testing.assert_frame_equal(m2_small_fit.predict(rows, seed=9), loaded.predict(rows, seed=9))
    attrs = loaded.idata.attrs
    assert ModelSpec.from_json(attrs["spec_json"]) == m2_small_fit.spec
    for key in ("spec_sha256", "data_sha256", "fit_sha256", "versions", "seed", "sampler"):
        assert key in attrs
    assert "pymc" in attrs["versions"] and "arviz" in attrs["versions"]
    assert FittedModel.load(path, mcar_survey.data).spec.name == "M2"


def test_load_against_changed_data_is_refused(m2_small_fit, mcar_survey, tmp_path):
    path = m2_small_fit.save(tmp_path / "m2.nc")
    changed = mcar_survey.data.copy()
    changed.loc[0, "takeoff"] = 1 - changed.loc[0, "takeoff"]
    with pytest.raises(FitIntegrityError, match=r"refusing to load.*SHA-256") as err:
        load_fit(path, changed)
    assert m2_small_fit.idata.attrs["data_sha256"] in str(err.value)


def test_load_of_a_tampered_spec_is_refused(m2_small_fit, mcar_survey, tmp_path):
    import arviz as az

    path = m2_small_fit.save(tmp_path / "m2.nc")
    dt = az.from_netcdf(path).load()
    dt.close()
    dt.attrs["spec_json"] = m2_small_fit.spec.with_overrides(description="edited").to_json()
    dt.to_netcdf(tmp_path / "edited.nc", engine="h5netcdf")
    with pytest.raises(FitIntegrityError, match="altered"):
        load_fit(tmp_path / "edited.nc", mcar_survey.data)


def test_unseen_country_is_wider_and_labelled(m2_small_fit, mcar_survey):
    pred = m2_small_fit.predict(_new_rows(mcar_survey.data), seed=1)
    width = pred["q95"] - pred["q05"]
    status = pred["group_status"]
    assert set(status) == {"seen", "new country", "new region"}
    assert width[status == "new country"].mean() > width[status == "seen"].mean()
    assert (
        pred["sd"][status == "new country"].to_numpy() > pred["sd"][status == "seen"].to_numpy()
    ).mean() > 0.8
    assert "population distribution" in pred.attrs["note"]
    assert pred["mean"].between(0, 1).all()


def test_prediction_is_seeded_and_thins(m2_small_fit, mcar_survey):
    rows = _new_rows(mcar_survey.data)
    a = m2_small_fit.predict(rows, draws=100, seed=3)
    b = m2_small_fit.predict(rows, draws=100, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert (a["n_draws"] == 100).all()


def test_prediction_frame_missing_columns_is_refused(m2_small_fit, mcar_survey):
    rows = mcar_survey.data.iloc[:3].drop(columns=["n_firms", "country_id"])
    with pytest.raises(SpecError, match=r"n_firms.*|country_id"):
        m2_small_fit.predict(rows)


def test_prediction_imputes_missing_components(m2_small_fit, mcar_survey):
    rows = mcar_survey.data.iloc[:2].copy()
    rows["involve_finance"] = np.nan
    pred = m2_small_fit.predict(rows, seed=0)
    assert pred["imputed"].str.contains("involve_finance").all()
    assert np.isfinite(pred["mean"]).all()


def test_what_if_on_the_north_jutland_cases(m2_small_fit):
    cases = north_jutland_cases()
    table = m2_small_fit.what_if(cases, NORTH_JUTLAND_SCENARIOS, seed=2)
    assert set(table["scenario"]) == {"baseline", *NORTH_JUTLAND_SCENARIOS}
    assert len(table) == len(cases) * (1 + len(NORTH_JUTLAND_SCENARIOS))
    assert (table["group_status"] == "new country").all()  # Denmark is not in the simulated data
    base = table[table["scenario"] == "baseline"]
    assert (base["diff_mean"] == 0).all()
    # Wireless ICT already has an anchor firm: setting it changes nothing, paired per draw
    same = table[(table["scenario"] == "anchor firm present") & (table["initiative_id"] == "DNK-WirelessICT")]
    assert same["diff_mean"].iloc[0] == 0.0
    sc = table[table["scenario"] == "higher social capital"]
    assert (sc["diff_mean"] > 0).all()  # social capital raises take-off in the fit
