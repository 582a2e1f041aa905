"""The study's steps and one entry per paper table and figure.

Steps (cached, in this order; :func:`plan` builds the list from the configuration, so a model
or check that is not available or not configured simply has no step):

- ``data``: read and validate the survey (and the cases); ``survey.parquet``, ``cases.parquet``;
- ``descriptives``: descriptive statistics by region type; ``descriptives.csv``;
- ``baselines``: statsmodels baselines of every outcome; ``baselines.csv``;
- ``model:<M>``: fit ladder model M with PyMC; ``fit.nc``, ``coefficients.csv``, ``hypotheses.csv``;
- ``diagnostics:<M>``: with :mod:`clusterpreneur.diagnostics`, for every fit (failing or not):
  convergence gate, PSIS-LOO with the initiatives of high Pareto k, power-scaling prior
  sensitivity, PPC suited to the family (PAV calibration / rootogram) and LOO-PIT, rank and trace
  plots; ``gate.csv``, ``summary.json``, ``loo.csv``, ``high_k.csv``, ``sensitivity.csv``,
  ``ppc.csv``, ``rank.png``, ``trace.png``, ``ppc_<outcome>.png``, ``loo_pit_<outcome>.png``;
- ``comparison``: PSIS-LOO stacking comparison of the take-off models
  (``diagnostics.compare_models``); ``comparison.csv``;
- ``forest``: Bayes (reference model) versus the statsmodels logit
  (``diagnostics.plots.plot_forest_comparison``); ``forest.csv``, ``forest.png``;
- ``cases``: North Jutland predictions and what-if scenarios; ``cases.csv``, ``cases.png``.

Paper entries (:data:`PAPER`, rendered in this order by :mod:`clusterpreneur.pipeline.report`):
each is a small function from the step entries to a table (``DataFrame``) or figures (PNG
bytes), and ``None`` when its step did not run (the report says so).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from clusterpreneur.files import csv_bytes
from clusterpreneur.io import write_atomic
from clusterpreneur.pipeline.cache import CacheEntry

if TYPE_CHECKING:
    from clusterpreneur.pipeline.runner import RunContext, Step

logger = logging.getLogger("clusterpreneur.pipeline")

DATA_CODE = ("clusterpreneur.study.readers", "clusterpreneur.study.schema", "clusterpreneur.study.codebook")
MEASURE_CODE = ("clusterpreneur.study.measures", "clusterpreneur.study.predictors")
MODEL_CODE = ("clusterpreneur.models", *MEASURE_CODE)

CASE_ID = "DNK-Biomedico"


# --------------------------------------------------------------------------- helpers


def _csv_bytes(df: pd.DataFrame) -> bytes:
    return csv_bytes(df)


def write_csv(path: Path, df: pd.DataFrame) -> Path:
    return write_atomic(path, _csv_bytes(df))


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def _parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, engine="pyarrow", index=False)
    return buf.getvalue()


def read_frame(entry: CacheEntry, name: str) -> pd.DataFrame:
    return pd.read_parquet(entry.file(name), engine="pyarrow")


def figure_png(fig) -> bytes:
    """PNG bytes of a matplotlib Figure (no timestamp metadata: same figure, same bytes)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def new_figure(width: float, height: float):
    """A matplotlib Figure that does not touch pyplot's global state (no display needed)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def models_available() -> bool:
    """True when :mod:`clusterpreneur.models` offers ``fit_model`` and ``LADDER``."""
    try:
        import clusterpreneur.models as m

        if hasattr(m, "fit_model") and hasattr(m, "LADDER"):
            return True
        from clusterpreneur.models.fit import fit_model  # noqa: F401
        from clusterpreneur.study.ladder import LADDER  # noqa: F401
    except ImportError:
        return False
    return True


def _models_api():
    """(LADDER, fit_model, load_fit) from :mod:`clusterpreneur.models`."""
    import clusterpreneur.models as m

    if all(hasattr(m, n) for n in ("LADDER", "fit_model", "load_fit")):
        return m.LADDER, m.fit_model, m.load_fit
    from clusterpreneur.models.fit import fit_model
    from clusterpreneur.models.persist import load_fit
    from clusterpreneur.study.ladder import LADDER

    return LADDER, fit_model, load_fit


def validate_rows(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Validate each row on its own (cases and scenarios are not one survey: no cross-row rules)."""
    from clusterpreneur.study.schema import validate_survey

    parts = [validate_survey(df.iloc[[i]], f"{source}, row {i + 1}") for i in range(len(df))]
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- steps


def step_data(ctx: RunContext, up: dict[str, CacheEntry], wd: Path) -> dict[str, Any]:
    """Read and validate the survey (and the case file) once; later steps read the Parquet copy."""
    from clusterpreneur.study.datasets import north_jutland_cases
    from clusterpreneur.study.readers import load_survey

    df = load_survey(ctx.survey_path, mapping=ctx.mapping_path)
    if ctx.cases_path is not None:
        cases = load_survey(ctx.cases_path)
    else:
        cases = validate_rows(north_jutland_cases(), "shipped North Jutland cases")
    write_atomic(wd / "survey.parquet", _parquet_bytes(df))
    write_atomic(wd / "cases.parquet", _parquet_bytes(cases))
    return {
        "initiatives": len(df),
        "regions": int(df["region_id"].nunique()),
        "countries": int(df["country_id"].nunique()),
        "cases": len(cases),
    }


