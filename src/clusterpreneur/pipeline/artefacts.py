"""Reading and writing step artefacts: CSV, Parquet, JSON, all atomic and byte-deterministic."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from clusterpreneur.io import write_atomic


def csv_bytes(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False, lineterminator="\n", float_format="%.10g").encode()


def write_csv(path: Path, df: pd.DataFrame) -> Path:
    return write_atomic(path, csv_bytes(df))


def read_csv(path: Path) -> pd.DataFrame:
    """A CSV written by :func:`write_csv` (empty cells are missing values, text stays text)."""
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def write_frame(path: Path, df: pd.DataFrame) -> Path:
    """A data frame as Parquet (exact dtypes, for the steps that read the survey)."""
    buf = io.BytesIO()
    df.to_parquet(buf, engine="pyarrow", index=False)
    return write_atomic(path, buf.getvalue())


def read_frame(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path, engine="pyarrow")


def write_json(path: Path, obj: Any) -> Path:
    return write_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def write_netcdf(path: Path, tree) -> Path:
    """An ``xarray.DataTree`` as NetCDF (h5netcdf), written to a temporary name, then renamed."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        tree.to_netcdf(tmp, engine="h5netcdf")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def read_netcdf(path: Path):
    """A DataTree written by :func:`write_netcdf`, loaded into memory (the file is closed)."""
    import xarray as xr

    with xr.open_datatree(path, engine="h5netcdf") as tree:
        return tree.load()


QUIET_LOGGERS = ("arviz_stats", "arviz_base", "pymc")


def quiet(fn, *args, **kwargs):
    """Call ``fn`` with its warnings, printed and logged notices silenced (they are in the tables)."""
    levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    try:
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs)
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
