"""Convergence gate: no estimate is reported from a fit that failed it (unless overridden).

Checks, with configurable thresholds (defaults after Vehtari et al. 2021 and Betancourt 2016):

* rank-normalised split R-hat <= 1.01 for every parameter element, unless the excess is what
  converged chains give by chance among that many elements (below);
* bulk and tail effective sample size >= 400 for every parameter element;
* zero divergent transitions (over all chains);
* E-BFMI >= 0.3 in every chain;
* at most 5% of the draws of any chain stopped at the sampler's maximum tree depth.

Tree depth. A transition that reaches the maximum tree depth was cut short before its
trajectory turned back: the sampler explores slowly, and a posterior that needs it often is badly
scaled, strongly correlated or weakly identified. Samplers record it per draw
(``reached_max_treedepth`` in PyMC and ArviZ, ``maxdepth_reached`` in nutpie,
``reached_max_tree_depth`` from NumPyro); a fit that records none of these is not checked.
ArviZ's ``diagnose`` flags any saturated transition; the gate, like PyMC's sampler warning, fails
a chain above 5% (``treedepth_max_share``): a few saturated transitions cost efficiency, which
the ESS checks already judge.

Many elements: with 10,000 region effects some R-hats exceed 1.01 by chance even when every
chain has converged (at 4 x 1,000 draws their sampling spread reaches ~1.012). An element
above ``rhat_max`` therefore fails only when converged chains would give an R-hat that large
with probability below ``rhat_chance_alpha / (2 K)`` (Bonferroni over the K elements checked
and the bulk and folded R-hat): under convergence ``(m - 1) (n_e / n) B / W`` is about
chi-square with ``m - 1`` degrees of freedom (m split chains of n draws, ``n_e`` each split
chain's own ESS, so chains that disagree do not make their disagreement look likelier;
:func:`~.rhat_ess.rhat_chance`). ``rhat_chance_alpha=None`` restores the plain per-element
rule. R-hat and ESS come from :mod:`.rhat_ess` (ArviZ's numbers, vectorised).

The result is a :class:`GateResult` holding a tidy per-parameter table and the per-chain
sampler diagnostics. It can be stored in the fit's DataTree (group ``convergence_gate``) with
:func:`attach_gate` and read back with :func:`gate_from_datatree`, so a saved fit carries its
verdict. :func:`require_converged` raises :class:`~clusterpreneur.errors.ConvergenceError`
naming the failing parameters and what to try.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field
from typing import Literal

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from clusterpreneur.diagnostics.rhat_ess import ChainStats, chain_stats, rhat_chance, within_chain_ess
from clusterpreneur.errors import ConvergenceError

GATE_GROUP = "convergence_gate"

TREEDEPTH_FLAGS = ("reached_max_treedepth", "maxdepth_reached", "reached_max_tree_depth")
"""Names samplers give the per-draw flag "stopped at the maximum tree depth" in ``sample_stats``
(PyMC and ArviZ, nutpie, NumPyro); the first one present is used."""
DEPTH_STATS = ("tree_depth", "depth")
"""Names of the per-draw tree depth (PyMC and ArviZ, nutpie)."""

Context = Literal["python", "cli", "config"]
"""Where a gate message is shown: to Python code, on the command line, or in a study run
configured by ``study.toml``. The advice names the option of that place."""

_OPTIONS: dict[str, dict[str, str]] = {
    "python": {
        "draws": "draws=2000",
        "tune": "tune=2000",
        "target_accept": "target_accept=0.95 (or 0.99)",
        "override": "Estimates from this fit are not reported; pass override=True to report them anyway "
        "(flagged).",
    },
    "cli": {
        "draws": "--draws 2000",
        "tune": "--tune 2000",
        "target_accept": "--target-accept 0.95 (or 0.99)",
        "override": "Refit with `clusterpreneur fit` and the options above, or pass --no-gate to skip "
        "the gate (the estimates are then unchecked).",
    },
    "config": {
        "draws": "draws = 2000 under [sampler] in study.toml (or --draws 2000)",
        "tune": "tune = 2000 under [sampler] in study.toml (or --tune 2000)",
        "target_accept": "study.toml has no setting for it: fit the model from Python with "
        "fit_model(..., target_accept=0.95)",
        "override": "Estimates from this fit are withheld from the report; set override_gate = true "
        "under [diagnostics] in study.toml (or --override-gate) to report them flagged.",
    },
}


@dataclass(frozen=True)
class ConvergenceThresholds:
    """Thresholds of the convergence gate; every check is ``value <= max`` or ``value >= min``."""

    rhat_max: float = 1.01
    rhat_chance_alpha: float | None = 0.01
    ess_bulk_min: float = 400.0
    ess_tail_min: float = 400.0
    max_divergences: int = 0
    bfmi_min: float = 0.3
    treedepth_max_share: float = 0.05


@dataclass
class GateResult:
    """Verdict of the convergence gate.

    ``table`` has one row per scalar parameter element with columns ``parameter``, ``r_hat``,
    ``rhat_chance`` (for R-hat above the threshold: the chance of at least that value from
    converged chains; NaN otherwise), ``ess_bulk``, ``ess_tail``, ``rhat_ok``, ``ess_bulk_ok``,
    ``ess_tail_ok``, ``ok``.
    ``bfmi``, ``divergences`` and ``treedepth`` (share of draws at the maximum tree depth; NaN
    when the sampler did not record it) are per chain (index = chain label); ``max_treedepth``
    is the depth that was reached (None when unknown).
    """

    passed: bool
    table: pd.DataFrame
    divergences: pd.Series
    bfmi: pd.Series
    thresholds: ConvergenceThresholds = field(default_factory=ConvergenceThresholds)
    label: str = "fit"
    treedepth: pd.Series | None = None
    max_treedepth: int | None = None

    def __post_init__(self) -> None:
        if self.treedepth is None:
            self.treedepth = pd.Series(np.nan, index=self.divergences.index, name="treedepth_share")

    @property
    def failing_parameters(self) -> list[str]:
        """Parameter elements that fail the R-hat or ESS checks."""
        return self.table.loc[~self.table["ok"], "parameter"].tolist()

    @property
    def n_divergences(self) -> int:
        return int(self.divergences.sum())

    @property
    def divergences_ok(self) -> bool:
        return self.n_divergences <= self.thresholds.max_divergences

    @property
    def bfmi_ok(self) -> bool:
        return bool((self.bfmi.dropna() >= self.thresholds.bfmi_min).all())

    @property
    def treedepth_ok(self) -> bool:
        """No chain has more than ``treedepth_max_share`` of its draws at the maximum tree depth."""
        return bool((self.treedepth.dropna() <= self.thresholds.treedepth_max_share).all())

    def chain_table(self) -> pd.DataFrame:
        """Per-chain sampler diagnostics (divergences, E-BFMI, share of draws at the maximum tree depth)."""
        return pd.DataFrame(
            {"divergences": self.divergences, "bfmi": self.bfmi, "treedepth_share": self.treedepth}
        ).rename_axis("chain")

    def problems(self) -> list[str]:
        """One sentence per failed check, naming the parameters or chains concerned."""
        t = self.thresholds
        out: list[str] = []
        bad_rhat = self.table.loc[~self.table["rhat_ok"], ["parameter", "r_hat"]]
        if len(bad_rhat):
            beyond = "" if t.rhat_chance_alpha is None else " beyond chance"
            out.append(f"R-hat > {t.rhat_max}{beyond} for " + _name_list(bad_rhat, "r_hat", "{:.3f}"))
        for kind, col, lim in (
            ("bulk", "ess_bulk", t.ess_bulk_min),
            ("tail", "ess_tail", t.ess_tail_min),
        ):
            bad = self.table.loc[~self.table[f"{col}_ok"], ["parameter", col]]
            if len(bad):
                out.append(f"{kind} ESS < {lim:g} for " + _name_list(bad, col, "{:.0f}"))
        if not self.divergences_ok:
            per_chain = ", ".join(f"chain {c}: {int(n)}" for c, n in self.divergences.items() if n)
            out.append(
                f"{self.n_divergences} divergent transition(s) (allowed {t.max_divergences}; {per_chain})"
            )
        if not self.bfmi_ok:
            low = self.bfmi[self.bfmi < t.bfmi_min]
            out.append(
                f"E-BFMI < {t.bfmi_min} in " + ", ".join(f"chain {c} ({v:.2f})" for c, v in low.items())
            )
        if not self.treedepth_ok:
            high = self.treedepth[self.treedepth > t.treedepth_max_share]
            depth = "" if self.max_treedepth is None else f" ({self.max_treedepth})"
            chains = ", ".join(f"chain {c} ({v:.0%})" for c, v in high.items())
            share = f"{t.treedepth_max_share:.0%}"
            out.append(f"more than {share} of the draws stopped at the maximum tree depth{depth} in {chains}")
        return out

    def advice(self, context: Context = "python") -> list[str]:
        """What to try, matched to the checks that failed, naming the options of ``context``.

        ``context`` is where the advice is read: ``"python"`` (arguments of ``fit_model``),
        ``"cli"`` (options of ``clusterpreneur fit``) or ``"config"`` (settings of ``study.toml``).
        """
        o = _options(context)
        tips: list[str] = []
        if not self.divergences_ok:
            tips.append(f"raise the target acceptance rate to shrink the step size ({o['target_accept']})")
            tips.append(
                "reparametrise: use a non-centred parametrisation for hierarchical scales "
                "(funnel geometry), or tighter priors on group standard deviations"
            )
        if not self.bfmi_ok:
            tips.append(
                "low E-BFMI means the sampler explores the energy poorly: reparametrise "
                f"(non-centred), rescale/standardise predictors, or use more tuning steps ({o['tune']})"
            )
        if not self.treedepth_ok:
            tips.append(
                "trajectories hit the maximum tree depth: the posterior is badly scaled or strongly "
                "correlated along some direction; standardise predictors, reparametrise correlated or "
                f"weakly identified parameters (tighter priors), and tune longer ({o['tune']}) so the mass "
                "matrix adapts; a larger maximum depth only buys longer trajectories at their cost"
            )
        if len(self.failing_parameters):
            tips.append(f"run more tuning steps ({o['tune']} or more) and more draws ({o['draws']} or more)")
            tips.append(
                "check for multimodality or weakly identified parameters (pair plot, trace/rank plot)"
            )
        return tips

    def message(self, context: Context = "python") -> str:
        """Human-readable verdict; for a failed gate it names what failed and what to try.

        ``context`` says where the message is shown (see :meth:`advice`), so the advice and the
        way to override name the options the reader has there.
        """
        if self.passed:
            return f"{self.label}: convergence gate passed ({len(self.table)} parameter elements checked)."
        lines = [f"{self.label}: convergence gate FAILED."]
        lines += [f"  - {p}" for p in self.problems()]
        lines.append("What to try:")
        lines += [f"  * {tip}" for tip in self.advice(context)]
        lines.append(_options(context)["override"])
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.message()

    def to_dataset(self) -> xr.Dataset:
        """The result as a Dataset (dims ``parameter`` and ``chain``), with thresholds in attrs."""
        tab = self.table.set_index("parameter")
        ds = xr.Dataset(
            {col: ("parameter", tab[col].to_numpy()) for col in tab.columns},
            coords={"parameter": tab.index.astype(str).to_numpy()},
        )
        ds["chain_divergences"] = ("gate_chain", self.divergences.to_numpy().astype(np.int64))
        ds["chain_bfmi"] = ("gate_chain", self.bfmi.to_numpy().astype(float))
        ds["chain_treedepth"] = ("gate_chain", self.treedepth.to_numpy().astype(float))
        ds = ds.assign_coords(gate_chain=[str(c) for c in self.divergences.index])
        for col in ("rhat_ok", "ess_bulk_ok", "ess_tail_ok", "ok"):
            ds[col] = ds[col].astype(np.int8)  # NetCDF has no bool
        ds.attrs.update(
            passed=int(self.passed),
            label=self.label,
            thresholds=json.dumps(asdict(self.thresholds)),
            max_treedepth=-1 if self.max_treedepth is None else int(self.max_treedepth),
        )
        return ds

    def within_chance(self) -> int:
        """Elements whose R-hat is above the threshold but within what chance gives."""
        above = self.table["r_hat"] > self.thresholds.rhat_max
        return int((above & self.table["rhat_ok"]).sum())

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> GateResult:
        values = ["r_hat", "rhat_chance", "ess_bulk", "ess_tail"]
        flags = ["rhat_ok", "ess_bulk_ok", "ess_tail_ok", "ok"]
        table = pd.DataFrame({"parameter": ds["parameter"].values.astype(str)})
        for col in values + flags:
            table[col] = ds[col].values if col in ds else np.nan  # gates saved before rhat_chance
        for col in flags:
            table[col] = table[col].astype(bool)
        chains = ds["gate_chain"].values.astype(str)
        depth = ds["chain_treedepth"].values if "chain_treedepth" in ds else np.nan  # gates saved before it
        max_depth = int(ds.attrs.get("max_treedepth", -1))
        return cls(
            passed=bool(int(ds.attrs["passed"])),
            table=table,
            divergences=pd.Series(ds["chain_divergences"].values, index=chains, name="divergences"),
            bfmi=pd.Series(ds["chain_bfmi"].values, index=chains, name="bfmi"),
            thresholds=ConvergenceThresholds(**json.loads(ds.attrs["thresholds"])),
            label=str(ds.attrs.get("label", "fit")),
            treedepth=pd.Series(depth, index=chains, name="treedepth_share", dtype=float),
            max_treedepth=None if max_depth < 0 else max_depth,
        )


def _options(context: str) -> dict[str, str]:
    if context not in _OPTIONS:
        raise ValueError(f"unknown context {context!r}; choose one of {tuple(_OPTIONS)}")
    return _OPTIONS[context]


def _name_list(df: pd.DataFrame, col: str, fmt: str, limit: int = 12) -> str:
    items = [f"{p} ({fmt.format(v)})" for p, v in zip(df["parameter"], df[col], strict=True)]
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def flat_labels(da: xr.DataArray) -> list[str]:
    """``name[c1,c2]`` labels for every element of a (non-sample-dim) DataArray, C order."""
    if not da.dims:
        return [str(da.name)]
    idx = [da[d].values if d in da.coords else np.arange(da.sizes[d]) for d in da.dims]
    grid = [g.ravel().astype(str) for g in np.meshgrid(*idx, indexing="ij")]
    return [f"{da.name}[{','.join(parts)}]" for parts in zip(*grid, strict=True)]


def _variables(post: xr.Dataset):
    """(name, draws as (chain, draw, element), element labels) per posterior variable."""
    for name, da in post.data_vars.items():
        da = da.rename(name).transpose("chain", "draw", ...)
        draws = np.asarray(da.values, dtype=float).reshape(da.sizes["chain"], da.sizes["draw"], -1)
        yield draws, flat_labels(da.isel(chain=0, draw=0, drop=True))


def _chance(draws: np.ndarray, cs: ChainStats, above: np.ndarray, rhat_max: float) -> np.ndarray:
    """Chance value (smaller of bulk and folded) of the R-hats of elements ``above``."""
    within_bulk, within_folded = within_chain_ess(draws[:, :, above])
    args = (cs.n_split_chains, cs.split_draws)
    p = []
    for rhat, within in ((cs.rhat_bulk[above], within_bulk), (cs.rhat_folded[above], within_folded)):
        p.append(np.where(rhat > rhat_max, rhat_chance(rhat, within, *args), 1.0))
    return np.fmin(*p)


def check_convergence(
    idata: xr.DataTree,
    thresholds: ConvergenceThresholds | None = None,
    *,
    var_names: list[str] | None = None,
    label: str = "fit",
) -> GateResult:
    """Run the convergence gate on a fit's DataTree (``posterior`` and ``sample_stats`` groups).

    Parameters whose draws are constant (e.g. fixed deterministics) have undefined R-hat/ESS
    and are skipped. ``var_names`` restricts the checked posterior variables (default: all).
    """
    t = thresholds or ConvergenceThresholds()
    post = idata["posterior"].to_dataset()
    if var_names is not None:
        post = post[list(var_names)]
    parts = []
    for draws, labels in _variables(post):
        cs = chain_stats(draws)
        moving = (draws.max(axis=(0, 1)) - draws.min(axis=(0, 1))) > 0  # constants: no R-hat / ESS
        chance = np.full(len(labels), np.nan)
        above = np.flatnonzero(moving & (cs.rhat > t.rhat_max))
        if t.rhat_chance_alpha is not None and above.size:
            chance[above] = _chance(draws, cs, above, t.rhat_max)
        frame = pd.DataFrame(
            {"parameter": labels, "r_hat": cs.rhat, "rhat_chance": chance, "ess_bulk": cs.ess_bulk,
             "ess_tail": cs.ess_tail}
        )  # fmt: skip
        parts.append(frame[moving])
    table = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["parameter", "r_hat", "rhat_chance", "ess_bulk", "ess_tail"])
    )
    table["rhat_ok"] = table["r_hat"] <= t.rhat_max  # NaN fails
    if t.rhat_chance_alpha is not None:  # Bonferroni over elements and the two R-hats
        table["rhat_ok"] |= table["rhat_chance"] >= t.rhat_chance_alpha / (2 * max(len(table), 1))
    table["ess_bulk_ok"] = table["ess_bulk"] >= t.ess_bulk_min
    table["ess_tail_ok"] = table["ess_tail"] >= t.ess_tail_min
    table["ok"] = table["rhat_ok"] & table["ess_bulk_ok"] & table["ess_tail_ok"]

    chains = [str(c) for c in post["chain"].values]
    if "sample_stats" in idata.children:
        stats = idata["sample_stats"].to_dataset()
        if "diverging" in stats:
            div = stats["diverging"].sum("draw").values.astype(int)
        else:
            div = np.zeros(len(chains), dtype=int)
        if "energy" in stats:
            bfmi = np.asarray(az.bfmi(idata)["energy"].values, dtype=float).reshape(-1)
        else:
            bfmi = np.full(len(chains), np.nan)
        depth, max_depth = treedepth_saturation(stats)
    else:
        warnings.warn("no sample_stats group: divergences, E-BFMI and tree depth not checked", stacklevel=2)
        div = np.zeros(len(chains), dtype=int)
        bfmi = np.full(len(chains), np.nan)
        depth, max_depth = np.full(len(chains), np.nan), None
    result = GateResult(
        passed=False,
        table=table,
        divergences=pd.Series(div, index=chains, name="divergences"),
        bfmi=pd.Series(bfmi, index=chains, name="bfmi"),
        thresholds=t,
        label=label,
        treedepth=pd.Series(depth, index=chains, name="treedepth_share"),
        max_treedepth=max_depth,
    )
    result.passed = bool(
        table["ok"].all() and result.divergences_ok and result.bfmi_ok and result.treedepth_ok
    )
    return result


def treedepth_saturation(stats: xr.Dataset) -> tuple[np.ndarray, int | None]:
    """Per chain, the share of draws that stopped at the maximum tree depth, and that depth.

    Reads the first flag of :data:`TREEDEPTH_FLAGS` in ``stats`` (a ``sample_stats`` group with
    dims ``chain`` and ``draw``); the depth is the largest recorded depth (:data:`DEPTH_STATS`)
    among the flagged draws (None when nothing was flagged or no depth was recorded). Without a
    flag every share is NaN: not checked.
    """
    n_chains = stats.sizes.get("chain", 1)
    flag = next((stats[name] for name in TREEDEPTH_FLAGS if name in stats), None)
    if flag is None:
        return np.full(n_chains, np.nan), None
    hit = np.asarray(flag.transpose("chain", "draw").values, dtype=bool)
    depth_name = next((name for name in DEPTH_STATS if name in stats), None)
    max_depth = None
    if depth_name is not None and hit.any():
        depths = np.asarray(stats[depth_name].transpose("chain", "draw").values)
        max_depth = int(depths[hit].max())
    return hit.mean(axis=1), max_depth


MAIN_PARAMETERS = ("intercept", "beta")
"""Posterior variables of the short estimate table, with every group-level scale ``sigma_*``."""


def main_parameters(idata: xr.DataTree) -> list[str]:
    """The posterior variables a short estimate table shows: :data:`MAIN_PARAMETERS` and the
    group-level scales (``sigma_*``), in the posterior's order."""
    post = idata["posterior"]
    return [v for v in post.data_vars if v in MAIN_PARAMETERS or str(v).startswith("sigma_")]


