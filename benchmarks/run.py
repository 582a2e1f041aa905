"""Benchmarks of the main model: against bambi, scaling to large surveys, the whole study.

``nox -s bench`` (or ``python benchmarks/run.py``) runs every measurement in its own
subprocess (:mod:`benchmarks.worker`) so compile time and peak memory are clean, then writes
``benchmarks/results.json`` (raw figures) and ``BENCHMARKS.md`` (tables, machine, date)
atomically. bambi runs in its own virtualenv (``--bambi-python``; ``nox -s bench`` creates it:
bambi pins a ``formulae`` older than the package's) on a Parquet file of the same survey, by
:mod:`benchmarks.bambi_worker`; package and bambi are measured alternately, and a pair whose
load averages differ by more than 1 is measured once more. Options: ``--sizes 250,2500``
``--peer-sizes 250`` ``--skip-bambi``
``--skip-paper`` ``--experiments all|name,name`` ``--merge`` (keep earlier sections of the
JSON that this run does not redo).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import harness, validation  # noqa: E402

WORKER = ROOT / "benchmarks" / "worker.py"
BAMBI_WORKER = ROOT / "benchmarks" / "bambi_worker.py"
MAX_LOAD_GAP = 1.0
"""A package / bambi pair measured at 1-minute loads further apart than this is re-run (once)."""
COUNTRIES = {250: 30, 2500: 100, 25000: 300}
GIB = 1024.0


def countries_for(n: int) -> int:
    if n in COUNTRIES:
        return COUNTRIES[n]
    return int(min(300, max(30, round(30 * (n / 250) ** 0.5))))


def package_available() -> bool:
    """True once ``clusterpreneur.models`` exports ``fit_model`` and ``LADDER``."""
    try:
        spec = importlib.util.find_spec("clusterpreneur.models")
    except ModuleNotFoundError:
        return False
    if spec is None:
        return False
    code = (
        "from clusterpreneur.models import fit_model; from clusterpreneur.study import LADDER; LADDER['M1']"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def run_measurement(task: dict, timeout: float, log=print) -> dict:
    """Run one task in a fresh process; add wall-clock, peak RSS of its process tree, status."""
    import psutil

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        tpath, rpath = Path(tmp) / "task.json", Path(tmp) / "result.json"
        tpath.write_text(json.dumps(task))
        env = dict(os.environ, PYTHONUNBUFFERED="1", **task.get("env", {}))
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [task.get("python", sys.executable), task.get("script", str(WORKER)), str(tpath), str(rpath)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
            text=True,
        )
        ps = psutil.Process(proc.pid)
        peak = 0.0
        timed_out = False
        out_chunks: list[str] = []
        # drain output in a thread so the child never blocks on a full pipe
        import threading

        reader = threading.Thread(target=lambda: out_chunks.append(proc.stdout.read()), daemon=True)
        reader.start()
        while proc.poll() is None:
            try:
                procs = [ps, *ps.children(recursive=True)]
                rss = 0
                for p in procs:
                    with contextlib.suppress(psutil.Error):
                        # PSS: shared (copy-on-write) pages of forked chain processes counted once
                        rss += p.memory_full_info().pss if len(procs) > 1 else p.memory_info().rss
                peak = max(peak, rss / 2**20)
            except psutil.Error:
                pass
            if time.perf_counter() - t0 > timeout:
                timed_out = True
                for p in [*ps.children(recursive=True), ps]:
                    with contextlib.suppress(psutil.Error):
                        p.kill()
                break
            time.sleep(0.25)
        proc.wait()
        reader.join(timeout=5)
        elapsed = time.perf_counter() - t0
        if timed_out:
            res = {"status": "timeout", "time_limit_s": timeout}
        elif rpath.exists():
            res = json.loads(rpath.read_text())
        else:
            res = {"status": "crashed", "returncode": proc.returncode}
        if res.get("status") not in ("ok",):
            res["output_tail"] = "".join(out_chunks)[-3000:]
    res["load_avg_1min"] = [load_before, os.getloadavg()[0]]
    res["kind"] = task["kind"]
    res["task"] = task
    res["subprocess_s"] = elapsed
    res["peak_rss_mib"] = max(peak, res.get("ru_maxrss_self_mib", 0.0))
    log(
        f"  {task.get('label', task['kind'])}: {res['status']} wall={harness.fmt(res.get('wall_s'))}s "
        f"minESS={harness.fmt(harness.min_ess(res))} peak={harness.fmt(res['peak_rss_mib'])}MiB "
        f"gate={(res.get('gate') or {}).get('passed')} load={res['load_avg_1min'][0]:.2f}"
    )
    return res


def warm_up(task: dict, timeout: float) -> None:
    """Run ``task`` once with a few draws, untimed, so that its compile caches (pytensor's and
    numba's on disk) are warm when it is measured: every tool is timed warm."""
    quick = {**task, "draws": 20, "tune": 20, "chains": 1, "label": f"warm-up {task.get('label', '')}"}
    run_measurement(quick, timeout)


def bambi_measurement(args, base: dict, sampler: str) -> dict:
    """bambi in its own virtualenv on a Parquet file of the same survey; its posterior is
    scored by the package's code (``posterior_stats``) like the package's own fits."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import worker

    with tempfile.TemporaryDirectory(prefix="bench-bambi-") as tmp:
        data = Path(tmp) / "survey.parquet"
        worker.design_frame(worker.survey_frame(base["n"], base["n_countries"], base["seed"])).to_parquet(
            data
        )
        task = {
            **base,
            "kind": "bambi",
            "sampler": sampler,
            "label": f"bambi ({sampler})",
            "python": args.bambi_python,
            "script": str(BAMBI_WORKER),
            "data": str(data),
            "out_dir": tmp,  # the posterior files outlive the measurement's own folder
        }
        if not args.no_warmup:
            run_measurement(
                {**task, "draws": 20, "tune": 20, "chains": 1, "label": "warm-up bambi"}, args.timeout
            )
        res = run_measurement(task, args.bambi_timeout)
        if res.get("status") == "ok":
            stats = run_measurement(
                {
                    "kind": "posterior_stats",
                    "posterior_nc": res["posterior_nc"],
                    "n_obs": res["n_obs"],
                    "label": "  scoring bambi's posterior",
                },
                args.timeout,
            )
            res.update(
                {k: stats.get(k) for k in ("ess", "grad_evals", "divergences", "gate", "inference_library")}
            )
    return res


def measure_pair(args, n: int, base: dict, sampler: str) -> tuple[dict, dict]:
    """The package (M1) then bambi at the same size, back to back; once more if their loads
    differ by more than :data:`MAX_LOAD_GAP`."""
    for attempt in (1, 2):
        task = main_task(args, n, f"package M1 n={n} (pair with bambi {sampler})", True)
        pkg = run_measurement(task, args.timeout)
        res = bambi_measurement(args, base, sampler)
        gap = abs(pkg["load_avg_1min"][0] - res["load_avg_1min"][0])
        pkg["pair_load_gap"] = res["pair_load_gap"] = gap
        if gap <= MAX_LOAD_GAP or attempt == 2:
            return pkg, res
        print(f"  loads differ by {gap:.2f} > {MAX_LOAD_GAP}: measuring the pair again", flush=True)
    raise AssertionError("unreachable")


def main_task(args, n: int, label: str, use_package: bool) -> dict:
    base = {
        "n": n,
        "n_countries": countries_for(n),
        "seed": args.seed,
        "draws": args.draws,
        "tune": args.tune,
        "chains": args.chains,
        "label": label,
    }
    if use_package:
        return {**base, "kind": "package", "spec": "M1", "sampler": "nutpie"}
    return {**base, "kind": "experiment", "sampler": "nutpie"}


CACHE_ENV = {"PYTENSOR_FLAGS": "base_compiledir={cache}", "NUMBA_CACHE_DIR": "{cache}/numba"}

EXPERIMENTS = {
    # name: (size, overrides of an experiment task)
    "nutpie_diag": {"sampler": "nutpie"},
    "pymc_sampler": {"sampler": "pymc"},
    "nutpie_pm_data": {"sampler": "nutpie", "data_container": True},  # like the package's pm.Data
    "nutpie_pm_data_frozen": {"sampler": "nutpie", "data_container": True, "freeze": True},
    "nutpie_low_rank": {"sampler": "nutpie", "adaptation": "low_rank"},
    "nutpie_tune500": {"sampler": "nutpie", "tune": 500},
    "nutpie_tune300": {"sampler": "nutpie", "tune": 300},
    "centred_country": {"sampler": "nutpie", "centered": ["country"]},
    "centred_both": {"sampler": "nutpie", "centered": ["country", "region"]},
    "collapse_rows": {"kind": "collapse"},
    "package_graph": {"kind": "package_variant"},
    "package_fit_pymc_sampler": {"kind": "package", "sampler": "pymc"},
    # fit_model(cores=None) -> pm.sample -> pymc's _cpu_count() = cpu_count() // 2 = 1 on 2 vCPUs
    "package_fit_cores2": {"kind": "package", "cores": 2},
    "package_graph_frozen": {"kind": "package_variant", "freeze": True},
    "package_graph_frozen_draws2000": {"kind": "package_variant", "freeze": True, "draws": 2000},
    "binomial_collapse": {"sampler": "nutpie", "binomial": True},
    "compile_reuse": {"kind": "compile_reuse"},
    # the package's parametrisations, each against the automatic choice (package_fit default)
    "graph_noncentred": {"kind": "package", "parametrization": "non-centred", "fixed_effects": "plain"},
    "graph_laplace_plain": {"kind": "package", "fixed_effects": "plain"},  # no QR
    "graph_noncentred_qr": {"kind": "package", "parametrization": "non-centred"},  # QR, no Laplace
    "gate_vectorised": {"kind": "gate"},
    # persistent compile cache: same model in two fresh processes sharing a fresh cache dir
    "cache_cold": {"sampler": "nutpie", "n": 250, "env": CACHE_ENV},
    "cache_warm": {"sampler": "nutpie", "n": 250, "env": CACHE_ENV},
}

# binomial_collapse samples the same model when nothing collapses (see collapse_rows): opt-in only
DEFAULT_EXPERIMENTS = [k for k in EXPERIMENTS if k != "binomial_collapse"]
PARAMETRIZATION_EXPERIMENTS = [k for k in EXPERIMENTS if k.startswith(("graph_", "gate_"))]
"""``--experiments parametrization``: the parametrisations of the package's graph."""


def study_timing(args) -> dict:
    """Wall time of the whole study on the shipped data, split per model.

    Runs ``run_study`` (what ``nox -s paper`` runs) with one step at a time (``jobs=1``: the
    split per model needs the fits in one process) in a fresh process with a fresh step cache
    (so every model samples) and warm compile caches; ``--paper-warmup`` runs it once untimed
    first. It also times ``python -m nox -s paper -- --force`` as a whole (fresh step cache and
    output folder in a temporary directory; ``--paper-jobs``, default: the study's default of one
    step per CPU) unless ``--no-paper-nox``, with the 1-minute load before and after.
    """
    task = {"kind": "study", "label": "whole study (run_study)"}
    if args.paper_warmup:
        run_measurement(dict(task, label="whole study warm-up"), args.timeout)
    res = run_measurement(task, args.timeout)
    nox_cmd = (
        [sys.executable, "-m", "nox"] if importlib.util.find_spec("nox") else [shutil.which("nox") or "nox"]
    )
    if not args.no_paper_nox:
        try:
            listing = subprocess.run([*nox_cmd, "-l"], cwd=ROOT, capture_output=True, text=True)
        except OSError as exc:
            listing = subprocess.CompletedProcess([], 1, "", str(exc))
        if "paper" in listing.stdout:
            with tempfile.TemporaryDirectory(prefix="bench-paper-") as tmp:
                jobs = ["--jobs", str(args.paper_jobs)] if args.paper_jobs else []
                cmd = [*nox_cmd, "-s", "paper", "--", "--force", *jobs,
                       "--out", f"{tmp}/out", "--cache-dir", f"{tmp}/cache"]  # fmt: skip
                print("  timing: " + " ".join(cmd[1:]), flush=True)
                load_before = os.getloadavg()[0]
                t0 = time.perf_counter()
                proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
                wall = time.perf_counter() - t0
                sizes = {
                    "cache_mib": _mib(Path(tmp) / "cache"),
                    "report_mib": _mib(Path(tmp) / "out" / "report.html"),
                }
            res["nox_paper"] = {
                "wall_s": wall,
                "returncode": proc.returncode,
                "command": " ".join(
                    ["nox -s paper -- --force", *jobs, "(fresh output folder and step cache)"]
                ),
                "jobs": args.paper_jobs or "default (one step per CPU)",
                "cpus": os.cpu_count(),
                "load_avg_1min": [load_before, os.getloadavg()[0]],
                "gate_failed": "convergence gate FAILED" in proc.stdout + proc.stderr,
                **sizes,
            }
            if proc.returncode != 0:
                res["nox_paper"]["stderr_tail"] = proc.stderr[-2000:]
            print(f"  nox -s paper: rc={proc.returncode} wall={wall:.1f}s load={os.getloadavg()}", flush=True)
        else:
            res["nox_paper"] = {
                "status": "pending",
                "note": f"no `paper` nox session found: {listing.stderr[-300:]}",
            }
    return res


def _mib(path: Path) -> float | None:
    """Size of a file or folder in MiB (None when absent)."""
    if path.is_file():
        return path.stat().st_size / 2**20
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20
    return None


def evaluate_targets(results: dict) -> list[dict]:
    out = []
    for size, block in results.get("peer", {}).items():
        for peer_name, r in (block.get("ratios") or {}).items():
            v = r.get("ess_per_s")
            out.append(
                {
                    "target": f"ESS/s >= 3x {peer_name} at {int(size):,}",
                    "measured": v,
                    "met": None if v is None else v >= 3,
                }
            )
    big = results.get("scaling", {}).get("runs", {}).get("25000")
    if big:
        ok = big.get("status") == "ok"
        w, mem = big.get("wall_s"), big.get("peak_rss_mib")
        gate = (big.get("gate") or {}).get("passed") if ok else None
        out.append({"target": "25,000: gate passes", "measured": gate, "met": gate})
        out.append({"target": "25,000: wall <= 180 s", "measured": w, "met": None if w is None else w <= 180})
        out.append(
            {
                "target": "25,000: peak memory <= 4 GiB (MiB)",
                "measured": mem,
                "met": None if mem is None else mem <= 4 * GIB,
            }
        )
    slope = results.get("scaling", {}).get("loglog_slope_wall")
    if slope is not None:
        out.append(
            {"target": "cost about linear in size (log-log slope)", "measured": slope, "met": slope <= 1.2}
        )
    study = results.get("study") or {}
    if study.get("status") == "ok":
        out.append(
            {
                "target": "whole study (run_study) <= 300 s",
                "measured": study["wall_s"],
                "met": study["wall_s"] <= 300,
            }
        )
        nox_run = study.get("nox_paper")
        if nox_run:
            name = "whole study (`nox -s paper -- --force`, warm) < 90 s"
            # exit 1 with a failed gate is a complete run (the report withholds that fit's estimates)
            if nox_run.get("returncode") == 0 or (
                nox_run.get("returncode") == 1 and nox_run.get("gate_failed")
            ):
                wall = nox_run["wall_s"]
                out.append({"target": name, "measured": wall, "met": wall < 90})
                for key, what, limit in (
                    ("cache_mib", "step cache after one run < 150 MiB", 150),
                    ("report_mib", "report.html < 3 MiB", 3),
                ):
                    v = nox_run.get(key)
                    out.append({"target": what, "measured": v, "met": None if v is None else v < limit})
            else:
                out.append({"target": name, "measured": f"exit {nox_run.get('returncode')}", "met": False})
    else:
        out.append(
            {"target": "whole study <= 300 s", "measured": study.get("status", "not run"), "met": None}
        )
    return out


def plot_scaling(results: dict, path: Path) -> str | None:
    runs = {
        int(k): v for k, v in results.get("scaling", {}).get("runs", {}).items() if v.get("status") == "ok"
    }
    if len(runs) < 2:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(runs)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    axes[0].loglog(sizes, [runs[s]["wall_s"] for s in sizes], "o-", label="wall")
    if all("sample_s" in runs[s] for s in sizes):
        axes[0].loglog(sizes, [runs[s]["sample_s"] for s in sizes], "s--", label="sampling")
    ref = runs[sizes[0]]["wall_s"]
    axes[0].loglog(sizes, [ref * s / sizes[0] for s in sizes], ":", color="grey", label="linear")
    axes[0].set(xlabel="initiatives", ylabel="seconds", title="wall time")
    axes[0].legend()
    axes[1].loglog(sizes, [harness.ess_per_second(runs[s]) for s in sizes], "o-")
    axes[1].set(xlabel="initiatives", ylabel="min bulk ESS / s", title="efficiency")
    axes[2].loglog(sizes, [runs[s]["peak_rss_mib"] for s in sizes], "o-")
    axes[2].set(xlabel="initiatives", ylabel="MiB", title="peak memory")
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=100)
    os.replace(tmp, path)
    plt.close(fig)
    return path.relative_to(ROOT).as_posix()


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="250,2500,25000", help="scaling sizes (initiatives)")
    p.add_argument("--peer-sizes", default="250,2500", help="sizes compared against bambi")
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--seed", type=int, default=20032)
    p.add_argument("--bambi-timeout", type=float, default=600.0, help="seconds per bambi run")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per package run")
    p.add_argument("--skip-bambi", action="store_true")
    p.add_argument("--bambi-samplers", default="nutpie", help="bambi samplers, e.g. nutpie,pymc")
    p.add_argument(
        "--bambi-python",
        default=os.environ.get("BENCH_BAMBI_PYTHON", ""),
        help="python of a virtualenv with bambi, nutpie and pyarrow (nox -s bench makes one)",
    )
    p.add_argument("--skip-paper", action="store_true")
    p.add_argument("--skip-validation", action="store_true", help="leave out benchmarks/validation.py")
    p.add_argument("--no-warmup", action="store_true", help="time cold compile caches (no warm-up run)")
    p.add_argument("--paper-warmup", action="store_true", help="run the study once untimed first")
    p.add_argument("--no-paper-nox", action="store_true", help="do not also time `python -m nox -s paper`")
    p.add_argument(
        "--paper-jobs", type=int, default=0, help="--jobs of the timed `nox -s paper` (0: default)"
    )
    p.add_argument("--experiments", default="", help="'all', 'parametrization' or EXPERIMENTS names")
    p.add_argument("--experiment-size", type=int, default=25000)
    p.add_argument(
        "--stand-in",
        action="store_true",
        help="use the benchmark's own M1 build even if clusterpreneur.models.fit_model exists",
    )
    p.add_argument(
        "--merge", action="store_true", help="keep sections of an existing results.json not redone"
    )
    p.add_argument("--render-only", action="store_true", help="rewrite BENCHMARKS.md from the JSON")
    p.add_argument("--out-json", default=str(ROOT / "benchmarks" / "results.json"))
    p.add_argument("--out-md", default=str(ROOT / "BENCHMARKS.md"))
    return p.parse_args(argv)


