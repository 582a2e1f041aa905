"""Step ``descriptives``: the survey by region type (Table 1) and its missing answers."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clusterpreneur.pipeline.artefacts import read_frame, write_csv
from clusterpreneur.pipeline.cache import CacheEntry
from clusterpreneur.pipeline.step import RunContext, StepBase
from clusterpreneur.pipeline.steps.data import SURVEY


class DescriptivesStep(StepBase):
    """Mean, SD and N overall, for core and for peripheral regions; missing answers per variable."""

    def run(self, ctx: RunContext, upstream: Mapping[str, CacheEntry], out: Path) -> dict[str, Any]:
        from clusterpreneur.study.descriptives import descriptives_table, missingness_table

        df = read_frame(upstream["data"].file(SURVEY))
        table = descriptives_table(df)
        missing = missingness_table(df)
        write_csv(out / "descriptives.csv", table)
        write_csv(out / "missingness.csv", missing)
        return {
            "variables": len(table) - 1,
            "peripheral": int((df["peripheral"] == 1).sum()),
            "takeoff_share": float(df["takeoff"].mean()),
            "variables_with_missing": len(missing),
            "cells_missing": int(missing["missing"].sum()) if len(missing) else 0,
        }