def estimate_table(
    idata: xr.DataTree, gate: GateResult | None = None, var_names: list[str] | None = None
) -> pd.DataFrame:
    """Posterior mean, SD, 95% equal-tailed interval, R-hat and bulk/tail ESS of each element.

    ``var_names`` defaults to :func:`main_parameters`. R-hat and ESS are the gate's (from
    ``gate`` when given, else computed for these variables alone): the same numbers the verdict
    rests on. Columns ``parameter, mean, sd, eti95_lower, eti95_upper, r_hat, ess_bulk, ess_tail``.
    """
    names = list(var_names) if var_names is not None else main_parameters(idata)
    post = idata["posterior"].to_dataset()[names]
    parts = []
    for draws, labels in _variables(post):
        flat = draws.reshape(-1, draws.shape[-1])
        lo, hi = np.quantile(flat, [0.025, 0.975], axis=0)
        stats = {
            "mean": flat.mean(axis=0),
            "sd": flat.std(axis=0, ddof=1),
            "eti95_lower": lo,
            "eti95_upper": hi,
        }
        parts.append(pd.DataFrame({"parameter": labels, **stats}))
    cols = ["parameter", "mean", "sd", "eti95_lower", "eti95_upper"]
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
    conv = (gate if gate is not None else check_convergence(idata, var_names=names)).table
    return table.merge(conv[["parameter", "r_hat", "ess_bulk", "ess_tail"]], on="parameter", how="left")


def attach_gate(idata: xr.DataTree, result: GateResult) -> xr.DataTree:
    """Store ``result`` in ``idata`` as group ``convergence_gate`` (in place) and return ``idata``."""
    idata[GATE_GROUP] = result.to_dataset()
    return idata


def gate_from_datatree(idata: xr.DataTree) -> GateResult | None:
    """The gate result stored in ``idata``, or None when the fit was never gated."""
    if GATE_GROUP not in idata.children:
        return None
    return GateResult.from_dataset(idata[GATE_GROUP].to_dataset())


def require_converged(result: GateResult, override: bool = False) -> GateResult:
    """Return ``result`` if it passed; otherwise raise ConvergenceError unless ``override``.

    With ``override=True`` a failed gate only warns (the message is kept in the warning), so a
    report built from it is visibly flagged.
    """
    if result.passed:
        return result
    if override:
        warnings.warn(
            "Reporting estimates from a fit that FAILED the convergence gate (override=True).\n"
            + result.message(),
            UserWarning,
            stacklevel=2,
        )
        return result
    raise ConvergenceError(result.message(), gate=result)
