"""The code part of the cache key: files a step runs, the modules its own module names, resources."""

from __future__ import annotations

from clusterpreneur.pipeline import codekey


def test_tracker_records_the_package_files_whose_code_runs():
    from clusterpreneur import tables
    from clusterpreneur.study import cases

    with codekey.CodeTracker() as tracked:
        tables.empty_table()
    assert tracked.active
    assert "tables.py" in tracked.files
    assert "study/cases.py" not in tracked.files  # imported, not run
    with codekey.CodeTracker() as again:  # a second step sees the same code again
        tables.empty_table()
    assert "tables.py" in again.files
    assert cases.CASE_ID  # (imported above, never run)


def test_static_files_are_the_module_and_the_modules_it_names():
    files = codekey.static_files("clusterpreneur.pipeline.steps.forest")
    assert "pipeline/steps/forest.py" in files
    assert {"pipeline/steps/baselines.py", "pipeline/steps/estimates.py", "diagnostics/plots.py"} <= files
    assert "models/parametrize.py" not in files  # not named by the forest step
    deep = codekey.static_files("clusterpreneur.pipeline.steps.forest", transitive=True)
    assert files < deep  # the fallback when tracking is unavailable


def test_type_checking_imports_are_not_code(tmp_path):
    module = tmp_path / "step.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "from clusterpreneur.io import write_atomic\n"
        "if TYPE_CHECKING:\n"
        "    from clusterpreneur.tables import COLUMNS\n"
        "def run():\n"
        "    from clusterpreneur.study import cases\n"
    )
    found = codekey.named_imports(module)
    assert "clusterpreneur.io" in found and "clusterpreneur.study.cases" in found
    assert "clusterpreneur.tables" not in found  # only a type, never run


def test_templates_are_resources_of_the_report():
    files = codekey.resource_files(["pipeline/templates"])
    assert {"pipeline/templates/report.html.j2", "pipeline/templates/report.css"} <= files
    digests = codekey.FileDigests()
    assert len(digests("pipeline/templates/report.css")) == 64
    assert digests("no/such/file.py") == "absent"
