"""The study's steps and one entry per paper table and figure.

Steps (cached, in this order; :func:`plan` builds the list from the configuration, so a model
or check that is not available or not configured simply has no step):

- ``data``: read and validate the survey (and the cases); ``survey.parquet``, ``cases.parquet``;
- ``descriptives``: descriptive statistics by region type; ``descriptives.csv``;
- ``baselines``: statsmodels baselines of every outcome; ``baselines.csv``;
- ``model:<M>``: fit ladder model M with PyMC; ``fit.nc``, ``coefficients.csv``, ``hypotheses.csv``;
- ``diagnostics:<M>``: convergence gate, PSIS-LOO, posterior predictive check; ``gate.csv``,
  ``summary.json``, ``ppc.csv``, ``ppc.png``;
- ``comparison``: PSIS-LOO comparison of the take-off models; ``comparison.csv``;
- ``forest``: Bayes (reference model) versus the statsmodels logit; ``forest.csv``, ``forest.png``;
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

from clusterpreneur.io import write_atomic
from clusterpreneur.pipeline.cache import CacheEntry

if TYPE_CHECKING:
    from clusterpreneur.pipeline.runner import RunContext, Step

logger = logging.getLogger("clusterpreneur.pipeline")

DATA_CODE = ("clusterpreneur.readers", "clusterpreneur.schema", "clusterpreneur.codebook")
MEASURE_CODE = ("clusterpreneur.measures", "clusterpreneur.predictors")
MODEL_CODE = ("clusterpreneur.models", *MEASURE_CODE)

CASE_ID = "DNK-Biomedico"


# --------------------------------------------------------------------------- helpers


def _csv_bytes(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False, lineterminator="\n", float_format="%.10g").encode()


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
        from clusterpreneur.models.ladder import LADDER  # noqa: F401
    except ImportError:
        return False
    return True


def _models_api():
    """(LADDER, fit_model, load_fit) from :mod:`clusterpreneur.models`."""
    import clusterpreneur.models as m

    if all(hasattr(m, n) for n in ("LADDER", "fit_model", "load_fit")):
        return m.LADDER, m.fit_model, m.load_fit
    from clusterpreneur.models.fit import fit_model
    from clusterpreneur.models.ladder import LADDER
    from clusterpreneur.models.persist import load_fit

    return LADDER, fit_model, load_fit


def validate_rows(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Validate each row on its own (cases and scenarios are not one survey: no cross-row rules)."""
    from clusterpreneur.schema import validate_survey

    parts = [validate_survey(df.iloc[[i]], f"{source}, row {i + 1}") for i in range(len(df))]
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- steps


def step_data(ctx: RunContext, up: dict[str, CacheEntry], wd: Path) -> dict[str, Any]:
    """Read and validate the survey (and the case file) once; later steps read the Parquet copy."""
    from clusterpreneur.datasets import north_jutland_cases
    from clusterpreneur.readers import load_survey

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
    from clusterpreneur.measures import add_measures

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


@contextlib.contextmanager
def seeded_variational_bayes(seed: int):
    """Seed statsmodels' ``BinomialBayesMixedGLM.fit_vb`` while the baselines run.

    ``fit_vb(rng=None)`` draws its starting values from fresh OS entropy, so the
    ``bayes_mixed_glm`` baseline differs in the 6th digit from run to run. Until
    :mod:`clusterpreneur.baselines` passes a seed itself, the pipeline supplies one (only
    where the caller gave none), so the same seed gives byte-identical tables.
    """
    from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM as VB

    own = "fit_vb" in VB.__dict__
    original = VB.fit_vb

    def fit_vb(self, *args, **kwargs):
        if kwargs.get("rng") is None and len(args) < 8:
            kwargs["rng"] = seed
        return original(self, *args, **kwargs)

    VB.fit_vb = fit_vb
    try:
        yield
    finally:
        if own:
            VB.fit_vb = original
        else:
            del VB.fit_vb


