"""Save / load, integrity of saved fits, prediction and what-if scenarios."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from clusterpreneur.cli import main
from clusterpreneur.errors import FitFileError, FitIntegrityError, SpecError, UnsupportedFormatError
from clusterpreneur.models import FittedModel, ModelSpec, load_fit
from clusterpreneur.models.persist import CONTENT_SHA256, DIGESTS, content_digests, read_fit
from clusterpreneur.models.predict import apply_changes
from clusterpreneur.study.cases import SCENARIOS
from clusterpreneur.study.datasets import north_jutland_cases
from clusterpreneur.study.measures import add_measures
from clusterpreneur.study.readers import write_survey


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


@pytest.fixture(scope="module")
def saved_m2(m2_small_fit, tmp_path_factory):
    """The tiny M2 fit saved once; tests copy or edit copies of it."""
    return m2_small_fit.save(tmp_path_factory.mktemp("fits") / "m2.nc")


def test_save_load_predict_identical(m2_small_fit, mcar_survey, saved_m2):
    loaded = load_fit(saved_m2, mcar_survey.data)
    assert loaded.spec == m2_small_fit.spec
    assert loaded.imputed == m2_small_fit.imputed
    rows = _new_rows(mcar_survey.data)
    pd.testing.assert_frame_equal(m2_small_fit.predict(rows, seed=9), loaded.predict(rows, seed=9))
    attrs = loaded.idata.attrs
    assert ModelSpec.from_json(attrs["spec_json"]) == m2_small_fit.spec
    for key in ("spec_sha256", "data_sha256", "fit_sha256", "versions", "seed", "sampler", CONTENT_SHA256):
        assert key in attrs
    assert "pymc" in attrs["versions"] and "arviz" in attrs["versions"]
    assert FittedModel.load(saved_m2, mcar_survey.data).spec.name == "M2"
    assert CONTENT_SHA256 not in m2_small_fit.idata.attrs  # saving does not change the fit in memory


def test_saved_fit_has_normal_permissions_and_no_leftovers(m2_small_fit, tmp_path):
    old = os.umask(0o022)
    try:
        path = m2_small_fit.save(tmp_path / "sub" / "m2.nc")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["m2.nc"]


def test_integrity_record_covers_every_group_variable_and_attribute(m2_small_fit, saved_m2):
    """The digests recomputed after a NetCDF round trip equal those of the fit in memory."""
    tree = read_fit(saved_m2)
    digests = json.loads(tree.attrs[DIGESTS])
    assert digests == content_digests(m2_small_fit.idata)
    groups = {k.split("/")[0] for k in digests if "/" in k}
    assert {"posterior", "sample_stats", "log_likelihood", "log_prior", "observed_data"} <= groups
    for item in ("posterior/beta", "@spec_json", "@standardizer", "@data_sha256", "posterior/@created_at"):
        assert item in digests


def test_reparametrised_fit_round_trips_its_integrity_record(m1_fit, tmp_path):
    """M1 samples QR-whitened fixed effects and Laplace-centred regions (deterministic beta, u)."""
    tree = read_fit(m1_fit.save(tmp_path / "m1.nc"))
    assert json.loads(tree.attrs[DIGESTS]) == content_digests(m1_fit.idata)
    assert "fixed_qr" in tree["posterior"] and "beta" in tree["posterior"]


def _edited(saved, tmp_path, edit) -> object:
    """A copy of the saved fit with ``edit`` applied to its tree, integrity record left as it was."""
    tree = read_fit(saved)
    edit(tree)
    out = tmp_path / "edited.nc"
    tree.to_netcdf(out, engine="h5netcdf")
    return out


def _scaled_beta(tree):
    tree["posterior"]["beta"] = tree["posterior"]["beta"] * 10


def _shifted_centre(tree):
    std = json.loads(tree.attrs["standardizer"])
    name = next(iter(std["center"]))
    std["center"][name] += 0.5
    tree.attrs["standardizer"] = json.dumps(std, sort_keys=True)


def _spec_edited_with_its_hash(tree):
    spec = ModelSpec.from_json(tree.attrs["spec_json"]).with_overrides(description="edited")
    tree.attrs["spec_json"], tree.attrs["spec_sha256"] = spec.to_json(), spec.sha256()


def _dropped_group(tree):
    del tree["log_prior"]


def _record_recomputed_badly(tree):
    tree.attrs[CONTENT_SHA256] = "0" * 64


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (_scaled_beta, "changed: posterior/beta"),
        (_shifted_centre, "changed: @standardizer"),
        (_spec_edited_with_its_hash, "changed: @spec_json, @spec_sha256"),
        (_dropped_group, "missing: log_prior/"),
        (_record_recomputed_badly, "does not hash to content_sha256"),
    ],
    ids=["posterior", "standardizer", "spec+hash", "group", "record"],
)
def test_edited_fit_is_refused_naming_what_differs(saved_m2, mcar_survey, tmp_path, edit, named):
    path = _edited(saved_m2, tmp_path, edit)
    with pytest.raises(FitIntegrityError, match="damaged or edited") as err:
        load_fit(path, mcar_survey.data)
    assert named in str(err.value) and str(path) in str(err.value)


def test_fit_without_integrity_record_is_refused(saved_m2, mcar_survey, tmp_path):
    def strip(tree):
        for key in (DIGESTS, CONTENT_SHA256):
            del tree.attrs[key]

    with pytest.raises(FitIntegrityError, match="no integrity record"):
        load_fit(_edited(saved_m2, tmp_path, strip), mcar_survey.data)


def test_damaged_bytes_are_refused(saved_m2, mcar_survey, tmp_path):
    """Flipping bytes anywhere in the posterior's stored values is noticed."""
    data = bytearray(saved_m2.read_bytes())
    tree = read_fit(saved_m2)
    beta = np.ascontiguousarray(tree["posterior"]["beta"].values).tobytes()
    at = bytes(data).find(beta[:64])
    assert at > 0  # the values are stored uncompressed: find them
    data[at + 17] ^= 0x40
    damaged = tmp_path / "damaged.nc"
    damaged.write_bytes(bytes(data))
    with pytest.raises(FitIntegrityError, match=r"changed: posterior/beta"):
        load_fit(damaged, mcar_survey.data)


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"", "the file is empty"),
        (b"chain,draw,beta\n0,0,1.5\n", "not a NetCDF-4 file"),
        ("truncated", "truncated or damaged"),
        ("foreign", "not a clusterpreneur fit"),
    ],
)
def test_unreadable_fit_files_give_a_clear_error(saved_m2, mcar_survey, tmp_path, content, said):
    path = tmp_path / "fit.nc"
    if content == "truncated":
        data = saved_m2.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif content == "foreign":
        xr.DataTree(xr.Dataset({"x": ("i", [1.0, 2.0])})).to_netcdf(path, engine="h5netcdf")
    else:
        path.write_bytes(content)
    with pytest.raises(FitFileError, match=said) as err:
        load_fit(path, mcar_survey.data)
    assert str(path) in str(err.value)


