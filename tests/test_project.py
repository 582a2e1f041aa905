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


def _named(text: str, heading: str) -> set[str]:
    """Modules named in the first column of the table under ``heading``."""
    block = text.split(heading, 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_/]+(?:\.py)?)` \|", block, re.M))


def _modules(folder: Path) -> set[str]:
    found = {p.name for p in folder.glob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    return found | {f"{p.name}/" for p in folder.iterdir() if p.is_dir() and (p / "__init__.py").exists()}


def test_architecture_names_every_module_and_every_named_module_exists():
    text = (ROOT / "ARCHITECTURE.md").read_text()
    for heading, folder in (("## Module map", PACKAGE), ("## The pipeline", PACKAGE / "pipeline")):
        named, actual = _named(text, heading), _modules(folder)
        assert named == actual, (
            f"{heading}: only in ARCHITECTURE.md: {named - actual}; only in the package: {actual - named}"
        )


DOCS = ("README.md", "ARCHITECTURE.md", "BENCHMARKS.md", "analysis/README.md", "analysis/STUDY.md")


def test_docs_link_nothing_outside_the_repository():
    """A clone has only the repository: no link may point above it or at an absolute path."""
    link = re.compile(r"\]\(([^)\s]+)\)|`(\.\./[^`]*|/[a-z][^`\s]*)`")
    for name in DOCS:
        path = ROOT / name
        text = path.read_text()
        assert "../shared" not in text and "/work/" not in text, name
        for match in link.finditer(text):
            target = (match.group(1) or match.group(2)).split("#", 1)[0]
            if not target or target.startswith(("http://", "https://", "mailto:")):
                continue
            assert not target.startswith("/"), f"{name}: absolute path {target}"
            resolved = (path.parent / target).resolve()
            assert ROOT in resolved.parents or resolved == ROOT, f"{name}: {target} leaves the repository"
            assert resolved.exists(), f"{name}: {target} does not exist"
    assert "analysis/STUDY.md" in (ROOT / "README.md").read_text()
