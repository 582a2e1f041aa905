"""Project promises: README and CI run the same test command; ARCHITECTURE.md names every module."""

from __future__ import annotations

import re
from pathlib import Path

import clusterpreneur

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(clusterpreneur.__file__).resolve().parent


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text()
    command = re.search(r"^TEST_COMMAND='(.+)'$", ci, re.M).group(1)
    assert command in (ROOT / "README.md").read_text()


def test_architecture_names_every_module_and_every_named_module_exists():
    text = (ROOT / "ARCHITECTURE.md").read_text()
    named = set(re.findall(r"^\| `([a-z_/]+(?:\.py)?)` \|", text, re.M))
    actual = {p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    actual |= {f"{p.name}/" for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert named == actual, (
        f"only in ARCHITECTURE.md: {named - actual}; only in the package: {actual - named}"
    )
