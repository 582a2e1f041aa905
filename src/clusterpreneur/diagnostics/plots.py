"""Figures of the diagnostics and estimates, drawn with matplotlib and saved as 200 dpi PNG and SVG.

Every ``plot_*`` function takes the numbers it shows (the same tables a report prints beside
it) and returns a matplotlib ``Figure`` built without pyplot (no display needed);
:func:`save_figure` writes ``<stem>.png`` and ``<stem>.svg`` atomically and byte-identically
for the same figure. Panels carry axis labels, reference lines (zero, the diagonal) and the
categories' meanings; titles sit in the figure, one per column, so they never overlap.
:func:`plot_sbc_ecdf` is the exception: an ArviZ figure of simulation-based calibration ranks.
"""

from __future__ import annotations

import functools
import io
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from clusterpreneur.io import write_atomic

FORMATS = ("png", "svg")
_PATH = re.compile(r'(\s)d="([^"]*)"')
_POLYLINE = re.compile(r"[MLz\s0-9.eE+-]*")
_PATH_TOKEN = re.compile(r"[MLz]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_DECIMALS = re.compile(r"(-?\d+\.\d\d)\d+")
_POSITION = re.compile(r'(\s[xy]=")(-?\d+\.\d+)"')
_NO_ROTATION = re.compile(r' transform="rotate\(-?0 [^"]*\)"')
_GROUP_ID = re.compile(r'<g id="[^"]*">')
_FONT_FAMILY = re.compile(r"font-family: [^;\"]*")
_INDENT = re.compile(r"\n[ \t]+<")
DPI = 200
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
"""Okabe-Ito colours (distinguishable with colour-vision deficiencies)."""
STYLE = {
    "font.size": 10,
    "axes.titlesize": 10.5,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "clusterpreneur",
    "svg.fonttype": "none",  # text as text: selectable, sharp, a fraction of the bytes of glyph paths
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],  # the SVG names each text's fonts
}


def new_figure(width: float, height: float):
    """A matplotlib Figure with the package's style that does not touch pyplot's global state."""
    import matplotlib as mpl
    from matplotlib.figure import Figure

    with mpl.rc_context(STYLE):
        return Figure(figsize=(width, height), layout="constrained")