def step_baselines(ctx: RunContext, up: dict[str, CacheEntry], wd: Path) -> dict[str, Any]:
    from clusterpreneur import tables
    from clusterpreneur.baselines import fit_baselines

    with seeded_variational_bayes(ctx.config.seed):
        results = fit_baselines(read_frame(up["data"], "survey.parquet"))
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
    import arviz as az

    tree = az.from_netcdf(entry.file("fit.nc"))
    return tree.load()


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


def _loo_row(idata, var: str | None) -> dict[str, Any]:
    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = az.loo(idata, var_name=var)
    k = np.asarray(getattr(res, "pareto_k", np.array([])), dtype=float).ravel()
    return {
        "elpd_loo": float(res.elpd),
        "se": float(res.se),
        "p_loo": float(res.p),
        "pareto_k_max": float(np.nanmax(k)) if k.size else np.nan,
        "pareto_k_over_0.7": int((k > 0.7).sum()) if k.size else 0,
    }


def posterior_predictive_shares(fitted, outcomes: list[str], draws: int, seed: int) -> pd.DataFrame:
    """Observed share of each outcome category against its posterior-predictive 90% interval."""
    import pymc as pm

    idata = fitted.idata
    post = idata["posterior"].to_dataset()
    n_total = post.sizes["chain"] * post.sizes["draw"]
    step = max(1, int(np.ceil(n_total / max(draws, 1))))
    thinned = post.isel(draw=slice(None, None, step))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp = pm.sample_posterior_predictive(
            thinned, model=fitted.model, var_names=outcomes, random_seed=seed, progressbar=False
        )
    pp = pp["posterior_predictive"].to_dataset()
    obs = idata["observed_data"].to_dataset()
    rows = []
    for y in outcomes:
        yobs = np.asarray(obs[y].values, dtype=float).ravel()
        rep = np.asarray(pp[y].values, dtype=float)
        rep = rep.reshape(-1, rep.shape[-1])
        if rep.shape[1] == yobs.size:  # compare like with like: rows where y is observed
            rep = rep[:, ~np.isnan(yobs)]
        yobs = yobs[~np.isnan(yobs)]
        cats = np.unique(np.concatenate([np.unique(yobs), np.unique(rep)]))
        for c in cats:
            share_rep = (rep == c).mean(axis=1)
            rows.append(
                {
                    "outcome": y,
                    "category": int(c) if float(c).is_integer() else float(c),
                    "observed": float((yobs == c).mean()),
                    "predicted_mean": float(share_rep.mean()),
                    "predicted_q05": float(np.quantile(share_rep, 0.05)),
                    "predicted_q95": float(np.quantile(share_rep, 0.95)),
                }
            )
    return pd.DataFrame(rows)


def ppc_figure(table: pd.DataFrame, model: str) -> bytes:
    """Observed category shares (dots) inside their posterior-predictive 90% intervals (bars)."""
    outcomes = list(dict.fromkeys(table["outcome"]))
    fig = new_figure(3.2 * len(outcomes) + 0.6, 3.0)
    axes = fig.subplots(1, len(outcomes), squeeze=False)[0]
    for ax, y in zip(axes, outcomes, strict=True):
        t = table[table["outcome"] == y]
        x = np.arange(len(t))
        ax.bar(x, t["predicted_mean"], color="#9ecae1", label="predicted (mean)")
        ax.errorbar(
            x,
            t["predicted_mean"],
            yerr=[t["predicted_mean"] - t["predicted_q05"], t["predicted_q95"] - t["predicted_mean"]],
            fmt="none",
            ecolor="#3182bd",
            capsize=3,
            label="90% interval",
        )
        ax.plot(x, t["observed"], "o", color="#de2d26", label="observed")
        ax.set_xticks(x, [str(c) for c in t["category"]])
        ax.set_title(f"{model}: {y}", fontsize=9)
        ax.set_xlabel("category")
        ax.set_ylabel("share")
    axes[0].legend(fontsize=7)
    return figure_png(fig)


