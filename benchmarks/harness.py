"""Pure bookkeeping of the benchmarks: ESS summaries, ratios, tables, atomic writes.

Nothing here imports PyMC or samples; :mod:`benchmarks.run` and :mod:`benchmarks.worker`
do the measuring. Tested fast by ``tests/bench/test_bench_harness.py``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np


# ----------------------------------------------------------------------------- ESS bookkeeping
def ess_summary(per_element: dict[str, Any], comparable: list[str] | None = None) -> dict[str, Any]:
    """Minimum bulk ESS over every parameter element, and over the ``comparable`` variables.

    ``per_element`` maps a variable name to its per-element bulk ESS (any array-like; NaN
    elements, e.g. constants, are ignored). ``comparable`` restricts the second minimum to
    variables present in both tools (intercept, slopes, sigmas, group effects).
    """

    def _min(names):
        vals = [np.asarray(per_element[n], dtype=float).ravel() for n in names if n in per_element]
        vals = [v[np.isfinite(v)] for v in vals]
        vals = [v for v in vals if v.size]
        if not vals:
            return None, None
        mins = {n: float(np.min(v)) for n, v in zip(names, vals, strict=False)}
        worst = min(mins, key=mins.get)
        return mins[worst], worst

    all_names = list(per_element)
    m_all, w_all = _min(all_names)
    comp = [n for n in (comparable if comparable is not None else all_names) if n in per_element]
    m_cmp, w_cmp = _min(comp)
    n_elements = int(sum(np.asarray(per_element[n]).size for n in all_names))
    return {
        "min_all": m_all,
        "worst_all": w_all,
        "min_comparable": m_cmp,
        "worst_comparable": w_cmp,
        "n_elements": n_elements,
        "by_variable": {
            n: float(np.nanmin(np.asarray(v, dtype=float))) if np.asarray(v).size else None
            for n, v in per_element.items()
        },
    }


def min_ess(res: dict[str, Any]) -> float | None:
    """The headline minimum bulk ESS of a measurement (comparable set, else all)."""
    ess = res.get("ess") or {}
    v = ess.get("min_comparable")
    return v if v is not None else ess.get("min_all")


def ess_per_second(res: dict[str, Any]) -> float | None:
    e, w = min_ess(res), res.get("wall_s")
    if e is None or not w:
        return None
    return e / w


def ess_per_cpu_second(res: dict[str, Any]) -> float | None:
    """Min bulk ESS per CPU-second: less sensitive than wall time to other load on the machine."""
    e, c = min_ess(res), res.get("cpu_s")
    if e is None or not c:
        return None
    return e / c


def grads_per_effective_draw(res: dict[str, Any]) -> float | None:
    """Gradient evaluations of the kept draws per effective draw (minimum bulk ESS)."""
    g = (res.get("grad_evals") or {}).get("posterior")
    e = min_ess(res)
    if g is None or not e:
        return None
    return g / e


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0 or not (math.isfinite(a) and math.isfinite(b)):
        return None
    return a / b


def ess_per_core_second(res: dict[str, Any]) -> float | None:
    """Min bulk ESS per second of build + compile + sample (``core_s``; the package's fit also
    computes log-likelihood and log-prior groups, which bambi's ``fit`` does not)."""
    e, c = min_ess(res), res.get("core_s", res.get("wall_s"))
    if e is None or not c:
        return None
    return e / c


def peer_ratios(package: dict[str, Any], peer: dict[str, Any]) -> dict[str, float | None]:
    """Package / peer ratios of wall time, minimum bulk ESS and min-ESS per wall-second (the
    package's whole ``fit_model``, and its build + compile + sample only)."""
    return {
        "wall_time": ratio(package.get("wall_s"), peer.get("wall_s")),
        "min_ess": ratio(min_ess(package), min_ess(peer)),
        "ess_per_s": ratio(ess_per_second(package), ess_per_second(peer)),
        "ess_per_core_s": ratio(ess_per_core_second(package), ess_per_second(peer)),
        "ess_per_cpu_s": ratio(ess_per_cpu_second(package), ess_per_cpu_second(peer)),
    }


def linearity(sizes: list[float], costs: list[float]) -> float | None:
    """Log-log slope of cost against size (1 = linear)."""
    pts = [(s, c) for s, c in zip(sizes, costs, strict=True) if s and c and s > 0 and c > 0]
    if len(pts) < 2:
        return None
    x = np.log([p[0] for p in pts])
    y = np.log([p[1] for p in pts])
    return float(np.polyfit(x, y, 1)[0])


# ----------------------------------------------------------------------------- machine, writing
def machine_description() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }
    try:
        import psutil

        info["memory_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:  # pragma: no cover
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:  # pragma: no cover
        pass
    return info


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same directory and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | Path, obj: Any) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=float) + "\n")


