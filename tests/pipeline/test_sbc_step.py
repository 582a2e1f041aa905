"""The ``sbc`` step reports, per rung, the saved run with the most simulations (the latest when tied),
and its key changes when the saved files do."""

from __future__ import annotations

import json

from clusterpreneur.pipeline.steps.sbc import input_hashes, saved_runs


def _save(folder, model, tag, n, finished):
    d = folder / model
    d.mkdir(parents=True, exist_ok=True)
    summary = {"model": model, "tag": tag, "n_completed": n, "finished_utc": finished}
    summary["tests"] = f"t_{tag}.csv"
    (d / f"sbc_summary_{tag}.json").write_text(json.dumps(summary))
    (d / f"t_{tag}.csv").write_text(f"quantity,n\nintercept,{n}\n")


def test_the_run_with_most_simulations_is_reported(tmp_path):
    _save(tmp_path, "M1", "a", 200, "2026-01-01T00:00:00Z")
    _save(tmp_path, "M1", "b", 30, "2026-02-01T00:00:00Z")
    _save(tmp_path, "M6", "a", 30, "2026-01-01T00:00:00Z")
    _save(tmp_path, "M6", "b", 30, "2026-03-01T00:00:00Z")
    (tmp_path / "M2").mkdir()
    (tmp_path / "M2" / "sbc_summary_old.json").write_text('{"model": "M2"}')  # an older format: ignored
    runs = saved_runs(tmp_path)
    assert {m: r["tag"] for m, r in runs.items()} == {"M1": "a", "M6": "b"}
    before = input_hashes(tmp_path)
    assert set(before) == {"M1/sbc_summary_a.json", "M1/t_a.csv", "M6/sbc_summary_b.json", "M6/t_b.csv"}
    _save(tmp_path, "M1", "a", 200, "2026-04-01T00:00:00Z")  # rerun: same run, new results
    assert input_hashes(tmp_path)["M1/sbc_summary_a.json"] != before["M1/sbc_summary_a.json"]
    assert saved_runs(tmp_path / "nowhere") == {}


def test_a_run_of_a_changed_spec_is_stale_and_never_a_pass(tmp_path, make_saved_sbc):
    """A saved run made with another spec (or recording none) is shown marked stale, not as a pass;
    the current spec hashes are part of the step's key."""
    from clusterpreneur.pipeline.artefacts import read_csv
    from clusterpreneur.pipeline.steps.sbc import SBCStep, current_spec_hashes
    from clusterpreneur.study.ladder import LADDER

    make_saved_sbc(tmp_path / "sbc", "M1")  # made with M1's current spec
    make_saved_sbc(tmp_path / "sbc", "M2", spec_sha256="0" * 64)  # M2's spec changed since
    make_saved_sbc(tmp_path / "sbc", "M6", spec_sha256="")  # a summary recording no spec hash
    current = current_spec_hashes(["M1", "M2", "M6", "nope"])
    assert current == {**{m: LADDER[m].sha256() for m in ("M1", "M2", "M6")}, "nope": None}
    out = tmp_path / "out"
    out.mkdir()
    step = SBCStep("sbc", folder=str(tmp_path / "sbc"), specs=current)
    step.run(None, {}, out)
    t = read_csv(out / "sbc.csv").set_index("model")
    assert t["passed_when_run"].all()  # every run found uniform ranks ...
    assert t["stale"].to_dict() == {"M1": False, "M2": True, "M6": True}
    assert t["passed"].to_dict() == {"M1": True, "M2": False, "M6": False}  # ... stale ones do not count
    assert {"tune", "draws", "chains", "seed", "finished_utc", "simulations"} <= set(t.columns)
    changed = SBCStep("sbc", folder=str(tmp_path / "sbc"), specs={**current, "M1": "f" * 64})
    assert changed.params() != step.params()
    changed.run(None, {}, out)
    assert not read_csv(out / "sbc.csv").set_index("model").loc["M1", "passed"]


def test_the_table_names_the_fitted_rungs_that_were_never_calibrated(tmp_path, make_saved_sbc, make_config):
    """Rungs the study fits without a saved run get no row; the table's note names each of them and the
    command that runs them, and names none that has a row or is not a rung of the ladder."""
    from dataclasses import replace

    from clusterpreneur.pipeline import exhibits
    from clusterpreneur.pipeline.cache import CacheEntry
    from clusterpreneur.pipeline.steps.sbc import SBCStep, current_spec_hashes

    make_saved_sbc(tmp_path / "sbc", "M1")
    make_saved_sbc(tmp_path / "sbc", "M3")
    out = tmp_path / "out"
    out.mkdir()
    SBCStep("sbc", folder=str(tmp_path / "sbc"), specs=current_spec_hashes(["M1", "M3"])).run(None, {}, out)
    config = replace(make_config(tmp_path / "survey.csv"), models=("M1", "M2", "M3", "M4", "mine"))
    src = exhibits.Sources({"sbc": CacheEntry("sbc", "k", out, {})}, config)
    notes = " ".join(exhibits.sbc(src).reader.notes)
    assert "Not calibrated: M2, M4 (no saved run)" in notes
    assert "--model M2,M4" in notes and "M1" not in notes and "mine" not in notes
    assert list(exhibits.sbc(src).data["model"]) == ["M1", "M3"]
