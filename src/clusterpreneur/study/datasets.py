"""The shipped data: default simulated survey, its truth, a simulated panel of three survey waves
and its truth, the North Jutland cases, and an example that is not a cluster survey (``herds.csv``,
binomial counts by herd and period, for the README's "your own data" walkthrough).

The files live in the repository's ``data/`` folder; a wheel carries them inside the package
(``clusterpreneur/study/data``, see ``pyproject.toml``), so an installed package finds them
through :mod:`importlib.resources` and a source checkout finds ``data/`` itself.

``python -m clusterpreneur.study.datasets`` regenerates every shipped file; ``--check`` regenerates
into a temporary folder and fails unless each file is byte-identical to the shipped one.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from clusterpreneur.io import sha256_bytes, write_atomic
from clusterpreneur.study.codebook import as_codebook_dtypes, render_markdown
from clusterpreneur.study.panel import PANEL_GENERATOR_VERSION, simulate_panel
from clusterpreneur.study.simulate import GENERATOR_VERSION, simulate_survey, to_csv_bytes

CHECKOUT_DATA_DIR = Path(__file__).resolve().parents[3] / "data"


def _data_dir() -> Path:
    """The shipped files: inside the installed package (a wheel), else the checkout's ``data/``."""
    packaged = resources.files("clusterpreneur.study") / "data"
    return Path(str(packaged)) if packaged.is_dir() else CHECKOUT_DATA_DIR


DATA_DIR = _data_dir()
DEFAULT_SEED = 20032
"""The first seed from 20031 up whose Greenbook marginals all lie within 2 binomial SE of their
targets (20031 put the goal-rating share 3.7 SE low, a legitimate but unrepresentative draw)."""
DEFAULT_SIZE = {"n_initiatives": 250, "n_countries": 30}
SURVEY_FILE = "survey.csv"
TRUTH_FILE = "survey_truth.json"
CASES_FILE = "north_jutland_cases.csv"
PANEL_FILE = "panel.csv"
PANEL_TRUTH_FILE = "panel_truth.json"
PANEL_SEED = 20034
"""Seed of the shipped panel (its initiatives are not the shipped survey's)."""
PANEL_SIZE = {"n_initiatives": 250, "n_countries": 30}
HERDS_FILE = "herds.csv"
HERDS_SEED = 20035
HERDS_GENERATOR_VERSION = "1.0.0"
HERDS_TRUTH = {
    "intercept": -1.4,
    "period": {"p2": -0.5, "p3": -0.8, "p4": -1.1},
    "density_per_sd": 0.35,
    "sigma_herd": 0.6,
}
"""The herd example's truth: log-odds of a new case in period p1 at mean stocking density, period
contrasts against p1, the effect of one SD of stocking density, and the SD of herd effects."""
MANIFEST_FILE = "MANIFEST.json"
CODEBOOK_FILE = "CODEBOOK.md"


