"""`clusterpreneur fit` gates by default: the plumbing, with the sampler replaced by hand-built fits."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import xarray as xr

import clusterpreneur.models
from clusterpreneur.cli import main
from clusterpreneur.diagnostics import gate_from_datatree
from clusterpreneur.models.persist import read_fit, save_fit
from clusterpreneur.study.ladder import LADDER


@dataclass
class _Fit:
    """What `clusterpreneur fit` uses of a FittedModel: ``idata`` (with the spec in its
    attributes, as a real fit has) and ``save``."""

    idata: xr.DataTree

    def __post_init__(self):
        self.idata.attrs.update(clusterpreneur_model="M1", spec_json=LADDER["M1"].to_json())

    def save(self, path):
        return save_fit(self, path)


@pytest.fixture
def fake_sampler(monkeypatch, make_constructed_fit):
    """Replace ``fit_model`` by one returning a hand-built fit; returns the settings it was called with."""
    calls = {}

    def use(**fit_options):
        def fake_fit_model(spec, df, **kwargs):
            calls.update(kwargs, model=spec.name, rows=len(df))
            return _Fit(make_constructed_fit(**fit_options))

        monkeypatch.setattr(clusterpreneur.models, "fit_model", fake_fit_model)
        return calls

    return use


def _fit(tmp_path, survey_csv, *extra):
    out = tmp_path / "fits" / "M1.nc"
    return main(["fit", str(survey_csv), "--model", "M1", "--out", str(out), *extra]), out


def test_a_passing_fit_prints_estimates_and_verdict_and_exits_0(tmp_path, survey_csv, fake_sampler, capsys):
    calls = fake_sampler()
    code, out = _fit(tmp_path, survey_csv, "--draws", "1500", "--target-accept", "0.9")
    printed = capsys.readouterr().out
    assert code == 0 and out.is_file()
    assert calls["draws"] == 1500 and calls["target_accept"] == 0.9 and calls["model"] == "M1"
    header = printed.splitlines()[0].split()
    assert header == ["parameter", "H", "mean", "sd", "2.5%", "97.5%", "r_hat", "ess_bulk", "ess_tail"]
    rows = {line.split()[0]: line.split()[1:] for line in printed.splitlines()[1:6]}
    assert list(rows) == ["intercept", "beta[breadth]", "beta[sc_score]", "beta[age]", "sigma_country"]
    assert rows["beta[breadth]"][0] == "H1" and rows["beta[sc_score]"][0] == "H3"
    assert len(rows["beta[age]"]) == 7  # no hypothesis: seven numbers
    assert "M1: convergence gate passed" in printed and f"wrote {out}" in printed
    saved = gate_from_datatree(read_fit(out))  # the saved fit carries its verdict
    assert saved is not None and saved.passed


@pytest.mark.parametrize(
    ("failure", "says"),
    [({"shifted_chain": True}, "R-hat > 1.01"), ({"saturated_share": 0.2}, "maximum tree depth (10)")],
)
def test_a_failing_fit_exits_1_with_the_cli_wording_and_is_still_written(
    tmp_path, survey_csv, fake_sampler, capsys, failure, says
):
    fake_sampler(**failure)
    code, out = _fit(tmp_path, survey_csv)
    printed = capsys.readouterr().out
    assert code == 1
    assert "M1: convergence gate FAILED" in printed and says in printed
    assert "--no-gate" in printed and "--tune 2000" in printed
    assert "override=True" not in printed and "tune=2000" not in printed  # Python's words, not the CLI's
    assert out.is_file() and f"wrote {out} anyway" in printed and "clusterpreneur diagnose" in printed
    assert not gate_from_datatree(read_fit(out)).passed
    assert main(["diagnose", str(out)]) == 1  # diagnose agrees with fit, in the same words
    again = capsys.readouterr().out
    assert "convergence gate FAILED" in again and "--no-gate" in again and "override=True" not in again


def test_no_gate_exits_0_on_a_failing_fit(tmp_path, survey_csv, fake_sampler, capsys):
    fake_sampler(shifted_chain=True)
    code, out = _fit(tmp_path, survey_csv, "--no-gate")
    printed = capsys.readouterr().out
    assert code == 0 and out.is_file()
    assert "gate skipped (--no-gate)" in printed and "FAILED" not in printed
    assert "r_hat" in printed  # the numbers are still shown
    assert gate_from_datatree(read_fit(out)) is None


def test_check_is_a_deprecated_alias(tmp_path, survey_csv, fake_sampler, capsys):
    fake_sampler()
    code, _ = _fit(tmp_path, survey_csv, "--check")
    captured = capsys.readouterr()
    assert code == 0 and "--check is deprecated" in captured.err and "gate passed" in captured.out


def test_target_accept_out_of_range_is_a_usage_error(tmp_path, survey_csv, fake_sampler, capsys):
    calls = fake_sampler()
    code, out = _fit(tmp_path, survey_csv, "--target-accept", "1.2")
    assert code == 2 and not out.exists() and not calls
    assert "--target-accept must lie strictly between 0 and 1" in capsys.readouterr().err


@pytest.fixture
def spy_sampler(monkeypatch, make_constructed_fit):
    """Like ``fake_sampler``, keeping the spec and data `clusterpreneur fit` passed."""
    seen = {}

    def fake_fit_model(spec, df, **kwargs):
        seen.update(spec=spec, df=df, **kwargs)
        return _Fit(make_constructed_fit())

    monkeypatch.setattr(clusterpreneur.models, "fit_model", fake_fit_model)
    return seen


def test_fit_a_formula_on_any_data_file(tmp_path, spy_sampler, capsys):
    from clusterpreneur.study.datasets import example_path

    out = tmp_path / "herd.nc"
    formula = "p(incidence, size) ~ C(period) + density + (1 | herd)"
    code = main(["fit", str(example_path()), "--formula", formula, "--family", "binomial", "--out", str(out)])
    assert code == 0 and out.is_file()
    spec = spy_sampler["spec"]
    assert spec.formula == formula and spec.family == "binomial" and spec.trials == "size"
    assert [g.name for g in spec.groups] == ["herd"] and spec.obs_dim == "obs"
    assert spec.terms == ("period[p2]", "period[p3]", "period[p4]", "density")
    assert len(spy_sampler["df"]) == 60 and spy_sampler["df"]["period"].dtype != float  # text stays text


def test_fit_a_spec_file(tmp_path, spy_sampler):
    import pandas as pd

    from clusterpreneur.models import ModelSpec
    from clusterpreneur.study.datasets import example_path

    spec = ModelSpec.from_formula(
        "p(incidence, size) ~ density + (1 | herd)", pd.read_csv(example_path()), name="herd_density"
    )
    path = tmp_path / "herd.json"
    path.write_text(spec.to_json())
    code = main(["fit", str(example_path()), "--spec", str(path), "--out", str(tmp_path / "h.nc")])
    assert code == 0 and spy_sampler["spec"] == spec


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--formula", "incidence ~ density", "--spec", "x.json"], "either --formula or --spec"),
        (["--family", "binomial"], "go with --formula"),
        (["--formula", "incidence ~ density", "--model", "M1"], "leave it out"),
        (["--formula", "p(incidence, size) ~ density", "--group-name", "herd"], "FACTOR=NAME"),
    ],
)
def test_formula_option_mistakes_are_usage_errors(tmp_path, spy_sampler, capsys, extra, says):
    from clusterpreneur.study.datasets import example_path

    code = main(["fit", str(example_path()), *extra, "--out", str(tmp_path / "x.nc")])
    assert code == 2 and says in capsys.readouterr().err and "spec" not in spy_sampler
