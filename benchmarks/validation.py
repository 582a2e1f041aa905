"""Validation speed and memory: a large survey through ``load_survey`` (target: 200,000 rows in
under 10 s and 600 MB).

The survey is ``simulate_survey(rows, seed)`` written once as CSV into a temporary folder. Each
repetition runs in a fresh process: it imports the package, times ``load_survey`` (wall and CPU)
and takes its peak resident memory (VmHWM), then times the two parts apart (``files.read_table``: bytes
to text columns; ``schema.check_survey``: conversion, pandera, cross-row rules) to show where the
time goes. ``nox -s bench`` runs it (``--skip-validation`` leaves it out); alone::

    python benchmarks/validation.py [--rows 200000] [--repeats 3] [--src OTHER_CHECKOUT/src]

``--src`` measures another checkout's package (e.g. the code before a change) on the same file.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

TARGET_S = 10.0
TARGET_MIB = 600e6 / 2**20  # 600 MB
ROWS = 200_000


def _peak_mib() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _write_survey(path: str, rows: int, countries: int, seed: int) -> None:
    from clusterpreneur.study.readers import write_survey
    from clusterpreneur.study.simulate import simulate_survey

    write_survey(simulate_survey(n_initiatives=rows, n_countries=countries, seed=seed).data, path)


def _child(path: str) -> dict:
    """One measurement, in this (fresh) process."""
    t0 = time.perf_counter()
    from clusterpreneur.study.readers import load_survey

    imported = time.perf_counter() - t0
    rss_import = _peak_mib()
    c0, t0 = time.process_time(), time.perf_counter()
    df = load_survey(path)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = _peak_mib()
    try:  # the parts (a checkout without clusterpreneur.files has no separate reader)
        from clusterpreneur.files import read_table
        from clusterpreneur.study.schema import check_survey

        t0 = time.perf_counter()
        raw = read_table(path)
        read_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        check_survey(raw.frame, path, raw.rows)
        check_s = time.perf_counter() - t0
    except ImportError:
        read_s = check_s = None
    return {
        "rows": len(df),
        "wall_s": wall,
        "cpu_s": cpu,
        "import_s": imported,
        "peak_rss_mib": peak,
        "import_rss_mib": rss_import,
        "read_s": read_s,
        "check_s": check_s,
    }


def measure(rows: int = ROWS, repeats: int = 3, seed: int = 20032, src: str | None = None, log=print) -> dict:
    """Median wall time and largest peak memory of ``load_survey`` on a ``rows``-row CSV survey."""
    countries = int(min(300, max(30, round(30 * (rows / 250) ** 0.5))))
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        path = Path(tmp) / "survey.csv"
        make = [sys.executable, __file__, "--make", str(path), str(rows), str(countries), str(seed)]
        subprocess.run(make, check=True)  # in its own process: this one stays small
        env = dict(os.environ, PYTHONPATH=src) if src else dict(os.environ)
        runs = []
        for k in range(repeats):
            out = Path(tmp) / f"run{k}.json"
            load = os.getloadavg()[0]
            subprocess.run([sys.executable, __file__, "--child", str(path), str(out)], check=True, env=env)
            run = json.loads(out.read_text()) | {"load_avg_1min": load}
            log(
                f"  validate {rows:,} rows: {run['wall_s']:.2f} s, peak {run['peak_rss_mib']:.0f} MiB "
                f"(load {load:.2f})"
            )
            runs.append(run)
        size_mib = path.stat().st_size / 2**20
    wall = statistics.median(r["wall_s"] for r in runs)
    peak = max(r["peak_rss_mib"] for r in runs)
    return {
        "status": "ok",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "rows": rows,
        "countries": countries,
        "file_mib": size_mib,
        "src": src or "installed package",
        "runs": runs,
        "wall_s": wall,
        "peak_rss_mib": peak,
        "met": wall < TARGET_S and peak < TARGET_MIB,
    }


def render_markdown(results: dict) -> str:
    """The BENCHMARKS.md section of the validation benchmark ('' if it was not run)."""
    v = results.get("validation")
    if not v or v.get("status") != "ok":
        return ""

    def cell(x, digits=2):
        return "–" if x is None else f"{x:.{digits}f}"

    lines = [
        "",
        f"## Validating a {v['rows']:,}-row survey (`load_survey`)",
        "",
        f"Measured {v['date']}. A simulated survey of {v['rows']:,} initiatives in {v['countries']} "
        "countries, written as CSV "
        f"({v['file_mib']:.0f} MiB), read and validated by `load_survey` in a fresh process per run "
        f"(`benchmarks/validation.py`; package: {v['src']}). Target: under {TARGET_S:.0f} s and 600 MB "
        f"({TARGET_MIB:.0f} MiB) peak: **{'met' if v['met'] else 'NOT met'}** (median wall "
        f"{v['wall_s']:.2f} s, largest peak {v['peak_rss_mib']:.0f} MiB).",
        "",
        "| run | wall s | CPU s | read s | check s | import s | peak RSS MiB | of which imports | load avg |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for k, r in enumerate(v["runs"], 1):
        lines.append(
            f"| {k} | {cell(r['wall_s'])} | {cell(r['cpu_s'])} | {cell(r.get('read_s'))} | "
            f"{cell(r.get('check_s'))} | {cell(r['import_s'])} | {r['peak_rss_mib']:.0f} | "
            f"{r['import_rss_mib']:.0f} | {r['load_avg_1min']:.2f} |"
        )
    before = v.get("before")
    if before:
        loads = ", ".join(f"{r['load_avg_1min']:.2f}" for r in before["runs"])
        lines += [
            "",
            f"Before (package of {before['src']}, measured {before['date']} with `--src`): median wall "
            f"{before['wall_s']:.2f} s, largest peak {before['peak_rss_mib']:.0f} MiB (load avg {loads}).",
        ]
    lines += [
        "",
        "read = `files.read_table` (bytes to text columns, header and line checks); check = "
        "`schema.check_survey` (conversion to codebook types, pandera checks, cross-row rules), timed "
        "apart after the measured call.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=ROWS)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=20032)
    p.add_argument("--src", help="source folder of another checkout to measure instead (PYTHONPATH)")
    p.add_argument("--child", nargs=2, metavar=("SURVEY", "RESULT"), help=argparse.SUPPRESS)
    p.add_argument("--make", nargs=4, help=argparse.SUPPRESS)
    p.add_argument("--json", help="write the result as JSON here")
    args = p.parse_args(argv)
    if args.child:
        Path(args.child[1]).write_text(json.dumps(_child(args.child[0])))
        return 0
    if args.make:
        _write_survey(args.make[0], *map(int, args.make[1:]))
        return 0
    result = measure(args.rows, args.repeats, args.seed, args.src)
    print(render_markdown({"validation": result}))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