def north_jutland_cases() -> pd.DataFrame:
    """The paper's two North Jutland cases coded in the survey schema (STUDY.md section 5).

    Regional indicators and firm counts are the paper's; board seats, Likert answers and
    financing shares are not reported there and are coded as plausible illustrations.
    Outcome ratings that the paper does not report are missing.
    """
    region = {
        "region_id": "DNK-NorthJutland",
        "country_id": "DNK",
        "survey_year": 2005,
        "peripheral": 1,
        "unemp_gap": 1.7,
        "tertiary_ratio": round(1 / 1.5, 4),
        "rnd_ratio": round(2 / 3, 4),
        "patent_ratio": round(2 / 3, 4),
        "university": 1,
    }
    biomedico = {
        "initiative_id": "DNK-Biomedico",
        **region,
        "involve_research": 4,
        "involve_policy": 3,
        "involve_industry": 2,
        "involve_finance": 1,
        "board_research": 0.25,
        "board_policy": 0.375,
        "board_industry": 0.25,
        "board_finance": 0.125,
        "board_seats": 8,
        "initiator": 1,
        "facilitator": 1,
        "key_individual": 1,
        "office": 1,
        "formalised_year": 2003,
        "public_funding": 0.8,
        "member_fees": 0.1,
        "n_members": 40,
        "sc_trust": 4,
        "sc_concerted": 4,
        "sc_vision": 4,
        "sc_networks": 4,
        "prior_cluster": 1,
        "n_firms": 35,
        "n_firms_10plus": 5,
        "anchor_firm": 0,
        "venture_capital": 0,
        "start_year": 2000,
        "lifecycle": 1,
        "takeoff": 0,
    }
    wireless = {
        "initiative_id": "DNK-WirelessICT",
        **region,
        "involve_research": 3,
        "involve_policy": 2,
        "involve_industry": 4,
        "involve_finance": 2,
        "board_research": 0.25,
        "board_policy": 0.125,
        "board_industry": 0.5,
        "board_finance": 0.125,
        "board_seats": 8,
        "initiator": 3,
        "facilitator": 1,
        "key_individual": 0,
        "office": 1,
        "formalised_year": 1997,
        "public_funding": 0.4,
        "member_fees": 0.4,
        "n_members": 100,
        "sc_trust": 4,
        "sc_concerted": 4,
        "sc_vision": 4,
        "sc_networks": 4,
        "prior_cluster": 0,
        "n_firms": 100,
        "n_firms_10plus": 30,
        "anchor_firm": 1,
        "venture_capital": 1,
        "start_year": 1997,
        "lifecycle": 3,
        "takeoff": 1,
    }
    df = pd.DataFrame([biomedico, wireless])
    for col in ("perf_competitiveness", "perf_growth", "perf_goals", "firm_growth"):
        df[col] = np.nan
    return as_codebook_dtypes(df)


def simulate_herds(seed: int = HERDS_SEED, n_herds: int = 15) -> pd.DataFrame:
    """The "your own data" example, not a cluster survey: new cases of a disease (``incidence``)
    among the animals of each herd (``size``) in four periods (``period``, text ``p1``-``p4``),
    with the herd's stocking density (animals per hectare). Binomial with trials, a categorical
    predictor, a continuous one and varying intercepts by herd; truth in :data:`HERDS_TRUTH`."""
    rng = np.random.default_rng(seed)
    herds = [f"H{i:02d}" for i in range(1, n_herds + 1)]
    density = np.round(rng.normal(2.0, 0.5, n_herds).clip(0.5, None), 2)
    u = rng.normal(0.0, HERDS_TRUTH["sigma_herd"], n_herds)
    rows = []
    z = (density - density.mean()) / density.std()
    for h, herd in enumerate(herds):
        for period in ("p1", "p2", "p3", "p4"):
            eta = HERDS_TRUTH["intercept"] + HERDS_TRUTH["period"].get(period, 0.0)
            eta += HERDS_TRUTH["density_per_sd"] * z[h] + u[h]
            size = int(rng.integers(8, 40))
            cases = int(rng.binomial(size, 1.0 / (1.0 + np.exp(-eta))))
            rows.append(
                {"herd": herd, "period": period, "size": size, "incidence": cases, "density": density[h]}
            )
    return pd.DataFrame(rows)


def example_path(name: str = HERDS_FILE) -> Path:
    """Path of a shipped example dataset that is not a cluster survey (``herds.csv``)."""
    path = DATA_DIR / name
    if name != HERDS_FILE or not path.is_file():
        raise FileNotFoundError(f"no shipped example {name!r}; the examples are: {HERDS_FILE}")
    return path