DESCRIBE: tuple[tuple[str, str], ...] = (
    ("takeoff", "take-off (share)"),
    ("perf_competitiveness", "rating: improved competitiveness (1-5)"),
    ("perf_growth", "rating: cluster growth (1-5)"),
    ("perf_goals", "rating: goal fulfilment (1-5)"),
    ("firm_growth", "growth of the number of firms"),
    ("involve_research", "involvement: research (0-4)"),
    ("involve_policy", "involvement: policy (0-4)"),
    ("involve_industry", "involvement: industry (0-4)"),
    ("involve_finance", "involvement: finance (0-4)"),
    ("breadth", "breadth: active actor types (0-4)"),
    ("public_private", "public and private actors mixed (share)"),
    ("board_diversity", "board diversity (Blau)"),
    ("sc_score", "social capital: item mean (1-5)"),
    ("prior_cluster", "previous successful cluster (share)"),
    ("lfr_index", "less-favoured-region index"),
    ("n_firms", "firms in the cluster"),
    ("anchor_firm", "large anchor firm present (share)"),
    ("university", "university present (share)"),
    ("venture_capital", "venture capital present (share)"),
    ("age", "initiative age (years)"),
    ("facilitator", "dedicated facilitator (share)"),
)


def descriptives_table(df: pd.DataFrame) -> pd.DataFrame:
    """Mean, SD and N of the study's variables, overall and by region type (core / peripheral)."""
    from clusterpreneur.study.measures import add_measures

    frame = add_measures(df)
    groups = {
        "all": frame,
        "core": frame[frame["peripheral"] == 0],
        "peripheral": frame[frame["peripheral"] == 1],
    }
    rows = [
        {
            "variable": "initiatives",
            "description": "number of initiatives",
            **{
                f"{g}_{s}": v
                for g, sub in groups.items()
                for s, v in (("n", len(sub)), ("mean", np.nan), ("sd", np.nan))
            },
        }
    ]
    for col, label in DESCRIBE:
        if col not in frame:
            continue
        row: dict[str, Any] = {"variable": col, "description": label}
        for g, sub in groups.items():
            x = pd.to_numeric(sub[col], errors="coerce").astype("float64").dropna()
            row[f"{g}_n"] = len(x)
            row[f"{g}_mean"] = float(x.mean()) if len(x) else np.nan
            row[f"{g}_sd"] = float(x.std(ddof=1)) if len(x) > 1 else np.nan
        rows.append(row)
    out = pd.DataFrame(rows)
    for g in groups:
        out[f"{g}_n"] = out[f"{g}_n"].astype("int64")
    return out


def step_descriptives(ctx: RunContext, up: dict[str, CacheEntry], wd: Path) -> dict[str, Any]:
    table = descriptives_table(read_frame(up["data"], "survey.parquet"))
    write_csv(wd / "descriptives.csv", table)
    return {"variables": len(table) - 1}


def step_baselines(ctx: RunContext, up: dict[str, CacheEntry], wd: Path) -> dict[str, Any]:
    from clusterpreneur import tables
    from clusterpreneur.study.baselines import fit_baselines

    results = fit_baselines(read_frame(up["data"], "survey.parquet"), seed=ctx.config.seed)
    write_atomic(wd / "baselines.csv", tables.to_csv_bytes(results.table))
    table = results.table
    return {
        "models": int(table[["outcome", "model"]].drop_duplicates().shape[0]),
        "warnings": len(results.warnings),
    }


def _model_step(name: str) -> Callable[[RunContext, dict[str, CacheEntry], Path], dict[str, Any]]:
    def step(ctx: RunContext, up: dict[str, CacheEntry], wd: Path) -> dict[str, Any]:
        ladder, fit_model, _ = _models_api()
        spec = ladder[name]
        settings = ctx.config.settings_for(name)
        df = read_frame(up["data"], "survey.parquet")
        suspend = getattr(ctx.progress, "suspended", None)
        with suspend() if suspend else contextlib.nullcontext():
            fitted = fit_model(
                spec,
                df,
                draws=settings.draws,
                tune=settings.tune,
                chains=settings.chains,
                seed=ctx.config.seed_for(name),
                sampler=settings.sampler,
            )
        fitted.save(wd / "fit.nc")
        summary: dict[str, Any] = {"n": len(fitted.data), "seed": ctx.config.seed_for(name)}
        for what, method in (("coefficients", "coefficients"), ("hypotheses", "hypotheses")):
            try:
                table = getattr(fitted, method)()
            except (ImportError, AttributeError) as exc:  # module not available yet
                summary[f"{what}_missing"] = f"{type(exc).__name__}: {exc}"
                continue
            write_csv(wd / f"{what}.csv", table.reset_index(drop=True))
        return summary

    return step


def _load_idata(entry: CacheEntry):

    from clusterpreneur.models.persist import read_fit

    return read_fit(entry.file("fit.nc"))  # refuses a damaged or edited fit


def _observed_names(idata) -> list[str]:
    if "observed_data" not in idata.children:
        return []
    return list(idata["observed_data"].to_dataset().data_vars)


def _primary_outcomes(idata) -> list[str]:
    """Observed outcome variables of a fit (the spec's outcomes), not measurement items."""
    try:
        spec = json.loads(idata.attrs["spec_json"])
        outs = spec["outcome"]
        outs = [outs] if isinstance(outs, str) else list(outs)
    except (KeyError, ValueError, TypeError):
        outs = _observed_names(idata)
    return [o for o in outs if o in _observed_names(idata)]


MAX_PANELS = 24
"""At most this many panels in a model's trace / rank plot (arviz-plots refuses more than 40)."""


