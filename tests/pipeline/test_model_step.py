"""The model step's stored fit: the same seed writes the same bytes."""

from __future__ import annotations

import numpy as np
import xarray as xr

from clusterpreneur.pipeline.artefacts import write_netcdf
from clusterpreneur.pipeline.steps.model import RUN_TIME_ATTRS, compact_fit


def _sampled(created_at: str, seconds: float) -> xr.DataTree:
    rng = np.random.default_rng(0)
    stamp = {"created_at": created_at, "sampling_time": seconds, "inference_library": "nutpie"}
    post = xr.Dataset({"beta": (("chain", "draw", "term"), rng.normal(size=(2, 5, 3)))}, attrs=stamp)
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((2, 5), bool))}, attrs=stamp)
    ll = xr.Dataset({"y": (("chain", "draw", "obs"), rng.normal(size=(2, 5, 4)))}, attrs=stamp)
    tree = xr.DataTree.from_dict({"posterior": post, "sample_stats": stats, "log_likelihood": ll})
    tree.attrs["spec_json"] = '{"outcome": "y"}'
    return tree


def test_two_runs_of_the_same_draws_store_the_same_bytes(tmp_path):
    first = compact_fit(_sampled("2026-12-03T19:28:11+00:00", 4.26))
    second = compact_fit(_sampled("2026-12-03T19:32:16+00:00", 5.12))
    for tree in (first, second):
        for node in tree.subtree:
            assert not set(RUN_TIME_ATTRS) & set(node.attrs), node.path
    assert first["posterior"].attrs["inference_library"] == "nutpie"  # other attributes stay
    a, b = write_netcdf(tmp_path / "a.nc", first), write_netcdf(tmp_path / "b.nc", second)
    assert a.read_bytes() == b.read_bytes()