def test_zarr_is_refused(m2_small_fit, tmp_path):
    with pytest.raises(UnsupportedFormatError, match=r"\.nc"):
        m2_small_fit.save(tmp_path / "m2.zarr")
    (tmp_path / "old.zarr").mkdir()
    with pytest.raises(FitFileError, match="folder"):
        read_fit(tmp_path / "old.zarr")
    assert [p.name for p in tmp_path.iterdir()] == ["old.zarr"]


def test_cli_refuses_bad_fit_files_without_traceback(saved_m2, mcar_survey, tmp_path, capsys):
    survey = write_survey(mcar_survey.data, tmp_path / "survey.csv")
    truncated = tmp_path / "truncated.nc"
    truncated.write_bytes(saved_m2.read_bytes()[:4000])
    edited = _edited(saved_m2, tmp_path, _scaled_beta)
    for command, code in (("diagnose", 2), ("predict", 2)):
        args = [command, str(truncated)] + (["--data", str(survey)] if command == "predict" else [])
        assert main(args) == code
    assert main(["diagnose", str(edited)]) == 1
    assert main(["predict", str(edited), "--data", str(survey)]) == 1
    err = capsys.readouterr().err
    assert "truncated or damaged" in err and "changed: posterior/beta" in err
    assert "Traceback" not in err


