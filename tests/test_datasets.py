"""Shipped data: reproducible to the byte, manifest hashes true, codebook document in sync."""

from __future__ import annotations

import json
from pathlib import Path

from clusterpreneur.io import sha256_file
from clusterpreneur.study import datasets
from clusterpreneur.study.codebook import render_markdown


def test_shipped_files_are_byte_identical_to_a_regeneration():
    assert datasets.check_files() == []


def test_manifest_hashes_match_the_files():
    manifest = json.loads((datasets.DATA_DIR / datasets.MANIFEST_FILE).read_text())
    assert manifest["seed"] == datasets.DEFAULT_SEED
    for name, digest in manifest["sha256"].items():
        assert sha256_file(datasets.DATA_DIR / name) == digest, name


def test_codebook_markdown_matches_the_codebook():
    shipped = (datasets.DATA_DIR / datasets.CODEBOOK_FILE).read_text()
    assert shipped == render_markdown() + "\n", "data/CODEBOOK.md drifted: run `nox -s data` to regenerate"


def test_check_files_detects_a_changed_file(tmp_path):
    datasets.write_files(tmp_path)
    assert datasets.check_files(tmp_path) == []
    (tmp_path / datasets.SURVEY_FILE).write_text("tampered\n")
    assert datasets.check_files(tmp_path) == [datasets.SURVEY_FILE]


def test_north_jutland_cases_follow_the_paper():
    cases = datasets.north_jutland_cases().set_index("initiative_id")
    bio = cases.loc["DNK-Biomedico"]
    assert (bio["n_firms"], bio["n_firms_10plus"], bio["anchor_firm"], bio["takeoff"]) == (35, 5, 0, 0)
    assert all(cases[f"involve_{a}"].ge(1).all() for a in ("research", "policy", "industry", "finance"))
    assert cases["peripheral"].eq(1).all()


def test_the_wheel_carries_the_shipped_data(tmp_path):
    """`pip install .` (not editable) must bring the data that `default_survey_path()` reads."""
    import subprocess
    import sys
    import zipfile

    root = Path(__file__).resolve().parents[1]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            tmp_path,
            root,
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("clusterpreneur-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in json.loads((datasets.CHECKOUT_DATA_DIR / datasets.MANIFEST_FILE).read_text())["sha256"]:
        assert f"clusterpreneur/study/data/{name}" in names, name
