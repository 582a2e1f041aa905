"""The committed SBC results (``analysis/sbc``, published by ``nox -s sbc``): every file is the
one its manifest records, the folder stays small, each run records what it was made with; and
``publish`` copies only complete runs, replacing a rung's earlier files."""

from __future__ import annotations

import json
from pathlib import Path

from clusterpreneur.diagnostics.sbc import PUBLISHED_MANIFEST, check_published, provenance, publish
from clusterpreneur.pipeline.config import SBC_DIR, default_sbc
from clusterpreneur.study.ladder import LADDER

PROVENANCE = (
    "seed",
    "command",
    "settings",
    "spec_sha256",
    "package_version",
    "versions",
    "study_parametrization",
)


def test_the_committed_results_match_their_manifest():
    assert default_sbc() == str(SBC_DIR)
    assert check_published(SBC_DIR) == []
    manifest = json.loads((SBC_DIR / PUBLISHED_MANIFEST).read_text())
    assert manifest["rungs"], "no published rung"
    size = sum(f.stat().st_size for f in SBC_DIR.rglob("*") if f.is_file())
    # about 0.28 MB per rung (its ECDF figure is most of it): all six rungs stay under 2 MB
    assert size < 2_000_000, f"analysis/sbc holds {size} bytes: keep the committed results compact"
    for model, entry in manifest["rungs"].items():
        assert model in LADDER
        assert all(entry.get(k) is not None for k in PROVENANCE), model
        assert {"pymc", "nutpie", "pytensor"} <= set(entry["versions"])
        assert entry["settings"]["sampler"] == "nutpie"  # the study's engine
        summary = json.loads((SBC_DIR / model / f"sbc_summary_{entry['tag']}.json").read_text())
        assert summary["n_completed"] == summary["n_simulations"] == entry["n_simulations"]
        assert summary["spec_sha256"] == entry["spec_sha256"]


def _summary(out: Path, n_completed: int, tag: str = "t1") -> dict:
    out.mkdir(parents=True, exist_ok=True)
    for name in (
        f"sbc_tests_{tag}.csv",
        f"sbc_simulations_{tag}.csv",
        f"sbc_ecdf_{tag}.png",
        f"sbc_ecdf_{tag}.svg",
    ):
        (out / name).write_bytes(f"{name}\n".encode())
    return {
        "model": "M1", "tag": tag, "n_simulations": 200, "n_completed": n_completed, "n_failed": 0, "seed": 3,
        "figures": [f"sbc_ecdf_{tag}.png", f"sbc_ecdf_{tag}.svg"], "tests": f"sbc_tests_{tag}.csv",
        **provenance(),
    }  # fmt: skip


def test_publish_copies_complete_runs_only_and_keeps_the_manifest_true(tmp_path):
    out, folder = tmp_path / "out", tmp_path / "published"
    assert publish(_summary(out, 150), out, folder) is None  # incomplete: not published
    assert not folder.exists()
    dest = publish(_summary(out, 200), out, folder)
    assert sorted(p.name for p in dest.iterdir()) == [
        "sbc_ecdf_t1.png", "sbc_simulations_t1.csv", "sbc_summary_t1.json", "sbc_tests_t1.csv"
    ]  # no SVG, no cache  # fmt: skip
    assert check_published(folder) == []
    entry = json.loads((folder / PUBLISHED_MANIFEST).read_text())["rungs"]["M1"]
    assert entry["seed"] == 3 and entry["versions"]["pymc"]
    publish(_summary(out, 200, tag="t2"), out, folder)  # a newer run replaces the rung's files
    assert {p.name for p in dest.iterdir()} == {
        "sbc_ecdf_t2.png",
        "sbc_simulations_t2.csv",
        "sbc_summary_t2.json",
        "sbc_tests_t2.csv",
    }
    assert check_published(folder) == []
    (dest / "sbc_tests_t2.csv").write_text("edited\n")
    (dest / "stray.txt").write_text("x")
    problems = check_published(folder)
    assert any("sbc_tests_t2.csv differs" in p for p in problems)
    assert any("stray.txt is not in" in p for p in problems)


def test_a_folder_without_manifest_is_a_problem(tmp_path):
    assert check_published(tmp_path) == [f"{tmp_path / PUBLISHED_MANIFEST} is missing"]


def test_the_record_compares_each_simulation_with_the_studys_parametrisation():
    """``ladder_record``: the rung's spec hash and whether every simulation was sampled as the
    study's own fit is (``build.parametrization`` on the shipped survey)."""
    import pandas as pd

    from clusterpreneur.diagnostics.sbc import ladder_record, study_data
    from clusterpreneur.models.build import parametrization

    study = parametrization(LADDER["M1"], study_data("M1"))
    same = json.dumps({k: str(v) for k, v in study.items()}, sort_keys=True)
    other = json.dumps({**{k: str(v) for k, v in study.items()}, "region": "non-centred"})
    rec = ladder_record("M1", pd.DataFrame({"parametrization": [same, same]}))
    assert rec["spec_sha256"] == LADDER["M1"].sha256()
    assert rec["study_parametrization"] == {k: str(v) for k, v in study.items()}
    assert rec["parametrization_as_study"] is True
    assert (
        ladder_record("M1", pd.DataFrame({"parametrization": [same, other]}))["parametrization_as_study"]
        is False
    )
