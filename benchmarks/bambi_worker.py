"""bambi on a survey the package wrote, in bambi's own virtualenv (no clusterpreneur import).

Usage: ``python benchmarks/bambi_worker.py TASK.json RESULT.json`` with the task naming a
Parquet file (``data``: the study's standardised design, ``country_id``, ``region_id``,
``takeoff``, written by :mod:`benchmarks.run`), the sampler and draws / tune / chains / seed.
The result JSON holds the timings and the paths of the posterior it saved (``posterior_nc``:
one NetCDF file per group); the package side computes ESS, divergences and the gate from them
with the same code as for its own fits (``worker.py``, kind ``posterior_stats``), so both tools
are scored alike. ``nox -s bench`` creates the virtualenv (``noxfile.BAMBI_ENV``): bambi pins
a ``formulae`` the package cannot share.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    task = json.loads(Path(argv[0]).read_text())
    out = Path(argv[1])
    t_import = time.perf_counter()
    import bambi as bmb
    import pandas as pd

    frame = pd.read_parquet(task["data"])
    import_s = time.perf_counter() - t_import
    xcols = [c for c in frame.columns if c not in ("country_id", "region_id", "takeoff")]
    formula = "takeoff ~ " + " + ".join(xcols) + " + (1|country_id) + (1|region_id)"
    c0, t0 = time.process_time(), time.perf_counter()
    model = bmb.Model(formula, frame, family="bernoulli")
    model.build()
    t1 = time.perf_counter()
    kwargs = {} if task.get("sampler", "pymc") == "pymc" else {"inference_method": task["sampler"]}
    idata = model.fit(
        draws=task["draws"],
        tune=task["tune"],
        chains=task["chains"],
        cores=task.get("cores", 2),
        random_seed=task["seed"],
        progressbar=False,
        **kwargs,
    )
    t2 = time.perf_counter()
    cpu = time.process_time() - c0
    files = {}
    for group in ("posterior", "sample_stats"):
        ds = idata[group]
        ds = ds.to_dataset() if hasattr(ds, "to_dataset") else ds
        files[group] = str(Path(task.get("out_dir", out.parent)) / f"bambi_{group}.nc")
        ds.to_netcdf(files[group], engine="h5netcdf")
    import bambi

    res = {
        "status": "ok",
        "build_s": t1 - t0,
        "compile_sample_s": t2 - t1,
        "wall_s": t2 - t0,
        "cpu_s": cpu,
        "import_s": import_s,
        "formula": formula,
        "bambi_version": bambi.__version__,
        "posterior_nc": files,
        "n_obs": len(frame),
        "ru_maxrss_self_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    out.write_text(json.dumps(res))
    print(json.dumps({k: res[k] for k in ("wall_s", "n_obs")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