def headline_parameters(idata) -> list[str]:
    """The model's own parameters: free variables without an ``initiative`` dimension that are
    not standardised offsets (``z_*``); the prior-sensitivity table and the convergence plots
    use these (per-initiative latents would add hundreds of rows)."""
    post = idata["posterior"].to_dataset()
    names = (
        list(idata["log_prior"].to_dataset().data_vars)
        if "log_prior" in idata.children
        else list(post.data_vars)
    )
    return [v for v in names if v in post and "initiative" not in post[v].dims and not v.startswith("z_")]


def plotted_parameters(idata, gate_table: pd.DataFrame, budget: int = MAX_PANELS) -> list[str]:
    """Headline parameters for the trace / rank plot, worst R-hat first, at most ``budget`` panels."""
    post = idata["posterior"].to_dataset()
    candidates = headline_parameters(idata) or list(post.data_vars)
    base = gate_table["parameter"].astype(str).str.split("[", n=1).str[0]
    worst = gate_table.assign(var=base).groupby("var")["r_hat"].max()
    candidates.sort(key=lambda v: -float(worst.get(v, 0.0)) if np.isfinite(worst.get(v, 0.0)) else -np.inf)
    chosen, used = [], 0
    for v in candidates:
        size = int(np.prod([post.sizes[d] for d in post[v].dims if d not in ("chain", "draw")]))
        if used + size <= budget:
            chosen.append(v)
            used += size
    return chosen or candidates[:1]


def thinned_predictive(fitted, outcomes: list[str], draws: int, seed: int):
    """About ``draws`` posterior draws (every k-th per chain) with their posterior-predictive
    replicates, log-likelihood and the observed data: what PPC and LOO-PIT need."""
    import pymc as pm
    import xarray as xr

    idata = fitted.idata
    post = idata["posterior"].to_dataset()
    n_total = post.sizes["chain"] * post.sizes["draw"]
    step = max(1, int(np.ceil(n_total / max(draws, 1))))
    thin = {"draw": slice(None, None, step)}
    post = post.isel(thin)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp = pm.sample_posterior_predictive(
            post, model=fitted.model, var_names=outcomes, random_seed=seed, progressbar=False
        )
    groups = {
        "posterior": post,
        "posterior_predictive": pp["posterior_predictive"].to_dataset(),
        "log_likelihood": idata["log_likelihood"].to_dataset().isel(thin),
        "observed_data": idata["observed_data"].to_dataset(),
    }
    return xr.DataTree.from_dict(groups)


def _headless_matplotlib() -> None:
    """Draw figures without a display (the report embeds them as PNG)."""
    import sys

    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")


def save_png(pc, path: Path) -> Path:
    """One PNG of an arviz-plots PlotCollection (``diagnostics.plots.save_figure``)."""
    from clusterpreneur.diagnostics.plots import save_figure

    return save_figure(pc, path.with_suffix(""), formats=("png",))[0]


def _quiet(fn, *args, **kwargs):
    """Call ``fn`` with its warnings and printed notices silenced (they are in the tables)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def predictive_checks(
    pred, model: str, outcomes: list[str], wd: Path, summary: dict[str, Any]
) -> pd.DataFrame:
    """PPC suited to each outcome's family and LOO-PIT: one row per outcome, two figures each."""
    from clusterpreneur.diagnostics import plots, ppc

    rows = []
    for y in outcomes:
        family = ppc.family_of(pred, y)
        row: dict[str, Any] = {"model": model, "outcome": y, "family": family}
        try:
            if family == "binary":
                cal = ppc.binary_calibration(pred, y)
                row.update(brier=cal["brier"], miscalibration=cal["miscalibration"])
            elif family == "ordinal":
                freq = ppc.ordinal_frequencies(pred, y)
                row["categories"] = len(freq)
                row["categories_outside_89"] = int(freq["outside"].sum())
            row["loo_pit_p"] = _quiet(ppc.loo_pit_check, pred, y)["p_value"]
        except Exception as exc:  # reported, never fatal
            summary[f"ppc_error[{y}]"] = f"{type(exc).__name__}: {exc}"
        for kind, plot in (("ppc", plots.plot_ppc), ("loo_pit", plots.plot_loo_pit)):
            try:
                save_png(_quiet(plot, pred, y), wd / f"{kind}_{y}.png")
            except Exception as exc:
                summary[f"{kind}_figure_error[{y}]"] = f"{type(exc).__name__}: {exc}"
        rows.append(row)
    return pd.DataFrame(rows)


