"""Steps ``data`` and ``panel``: read and validate the survey (and the cases), and the panel of survey
waves when the study names one, once; later steps read Parquet copies."""

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
"""The validated frame of a data step (the survey, or the panel's person-period rows)."""
CASES = "cases.parquet"
SOURCE = "source.json"
TRUTH = "truth.json"


def data_step(model: str) -> str:
    """The step whose frame ``model`` is fitted on: ``panel`` for the panel rungs (M6), else ``data``."""
    from clusterpreneur.study.ladder import PANEL_MODELS

    return "panel" if model in PANEL_MODELS else "data"


@dataclass
class PanelStep(StepBase):
    """Reads the panel of survey waves (one row per initiative and wave; the schema's panel rules)."""

    inputs: dict[str, str] = field(default_factory=dict)

    def params(self) -> Any:
        return {"inputs": self.inputs}

    def run(self, ctx: RunContext, upstream: Mapping[str, CacheEntry], out: Path) -> dict[str, Any]:
        from clusterpreneur.study.codebook import WAVE
        from clusterpreneur.study.readers import load_survey

        df = load_survey(ctx.panel_path)
        if WAVE not in df.columns:
            from clusterpreneur.pipeline.config import ConfigError

            raise ConfigError(
                f"[data] panel {ctx.panel_path.name} has no {WAVE!r} column: a panel has one row per "
                "initiative and survey wave"
            )
        write_frame(out / SURVEY, df)
        write_json(out / SOURCE, {"file": ctx.panel_path.name, "sha256": ctx.hashes.get("panel")})
        return {
            "rows": len(df),
            "initiatives": int(df["initiative_id"].nunique()),
            "waves": int(df[WAVE].nunique()),
            "takeoffs": int(df["takeoff"].sum()) if "takeoff" in df else 0,
        }


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