# ----------------------------------------------------------------------------- markdown
def fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "–"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.{digits}g}"
    return str(v)


def md_table(header: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(fmt(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def measurement_row(label: str, res: dict[str, Any]) -> list[Any]:
    if res.get("status") != "ok":
        return [label, res.get("status", "missing"), *([None] * (len(MEASUREMENT_HEADER) - 2))]
    gate = (res.get("gate") or {}).get("passed")
    return [
        label,
        _how(res),
        res.get("wall_s"),
        res.get("cpu_s"),
        res.get("compile_s"),
        res.get("sample_s"),
        res.get("post_s"),
        min_ess(res),
        ess_per_second(res),
        grads_per_effective_draw(res),
        res.get("peak_rss_mib"),
        gate,
        (res.get("load_avg_1min") or [None])[0],
    ]


def _how(res: dict[str, Any]) -> str:
    """The parametrisation a package fit recorded, e.g. "laplace, qr" (– for other tools)."""
    how = res.get("parametrization")
    if not how:
        return "–"
    return ", ".join(dict.fromkeys(how.values()))


MEASUREMENT_HEADER = [
    "measurement",
    "sampled as",
    "wall s",
    "CPU s",
    "compile s",
    "sample s",
    "loglik+prior s",
    "min bulk ESS",
    "ESS / s",
    "grads / eff. draw",
    "peak RSS MiB",
    "gate passed",
    "load avg",
]


def render_markdown(results: dict[str, Any]) -> str:
    """BENCHMARKS.md from the raw results (see :func:`benchmarks.run.main` for the layout)."""
    m = results.get("machine", {})
    s = results.get("settings", {})
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `nox -s bench` on {results.get('date', '?')}; raw figures in "
        "`benchmarks/results.json`.",
        "",
        f"Machine: {m.get('cpu_model', m.get('processor', '?'))}, {m.get('cpus', '?')} CPUs, "
        f"{m.get('memory_gib', '?')} GiB RAM, {m.get('platform', '?')}, Python {m.get('python', '?')}.",
        f"Settings: {s.get('chains', '?')} chains x {s.get('draws', '?')} draws after {s.get('tune', '?')} "
        f"tuning draws, seed {s.get('seed', '?')}. Wall time = build + compile + sample in a fresh "
        "process (imports and data simulation excluded); min bulk ESS over every parameter "
        "element the tools share (intercept, slopes, sigmas, group effects); peak memory of the "
        "measuring process tree (RSS of one process; PSS summed when it forks chain processes), "
        "at least the process's own ru_maxrss; CPU s = user + system time of the measuring "
        "process; load avg = the machine's 1-minute load average when the measurement "
        "started (other work shares the 2 cores: a load above 2 inflates wall times).",
        "",
    ]
    peer = results.get("peer", {})
    if peer:
        lines += ["## Package against bambi (ratio package / bambi; ESS/s target >= 3)", ""]
        rows = []
        for size, block in sorted(peer.items(), key=lambda kv: int(kv[0])):
            for peer_name, r in (block.get("ratios") or {}).items():
                rows.append(
                    [
                        f"{int(size):,}",
                        peer_name,
                        r.get("wall_time"),
                        r.get("min_ess"),
                        r.get("ess_per_s"),
                        r.get("ess_per_core_s"),
                        r.get("ess_per_cpu_s"),
                        r.get("note"),
                    ]
                )
        header = ["initiatives", "against", "wall-time ratio", "min-ESS ratio", "ESS/s ratio",
                  "ESS/s ratio (build+compile+sample)", "ESS/CPU-s ratio", "note"]  # fmt: skip
        lines += [md_table(header, rows), ""]
        for size, block in sorted(peer.items(), key=lambda kv: int(kv[0])):
            lines += [f"### {int(size):,} initiatives", ""]
            rows = [measurement_row(k, v) for k, v in block.get("runs", {}).items()]
            lines += [md_table(MEASUREMENT_HEADER, rows), ""]
            sm = block.get("statsmodels")
            if sm and sm.get("status") == "ok":
                lines += [f"statsmodels logit (no group effects), the floor: {fmt(sm['wall_s'])} s.", ""]
    scaling = results.get("scaling", {})
    if scaling.get("runs"):
        lines += ["## Scaling of the main model", ""]
        rows = []
        for size, res in sorted(scaling["runs"].items(), key=lambda kv: int(kv[0])):
            rows.append([f"{int(size):,}", res.get("n_countries"), *measurement_row("", res)[1:]])
        header = ["initiatives", "countries", *MEASUREMENT_HEADER[1:]]
        lines += [md_table(header, rows), ""]
        if scaling.get("loglog_slope_wall") is not None:
            lines += [
                f"Log-log slope of wall time against size: {fmt(scaling['loglog_slope_wall'])} (1 = linear).",
                "",
            ]
        if scaling.get("plot"):
            lines += [f"![cost against size]({scaling['plot']})", ""]
    study = results.get("study")
    if study:
        lines += ["## Whole study (`nox -s paper`)", ""]
        if study.get("status") == "ok":
            lines += [
                f"`run_study` (what `nox -s paper` runs) in a fresh process, fresh step cache, warm "
                f"compile caches: {fmt(study.get('wall_s'))} s wall, {fmt(study.get('cpu_s'))} s CPU.",
                "",
            ]
            nox_ = study.get("nox_paper") or {}
            if nox_.get("wall_s") is not None:
                load = nox_.get("load_avg_1min")
                load = ", ".join(fmt(x) for x in load) if isinstance(load, list) else fmt(load)
                lines += [
                    f"`{nox_.get('command', 'nox -s paper')}` as a whole (warm nox env): "
                    f"{fmt(nox_['wall_s'])} s (exit code {nox_.get('returncode')}; "
                    + (f"steps at once: {nox_['jobs']} on {nox_['cpus']} CPUs; " if "cpus" in nox_ else "")
                    + f"1-minute load before, after: {load}); step cache afterwards "
                    f"{fmt(nox_.get('cache_mib'))} MiB, report.html {fmt(nox_.get('report_mib'))} MiB.",
                    "",
                ]
            steps = study.get("steps") or {}
            if steps:
                sampling = sum(v["seconds"] for k, v in steps.items() if k.startswith("model:"))
                rest = sum(v["seconds"] for k, v in steps.items() if not k.startswith("model:"))
                slowest = sorted(((v["seconds"], k) for k, v in steps.items() if not k.startswith("model:")))[
                    -3:
                ]
                lines += [
                    f"Steps: sampling (model:*) {fmt(sampling)} s, every other step {fmt(rest)} s (slowest: "
                    + ", ".join(f"{k} {fmt(s)} s" for s, k in reversed(slowest))
                    + ").",
                    "",
                ]
            per = study.get("per_model") or {}
            if per:
                rows = [[k, v.get("compile_s"), v.get("sample_s"), v.get("wall_s")] for k, v in per.items()]
                lines += [md_table(["model", "compile s", "sample s", "fit_model s"], rows), ""]
        else:
            lines += [f"Status: {study.get('status')} — {study.get('note', '')}", ""]
    exps = results.get("experiments", {})
    if exps:
        lines += ["## Speed-up experiments (one setting changed at a time; see 'sampled as')", ""]
        sampled = ("experiment", "package", "package_variant", "kernel_variant", None)  # kernel: history
        rows = [
            measurement_row(k, v)
            for k, v in exps.items()
            if v.get("kind") in sampled or v.get("status") != "ok"
        ]
        lines += [md_table(MEASUREMENT_HEADER, rows), ""]
        for k, v in exps.items():
            if v.get("kind") == "gate" and v.get("status") == "ok":
                lines += [
                    f"{k}: convergence gate on {fmt(v['elements'])} parameter elements "
                    f"{fmt(v['gate_s'])} s (vectorised R-hat / ESS) against {fmt(v['arviz_rhat_ess_s'])} s "
                    "for ArviZ's per-element `rhat` + `ess` (bulk, tail).",
                    "",
                ]
        lines += [f"- {k}: {v['note']}" for k, v in exps.items() if v.get("note")]
        lines += [""] if any(v.get("note") for v in exps.values()) else []
        extra = [
            (k, v) for k, v in exps.items() if v.get("kind") == "compile_reuse" and v.get("status") == "ok"
        ]
        for k, v in extra:
            lines += [
                f"{k}: first build+compile {fmt(v.get('first_build_compile_s'))} s, second build+compile "
                f"in the same process {fmt(v.get('second_build_compile_s'))} s, `with_data` swap "
                f"{fmt(v.get('with_data_s'))} s.",
                "",
            ]
        for k, v in exps.items():
            if v.get("kind") == "collapse" and v.get("status") == "ok":
                lines += [
                    f"{k}: {fmt(v['rows'])} rows; {fmt(v['rows_collapsed_with_groups'])} distinct "
                    f"(covariates, country, region) patterns, {fmt(v['rows_collapsed_covariates_only'])} "
                    "distinct covariate patterns"
                    + (
                        " — nothing to collapse into binomial counts."
                        if v["rows_collapsed_with_groups"] > 0.9 * v["rows"]
                        else "."
                    ),
                    "",
                ]
    targets = results.get("targets")
    if targets:
        lines += ["## Targets", ""]
        rows = [[t["target"], t.get("measured"), t.get("met")] for t in targets]
        lines += [md_table(["target", "measured", "met"], rows), ""]
    notes = results.get("notes")
    if notes:
        lines += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(lines)