def _diagnostics_step(name: str) -> Callable[[RunContext, dict[str, CacheEntry], Path], dict[str, Any]]:
    """Convergence gate, PSIS-LOO with high Pareto k, prior sensitivity, PPC and LOO-PIT of one
    fit, with its trace / rank, PPC and LOO-PIT figures. Every check after the gate is reported
    when it fails, never fatal: a fit that fails the gate needs these most."""

    def step(ctx: RunContext, up: dict[str, CacheEntry], wd: Path) -> dict[str, Any]:
        from clusterpreneur.diagnostics import check_convergence, loo_with_pareto_k, plots, prior_sensitivity

        _headless_matplotlib()
        entry = up[f"model:{name}"]
        idata = _load_idata(entry)
        gate = check_convergence(idata, label=name)
        write_csv(wd / "gate.csv", gate.table)
        summary: dict[str, Any] = {
            "model": name,
            "passed": bool(gate.passed),
            "n_parameters": len(gate.table),
            "failing_parameters": len(gate.failing_parameters),
            "max_r_hat": float(gate.table["r_hat"].max()) if len(gate.table) else np.nan,
            "min_ess_bulk": float(gate.table["ess_bulk"].min()) if len(gate.table) else np.nan,
            "min_ess_tail": float(gate.table["ess_tail"].min()) if len(gate.table) else np.nan,
            "divergences": int(gate.n_divergences),
            "min_bfmi": float(gate.bfmi.min()) if len(gate.bfmi.dropna()) else np.nan,
        }
        outcomes = _primary_outcomes(idata)
        loo_rows, high = [], []
        if "log_likelihood" in idata.children:
            for y in outcomes:
                try:
                    elpd, high_k = _quiet(loo_with_pareto_k, idata, var_name=y, model=name)
                except Exception as exc:  # LOO is reported, never fatal
                    summary[f"loo_error[{y}]"] = f"{type(exc).__name__}: {exc}"
                    continue
                k = np.asarray(elpd.pareto_k).ravel()
                loo_rows.append(
                    {
                        "model": name,
                        "outcome": y,
                        "elpd_loo": float(elpd.elpd),
                        "se": float(elpd.se),
                        "p_loo": float(elpd.p),
                        "pareto_k_max": float(np.nanmax(k)) if k.size else np.nan,
                        "k_threshold": float(elpd.good_k),
                        "n_high_k": len(high_k),
                        "high_k_initiatives": ", ".join(
                            f"{i} ({v:.2f})"
                            for i, v in zip(high_k["initiative"], high_k["pareto_k"], strict=True)
                        ),
                    }
                )
                high.append(high_k.assign(outcome=y))
        summary["high_pareto_k"] = sum(r["n_high_k"] for r in loo_rows)
        write_csv(wd / "loo.csv", pd.DataFrame(loo_rows))
        cols = ["model", "outcome", "initiative", "pareto_k", "threshold"]
        high_k = pd.concat(high, ignore_index=True) if high else pd.DataFrame(columns=cols)
        write_csv(wd / "high_k.csv", high_k[cols])
        try:
            sens = _quiet(prior_sensitivity, idata, var_names=headline_parameters(idata) or None)
            sens.insert(0, "model", name)
            write_csv(wd / "sensitivity.csv", sens)
            summary["prior_data_conflict"] = int(sens["prior_data_conflict"].sum())
            summary["weak_likelihood"] = int(sens["weak_likelihood"].sum())
        except Exception as exc:
            summary["sensitivity_error"] = f"{type(exc).__name__}: {exc}"
            logger.warning("prior sensitivity of %s failed: %s", name, exc)
        try:
            figs = _quiet(plots.plot_convergence, idata, var_names=plotted_parameters(idata, gate.table))
            for kind, pc in figs.items():
                save_png(pc, wd / f"{kind}.png")
        except Exception as exc:
            summary["convergence_figure_error"] = f"{type(exc).__name__}: {exc}"
            logger.warning("trace / rank plot of %s failed: %s", name, exc)
        try:
            _, _, load_fit = _models_api()
            fitted = load_fit(entry.file("fit.nc"), read_frame(up["data"], "survey.parquet"))
            pred = thinned_predictive(fitted, outcomes, ctx.config.ppc_draws, ctx.config.seed_for(name))
            checks = predictive_checks(pred, name, outcomes, wd, summary)
            write_csv(wd / "ppc.csv", checks)
        except Exception as exc:  # the check is reported as missing, the study goes on
            summary["ppc_error"] = f"{type(exc).__name__}: {exc}"
            logger.warning("posterior predictive check of %s failed: %s", name, exc)
        write_atomic(wd / "summary.json", json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
        return summary

    return step


def step_comparison(ctx: RunContext, up: dict[str, CacheEntry], wd: Path) -> dict[str, Any]:
    """PSIS-LOO comparison (stacking) of the models of the take-off likelihood on the same rows."""
    import arviz as az

    from clusterpreneur.diagnostics import compare_models

    fits: dict[str, Any] = {}
    sizes: dict[str, int] = {}
    skipped: dict[str, str] = {}
    for step_name, entry in up.items():
        if not step_name.startswith("model:"):
            continue
        name = step_name.split(":", 1)[1]
        idata = _load_idata(entry)
        if "log_likelihood" not in idata.children or "takeoff" not in idata["log_likelihood"].to_dataset():
            skipped[name] = "no take-off likelihood (a different outcome)"
            continue
        fits[name] = idata
        sizes[name] = int(np.asarray(idata["log_likelihood"]["takeoff"]).shape[-1])
    if len(set(sizes.values())) > 1:
        common = max(set(sizes.values()), key=list(sizes.values()).count)
        for name in [n for n, s in sizes.items() if s != common]:
            skipped[name] = f"fitted on {sizes[name]} rows, not {common}"
            fits.pop(name)
    summary: dict[str, Any] = {"compared": sorted(fits), "skipped": skipped}
    table = pd.DataFrame(columns=["model"])
    if fits:
        cmp = _quiet(compare_models, fits, var_name="takeoff")
        table = cmp.table
        if len(fits) > 1:  # compare_models rounds for display; the paper's CSV keeps full precision
            table = _quiet(az.compare, cmp.loo, method="stacking", round_to="none")
        table = table.rename_axis("model").reset_index()
    for name, why in skipped.items():
        table = pd.concat([table, pd.DataFrame([{"model": name, "note": why}])], ignore_index=True)
    if "rank" in table:  # an integer column, also beside the rows of skipped models
        table["rank"] = table["rank"].astype("Int64")
    write_csv(wd / "comparison.csv", table)
    return summary


def forest_table(baselines: pd.DataFrame, bayes: pd.DataFrame, model: str) -> pd.DataFrame:
    """Standardised take-off coefficients: statsmodels logit beside the Bayesian model.

    Columns ``outcome, model, term, estimate, ci_lower, ci_upper`` (``model`` names the source),
    the input of :func:`clusterpreneur.diagnostics.plots.plot_forest_comparison`.
    """
    from clusterpreneur.study.predictors import STUDY_TERM_NAMES

    def pick(t: pd.DataFrame, source: str, model_name: str | None) -> pd.DataFrame:
        sel = t[(t["term"].isin(STUDY_TERM_NAMES))]
        if "outcome" in sel:
            sel = sel[sel["outcome"] == "takeoff"]
        if "scale" in sel:
            sel = sel[sel["scale"] == "standardised"]
        if model_name is not None and "model" in sel:
            sel = sel[sel["model"] == model_name]
        return pd.DataFrame(
            {
                "outcome": "takeoff",
                "model": source,
                "term": sel["term"].to_numpy(),
                "estimate": sel["estimate"].to_numpy(dtype=float),
                "ci_lower": sel["ci_lower"].to_numpy(dtype=float),
                "ci_upper": sel["ci_upper"].to_numpy(dtype=float),
            }
        )

    bayes_rows = pick(
        bayes, f"Bayes {model}", model if "model" in bayes and (bayes["model"] == model).any() else None
    )
    out = pd.concat([pick(baselines, "statsmodels logit", "logit"), bayes_rows], ignore_index=True)
    order = {t: i for i, t in enumerate(STUDY_TERM_NAMES)}
    out = out.sort_values(["term", "model"], key=lambda s: s.map(order) if s.name == "term" else s)
    return out.reset_index(drop=True)


def step_forest(ctx: RunContext, up: dict[str, CacheEntry], wd: Path) -> dict[str, Any]:
    from clusterpreneur.diagnostics.plots import plot_forest_comparison

    _headless_matplotlib()
    model = ctx.config.reference_model
    baselines = read_csv(up["baselines"].file("baselines.csv"))
    bayes = read_csv(up[f"model:{model}"].file("coefficients.csv"))
    table = forest_table(baselines, bayes, model)
    write_csv(wd / "forest.csv", table)
    save_png(_quiet(plot_forest_comparison, table, backend="matplotlib"), wd / "forest.png")
    return {"rows": len(table)}


def _without_policy(d: pd.DataFrame) -> pd.DataFrame:
    """No policy actor: policy involvement 0 and its board seats removed (shares renormalised)."""
    out = d.copy()
    share = out["board_policy"].astype(float)
    seats = out["board_seats"].astype(float)
    rest = 1.0 - share
    for a in ("research", "industry", "finance"):
        out[f"board_{a}"] = (out[f"board_{a}"].astype(float) / rest).round(6)
    out["board_policy"] = 0.0
    out["board_seats"] = np.maximum((seats * rest).round(), 1).astype(int)
    out["involve_policy"] = 0
    return out


def _weaker_social_capital(d: pd.DataFrame) -> pd.DataFrame:
    from clusterpreneur.study.codebook import SC_ITEMS

    out = d.copy()
    for item in SC_ITEMS:
        out[item] = (out[item].astype(float) - 1).clip(lower=1)
    return out


WHAT_IF: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "large anchor firm": lambda d: d.assign(anchor_firm=1),
    "twice the firms": lambda d: d.assign(n_firms=d["n_firms"] * 2, n_firms_10plus=d["n_firms_10plus"] * 2),
    "no policy actor": _without_policy,
    "weaker social capital (each item -1)": _weaker_social_capital,
}
"""What-if scenarios for the Biomedico initiative (issue: large anchor firm, twice the firms,
no policy actor, weaker social capital). Each maps the case rows to changed rows."""


