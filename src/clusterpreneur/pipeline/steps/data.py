"""Step ``data``: read and validate the survey (and the cases) once; later steps read Parquet copies."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clusterpreneur.pipeline.artefacts import write_frame, write_json
from clusterpreneur.pipeline.cache import CacheEntry
from clusterpreneur.pipeline.step import RunContext, StepBase

SURVEY = "survey.parquet"
CASES = "cases.parquet"
SOURCE = "source.json"
TRUTH = "truth.json"


@dataclass
class DataStep(StepBase):
    """Reads the survey with its mapping and the cases (default: the shipped North Jutland cases)."""

    inputs: dict[str, str] = field(default_factory=dict)

    def params(self) -> Any:
        return {"inputs": self.inputs}

    def run(self, ctx: RunContext, upstream: Mapping[str, CacheEntry], out: Path) -> dict[str, Any]:
        from clusterpreneur.study.cases import validate_rows
        from clusterpreneur.study.datasets import north_jutland_cases, provenance
        from clusterpreneur.study.readers import load_survey

        df = load_survey(ctx.survey_path, mapping=ctx.mapping_path)
        if ctx.cases_path is not None:
            cases = load_survey(ctx.cases_path)
            cases_source = ctx.cases_path.name
        else:
            cases = validate_rows(north_jutland_cases(), "shipped North Jutland cases")
            cases_source = "the North Jutland cases shipped with clusterpreneur"
        write_frame(out / SURVEY, df)
        write_frame(out / CASES, cases)
        origin = provenance(ctx.survey_path)
        if origin["truth"]:
            shutil.copyfile(origin["truth"], out / TRUTH)
        source = {
            "file": ctx.survey_path.name,
            "sha256": ctx.hashes.get("survey"),
            "mapping": ctx.mapping_path.name if ctx.mapping_path else None,
            "cases": cases_source,
            "simulated": origin["simulated"],
            "how": origin["how"],
            "truth": TRUTH if origin["truth"] else None,
        }
        write_json(out / SOURCE, source)
        return {
            "initiatives": len(df),
            "regions": int(df["region_id"].nunique()),
            "countries": int(df["country_id"].nunique()),
            "cases": len(cases),
            "simulated": origin["simulated"],
        }
