"""Save and load fits: NetCDF (default) or Zarr (path ending in ``.zarr``). No pickle.

The file holds the whole ``DataTree`` plus root attributes: the spec as JSON, the SHA-256
of the spec, of the data used (canonical CSV) and of both, package and dependency
versions, seed, sampler, the standardiser and imputation counts. Loading needs the data
again: the model is rebuilt from (spec, data) and a file whose hash does not match the
data (or whose spec does not match its own hash) is refused with :class:`FitIntegrityError`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import arviz as az
import pandas as pd

from clusterpreneur.errors import FitIntegrityError, SpecError
from clusterpreneur.models.build import prepare
from clusterpreneur.models.fit import FittedModel, data_sha256
from clusterpreneur.models.spec import ModelSpec
from clusterpreneur.study.measures import Standardizer


def _is_zarr(path: Path) -> bool:
    return path.suffix == ".zarr"


def save_fit(fit: FittedModel, path: str | Path) -> Path:
    """Write ``fit`` to ``path`` atomically (temporary file or folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if _is_zarr(path):
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
        try:
            fit.idata.to_zarr(tmp, mode="w")
            if path.exists():
                shutil.rmtree(path)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return path
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        fit.idata.to_netcdf(tmp_name, engine="h5netcdf")
        os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return path


def load_fit(path: str | Path, df: pd.DataFrame) -> FittedModel:
    """Load a saved fit and check it against ``df`` (the data it was fitted on).

    Raises :class:`FitIntegrityError` when the data's hash differs from the saved one, or
    the saved spec does not match its own hash.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no saved fit at {path}")
    dt = az.from_zarr(str(path)) if _is_zarr(path) else az.from_netcdf(path, engine="h5netcdf")
    dt = dt.load()  # into memory: the file may be overwritten later
    dt.close()
    attrs = dict(dt.attrs)
    if "spec_json" not in attrs:
        raise FitIntegrityError(f"{path} is not a clusterpreneur fit (no spec in its attributes)")
    spec = ModelSpec.from_json(attrs["spec_json"])
    if spec.sha256() != attrs.get("spec_sha256"):
        raise FitIntegrityError(
            f"{path}: the stored spec hashes to {spec.sha256()} but the file records "
            f"{attrs.get('spec_sha256')}: the file was altered. Re-fit the model."
        )
    std = Standardizer.from_dict(json.loads(attrs["standardizer"]))
    try:
        prep = prepare(spec, df, standardizer=std)
    except SpecError as exc:
        msg = f"{path}: the data given do not fit the saved spec {spec.name!r}: {exc}"
        raise FitIntegrityError(msg) from exc
    found = data_sha256(prep.data)
    if found != attrs["data_sha256"]:
        raise FitIntegrityError(
            f"{path}: refusing to load. The fit was made on data with SHA-256 {attrs['data_sha256']}, "
            f"but the data given hash to {found} (rows/columns used by spec {spec.name!r}). Load it "
            "with the exact data it was fitted on, or re-fit the model on the new data."
        )
    seed = int(attrs.get("seed", -1))
    return FittedModel(
        spec=spec,
        idata=dt,
        prepared=prep,
        seed=None if seed < 0 else seed,
        sampler=attrs.get("sampler"),
    )