def scenario_frame(cases: pd.DataFrame, case_id: str = CASE_ID) -> pd.DataFrame:
    """Every case as coded, plus the what-if scenarios of ``case_id`` (ids ``<id> | <scenario>``)."""
    base = cases.copy()
    base.insert(0, "scenario", "as coded")
    parts = [base]
    target = cases[cases["initiative_id"].astype(str) == case_id]
    for name, change in WHAT_IF.items():
        if target.empty:
            break
        changed = change(target.copy())
        changed["initiative_id"] = f"{case_id} | {name}"
        changed.insert(0, "scenario", name)
        parts.append(changed)
    out = pd.concat(parts, ignore_index=True)
    checked = validate_rows(out.drop(columns="scenario"), "what-if scenarios")
    checked.insert(0, "scenario", out["scenario"].to_numpy())
    return checked


def step_cases(ctx: RunContext, up: dict[str, CacheEntry], wd: Path) -> dict[str, Any]:
    model = ctx.config.reference_model
    _, _, load_fit = _models_api()
    fitted = load_fit(up[f"model:{model}"].file("fit.nc"), read_frame(up["data"], "survey.parquet"))
    frame = scenario_frame(read_frame(up["data"], "cases.parquet"))
    pred, draws = fitted.predict(frame.drop(columns="scenario"), seed=ctx.config.seed, return_draws=True)
    pred = pred.copy()
    pred.insert(0, "scenario", frame["scenario"].to_numpy())
    pred.insert(0, "case", [i.split(" | ")[0] for i in frame["initiative_id"].astype(str)])
    pred = pred.drop(columns=["initiative_id"], errors="ignore")
    base_idx = {
        c: i for i, (c, s) in enumerate(zip(pred["case"], pred["scenario"], strict=True)) if s == "as coded"
    }
    diffs = [draws[:, i] - draws[:, base_idx[c]] for i, c in enumerate(pred["case"])]
    pred["diff_mean"] = [float(d.mean()) for d in diffs]
    pred["diff_q05"] = [float(np.quantile(d, 0.05)) for d in diffs]
    pred["diff_q95"] = [float(np.quantile(d, 0.95)) for d in diffs]
    pred["p_increase"] = [
        float((d > 0).mean()) if s != "as coded" else np.nan
        for d, s in zip(diffs, pred["scenario"], strict=True)
    ]
    pred.insert(2, "model", model)
    write_csv(wd / "cases.csv", pred)
    write_atomic(wd / "cases.png", cases_figure(pred))
    return {"rows": len(pred), "model": model}