def _diagnostics_step(name: str) -> Callable[[RunContext, dict[str, CacheEntry], Path], dict[str, Any]]:
    def step(ctx: RunContext, up: dict[str, CacheEntry], wd: Path) -> dict[str, Any]:
        from clusterpreneur.diagnostics import check_convergence

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
        if "log_likelihood" in idata.children and outcomes:
            for y in outcomes:
                try:
                    loo = _loo_row(idata, y)
                except Exception as exc:  # LOO is reported, never fatal
                    summary[f"loo_error_{y}"] = f"{type(exc).__name__}: {exc}"
                    continue
                summary.update({f"{k}[{y}]" if len(outcomes) > 1 else k: v for k, v in loo.items()})
        try:
            _, _, load_fit = _models_api()
            fitted = load_fit(entry.file("fit.nc"), read_frame(up["data"], "survey.parquet"))
            ppc = posterior_predictive_shares(
                fitted, outcomes, ctx.config.ppc_draws, ctx.config.seed_for(name)
            )
            write_csv(wd / "ppc.csv", ppc)
            write_atomic(wd / "ppc.png", ppc_figure(ppc, name))
        except Exception as exc:  # the check is reported as missing, the study goes on
            summary["ppc_error"] = f"{type(exc).__name__}: {exc}"
            logger.warning("posterior predictive check of %s failed: %s", name, exc)
        write_atomic(wd / "summary.json", json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
        return summary

    return step


def step_comparison(ctx: RunContext, up: dict[str, CacheEntry], wd: Path) -> dict[str, Any]:
    """PSIS-LOO comparison of the models of the same take-off likelihood (same rows)."""
    import arviz as az

    loos: dict[str, Any] = {}
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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loos[name] = az.loo(idata, var_name="takeoff")
        sizes[name] = int(np.asarray(idata["log_likelihood"]["takeoff"]).shape[-1])
    if len(set(sizes.values())) > 1:
        common = max(set(sizes.values()), key=list(sizes.values()).count)
        for name in [n for n, s in sizes.items() if s != common]:
            skipped[name] = f"fitted on {sizes[name]} rows, not {common}"
            loos.pop(name)
    if len(loos) >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cmp = az.compare(loos, method="stacking", round_to="none")
        table = cmp.reset_index().rename(columns={"index": "model"})
        table = table.rename(columns={table.columns[0]: "model"})
    else:
        table = pd.DataFrame(
            [{"model": n, "elpd": float(x.elpd), "se": float(x.se), "p": float(x.p)} for n, x in loos.items()]
        )
    for name, why in skipped.items():
        table = pd.concat([table, pd.DataFrame([{"model": name, "note": why}])], ignore_index=True)
    write_csv(wd / "comparison.csv", table)
    return {"compared": sorted(loos), "skipped": skipped}


def forest_table(baselines: pd.DataFrame, bayes: pd.DataFrame, model: str) -> pd.DataFrame:
    """Standardised take-off coefficients: statsmodels logit beside the Bayesian model."""
    from clusterpreneur.predictors import STUDY_TERM_NAMES

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
                "term": sel["term"].to_numpy(),
                "source": source,
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
    out = out.sort_values(["term", "source"], key=lambda s: s.map(order) if s.name == "term" else s)
    return out.reset_index(drop=True)


def forest_figure(table: pd.DataFrame) -> bytes:
    terms = list(dict.fromkeys(table["term"]))
    sources = list(dict.fromkeys(table["source"]))
    fig = new_figure(6.5, 0.38 * len(terms) + 1.2)
    ax = fig.subplots()
    colours = ["#3182bd", "#de2d26", "#31a354", "#756bb1"]
    offsets = np.linspace(-0.18, 0.18, len(sources)) if len(sources) > 1 else [0.0]
    for k, src in enumerate(sources):
        t = table[table["source"] == src].set_index("term").reindex(terms)
        y = np.arange(len(terms))[::-1] + offsets[k]
        ax.errorbar(
            t["estimate"],
            y,
            xerr=[t["estimate"] - t["ci_lower"], t["ci_upper"] - t["estimate"]],
            fmt="o",
            ms=4,
            capsize=2,
            color=colours[k % len(colours)],
            label=src,
        )
    ax.axvline(0.0, color="grey", lw=0.8, ls="--")
    ax.set_yticks(np.arange(len(terms))[::-1], terms, fontsize=8)
    ax.set_xlabel("coefficient on the standardised design (log-odds), 95% interval")
    ax.legend(fontsize=8, loc="best")
    return figure_png(fig)


def step_forest(ctx: RunContext, up: dict[str, CacheEntry], wd: Path) -> dict[str, Any]:
    model = ctx.config.reference_model
    baselines = read_csv(up["baselines"].file("baselines.csv"))
    bayes = read_csv(up[f"model:{model}"].file("coefficients.csv"))
    table = forest_table(baselines, bayes, model)
    write_csv(wd / "forest.csv", table)
    write_atomic(wd / "forest.png", forest_figure(table))
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
    from clusterpreneur.codebook import SC_ITEMS

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
        Step("data", step_data, inputs=data_inputs, code=(*DATA_CODE, "clusterpreneur.datasets")),
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
                code=("clusterpreneur.baselines", "clusterpreneur.tables", *MEASURE_CODE),
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
        Step("comparison", step_comparison, deps=model_steps, code=("clusterpreneur.pipeline.outputs",))
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
                    code=("clusterpreneur.pipeline.outputs",),
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


def paper_ladder(entries, config):
    from clusterpreneur import tables

    parts, withheld = [], []
    for m in config.models:
        p = _file(entries, f"model:{m}", "coefficients.csv")
        if p is None:
            continue
        if not reportable(entries, config, m):
            withheld.append(m)
            continue
        t = read_csv(p)
        if "model" not in t:
            t.insert(0, "model", m)
        parts.append(_flag(t, entries, m))
    if not parts:
        return _withheld(withheld) if withheld else None
    out = pd.concat(parts, ignore_index=True)
    if set(tables.COLUMNS) <= set(out.columns):
        out = tables.tidy(out)
    return out


def paper_hypotheses(entries, config):
    ref = config.reference_model
    parts, withheld = [], []
    for m in config.models:
        p = _file(entries, f"model:{m}", "hypotheses.csv")
        if p is None:
            continue
        if not reportable(entries, config, m):
            withheld.append(m)
            continue
        t = read_csv(p)
        if "model" not in t:
            t.insert(0, "model", m)
        if gate_status(entries, m) is False:
            t["gate"] = "FAILED (override_gate)"
        parts.append(t)
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
    first = ["model", "passed", "divergences", "max_r_hat", "min_ess_bulk", "min_ess_tail", "min_bfmi"]
    return out[[c for c in first if c in out] + [c for c in out.columns if c not in first]]


def paper_ppc(entries, config):
    figs = []
    for m in config.models:
        p = _file(entries, f"diagnostics:{m}", "ppc.png")
        if p is not None:
            figs.append((f"ppc_{m}", f"Posterior predictive check, {m}", p.read_bytes()))
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
        "variational-Bayes mixed GLM, ordered logits of the ratings, mixed model of firm growth.",
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
        "Standardised take-off coefficients with 95% intervals.",
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
        "Table 5. Model comparison (PSIS-LOO)",
        "table",
        _table("comparison", "comparison.csv"),
        "Expected log predictive density of the take-off models; stacking weights.",
    ),
    PaperEntry(
        "diagnostics",
        "Table 6. Diagnostics summary",
        "table",
        paper_diagnostics,
        "Convergence gate (R-hat <= 1.01, ESS >= 400, no divergences, E-BFMI >= 0.3) and PSIS-LOO Pareto k.",
    ),
    PaperEntry(
        "ppc",
        "Figure 2. Posterior predictive checks",
        "figure",
        paper_ppc,
        "Observed share of each outcome category (dots) and its posterior-predictive mean and 90% interval.",
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
)
"""Every table and figure of the paper, in report order (see ``analysis/README.md``)."""
