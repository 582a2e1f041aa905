"""Nox sessions: the whole study as reproducible steps. `nox -l` lists them."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import nox

nox.options.default_venv_backend = "virtualenv"
nox.options.download_python = "never"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests"]

PYTHON = "3.12"
PYPROJECT = nox.project.load_toml("pyproject.toml")


def install(session: nox.Session, *groups: str) -> None:
    """Install the package (editable) and the named dependency groups from pyproject."""
    deps = [d for g in groups for d in nox.project.dependency_groups(PYPROJECT, g)]
    session.install("-e", ".", *deps)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite (fast tests; pass `-m slow` or other pytest options after --)."""
    install(session, "test")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON, default=False)
def minimums(session: nox.Session) -> None:
    """The fast tests on the lowest versions the pyproject admits: every ``>=`` (or ``==``)
    lower bound of ``[project].dependencies`` and the test group pinned by a constraints file.
    Other packages resolve as pip finds them."""
    from packaging.requirements import Requirement
    from packaging.version import Version

    test = nox.project.dependency_groups(PYPROJECT, "test")
    pins = []
    for text in [*PYPROJECT["project"]["dependencies"], *test]:
        req = Requirement(text)
        lows = [s.version for s in req.specifier if s.operator in (">=", "==", "~=")]
        if lows:
            pins.append(f"{req.name}=={min(lows, key=Version)}")
    constraints = Path(session.create_tmp()) / "minimums.txt"
    constraints.write_text("\n".join(pins) + "\n")
    session.log("constraints: " + ", ".join(pins))
    session.install("-c", str(constraints), "-e", ".", *test)
    session.run("python", "-m", "pip", "list", "--format=freeze")
    session.run("pytest", "-m", "not slow", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def data(session: nox.Session) -> None:
    """Regenerate the shipped data and codebook; fail unless byte-identical to the committed files."""
    install(session)
    session.run("python", "-m", "clusterpreneur.study.datasets", "--check", *session.posargs)


@nox.session(python=PYTHON, default=False)
def installed(session: nox.Session) -> None:
    """Build the wheel, install it (not editable) and use it from outside the checkout:
    the shipped data load (importlib.resources) and `clusterpreneur fit` runs, on the ladder's
    M1 and on a formula over the shipped herds.csv."""
    wheels = Path(session.create_tmp()) / "wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    session.run("python", "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels), ".")
    (wheel,) = wheels.glob("clusterpreneur-*.whl")
    session.install("--force-reinstall", str(wheel))
    with tempfile.TemporaryDirectory() as outside:
        session.chdir(outside)
        session.run("python", "-c", INSTALLED_CHECK)
        session.run("clusterpreneur", "fit", "--model", "M1", "--out", "m1.nc")  # gated: exit 1 on failure
        herds = session.run("python", "-c", HERDS_PATH, silent=True).strip().splitlines()[-1]
        formula = "p(incidence, size) ~ C(period) + density + (1 | herd)"
        options = ["--formula", formula, "--family", "binomial", "--out", "herds.nc"]
        session.run("clusterpreneur", "fit", herds, *options)


HERDS_PATH = """
from clusterpreneur.study.datasets import example_path
assert "site-packages" in str(example_path()), example_path()
print(example_path())
"""


INSTALLED_CHECK = """
import clusterpreneur, sys
from clusterpreneur import load_survey
from clusterpreneur.study.datasets import default_survey_path
assert "site-packages" in clusterpreneur.__file__, clusterpreneur.__file__
df = load_survey(default_survey_path())
print(f"installed package at {clusterpreneur.__file__}: {len(df)} rows from {default_survey_path()}")
"""


@nox.session(python=PYTHON, default=False)
def paper(session: nox.Session) -> None:
    """The whole study on the shipped data -> results/paper/report.html (+ tables, manifest).

    Cached steps are reused; options after -- pass through, e.g. `nox -s paper -- --force` or
    `nox -s paper -- --pdf` (report.pdf too, printed by headless Chromium).
    """
    install(session)
    session.run(
        "python", "-m", "clusterpreneur", "report", "--config", "analysis/study.toml",
        "--out", "results/paper", *session.posargs,
    )  # fmt: skip


BAMBI_ENV = ["bambi>=0.21", "nutpie", "pyarrow", "h5netcdf", "h5py"]
"""bambi's own virtualenv for the benchmark: bambi pins a ``formulae`` older than the package's."""


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks: package vs bambi, scaling to 25,000 initiatives, whole-study time.

    bambi runs in a virtualenv of its own (``BAMBI_ENV``, made here under the session's tmp
    folder) on a Parquet file of the same survey. Writes BENCHMARKS.md and
    benchmarks/results.json. Options after --, e.g.
    `nox -s bench -- --sizes 250,2500 --peer-sizes 250,2500 --skip-paper --experiments all`.
    """
    install(session, "bench")
    bambi_env = Path(session.create_tmp()) / "bambi-venv"
    bambi_python = bambi_env / "bin" / "python"
    if not bambi_python.exists():
        session.run("python", "-m", "venv", str(bambi_env))
    session.run(str(bambi_python), "-m", "pip", "install", "--quiet", *BAMBI_ENV, external=True)
    session.run("python", "benchmarks/run.py", "--bambi-python", str(bambi_python), *session.posargs)


@nox.session(python=PYTHON, default=False)
def models(session: nox.Session) -> None:
    """Fit the Bayesian model ladder M1-M5 on the shipped survey (the study's cached model steps);
    fits under results/models/model_<M>/."""
    install(session)
    session.run(
        "python", "-m", "clusterpreneur", "report", "--config", "analysis/study.toml",
        "--only", "model", "--out", "results/models", *session.posargs,
    )  # fmt: skip


@nox.session(python=PYTHON, default=False)
def baselines(session: nox.Session) -> None:
    """statsmodels baselines of every outcome on the shipped survey; tables under results/baselines."""
    install(session)
    session.run(
        "python", "-m", "clusterpreneur.study.baselines", "--out", "results/baselines", *session.posargs
    )


@nox.session(python=PYTHON, default=False)
def diagnostics(session: nox.Session) -> None:
    """Convergence gate, calibration and rating checks, LOO, prior sensitivity and their figures for
    every fit of the ladder, and the LOO comparison (the study's cached steps) -> results/diagnostics."""
    install(session)
    session.run(
        "python", "-m", "clusterpreneur", "report", "--config", "analysis/study.toml",
        "--only", "diagnostics,comparison", "--out", "results/diagnostics", *session.posargs,
    )  # fmt: skip


@nox.session(python=PYTHON, default=False)
def sbc(session: nox.Session) -> None:
    """Simulation-based calibration of every reported rung (M1-M6), each fitted with fit_model as the
    study fits it, on Dask -> results/sbc/<rung>/ (resumable cache); each complete run's compact
    outputs are published to analysis/sbc/<rung>/ with analysis/sbc/MANIFEST.json (tracked: the
    report's appendix reads them; commit them).

    `nox -s sbc` (200 simulations of every rung), `nox -s sbc -- 50 --model M1,M6 --workers 1`,
    `nox -s sbc -- 200 --scheduler tcp://host:8786`."""
    install(session, "sbc")
    publish = [] if "--publish" in session.posargs else ["--publish", "analysis/sbc"]
    session.run("python", "-m", "clusterpreneur.diagnostics.sbc", *publish, *session.posargs)