def _styled(fn):
    """Run ``fn`` under the package's matplotlib style (artists take rcParams when created)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import matplotlib as mpl

        with mpl.rc_context(STYLE):
            return fn(*args, **kwargs)

    return wrapper


def figure_bytes(fig, fmt: str) -> bytes:
    """The figure as PNG (200 dpi) or SVG bytes, without time stamps (same figure, same bytes);
    the SVG written compactly by :func:`compact_svg`."""
    import matplotlib as mpl

    buf = io.BytesIO()
    meta = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
    with mpl.rc_context(STYLE):
        fig.savefig(buf, format=fmt, dpi=DPI, metadata=meta)
    if fmt != "svg":
        return buf.getvalue()
    return compact_svg(buf.getvalue().decode("utf-8")).encode("utf-8")


def compact_svg(svg: str) -> str:
    """Matplotlib's SVG drawn the same in about half the bytes: polylines (``M``/``L``/``z``
    paths: lines, bands, bars, ticks) in relative coordinates to 0.1 pt (1/720 inch, below any
    printer's dot; the differences are of the rounded points, so no error accumulates), other
    paths (curves: markers) to 0.01 pt, marker and text positions to 0.1 pt; no-op rotations,
    group ids (never referenced), quotes around font names and indentation dropped."""
    svg = _PATH.sub(lambda m: f'{m.group(1)}d="{_compact_path(m.group(2))}"', svg)
    svg = _POSITION.sub(lambda m: f'{m.group(1)}{_tenths(round(float(m.group(2)) * 10))}"', svg)
    svg = _NO_ROTATION.sub("", svg)
    svg = _FONT_FAMILY.sub(lambda m: m.group(0).replace("'", ""), svg)  # names of words need no quotes
    svg = _GROUP_ID.sub("<g>", svg)
    return _INDENT.sub("\n<", svg)


def _tenths(t: int) -> str:
    return f"{t // 10}" if t % 10 == 0 else f"{t / 10:.1f}"


def _compact_path(d: str) -> str:
    """One path's data: a polyline relative to 0.1 pt, else absolute to 0.01 pt."""
    if not _POLYLINE.fullmatch(d):
        return _DECIMALS.sub(r"\1", d).replace(" \nL ", " L ").replace(" \nC ", " C ")
    try:
        return _relative_polyline(_PATH_TOKEN.findall(d))
    except (IndexError, ValueError):  # not the M/L/z polyline it looked like: as it was, rounded
        return _DECIMALS.sub(r"\1", d)


def _relative_polyline(tokens: list[str]) -> str:
    out, x, y, start, i, last = [], 0, 0, (0, 0), 0, ""
    while i < len(tokens):
        op = tokens[i]
        if op == "z":
            out.append("z")
            x, y = start
            i, last = i + 1, "z"
            continue
        if op not in ("M", "L"):
            raise ValueError(f"a number without its command in a path: {op}")
        nx, ny = round(float(tokens[i + 1]) * 10), round(float(tokens[i + 2]) * 10)
        if op == "M":
            out.append(f"M{_tenths(nx)} {_tenths(ny)}")
            start, last = (nx, ny), "M"
        else:
            out.append(("" if last == "l" else "l") + f"{_tenths(nx - x)} {_tenths(ny - y)}")
            last = "l"
        x, y = nx, ny
        i += 3
    return " ".join(out)


def save_figure(fig, stem: str | Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Save ``stem.<fmt>`` for each format atomically: a matplotlib Figure or an ArviZ PlotCollection."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    if hasattr(fig, "viz"):  # a PlotCollection drawn with matplotlib: its Figure, saved as ours are
        inner = fig.viz["figure"]
        inner = inner.item() if hasattr(inner, "item") else inner
        fig = inner if hasattr(inner, "savefig") else fig
    paths = []
    for fmt in formats:
        target = stem.with_name(f"{stem.name}.{fmt}")
        if hasattr(fig, "savefig") and not hasattr(fig, "viz"):
            paths.append(write_atomic(target, figure_bytes(fig, fmt)))
            continue
        fd, tmp = tempfile.mkstemp(dir=stem.parent, prefix=f".{stem.name}.", suffix=f".{fmt}")
        os.close(fd)
        try:
            fig.savefig(tmp)
            paths.append(write_atomic(target, Path(tmp).read_bytes()))
        finally:
            Path(tmp).unlink(missing_ok=True)
    return paths


# --------------------------------------------------------------------------- intervals


@_styled
def plot_intervals(
    ax,
    rows: pd.DataFrame,
    *,
    xlabel: str,
    reference: float | None = 0.0,
    groups: Sequence[str] | None = None,
) -> None:
    """Point estimates with intervals, one row per ``label``, one colour per ``group``.

    ``rows``: columns ``label, group, estimate, lower, upper``; rows keep their order from top
    to bottom; several groups of one label sit side by side. ``reference`` draws a vertical line
    (zero for coefficients, ``None`` for none).
    """
    labels = list(dict.fromkeys(rows["label"]))
    groups = list(groups or dict.fromkeys(rows["group"]))
    k = len(groups)
    offsets = (np.arange(k) - (k - 1) / 2) * (0.7 / max(k, 1)) if k > 1 else np.zeros(1)
    y_of = {lab: len(labels) - 1 - i for i, lab in enumerate(labels)}
    if reference is not None:
        ax.axvline(reference, color="0.45", lw=0.8, ls="--", zorder=0)
    for g, (group, off) in enumerate(zip(groups, offsets, strict=True)):
        sub = rows[rows["group"] == group]
        y = np.array([y_of[lab] for lab in sub["label"]]) - off
        est = sub["estimate"].to_numpy(float)
        err = np.vstack([est - sub["lower"].to_numpy(float), sub["upper"].to_numpy(float) - est])
        ax.errorbar(
            est, y, xerr=err, fmt="o", ms=3.5, lw=1.1, capsize=0, color=PALETTE[g % len(PALETTE)], label=group
        )
    ax.set_yticks(range(len(labels)), labels[::-1])
    ax.set_ylim(-0.6, len(labels) - 0.4)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", color="0.92", lw=0.6)


def legend_below(fig, ax) -> None:
    """One legend under the figure for the labelled artists of ``ax`` (if more than one)."""
    handles, names = ax.get_legend_handles_labels()
    if len(handles) > 1:
        fig.legend(handles, names, loc="outside lower center", ncols=min(len(names), 5), frameon=False)


@_styled
def plot_forest(rows: pd.DataFrame, *, xlabel: str, title: str | None = None):
    """A forest plot of :func:`plot_intervals` rows in a figure sized to the number of rows."""
    n = rows["label"].nunique()
    fig = new_figure(6.8, 0.32 * n + 1.4)
    ax = fig.subplots()
    plot_intervals(ax, rows, xlabel=xlabel)
    legend_below(fig, ax)
    if title:
        ax.set_title(title, loc="left")
    return fig


# --------------------------------------------------------------------------- predictive checks


@_styled
def plot_calibration(cal, *, xlabel: str, ylabel: str, title: str | None = None):
    """Calibration plot of a :class:`~clusterpreneur.diagnostics.ppc.Calibration`: PAV curve,
    consistency band, diagonal, the probabilities as a rug, and the Brier decomposition."""
    t = cal.table
    fig = new_figure(4.2, 4.7)
    ax = fig.subplots()
    ax.fill_between(
        t["p"], t["lower"], t["upper"], step="post", color=PALETTE[4], alpha=0.3, lw=0,
        label=f"{cal.prob:.0%} consistency band",
    )  # fmt: skip
    ax.plot([0, 1], [0, 1], color="0.45", lw=0.8, ls="--", label="perfect calibration")
    ax.step(t["p"], t["calibrated"], where="post", color=PALETTE[0], lw=1.4, label="PAV-calibrated share")
    # the rug: hundreds of marks, as pixels (200 dpi) inside the SVG, where each would be an element
    ax.plot(t["p"], np.full(len(t), -0.03), "|", color="0.3", ms=4, alpha=0.5, rasterized=True)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.06, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_aspect("equal")
    ax.text(
        0.03, 0.97,
        f"Brier {cal.brier:.3f} = MCB {cal.mcb:.3f} − DSC {cal.dsc:.3f} + UNC {cal.unc:.3f}\n"
        f"MCB as large under calibration: p = {cal.mcb_p:.2f}",
        transform=ax.transAxes, va="top", fontsize=7.5,
    )  # fmt: skip
    fig.legend(loc="outside lower center", ncols=2, frameon=False, fontsize=8)
    if title:
        ax.set_title(title, loc="left")
    return fig


def _break(label: str, width: int = 22) -> str:
    """A parameter label over several lines: ``name[a,b]`` -> ``name`` / ``[a,`` / ``b]`` when long."""
    if len(label) <= width or "[" not in label:
        return label
    name, rest = label.split("[", 1)
    return name + "\n[" + rest.replace(",", ",\n") if len(rest) > width else f"{name}\n[{rest}"


def _wrap(text: str, width: int = 11) -> str:
    words, lines, line = text.split(), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    return "\n".join([*lines, line])


@_styled
def plot_category_counts(
    panels: Sequence[tuple[str, pd.DataFrame]], labels: Mapping[int, str], *, prob: float = 0.95
):
    """Observed and predicted answers per category, one panel per outcome.

    ``panels``: (title, :func:`~clusterpreneur.diagnostics.ppc.category_counts` table);
    ``labels``: category code -> meaning (e.g. 1 -> "strongly disagree"), shown under each code.
    """
    fig = new_figure(2.6 * len(panels) + 0.6, 3.6)
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    for ax, (title, t) in zip(axes, panels, strict=True):
        x = np.arange(len(t))
        pred = t["predicted"].to_numpy(float)
        ax.bar(x, pred, color=PALETTE[4], alpha=0.5, width=0.7, label="predicted (posterior mean)")
        ax.errorbar(
            x, pred, yerr=[pred - t["lower"], t["upper"] - pred], fmt="none", color=PALETTE[0], lw=1.1,
            label=f"{prob:.0%} predictive interval",
        )  # fmt: skip
        out = t["outside"].to_numpy(bool)
        ax.plot(x[~out], t["observed"][~out], "o", color="black", ms=4, label="observed")
        if out.any():
            ax.plot(x[out], t["observed"][out], "D", color=PALETTE[5], ms=4.5, label="observed, outside")
        ticks = [f"{c}\n{_wrap(labels.get(int(c), ''))}" for c in t["category"]]
        ax.set_xticks(x, ticks, fontsize=7.5)
        ax.set_title(title, loc="left")
        ax.grid(axis="y", color="0.92", lw=0.6)
    axes[0].set_ylabel("Initiatives")
    handles, names = [], []
    for ax in axes:
        for h, n in zip(*ax.get_legend_handles_labels(), strict=True):
            if n not in names:
                handles.append(h)
                names.append(n)
    fig.legend(handles, names, loc="outside lower center", ncols=len(names), frameon=False)
    return fig


# --------------------------------------------------------------------------- convergence


def rank_ecdf_band(
    n_draws: int, n_chains: int, grid: np.ndarray, *, prob: float = 0.95, n_sim: int = 1000, seed: int = 0
):
    """Simultaneous ``prob`` band of one chain's rank-ECDF difference under convergence.

    With ``n_chains`` chains of ``n_draws`` independent draws each, a chain's fractional ranks
    among all draws are a random subset; the band is the pointwise envelope, at the level found
    by simulation, that holds the whole curve of ``prob`` of simulated chains (Säilynoja,
    Bürkner and Vehtari 2022). Returns (lower, upper) of ``ECDF - grid`` at ``grid``.
    """
    rng = np.random.default_rng(seed)
    total = n_draws * n_chains
    thresholds = np.floor(grid * total)
    curves = []
    for _ in range(n_sim // n_chains + 1):
        perm = rng.permutation(total).reshape(n_chains, n_draws)
        curves.append((perm[:, :, None] < thresholds[None, None, :]).mean(axis=1))
    sims = np.concatenate(curves)[:n_sim] - grid
    lo_q, hi_q = 0.0, (1 - prob)
    for _ in range(30):  # bisection on the pointwise level
        mid = (lo_q + hi_q) / 2
        lower, upper = np.quantile(sims, [mid / 2, 1 - mid / 2], axis=0)
        inside = np.all((sims >= lower) & (sims <= upper), axis=1).mean()
        if inside >= prob:
            lo_q = mid
        else:
            hi_q = mid
    return tuple(np.quantile(sims, [lo_q / 2, 1 - lo_q / 2], axis=0))


@_styled
def plot_convergence(panels: Sequence[Mapping], *, prob: float = 0.95, max_trace: int = 120, seed: int = 0):
    """Trace and rank-ECDF plots, one row per parameter.

    ``panels``: mappings with ``label``, ``draws`` (chains x draws), ``r_hat``, ``ess_bulk``,
    ``ess_tail`` (the gate's numbers, printed in each row). The trace shows at most
    ``max_trace`` evenly spaced draws per chain. The rank panel thins each chain to about one
    draw per effective sample (the band assumes independent draws; unthinned autocorrelated
    draws would cross it although the chains have converged) and shows each chain's
    rank-ECDF minus the uniform with the simultaneous ``prob`` band of :func:`rank_ecdf_band`.
    """
    n = len(panels)
    fig = new_figure(7.0, 1.05 * n + 0.8)
    axes = np.atleast_2d(fig.subplots(n, 2, gridspec_kw={"width_ratios": [1.5, 1]}))
    for i, panel in enumerate(panels):
        draws = np.asarray(panel["draws"], dtype=float)
        chains, total = draws.shape
        ax_t, ax_r = axes[i]
        step = max(1, int(np.ceil(total / max_trace)))
        x = np.arange(0, total, step)
        for c in range(chains):
            ax_t.plot(x, draws[c, ::step], lw=0.6, color=PALETTE[c % len(PALETTE)], alpha=0.85)
        thin = max(1, int(np.floor(chains * total / max(panel["ess_bulk"], 1.0))))
        kept_text = "all draws" if thin == 1 else f"1 draw in {thin}"
        ax_t.set_ylabel(
            f"{_break(panel['label'])}\nR-hat {panel['r_hat']:.3f}\n"
            f"ESS {panel['ess_bulk']:,.0f} / {panel['ess_tail']:,.0f}\nranks: {kept_text}",
            rotation=0, ha="right", va="center", fontsize=7.5, linespacing=1.25,
        )  # fmt: skip
        kept = draws[:, ::thin]
        per_chain = kept.shape[1]
        grid = np.linspace(0, 1, min(per_chain, 60) + 1)[1:-1]
        ranks = np.argsort(np.argsort(kept.ravel(), kind="stable"), kind="stable").reshape(kept.shape)
        thresholds = np.floor(grid * kept.size)
        lower, upper = rank_ecdf_band(per_chain, chains, grid, prob=prob, seed=seed + i)
        ax_r.fill_between(grid, lower, upper, color="0.85", lw=0)
        ax_r.axhline(0, color="0.45", lw=0.7, ls="--")
        for c in range(chains):
            ecdf = (ranks[c][:, None] < thresholds[None, :]).mean(axis=0) - grid
            ax_r.plot(grid, ecdf, lw=0.9, color=PALETTE[c % len(PALETTE)])
        ax_r.set_xlim(0, 1)
        if i < n - 1:
            ax_t.tick_params(labelbottom=False)
            ax_r.tick_params(labelbottom=False)
    axes[0, 0].set_title("Trace (chains in colour)")
    axes[0, 1].set_title("Rank ECDF − uniform")
    axes[-1, 0].set_xlabel("Draw")
    axes[-1, 1].set_xlabel("Fractional rank")
    return fig


# --------------------------------------------------------------------------- SBC (ArviZ)


def plot_sbc_ecdf(result, path: str | Path | None = None, *, backend: str | None = None):
    """SBC ECDF-difference plot (``az.plot_ecdf_pit``, pot_c p-value per panel) of an SBCResult
    or of a DataTree with a ``prior_sbc`` group. Returns the saved paths when ``path`` is given,
    else the PlotCollection."""
    import arviz as az
    import xarray as xr

    dt = result if isinstance(result, xr.DataTree) else result.ranks
    u = dt["prior_sbc"].to_dataset()
    n_panels = sum(int(da.size // max(1, da.sizes["simulation"])) for da in u.data_vars.values())
    cols = min(4, max(1, n_panels))
    rows = -(-n_panels // cols)
    layout = {}  # readable at page width: four panels a row, titles and p-values that do not overlap
    if backend in (None, "matplotlib"):
        layout = {
            "col_wrap": cols,
            "figure_kwargs": {"figsize": (2.2 * cols, 1.6 * rows), "layout": "constrained"},
            "visuals": {"title": {"size": 8}, "p_value_text": {"size": 6}},
        }
    with az.rc_context({"plot.max_subplots": max(n_panels, az.rcParams["plot.max_subplots"])}):
        # every quantity has its panel: ArviZ refuses more than 40 by default (M4 ranks 55)
        pc = az.plot_ecdf_pit(dt, group="prior_sbc", sample_dims=["simulation"], backend=backend, **layout)
    if path is not None and backend != "none":
        paths = save_figure(pc, path)
        if pc.backend == "matplotlib":
            import matplotlib.pyplot as plt

            plt.close(pc.viz["figure"].item() if hasattr(pc.viz["figure"], "item") else pc.viz["figure"])
        return paths
    return pc
