"""Diagnostic figures with arviz-plots, saved as PNG and SVG atomically.

Every ``plot_*`` function returns the PlotCollection(s) and, when ``path`` (a file stem, no
extension) is given, saves ``<stem>.png`` and ``<stem>.svg``. ``backend="none"`` builds the
plot without drawing (fast tests); saving needs a drawing backend (matplotlib by default).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from clusterpreneur.io import write_atomic

FORMATS = ("png", "svg")
FOREST_COLUMNS = ["outcome", "model", "term", "estimate", "ci_lower", "ci_upper"]


def save_figure(pc, stem: str | Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Save a PlotCollection as ``stem.<fmt>`` for each format, each written atomically."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        fd, tmp = tempfile.mkstemp(dir=stem.parent, prefix=f".{stem.name}.", suffix=f".{fmt}")
        os.close(fd)
        try:
            pc.savefig(tmp)
            paths.append(write_atomic(stem.with_name(f"{stem.name}.{fmt}"), Path(tmp).read_bytes()))
        finally:
            Path(tmp).unlink(missing_ok=True)
    if pc.backend == "matplotlib":
        import matplotlib.pyplot as plt

        plt.close(pc.viz["figure"].item() if hasattr(pc.viz["figure"], "item") else pc.viz["figure"])
    return paths


def _finish(pc, path, backend):
    if path is not None and backend != "none":
        save_figure(pc, path)
    return pc


def plot_convergence(
    idata: xr.DataTree,
    path: str | Path | None = None,
    *,
    var_names: Sequence[str] | None = None,
    backend: str | None = None,
) -> dict:
    """Trace plot and rank (ECDF) plot; saved as ``<stem>_trace`` and ``<stem>_rank``."""
    out = {
        "trace": az.plot_trace(idata, var_names=var_names, backend=backend),
        "rank": az.plot_rank(idata, var_names=var_names, backend=backend),
    }
    if path is not None:
        for kind, pc in out.items():
            _finish(pc, f"{path}_{kind}", backend)
    return out


def forest_datasets(table: pd.DataFrame) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset]:
    """Turn a tidy estimates table into (pseudo-draws, interval, point) Datasets for plot_forest.

    One variable per outcome, dims ``model`` x ``term``; missing (model, term) pairs are NaN.
    """
    missing = [c for c in FOREST_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"estimates table lacks columns {missing}; expected {FOREST_COLUMNS}")
    out = {}
    for outcome, g in table.groupby("outcome", sort=False):
        wide = g.pivot_table(
            index="model", columns="term", values=["ci_lower", "estimate", "ci_upper"], sort=False
        )
        models = list(dict.fromkeys(g["model"]))
        terms = list(dict.fromkeys(g["term"]))
        arr = np.stack(
            [
                wide[c].reindex(index=models, columns=terms).to_numpy(float)
                for c in ("ci_lower", "estimate", "ci_upper")
            ],
            axis=-1,
        )
        out[str(outcome)] = xr.DataArray(
            arr[None], dims=("chain", "model", "term", "draw"), coords={"model": models, "term": terms}
        )
    ds = xr.Dataset(out).transpose("chain", "draw", ...)
    lower = ds.isel(chain=0, draw=0, drop=True)
    point = ds.isel(chain=0, draw=1, drop=True)
    upper = ds.isel(chain=0, draw=2, drop=True)
    interval = xr.concat([lower, upper], dim=pd.Index(["lower", "upper"], name="ci_bound"))
    return ds, interval, point


def plot_forest_comparison(
    table: pd.DataFrame, path: str | Path | None = None, *, backend: str | None = None
):
    """Forest plot of Bayesian and statsmodels estimates side by side (one colour per model).

    ``table``: columns ``outcome, model, term, estimate, ci_lower, ci_upper`` (the tidy format
    of ``clusterpreneur.tables``); the intervals are drawn as given, not recomputed.
    """
    ds, interval, point = forest_datasets(table)
    pc = az.plot_forest(
        xr.DataTree.from_dict({"posterior": ds}),
        stats={"trunk": interval, "twig": interval, "point_estimate": point},
        backend=backend,
    )
    if backend != "none":
        # legend support differs between backends; the plot stays valid without one
        with contextlib.suppress(Exception):
            pc.add_legend("model")
    return _finish(pc, path, backend)


def plot_ppc(idata: xr.DataTree, var: str, path: str | Path | None = None, *, backend: str | None = None):
    """PPC suited to the outcome: PAV calibration (binary), rootogram (ordinal), density otherwise."""
    from clusterpreneur.diagnostics.ppc import family_of

    family = family_of(idata, var)
    if family == "binary":
        pc = az.plot_ppc_pava(idata, var_names=[var], backend=backend)
    elif family == "ordinal":
        pc = az.plot_ppc_rootogram(idata, var_names=[var], backend=backend)
    else:
        pc = az.plot_ppc_dist(idata, var_names=[var], backend=backend)
    return _finish(pc, path, backend)


def plot_loo_pit(idata: xr.DataTree, var: str, path: str | Path | None = None, *, backend: str | None = None):
    """LOO-PIT ECDF-difference plot with simultaneous bands (needs log_likelihood)."""
    pc = az.plot_loo_pit(idata, var_names=[var], backend=backend)
    return _finish(pc, path, backend)


def plot_sbc_ecdf(result, path: str | Path | None = None, *, backend: str | None = None):
    """SBC ECDF-difference plot (``az.plot_ecdf_pit``, pot_c p-value per panel) of an SBCResult
    or of a DataTree with a ``prior_sbc`` group. Returns the saved paths when ``path`` is given,
    else the PlotCollection."""
    dt = result if isinstance(result, xr.DataTree) else result.ranks
    pc = az.plot_ecdf_pit(dt, group="prior_sbc", sample_dims=["simulation"], backend=backend)
    if path is not None and backend != "none":
        return save_figure(pc, path)
    return pc


def plot_comparison(comparison, path: str | Path | None = None, *, backend: str | None = None):
    """ELPD comparison plot of a ModelComparison (or az.compare table)."""
    table = comparison.table if hasattr(comparison, "table") else comparison
    pc = az.plot_compare(table, backend=backend)
    return _finish(pc, path, backend)


def all_figures(
    fits: Mapping[str, xr.DataTree], outcome: str, folder: str | Path, *, backend: str | None = None
) -> list[Path]:
    """Trace/rank, PPC and LOO-PIT figures for every fit into ``folder``; returns written files."""
    folder = Path(folder)
    for name, idata in fits.items():
        plot_convergence(idata, folder / f"{name}", backend=backend)
        if "posterior_predictive" in idata.children:
            plot_ppc(idata, outcome, folder / f"{name}_ppc", backend=backend)
            if "log_likelihood" in idata.children:
                plot_loo_pit(idata, outcome, folder / f"{name}_loo_pit", backend=backend)
    return sorted(folder.glob("*.png")) + sorted(folder.glob("*.svg"))