def test_predict_out_csv_neutralises_formula_ids(saved_m2, mcar_survey, tmp_path):
    survey = write_survey(mcar_survey.data, tmp_path / "survey.csv")
    cases = mcar_survey.data.iloc[:2].copy()
    cases["initiative_id"] = ['=HYPERLINK("http://evil","x")', "@cmd"]
    cases_file = write_survey(cases, tmp_path / "cases.csv")
    out = tmp_path / "pred.csv"
    argv = ["predict", str(saved_m2), "--data", str(survey), "--cases", str(cases_file), "--out", str(out)]
    assert main(argv) == 0
    pred = pd.read_csv(out, keep_default_na=False)
    assert pred["initiative_id"].tolist() == ['\'=HYPERLINK("http://evil","x")', "'@cmd"]
    assert pd.api.types.is_float_dtype(pred["mean"]) and pred["mean"].between(0, 1).all()


def test_load_against_changed_data_is_refused(m2_small_fit, mcar_survey, saved_m2):
    changed = mcar_survey.data.copy()
    changed.loc[0, "takeoff"] = 1 - changed.loc[0, "takeoff"]
    with pytest.raises(FitIntegrityError, match=r"refusing to load.*SHA-256") as err:
        load_fit(saved_m2, changed)
    assert m2_small_fit.idata.attrs["data_sha256"] in str(err.value)


def test_unseen_country_is_wider_and_labelled(m2_small_fit, mcar_survey):
    pred = m2_small_fit.predict(_new_rows(mcar_survey.data), seed=1)
    width = pred["ci_upper"] - pred["ci_lower"]
    status = pred["group_status"]
    assert set(status) == {"seen", "new country", "new region"}
    assert width[status == "new country"].mean() > width[status == "seen"].mean()
    assert (
        pred["sd"][status == "new country"].to_numpy() > pred["sd"][status == "seen"].to_numpy()
    ).mean() > 0.8
    assert "population distribution" in pred.attrs["note"] and pred.attrs["interval"] == 0.95
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
    table = m2_small_fit.what_if(cases, SCENARIOS, seed=2)
    assert set(table["scenario"]) == {"baseline", *SCENARIOS}
    assert len(table) == len(cases) * (1 + len(SCENARIOS))
    assert (table["group_status"] == "new country").all()  # Denmark is not in the simulated data
    base = table[table["scenario"] == "baseline"]
    assert (base["diff_mean"] == 0).all()
    # Wireless ICT already has an anchor firm: setting it changes nothing, paired per draw
    same = table[(table["scenario"] == "large anchor firm") & (table["initiative_id"] == "DNK-WirelessICT")]
    assert same["diff_mean"].iloc[0] == 0.0
    sc = table[table["scenario"] == "stronger social capital (each item +1)"]
    assert (sc["diff_mean"] > 0).all()  # social capital raises take-off in the fit
    assert (sc["diff_lower"] <= sc["diff_mean"]).all() and (sc["diff_mean"] <= sc["diff_upper"]).all()


def test_a_scenario_can_change_several_columns_at_once(m2_small_fit):
    """A frame-to-frame scenario (no policy actor: involvement and board shares together) drops
    the derived measures its inputs feed, so they are recomputed."""
    cases = add_measures(north_jutland_cases())
    changed = apply_changes(cases, SCENARIOS["no policy actor"], m2_small_fit.spec)
    assert (changed["involve_policy"] == 0).all() and (changed["board_policy"] == 0).all()
    assert "breadth" not in changed and "public_private" not in changed  # inputs changed: stale
    assert "log_firms" in changed  # untouched inputs: kept
