"""Save and load fits as NetCDF files that cannot be damaged or edited unnoticed. No pickle.

The file holds the whole ``DataTree`` (posterior and every other group) plus root
attributes: the spec as JSON, the SHA-256 of the spec, of the data used (canonical CSV) and
of both, package and dependency versions, seed, sampler, the standardiser and imputation
counts, and an integrity record over all of it:

- ``content_digests``: JSON ``{item: SHA-256}`` with one item per variable or coordinate of
  every group (``posterior/beta``), hashed over a canonical encoding of its dims, shape, kind
  and little-endian values (NaN made canonical, text as UTF-8), so the digest depends on the
  numbers and not on how NetCDF stores them; and one item per attribute of every group
  (``@spec_json``, ``posterior/@created_at``), over a canonical JSON of its value;
- ``content_sha256``: the SHA-256 of that JSON, the fit's one hash.

:func:`read_fit` recomputes the record and refuses any difference with
:class:`~clusterpreneur.errors.FitIntegrityError` naming the items that differ (a damaged
file, an edited posterior, spec or standardiser); a file that cannot be read as a fit
(empty, truncated, not NetCDF, no clusterpreneur attributes) gives
:class:`~clusterpreneur.errors.FitFileError`. The record detects damage and edits, not
forgery: whoever edits a file on purpose can recompute it (fits are not signed).
:func:`load_fit` then rebuilds the model from (spec, data) and refuses data whose hash
differs from the saved one. The data themselves are not stored: loading needs them anyway
to rebuild the model, and a fit file without the survey's rows can be shared where the
survey cannot.

Fits are written through :func:`clusterpreneur.io.atomic_path` (a temporary file, then a
rename; permissions 0666 minus the umask). Zarr stores are not supported: one format means
one integrity check, a single file can be replaced atomically (a folder cannot), and no
reader can be led to unpickle object arrays.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from clusterpreneur.errors import FitFileError, FitIntegrityError, SpecError, UnsupportedFormatError
from clusterpreneur.io import atomic_path, sha256_bytes

DIGESTS, CONTENT_SHA256 = "content_digests", "content_sha256"
INTEGRITY_ATTRS = (DIGESTS, CONTENT_SHA256)
FIT_SUFFIX = ".nc"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
SHOWN_ITEMS = 8


# --- canonical content hashing ---------------------------------------------------------------------


def _canonical_objects(values: np.ndarray) -> np.ndarray:
    """Object arrays as NetCDF gives them back: numbers and None as float (None -> NaN), text with
    None as the empty string."""
    flat = values.ravel()
    if all(x is None or isinstance(x, int | float | np.number) for x in flat):
        return np.array([np.nan if x is None else x for x in flat], dtype="float64").reshape(values.shape)
    return np.array(["" if x is None else x for x in flat], dtype=object).reshape(values.shape)


def _array_digest(var: xr.Variable) -> str:
    """SHA-256 of a variable's dims, shape, kind and values in a canonical byte encoding."""
    values = np.asarray(var.values)
    if values.dtype.kind == "O":
        values = _canonical_objects(values)
    kind = values.dtype.kind
    h = hashlib.sha256()
    kind_name = "text" if kind in "OUS" else kind
    h.update(json.dumps({"dims": list(var.dims), "shape": list(values.shape), "kind": kind_name}).encode())
    if kind in "OUS":
        for item in values.ravel(order="C"):
            text = (item.decode() if isinstance(item, bytes) else str(item)).encode()
            h.update(len(text).to_bytes(8, "little"))
            h.update(text)
        return h.hexdigest()
    if kind == "b":
        canonical = values.astype("u1")
    elif kind in "iu":
        canonical = values.astype(f"<{kind}8")
    elif kind in "Mm":
        canonical = values.astype(f"{kind}8[ns]").view("<i8")
    elif kind == "c":
        canonical = values.astype("<c16")
    else:
        canonical = values.astype("<f8")
        nan = np.isnan(canonical)
        if nan.any():
            canonical = np.where(nan, np.nan, canonical)  # one bit pattern for every NaN
    h.update(np.ascontiguousarray(canonical).tobytes())
    return h.hexdigest()


