"""The generic core imports nothing of the study layer or the pipeline (ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "clusterpreneur"
CORE = [
    *sorted((PACKAGE / "models").glob("*.py")),
    *sorted((PACKAGE / "diagnostics").glob("*.py")),
    *(PACKAGE / f for f in ("standardize.py", "tables.py", "files.py", "io.py", "numerics.py", "errors.py")),
]
LAYERS = ("clusterpreneur.study", "clusterpreneur.pipeline")
ALLOWED = {
    ("diagnostics/sbc.py", f)
    for f in ("ladder_problem", "_survey_data", "_panel_data", "study_data", "ladder_record")
}
"""Function-level imports allowed: the SBC command line runs on the study's ladder by name."""


def _imports(tree: ast.AST):
    """(enclosing top-level function or None, imported module) of every import in a module."""
    for top in tree.body:
        where = top.name if isinstance(top, ast.FunctionDef | ast.ClassDef) else None
        for node in ast.walk(top):
            if isinstance(node, ast.Import):
                yield from ((where, a.name) for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                yield where, node.module


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_module_imports_no_study_or_pipeline(path):
    rel = str(path.relative_to(PACKAGE))
    bad = [
        (where, module)
        for where, module in _imports(ast.parse(path.read_text(encoding="utf-8")))
        if module.startswith(LAYERS) and (rel, where) not in ALLOWED
    ]
    assert not bad, f"{rel} imports the study layer or the pipeline: {bad}"


def test_core_names_no_study_module_as_a_value():
    """Not even as a string for importlib: the study plugs in through spec fields only."""
    for path in CORE:
        rel = str(path.relative_to(PACKAGE))
        strings = [
            node.value
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        ]
        assert not [v for v in strings if v.startswith(LAYERS)], rel