def cases_figure(pred: pd.DataFrame) -> bytes:
    labels = [f"{c}: {s}" for c, s in zip(pred["case"], pred["scenario"], strict=True)]
    lo_col = next(c for c in pred.columns if c.startswith("q") and c[1:].isdigit() and int(c[1:]) < 50)
    hi_col = next(c for c in pred.columns if c.startswith("q") and c[1:].isdigit() and int(c[1:]) > 50)
    fig = new_figure(6.5, 0.4 * len(pred) + 1.2)
    ax = fig.subplots()
    y = np.arange(len(pred))[::-1]
    ax.errorbar(
        pred["mean"],
        y,
        xerr=[pred["mean"] - pred[lo_col], pred[hi_col] - pred["mean"]],
        fmt="o",
        capsize=3,
        color="#3182bd",
    )
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"posterior probability of take-off (mean, {lo_col}-{hi_col})")
    return figure_png(fig)


# --------------------------------------------------------------------------- plan


def plan(config, ctx: RunContext) -> list[Step]:
    """The study's steps for ``config``: only what is configured and available."""
    from clusterpreneur.pipeline.runner import Step

    data_inputs = dict(ctx.hashes)
    steps = [
        Step("data", step_data, inputs=data_inputs, code=(*DATA_CODE, "clusterpreneur.study.datasets")),
        Step(
            "descriptives",
            step_descriptives,
            deps=("data",),
            code=(*MEASURE_CODE, "clusterpreneur.pipeline.outputs"),
        ),
    ]
    if config.baselines:
        steps.append(
            Step(
                "baselines",
                step_baselines,
                deps=("data",),
                params={"seed": config.seed},
                code=("clusterpreneur.study.baselines", "clusterpreneur.tables", *MEASURE_CODE),
            )
        )
    if not (config.models and models_available()):
        if config.models:
            logger.warning("clusterpreneur.models is not available: the Bayesian steps are skipped")
        return steps
    ladder, _, _ = _models_api()
    unknown = [m for m in config.models if m not in ladder]
    if unknown:
        from clusterpreneur.pipeline.config import ConfigError

        raise ConfigError(f"unknown model(s) {unknown} in the configuration; the ladder has {sorted(ladder)}")
    for m in config.models:
        s = config.settings_for(m)
        params = {"spec": ladder[m].to_dict(), "settings": vars(s) | {}, "seed": config.seed_for(m)}
        steps.append(
            Step(f"model:{m}", _model_step(m), deps=("data",), params=params, code=MODEL_CODE, sampling=True)
        )
    # every step that runs clusterpreneur.diagnostics has the whole package's source in its key
    diag_code = ("clusterpreneur.diagnostics", "clusterpreneur.pipeline.outputs", *MODEL_CODE)
    for m in config.models:
        steps.append(
            Step(
                f"diagnostics:{m}",
                _diagnostics_step(m),
                deps=("data", f"model:{m}"),
                params={"ppc_draws": config.ppc_draws},
                code=diag_code,
            )
        )
    model_steps = tuple(f"model:{m}" for m in config.models)
    steps.append(
        Step(
            "comparison",
            step_comparison,
            deps=model_steps,
            code=("clusterpreneur.diagnostics", "clusterpreneur.pipeline.outputs"),
        )
    )
    ref = config.reference_model
    if ref is not None and ladder[ref].family != "ordinal":
        if config.baselines:
            steps.append(
                Step(
                    "forest",
                    step_forest,
                    deps=("baselines", f"model:{ref}"),
                    params={"reference": ref},
                    code=("clusterpreneur.diagnostics", "clusterpreneur.pipeline.outputs"),
                )
            )
        steps.append(
            Step(
                "cases",
                step_cases,
                deps=("data", f"model:{ref}"),
                params={"reference": ref, "seed": config.seed},
                code=("clusterpreneur.pipeline.outputs", *MODEL_CODE),
            )
        )
    return steps


# --------------------------------------------------------------------------- paper entries


@dataclass(frozen=True)
class PaperEntry:
    """One table or figure of the paper: ``make(entries, config)`` -> table, figures or None."""

    name: str
    title: str
    kind: str  # "table" | "figure"
    make: Callable[[dict[str, CacheEntry], Any], Any]
    caption: str = ""
    tidy: bool = False  # a tidy results table (clusterpreneur.tables format)


@dataclass(frozen=True)
class Withheld:
    """A paper entry that is deliberately not shown, and why."""

    reason: str


def gate_status(entries: dict[str, CacheEntry], model: str) -> bool | None:
    """Did ``model`` pass the convergence gate? ``None`` when it was not checked."""
    e = entries.get(f"diagnostics:{model}")
    return None if e is None else bool(e.summary.get("passed"))