def _attr_digest(value: object) -> str:
    """SHA-256 of an attribute value as canonical JSON (one-element lists as their element)."""
    if isinstance(value, bytes):
        value = value.decode()
    if not isinstance(value, str):
        arr = np.asarray(value)
        if arr.dtype.kind in "OUS":
            items = [x.decode() if isinstance(x, bytes) else str(x) for x in arr.ravel()]
            value = items[0] if len(items) == 1 else items
        else:
            items = (arr.astype(int) if arr.dtype.kind == "b" else arr).ravel().tolist()
            value = items[0] if len(items) == 1 else items
    return sha256_bytes(json.dumps(value, sort_keys=True).encode())


def content_digests(tree: xr.DataTree) -> dict[str, str]:
    """``{item: SHA-256}`` over every variable, coordinate and attribute of every group of ``tree``.

    The integrity attributes themselves are left out.
    """
    out: dict[str, str] = {}
    for node in tree.subtree:
        prefix = node.path.strip("/")
        prefix = f"{prefix}/" if prefix else ""
        ds = node.to_dataset(inherit=False)
        for name, var in ds.variables.items():
            out[f"{prefix}{name}"] = _array_digest(var)
        for key, value in node.attrs.items():
            if node is tree and key in INTEGRITY_ATTRS:
                continue
            out[f"{prefix}@{key}"] = _attr_digest(value)
    return dict(sorted(out.items()))


def integrity_attrs(tree: xr.DataTree) -> dict[str, str]:
    """The integrity record of ``tree``: its digests (JSON) and their SHA-256, the fit's one hash."""
    digests = json.dumps(content_digests(tree), sort_keys=True, separators=(",", ":"))
    return {DIGESTS: digests, CONTENT_SHA256: sha256_bytes(digests.encode())}


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:SHOWN_ITEMS])
    return shown + (f" and {len(items) - SHOWN_ITEMS} more" if len(items) > SHOWN_ITEMS else "")


def verify_integrity(tree: xr.DataTree, path: str | Path) -> None:
    """Refuse a tree whose content differs from its integrity record, naming what differs."""
    attrs = tree.attrs
    if CONTENT_SHA256 not in attrs or DIGESTS not in attrs:
        raise FitIntegrityError(
            f"{path}: the fit has no integrity record (it was written by an older version of "
            "clusterpreneur), so damage or edits cannot be ruled out. Fit the model again."
        )
    stored = str(attrs[DIGESTS])
    if sha256_bytes(stored.encode()) != str(attrs[CONTENT_SHA256]):
        raise FitIntegrityError(
            f"{path}: the integrity record ({DIGESTS}) does not hash to {CONTENT_SHA256}: the file was "
            "damaged or edited. Fit the model again (or restore the file from a copy)."
        )
    try:
        expected = json.loads(stored)
    except ValueError:
        raise FitIntegrityError(f"{path}: the integrity record is unreadable. Fit the model again.") from None
    found = content_digests(tree)
    changed = [k for k in expected if k in found and found[k] != expected[k]]
    missing = [k for k in expected if k not in found]
    added = [k for k in found if k not in expected]
    if changed or missing or added:
        parts = []
        if changed:
            parts.append(f"changed: {_listed(changed)}")
        if missing:
            parts.append(f"missing: {_listed(missing)}")
        if added:
            parts.append(f"added: {_listed(added)}")
        raise FitIntegrityError(
            f"{path}: the saved fit differs from what was written ({'; '.join(parts)}; '@' marks an "
            "attribute, 'group/name' a variable): the file was damaged or edited after it was saved. "
            "Fit the model again (or restore the file from a copy)."
        )


