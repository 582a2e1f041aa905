"""The command line: help, exit codes, validate, simulate, fit/diagnose/predict, and the
analyst's path end to end (`clusterpreneur report my_survey.sav --mapping my_mapping.toml`)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pandas as pd
import pytest

from clusterpreneur.cli import main
from clusterpreneur.study.cases import SCENARIOS
from clusterpreneur.study.readers import write_survey


def test_help_lists_commands_and_examples(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for cmd in ("validate", "simulate", "fit", "diagnose", "report", "predict", "cache"):
        assert cmd in text
    assert "examples:" in text and "report my_survey.sav --mapping my_mapping.toml" in text
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    assert "examples:" in capsys.readouterr().out


def test_python_dash_m_works():
    proc = subprocess.run([sys.executable, "-m", "clusterpreneur", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "clusterpreneur" in proc.stdout


def test_usage_errors_exit_2(capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2
    assert main(["validate", str(tmp_path / "missing.csv")]) == 2
    err = capsys.readouterr().err
    assert "not found" in err and "Traceback" not in err
    (tmp_path / "survey.txt").write_text("a,b\n1,2\n")
    assert main(["validate", str(tmp_path / "survey.txt")]) == 2
    assert main(["report", "--config", str(tmp_path / "missing.toml")]) == 2


def test_validate_ok_and_every_problem_on_a_bad_file(tmp_path, small_survey, capsys):
    good = tmp_path / "good.csv"
    write_survey(small_survey.data, good)
    assert main(["validate", str(good)]) == 0
    assert "valid" in capsys.readouterr().out
    bad = small_survey.data.copy()
    bad["involve_policy"] = bad["involve_policy"].astype("float64")
    bad.loc[0, "involve_policy"] = 9
    bad.loc[1, "sc_trust"] = 7
    write_survey(bad, tmp_path / "bad.csv")
    assert main(["validate", str(tmp_path / "bad.csv")]) == 1
    err = capsys.readouterr().err
    assert "involve_policy" in err and "sc_trust" in err and "2 problem(s)" in err
    assert "Traceback" not in err


def test_simulate_writes_survey_and_truth(tmp_path):
    out = tmp_path / "sim" / "survey.dta"
    assert (
        main(["simulate", "--out", str(out), "--n-initiatives", "40", "--n-countries", "5", "--seed", "3"])
        == 0
    )
    assert out.is_file()
    truth = json.loads((tmp_path / "sim" / "survey_truth.json").read_text())
    assert truth
    assert main(["validate", str(out)]) == 0


def test_fit_diagnose_predict(tmp_path, survey_csv, capsys):
    fit = tmp_path / "M1.nc"
    code = main(
        ["fit", str(survey_csv), "--model", "M1", "--out", str(fit), "--sampler", "pymc",
         "--draws", "100", "--tune", "100", "--chains", "2", "--seed", "5"]
    )  # fmt: skip
    assert code == 1 and fit.is_file()  # the tiny fit fails the gate (ESS < 400) but is written
    assert "bulk ESS < 400" in capsys.readouterr().out
    checks = tmp_path / "checks"
    assert main(["diagnose", str(fit), "--out", str(checks)]) == 1
    assert "M1: convergence gate FAILED" in capsys.readouterr().out
    for name in (
        "gate.csv",
        "loo.csv",
        "ppc.csv",
        "sensitivity.csv",
        "convergence.png",
        "calibration_takeoff.svg",
    ):
        assert (checks / name).stat().st_size > 0, name  # the same checks as the report's appendix
    preds = tmp_path / "pred.csv"
    assert main(["predict", str(fit), "--data", str(survey_csv), "--what-if", "--out", str(preds)]) == 0
    table = pd.read_csv(preds)
    assert "DNK-Biomedico" in capsys.readouterr().out
    assert len(table) == 1 + len(SCENARIOS) + 1 and table["mean"].between(0, 1).all()
    assert (table["ci_lower"] <= table["mean"]).all() and "diff_upper" in table
    assert main(["predict", str(fit), "--data", str(survey_csv), "--what-if", "--case", "nope"]) == 1
    assert "DNK-Biomedico" in capsys.readouterr().err  # the error lists the cases there are
    assert main(["fit", str(survey_csv), "--model", "M9", "--out", str(fit)]) == 2


def test_report_on_a_users_spss_file_with_a_mapping(tmp_path, small_survey, make_toml, capsys):
    """The analyst's path end to end: own column names in an SPSS file, mapped by a TOML file."""
    renamed = small_survey.data.rename(
        columns={"initiative_id": "ci_code", "takeoff": "took_off", "sc_trust": "trust_q1"}
    )
    survey = tmp_path / "my_survey.sav"
    write_survey(renamed, survey)
    mapping = tmp_path / "my_mapping.toml"
    mapping.write_text('[columns]\nci_code = "initiative_id"\ntook_off = "takeoff"\ntrust_q1 = "sc_trust"\n')
    (tmp_path / "survey.csv").write_text("unused\n")
    config = make_toml(tmp_path, baselines=False)
    out = tmp_path / "study"
    args = ["report", str(survey), "--mapping", str(mapping), "--config", str(config), "--out", str(out),
            "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert str(out / "report.html") in printed
    assert re.search(r"report\.html, \d+\.\d\d MB \(figures .*; tables .*budget 3\.00 MB", printed)
    html = (out / "report.html").read_text()
    assert "The model ladder as fitted" in html and "The North Jutland cases and what-if scenarios" in html
    assert "<code>my_survey.sav</code>" in html and "my_mapping.toml" in html  # names its input
    assert "Simulated data" not in html  # a survey of one's own is not flagged as simulated
    for name in ("descriptives", "ladder", "hypotheses", "gate", "cases"):
        assert (out / "tables" / f"{name}.md").is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["data"]["survey"] == str(survey.resolve())
    assert manifest["data"]["mapping_sha256"]
    assert pd.read_csv(out / "tables" / "descriptives.csv").loc[0, "all_n"] == len(renamed)
    # without the mapping the file does not fit the codebook: every problem, exit 1
    assert main(["report", str(survey), "--config", str(config), "--out", str(tmp_path / "x"),
                 "--cache-dir", str(tmp_path / "cache")]) == 1  # fmt: skip
    assert "initiative_id" in capsys.readouterr().err


def test_cache_size_and_prune(tiny_run, capsys, tmp_path):
    _, _, cache = tiny_run
    copy = tmp_path / "cache"
    import shutil

    shutil.copytree(cache, copy)
    assert main(["cache", "--cache-dir", str(copy)]) == 0
    printed = capsys.readouterr().out
    assert "model_M1" in printed and "MiB" in printed
    before = sorted(p for p in copy.rglob("*") if p.is_file())
    assert main(["cache", "prune", "--dry-run", "--cache-dir", str(copy)]) == 0
    assert "would remove" in capsys.readouterr().out
    assert sorted(p for p in copy.rglob("*") if p.is_file()) == before  # a dry run removes nothing
    assert main(["cache", "prune", "--cache-dir", str(copy)]) == 0
    assert "removed" in capsys.readouterr().out