def reportable(entries: dict[str, CacheEntry], config, model: str) -> bool:
    """Estimates of ``model`` are reported only if it passed the gate (or the gate is overridden)."""
    return config.override_gate or gate_status(entries, model) is not False


def failed_models(entries: dict[str, CacheEntry], config) -> list[str]:
    return [m for m in config.models if gate_status(entries, m) is False]


def _withheld(models: list[str]) -> Withheld:
    return Withheld(
        f"Estimates of {', '.join(models)} are withheld: the fit failed the convergence gate (see the "
        "diagnostics table). Sample longer (draws/tune in analysis/study.toml) or, to report them "
        "flagged anyway, set [diagnostics] override_gate = true."
    )


def _file(entries: dict[str, CacheEntry], step: str, name: str) -> Path | None:
    e = entries.get(step)
    if e is None or not (e.path / name).is_file():
        return None
    return e.path / name


def _table(
    step: str, name: str, gated: bool = False
) -> Callable[[dict[str, CacheEntry], Any], pd.DataFrame | Withheld | None]:
    def make(entries, config):
        p = _file(entries, step, name)
        if p is None:
            return None
        ref = config.reference_model
        if gated and not reportable(entries, config, ref):
            return _withheld([ref])
        return read_csv(p)

    return make


def paper_baselines(entries, config):
    p = _file(entries, "baselines", "baselines.csv")
    if p is None:
        return None
    from clusterpreneur.tables import read_table

    return read_table(p)


def _flag(t: pd.DataFrame, entries, m: str) -> pd.DataFrame:
    """Fill ``converged`` from the gate and flag rows of a fit that failed it."""
    status = gate_status(entries, m)
    if "converged" in t and status is not None:
        t["converged"] = status
    if "warnings" in t and status is False:
        t["warnings"] = "FAILED the convergence gate (reported because override_gate = true)"
    return t


def _model_tables(entries, config, name: str) -> tuple[list[tuple[str, pd.DataFrame]], list[str]]:
    """Per-model CSV ``name`` of each reportable fit (with a ``model`` column) and the withheld models."""
    parts, withheld = [], []
    for m in config.models:
        p = _file(entries, f"model:{m}", name)
        if p is None:
            continue
        if not reportable(entries, config, m):
            withheld.append(m)
            continue
        t = read_csv(p)
        if "model" not in t:
            t.insert(0, "model", m)
        parts.append((m, t))
    return parts, withheld


def paper_ladder(entries, config):
    from clusterpreneur import tables

    parts, withheld = _model_tables(entries, config, "coefficients.csv")
    parts = [_flag(t, entries, m) for m, t in parts]
    if not parts:
        return _withheld(withheld) if withheld else None
    out = pd.concat(parts, ignore_index=True)
    if set(tables.COLUMNS) <= set(out.columns):
        out = tables.tidy(out)
    return out


def paper_hypotheses(entries, config):
    ref = config.reference_model
    parts, withheld = _model_tables(entries, config, "hypotheses.csv")
    for m, t in parts:
        if gate_status(entries, m) is False:
            t["gate"] = "FAILED (override_gate)"
    parts = [t for _, t in parts]
    if not parts:
        return _withheld(withheld) if withheld else None
    out = pd.concat(parts, ignore_index=True)
    if ref is not None and "model" in out:  # the reference model first
        out = pd.concat([out[out["model"] == ref], out[out["model"] != ref]], ignore_index=True)
    return out


def paper_diagnostics(entries, config):
    rows = []
    for m in config.models:
        p = _file(entries, f"diagnostics:{m}", "summary.json")
        if p is not None:
            rows.append(json.loads(p.read_text()))
    if not rows:
        return None
    out = pd.DataFrame(rows)
    first = [
        "model",
        "passed",
        "divergences",
        "max_r_hat",
        "min_ess_bulk",
        "min_ess_tail",
        "min_bfmi",
        "failing_parameters",
        "high_pareto_k",
        "prior_data_conflict",
        "weak_likelihood",
    ]
    return out[[c for c in first if c in out] + [c for c in out.columns if c not in first]]


def _per_model_table(name: str) -> Callable[[dict[str, CacheEntry], Any], pd.DataFrame | None]:
    """``diagnostics:<M>/<name>`` of every model stacked (shown for every fit, gate or not)."""

    def make(entries, config):
        parts = []
        for m in config.models:
            p = _file(entries, f"diagnostics:{m}", name)
            if p is not None and p.stat().st_size > 1:
                parts.append(read_csv(p))
        parts = [t for t in parts if not t.empty]
        return pd.concat(parts, ignore_index=True) if parts else None

    return make


def _per_model_figures(
    pattern: str, title: str
) -> Callable[[dict[str, CacheEntry], Any], list[tuple[str, str, bytes]] | None]:
    """Figures ``diagnostics:<M>/<pattern>`` of every model (``*`` = the outcome), not gated."""

    def make(entries, config):
        figs = []
        for m in config.models:
            e = entries.get(f"diagnostics:{m}")
            if e is None:
                continue
            prefix = pattern.split("*", 1)[0].removesuffix(".png")
            for p in sorted(e.path.glob(pattern)):
                what = p.stem.removeprefix(prefix)  # the outcome ("" for one figure per model)
                stem = f"{prefix}{m}_{what}" if what else f"{prefix}_{m}"
                label = f"{m}, {what}" if what else m
                figs.append((stem, f"{title}: {label}", p.read_bytes()))
        return figs or None

    return make