# --- files -----------------------------------------------------------------------------------------


def _fit_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() != FIT_SUFFIX:
        raise UnsupportedFormatError(
            f"{path}: fits are saved as NetCDF files ending in {FIT_SUFFIX} (Zarr stores are not "
            f"supported); give a path like {path.with_suffix(FIT_SUFFIX).name}."
        )
    return path


def save_fit(fit, path: str | Path) -> Path:
    """Write ``fit`` (a :class:`~clusterpreneur.models.fit.FittedModel`) to ``path`` (``.nc``) atomically.

    The file carries the integrity record of the module docstring; ``fit.idata`` is not changed.
    """
    path = _fit_path(path)
    tree = fit.idata.copy()
    tree.attrs = {k: v for k, v in fit.idata.attrs.items() if k not in INTEGRITY_ATTRS}
    tree.attrs.update(integrity_attrs(tree))
    with atomic_path(path) as tmp:
        tree.to_netcdf(tmp, engine="h5netcdf")
    return path


def _unreadable(path: Path, what: str) -> FitFileError:
    return FitFileError(
        f"{path}: {what}, so it cannot be read as a saved fit. Write it again with "
        f"`clusterpreneur fit ... --out {path.name}` (or FittedModel.save)."
    )


def read_fit(path: str | Path) -> xr.DataTree:
    """The ``DataTree`` of a saved fit, in memory, after checking its integrity record.

    Raises :class:`FitFileError` for a path that is not a readable fit file (missing, a folder,
    empty, truncated, not NetCDF, no clusterpreneur attributes) and :class:`FitIntegrityError`
    when its content differs from its record.
    """
    from clusterpreneur.files import check_input_file

    path = Path(path)
    if path.is_dir():
        raise _unreadable(path, "it is a folder (Zarr stores are not supported; fits are .nc files)")
    try:
        path = check_input_file(path, "saved fit", (FIT_SUFFIX,))
    except OSError as err:
        raise FitFileError(str(err)) from None
    with open(path, "rb") as fh:
        head = fh.read(len(HDF5_SIGNATURE))
    if not head:
        raise _unreadable(path, "the file is empty")
    if head != HDF5_SIGNATURE:
        raise _unreadable(path, "the file is not a NetCDF-4 file (it lacks the HDF5 signature)")
    try:
        with xr.open_datatree(path, engine="h5netcdf") as opened:
            tree = opened.load()  # into memory: the file may be overwritten later
    except (OSError, ValueError, KeyError, RuntimeError, TypeError, IndexError) as err:
        raise _unreadable(path, f"the file is truncated or damaged ({type(err).__name__}: {err})") from None
    if "spec_json" not in tree.attrs:
        raise _unreadable(path, "the file is NetCDF but not a clusterpreneur fit (no spec in its attributes)")
    verify_integrity(tree, path)
    return tree


def load_fit(path: str | Path, df: pd.DataFrame):
    """Load a saved fit and check it against ``df`` (the data it was fitted on).

    Raises :class:`FitFileError` / :class:`FitIntegrityError` as :func:`read_fit`, and
    :class:`FitIntegrityError` when the data's hash differs from the saved one.
    """
    from clusterpreneur.models.build import prepare
    from clusterpreneur.models.fit import FittedModel, data_sha256, fit_sha256
    from clusterpreneur.models.spec import ModelSpec
    from clusterpreneur.standardize import Standardizer

    path = Path(path)
    tree = read_fit(path)
    attrs = dict(tree.attrs)
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
    if attrs.get("fit_sha256") != fit_sha256(spec, prep.data):
        raise FitIntegrityError(f"{path}: fit_sha256 does not match spec and data: the file was altered.")
    seed = int(attrs.get("seed", -1))
    return FittedModel(
        spec=spec,
        idata=tree,
        prepared=prep,
        seed=None if seed < 0 else seed,
        sampler=attrs.get("sampler"),
    )