def build_files() -> dict[str, bytes]:
    """Every shipped data file, as bytes, from the generator and the codebook."""
    sim = simulate_survey(seed=DEFAULT_SEED, scenario="default", **DEFAULT_SIZE)
    panel = simulate_panel(seed=PANEL_SEED, **PANEL_SIZE)
    files = {
        SURVEY_FILE: to_csv_bytes(sim.data),
        TRUTH_FILE: (json.dumps(sim.truth, indent=2, sort_keys=True) + "\n").encode(),
        PANEL_FILE: to_csv_bytes(panel.data),
        PANEL_TRUTH_FILE: (json.dumps(panel.truth, indent=2, sort_keys=True) + "\n").encode(),
        CASES_FILE: to_csv_bytes(north_jutland_cases()),
        CODEBOOK_FILE: (render_markdown() + "\n").encode(),
        HERDS_FILE: to_csv_bytes(simulate_herds()),
    }
    manifest = {
        "generator": "clusterpreneur.study.simulate.simulate_survey",
        "generator_version": GENERATOR_VERSION,
        "seed": DEFAULT_SEED,
        "scenario": "default",
        **DEFAULT_SIZE,
        "panel": {
            "generator": "clusterpreneur.study.panel.simulate_panel",
            "generator_version": PANEL_GENERATOR_VERSION,
            "seed": PANEL_SEED,
            **PANEL_SIZE,
            "files": [PANEL_FILE, PANEL_TRUTH_FILE],
        },
        "examples": {
            HERDS_FILE: {
                "generator": "clusterpreneur.study.datasets.simulate_herds",
                "generator_version": HERDS_GENERATOR_VERSION,
                "seed": HERDS_SEED,
                "truth": HERDS_TRUTH,
            }
        },
        "regenerate": "nox -s data",
        "sha256": {name: sha256_bytes(payload) for name, payload in sorted(files.items())},
    }
    files[MANIFEST_FILE] = (json.dumps(manifest, indent=2) + "\n").encode()
    return files


def write_files(directory: Path = DATA_DIR) -> dict[str, bytes]:
    """Regenerate the shipped files into ``directory`` (atomically, file by file)."""
    files = build_files()
    for name, payload in files.items():
        write_atomic(directory / name, payload)
    return files


def check_files(directory: Path = DATA_DIR) -> list[str]:
    """Names of shipped files that differ from (or are missing against) a fresh regeneration."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = write_files(Path(tmp))
    return [
        name
        for name, payload in fresh.items()
        if not (directory / name).exists() or (directory / name).read_bytes() != payload
    ]


def default_survey_path() -> Path:
    """Path of the shipped default survey CSV."""
    return DATA_DIR / SURVEY_FILE


def provenance(survey: str | Path) -> dict:
    """Whether a survey file is simulated, and where its true parameters are.

    The shipped survey is recognised by its SHA-256 (``MANIFEST.json``); a file written by
    ``clusterpreneur simulate`` by the ``<stem>_truth.json`` written beside it. Returns
    ``{"simulated": bool, "how": text, "truth": path or None}``.
    """
    path = Path(survey)
    shipped = json.loads((DATA_DIR / MANIFEST_FILE).read_text())
    if sha256_bytes(path.read_bytes()) == shipped["sha256"].get(SURVEY_FILE):
        how = (
            f"the survey shipped with clusterpreneur, simulated by its generator (version "
            f"{shipped['generator_version']}, seed {shipped['seed']}) with marginals calibrated to the "
            "published figures of The Cluster Initiative Greenbook (2003)"
        )
        return {"simulated": True, "how": how, "truth": str(DATA_DIR / TRUTH_FILE)}
    truth = path.with_name(f"{path.stem}_truth.json")
    if truth.is_file():
        how = f"simulated by clusterpreneur simulate (true parameters in {truth.name})"
        return {"simulated": True, "how": how, "truth": str(truth)}
    return {"simulated": False, "how": "", "truth": None}


def load_default_truth() -> dict:
    """True parameters of the shipped default survey."""
    return json.loads((DATA_DIR / TRUTH_FILE).read_text())


def default_panel_path() -> Path:
    """Path of the shipped panel CSV (three survey waves, one row per initiative and wave)."""
    return DATA_DIR / PANEL_FILE


def load_panel_truth() -> dict:
    """True parameters of the shipped panel (the hazard of take-off per wave and its predictors)."""
    return json.loads((DATA_DIR / PANEL_TRUTH_FILE).read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail unless shipped files are byte-identical")
    args = parser.parse_args(argv)
    if args.check:
        differing = check_files()
        if differing:
            print(
                f"shipped data differ from a fresh regeneration: {differing}. If the generator changed "
                "on purpose, bump GENERATOR_VERSION and run `python -m clusterpreneur.study.datasets`.",
                file=sys.stderr,
            )
            return 1
        print(f"all {len(build_files())} shipped data files are byte-identical to a fresh regeneration")
        return 0
    files = write_files()
    print(f"wrote {', '.join(sorted(files))} to {DATA_DIR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