def paper_convergence(entries, config):
    figs = []
    for kind, title in (("rank", "Rank plot"), ("trace", "Trace plot")):
        figs += _per_model_figures(f"{kind}.png", title)(entries, config) or []
    figs.sort(key=lambda f: (config.models.index(f[0].split("_", 1)[1]), f[0]))
    return figs or None


def _figure(step: str, name: str, stem: str, title: str, gated: bool = False):
    def make(entries, config):
        p = _file(entries, step, name)
        if p is None:
            return None
        ref = config.reference_model
        if gated and not reportable(entries, config, ref):
            return _withheld([ref])
        return [(stem, title, p.read_bytes())]

    return make


PAPER: tuple[PaperEntry, ...] = (
    PaperEntry(
        "descriptives",
        "Table 1. The survey by region type",
        "table",
        _table("descriptives", "descriptives.csv"),
        "Mean, standard deviation and number of answers of the study's variables, overall and by "
        "region type.",
    ),
    PaperEntry(
        "baselines",
        "Table 2. statsmodels baselines",
        "table",
        paper_baselines,
        "Logit / probit of take-off with country-clustered SE, binomial GLM, average marginal effects, "
        "variational-Bayes mixed GLM (seeded), ordered logits of the ratings, mixed model of firm growth.",
        tidy=True,
    ),
    PaperEntry(
        "ladder",
        "Table 3. Bayesian model ladder",
        "table",
        paper_ladder,
        "Posterior mean, SD and 95% credible interval of every coefficient of every model of the ladder.",
        tidy=True,
    ),
    PaperEntry(
        "forest",
        "Figure 1. Bayes versus statsmodels",
        "figure",
        _figure(
            "forest", "forest.png", "forest", "Bayes (reference model) versus the statsmodels logit", True
        ),
        "Standardised take-off coefficients with 95% intervals (diagnostics.plots.plot_forest_comparison).",
    ),
    PaperEntry(
        "hypotheses",
        "Table 4. Hypotheses H1-H6",
        "table",
        paper_hypotheses,
        "Each hypothesis as a parameter or contrast with its posterior evidence (reference model first).",
    ),
    PaperEntry(
        "comparison",
        "Table 5. Model comparison (PSIS-LOO, stacking)",
        "table",
        _table("comparison", "comparison.csv"),
        "Expected log predictive density of the take-off models fitted on the same rows, differences "
        "and stacking weights (diagnostics.compare_models). Initiatives with high Pareto k: Table A1.",
    ),
    PaperEntry(
        "diagnostics",
        "Table 6. Diagnostics summary",
        "table",
        paper_diagnostics,
        "Convergence gate (R-hat <= 1.01, ESS >= 400, no divergences, E-BFMI >= 0.3) of every fit, "
        "number of observations with high Pareto k and of parameters flagged by prior sensitivity.",
    ),
    PaperEntry(
        "ppc",
        "Figure 2. Posterior predictive checks",
        "figure",
        _per_model_figures("ppc_*.png", "Posterior predictive check"),
        "PAV-calibration plot for take-off (binary), rootogram for the ordinal ratings; "
        "posterior-predictive draws of every fit.",
    ),
    PaperEntry(
        "cases",
        "Table 7. North Jutland cases and what-if scenarios",
        "table",
        _table("cases", "cases.csv", gated=True),
        "Posterior take-off probability of the paper's two cases and of Biomedico under what-if scenarios; "
        "diff = scenario minus as coded, paired per draw.",
    ),
    PaperEntry(
        "cases_figure",
        "Figure 3. North Jutland what-if scenarios",
        "figure",
        _figure("cases", "cases.png", "cases", "Take-off probability of the North Jutland cases", True),
        "Posterior mean and 90% interval.",
    ),
    PaperEntry(
        "loo",
        "Table A1. PSIS-LOO and initiatives with high Pareto k",
        "table",
        _per_model_table("loo.csv"),
        "Per fit and outcome: ELPD-LOO, its SE, effective number of parameters, largest Pareto k, the "
        "sample-size dependent threshold and the initiatives above it (their LOO estimates are unreliable).",
    ),
    PaperEntry(
        "sensitivity",
        "Table A2. Prior sensitivity (power-scaling)",
        "table",
        _per_model_table("sensitivity.csv"),
        "CJS sensitivity of each parameter to power-scaling the prior and the likelihood "
        "(Kallioinen et al. 2024; diagnostics.prior_sensitivity, threshold 0.05), with the flags "
        "prior-data conflict and strong prior / weak likelihood.",
    ),
    PaperEntry(
        "ppc_checks",
        "Table A3. Posterior predictive checks and LOO-PIT",
        "table",
        _per_model_table("ppc.csv"),
        "Binary outcomes: Brier score and mean PAV miscalibration; ordinal outcomes: categories whose "
        "observed count lies outside the 89% predictive interval; every outcome: LOO-PIT uniformity "
        "p-value (small = miscalibrated).",
    ),
    PaperEntry(
        "convergence",
        "Figure A1. Rank and trace plots",
        "figure",
        paper_convergence,
        "Rank (ECDF) and trace plots of each fit's parameters, worst R-hat first (at most "
        f"{MAX_PANELS} panels; per-initiative latents and standardised offsets left out).",
    ),
    PaperEntry(
        "loo_pit",
        "Figure A2. LOO-PIT",
        "figure",
        _per_model_figures("loo_pit_*.png", "LOO-PIT"),
        "ECDF difference of the LOO probability integral transform with simultaneous bands, per fit "
        "and outcome.",
    ),
)
"""Every table and figure of the paper, in report order (see ``analysis/README.md``)."""
