"""Step ``comparison``: PSIS-LOO comparison (stacking) of the take-off models fitted on the same rows."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clusterpreneur.pipeline.artefacts import quiet, write_csv
from clusterpreneur.pipeline.cache import CacheEntry
from clusterpreneur.pipeline.step import RunContext, StepBase
from clusterpreneur.pipeline.steps.model import FIT

OUTCOME = "takeoff"
TABLE = "comparison.csv"


class ComparisonStep(StepBase):
    """Expected log predictive density, differences and stacking weights of the take-off models."""

    def run(self, ctx: RunContext, upstream: Mapping[str, CacheEntry], out: Path) -> dict[str, Any]:
        import arviz as az

        from clusterpreneur.diagnostics import compare_models
        from clusterpreneur.models.persist import read_fit

        fits: dict[str, Any] = {}
        sizes: dict[str, int] = {}
        skipped: dict[str, str] = {}
        for step_name, entry in upstream.items():
            if not step_name.startswith("model:"):
                continue
            name = step_name.split(":", 1)[1]
            idata = read_fit(entry.file(FIT))  # refuses a damaged or edited fit
            if "log_likelihood" not in idata.children or OUTCOME not in idata["log_likelihood"].to_dataset():
                skipped[name] = "not a take-off model"
                continue
            fits[name] = idata
            sizes[name] = int(np.asarray(idata["log_likelihood"][OUTCOME]).shape[-1])
        if len(set(sizes.values())) > 1:
            common = max(set(sizes.values()), key=list(sizes.values()).count)
            for name in [n for n, s in sizes.items() if s != common]:
                skipped[name] = f"fitted on {sizes[name]} rows, not {common}"
                fits.pop(name)
        table = pd.DataFrame(columns=["model"])
        if fits:
            cmp = quiet(compare_models, fits, var_name=OUTCOME)
            table = cmp.table
            if len(fits) > 1:  # compare_models rounds for display; keep full precision
                table = quiet(az.compare, cmp.loo, method="stacking", round_to="none")
            table = table.rename_axis("model").reset_index()
        for name, why in skipped.items():
            table = pd.concat([table, pd.DataFrame([{"model": name, "note": why}])], ignore_index=True)
        if "rank" in table:
            table["rank"] = table["rank"].astype("Int64")
        write_csv(out / TABLE, table)
        return {"compared": sorted(fits), "skipped": skipped}