def _ints(s: str) -> list[int]:
    return [int(x.replace("_", "")) for x in s.split(",") if x.strip()]


def main(argv=None) -> int:
    args = parse_args(argv)
    out_json, out_md = Path(args.out_json), Path(args.out_md)
    results: dict = {}
    if args.render_only:
        results = json.loads(out_json.read_text())
        results["targets"] = evaluate_targets(results)
        harness.write_json(out_json, results)
        harness.write_atomic(out_md, harness.render_markdown(results) + validation.render_markdown(results))
        return 0
    if args.merge and out_json.exists():
        results = json.loads(out_json.read_text())
    use_package = not args.stand_in and package_available()
    results.update(
        date=harness.now_iso(),
        machine=harness.machine_description(),
        settings={
            "draws": args.draws,
            "tune": args.tune,
            "chains": args.chains,
            "seed": args.seed,
            "main_model": "clusterpreneur.models fit_model(LADDER['M1'], sampler='nutpie')"
            if use_package
            else "STAND-IN: benchmark-built M1 (nutpie), clusterpreneur.models not ready",
        },
    )
    sizes, peer_sizes = _ints(args.sizes), _ints(args.peer_sizes)
    main_runs: dict[int, dict] = {}

    def save():
        results["targets"] = evaluate_targets(results)
        harness.write_json(out_json, results)
        harness.write_atomic(out_md, harness.render_markdown(results) + validation.render_markdown(results))

    for n in sorted(set(sizes) | set(peer_sizes)):
        print(f"[main model] {n} initiatives", flush=True)
        task = main_task(args, n, f"package M1 n={n}", use_package)
        if not args.no_warmup:
            warm_up(task, args.timeout)
        res = run_measurement(task, args.timeout)
        res["n_countries"] = countries_for(n)
        main_runs[n] = res
    if sizes:
        runs = {str(n): main_runs[n] for n in sizes}
        ok = [n for n in sizes if main_runs[n].get("status") == "ok"]
        results["scaling"] = {
            "runs": runs,
            "loglog_slope_wall": harness.linearity(ok, [main_runs[n]["wall_s"] for n in ok]),
        }
        results["scaling"]["plot"] = plot_scaling(results, ROOT / "benchmarks" / "scaling.png")
        save()
    if peer_sizes:
        results.setdefault("peer", {})
        for n in peer_sizes:
            block = {"runs": {"package": main_runs[n]}, "ratios": {}}
            base = {
                "n": n,
                "n_countries": countries_for(n),
                "seed": args.seed,
                "draws": args.draws,
                "tune": args.tune,
                "chains": args.chains,
            }
            print(f"[peer] {n} initiatives", flush=True)
            block["statsmodels"] = run_measurement(
                {**base, "kind": "statsmodels", "label": "statsmodels"}, 600
            )
            if not args.skip_bambi and not args.bambi_python:
                block["note"] = "bambi not measured: no --bambi-python (nox -s bench creates its virtualenv)"
            elif not args.skip_bambi:
                for sampler in [s for s in args.bambi_samplers.split(",") if s]:
                    name = f"bambi ({sampler})"
                    pkg, res = measure_pair(args, n, base, sampler)
                    block["runs"]["package"], block["runs"][name] = pkg, res
                    if res.get("status") == "ok" and pkg.get("status") == "ok":
                        block["ratios"][name] = harness.peer_ratios(pkg, res)
                    else:
                        block["ratios"][name] = {
                            "wall_time": None,
                            "min_ess": None,
                            "ess_per_s": None,
                            "note": f"{res.get('status')} (limit {args.bambi_timeout:.0f} s)",
                        }
            results["peer"][str(n)] = block
            save()
    if args.experiments:
        names = {"all": DEFAULT_EXPERIMENTS, "parametrization": PARAMETRIZATION_EXPERIMENTS}.get(
            args.experiments, args.experiments.split(",")
        )
        results.setdefault("experiments", {})
        n = args.experiment_size
        cache = tempfile.mkdtemp(prefix="bench-cache-")
        for name in names:
            over = dict(EXPERIMENTS[name])
            kind = over.pop("kind", "experiment")
            size = over.pop("n", n)
            env = {k: v.format(cache=cache) for k, v in over.pop("env", {}).items()}
            task = {
                "n": size,
                "n_countries": countries_for(size),
                "seed": args.seed,
                "draws": args.draws,
                "tune": args.tune,
                "chains": args.chains,
                "kind": kind,
                "label": f"{name} n={size}",
                "env": env,
                **over,
            }
            print(f"[experiment] {name} at {size}", flush=True)
            results["experiments"][f"{name} (n={size})"] = run_measurement(task, args.timeout)
            save()
        shutil.rmtree(cache, ignore_errors=True)
    if not args.skip_validation:
        print("[validation] load_survey on a 200,000-row survey", flush=True)
        results["validation"] = validation.measure()
        save()
    if not args.skip_paper:
        print("[study] nox -s paper", flush=True)
        results["study"] = study_timing(args)
    elif "study" not in results:
        results["study"] = {"status": "skipped", "note": "--skip-paper"}
    save()
    print(f"wrote {out_json} and {out_md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
