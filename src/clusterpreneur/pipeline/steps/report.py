"""Step ``report``: the paper (:func:`clusterpreneur.pipeline.report.render`), and its PDF when asked.

It reads every other step's entry and runs only report code, so editing a caption, a template or
the style sheet reruns this step alone. The runner copies its files into the output folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clusterpreneur.io import write_atomic
from clusterpreneur.models.verdict import VerdictRule
from clusterpreneur.pipeline.cache import CacheEntry
from clusterpreneur.pipeline.step import RunContext, StepBase

TEMPLATES = ("pipeline/templates",)
STUDY_COPY = "STUDY.md"
"""The study's design (``analysis/STUDY.md``), copied beside the report it links from."""


@dataclass
class ReportStep(StepBase):
    """Renders ``report.html`` with its tables and figures (and ``report.pdf`` with ``pdf``)."""

    rule: VerdictRule = field(default_factory=VerdictRule)
    pdf: bool = False
    versions: dict[str, str] = field(default_factory=dict)
    study_design: Path | None = None
    resources: tuple[str, ...] = TEMPLATES

    def params(self) -> Any:
        from clusterpreneur.io import sha256_file

        design = sha256_file(self.study_design) if self.study_design else None
        return {"rule": vars(self.rule), "pdf": self.pdf, "versions": self.versions, "study_design": design}

    def validate(self, ctx: RunContext) -> None:
        if self.pdf:
            from clusterpreneur.pipeline.pdf import require_browser

            require_browser()

    def run(self, ctx: RunContext, upstream: Mapping[str, CacheEntry], out: Path) -> dict[str, Any]:
        from clusterpreneur.pipeline.report import PDF_FILE, REPORT_FILE, render, sizes

        link = STUDY_COPY if self.study_design else None
        rendered = render(ctx.config, upstream, rule=self.rule, versions=self.versions, study_link=link)
        for rel, payload in rendered.files.items():
            write_atomic(out / rel, payload)
        if self.study_design:  # the design travels with the report (a relative link that always works)
            write_atomic(out / STUDY_COPY, self.study_design.read_bytes())
        if self.pdf:
            from clusterpreneur.pipeline.pdf import print_pdf

            print_pdf(out / REPORT_FILE, out / PDF_FILE)
        return {
            "tables": {name: t.reader.n_rows for name, t in rendered.tables.items()},
            "bytes": len(rendered.files[REPORT_FILE].encode()),
            "sizes": sizes(rendered.files[REPORT_FILE]),
        }
