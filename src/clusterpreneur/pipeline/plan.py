"""The study's plan: which steps run, in which order, reading which others.

::

    data -> descriptives
         -> baselines
         -> model:<M> -> estimates:<M>, diagnostics:<M>      (every model of [models] fit)
    panel -> model:M6 -> estimates:M6, diagnostics:M6       (when [data] panel names a panel)
    model:<M> of take-off            -> comparison           (LOO of the take-off models)
    data -> kfold:<M>:fold<f>        -> kfold:<M>            (rungs of [diagnostics] kfold; a step per fold)
    baselines, estimates:<ref>       -> forest               (reference model, take-off)
    estimates:*, diagnostics:*, data -> hypotheses
    data, model:<ref>                -> cases                (reference model, take-off)
    saved SBC results (nox -s sbc)   -> sbc                  (when [diagnostics] sbc names them)
    everything                       -> report

A model or check that is not configured simply has no step; the report says what is missing.
``only`` keeps the named steps (``model`` matches every ``model:<M>``) and what they need.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from clusterpreneur.models.verdict import VerdictRule
from clusterpreneur.pipeline.config import ConfigError, StudyConfig
from clusterpreneur.pipeline.step import RunContext, Step
from clusterpreneur.pipeline.steps.baselines import BaselinesStep
from clusterpreneur.pipeline.steps.cases import CasesStep
from clusterpreneur.pipeline.steps.comparison import ComparisonStep
from clusterpreneur.pipeline.steps.data import DataStep, PanelStep, data_step
from clusterpreneur.pipeline.steps.descriptives import DescriptivesStep
from clusterpreneur.pipeline.steps.diagnostics import DiagnosticsStep
from clusterpreneur.pipeline.steps.estimates import EstimatesStep
from clusterpreneur.pipeline.steps.forest import ForestStep
from clusterpreneur.pipeline.steps.hypotheses import HypothesesStep
from clusterpreneur.pipeline.steps.kfold import FoldStep, KFoldStep, fold_step
from clusterpreneur.pipeline.steps.model import ModelStep
from clusterpreneur.pipeline.steps.report import ReportStep
from clusterpreneur.pipeline.steps.sbc import SBCStep, current_spec_hashes
from clusterpreneur.pipeline.steps.sbc import input_hashes as sbc_inputs
from clusterpreneur.pipeline.steps.sbc import saved_runs as saved_sbc_runs

logger = logging.getLogger("clusterpreneur.pipeline")

RULE = VerdictRule()
"""The verdict rule of the study's report (:mod:`clusterpreneur.models.verdict`)."""


def study_design() -> Path | None:
    """``analysis/STUDY.md`` of the repository the package runs from (None when installed)."""
    import clusterpreneur

    study = Path(clusterpreneur.__file__).resolve().parents[2] / "analysis" / "STUDY.md"
    return study if study.is_file() else None


def model_spec(config: StudyConfig, name: str):
    """The spec of a model of the configuration: a ladder rung, a spec file, or None for a
    formula (built from the data when the model step runs: its levels come from the data)."""
    from clusterpreneur.study.ladder import LADDER

    source = config.model_sources.get(name)
    if source is None:
        if name not in LADDER:
            raise ConfigError(
                f"unknown model {name!r} in the configuration; the ladder has {sorted(LADDER)}, or define "
                f'it in [models.{name}] with formula = "..." or spec = "file.json"'
            )
        return LADDER[name]
    if "spec" not in source:
        return None
    from clusterpreneur.errors import ClusterpreneurError
    from clusterpreneur.files import read_text
    from clusterpreneur.models import ModelSpec

    try:
        spec = ModelSpec.from_json(read_text(Path(source["spec"]), "spec file", option=None))
        spec.check()
    except (ClusterpreneurError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"[models.{name}] spec = {source['spec']!r}: {exc}") from None
    return spec


def model_family(config: StudyConfig, name: str) -> str:
    """The family of a formula model: as configured, else binomial for p(y, n), else bernoulli."""
    source = config.model_sources[name]
    if source.get("family"):
        return source["family"]
    return "binomial" if source["formula"].split("~")[0].strip().startswith("p(") else "bernoulli"


def plan(
    config: StudyConfig,
    ctx: RunContext,
    *,
    pdf: bool = False,
    versions: dict[str, str] | None = None,
) -> list[Step]:
    """The study's steps for ``config``, dependencies first."""
    from clusterpreneur.study.baselines import TAKEOFF
    from clusterpreneur.study.ladder import PANEL_MODELS

    specs = {m: model_spec(config, m) for m in dict.fromkeys([*config.models, *config.fitted_models])}
    outcomes = {
        m: spec.outcomes if spec is not None else (config.model_sources[m]["formula"].split("~")[0].strip(),)
        for m, spec in specs.items()
    }
    steps: list[Step] = [
        DataStep("data", inputs=dict(ctx.hashes)),
        DescriptivesStep("descriptives", deps=("data",)),
    ]
    if config.panel:
        steps.append(PanelStep("panel", inputs={"panel": ctx.hashes.get("panel", "")}))
    if config.baselines:
        steps.append(BaselinesStep("baselines", deps=("data",), seed=config.seed))
    models = config.fitted_models
    for m in models:
        steps.append(
            ModelStep(
                f"model:{m}",
                deps=(data_step(m),),
                sampling=True,
                spec=specs[m],
                formula=config.model_sources.get(m) if specs[m] is None else None,
                model=m,
                settings=config.settings_for(m),
                seed=config.seed_for(m),
                ppc_draws=config.ppc_draws,
            )
        )
    for m in models:
        steps.append(
            EstimatesStep(f"estimates:{m}", deps=(data_step(m), f"model:{m}"), model=m, prob=RULE.prob)
        )
        steps.append(
            DiagnosticsStep(
                f"diagnostics:{m}", deps=(f"model:{m}",), model=m, prob=RULE.prob, seed=config.seed_for(m)
            )
        )
    # the LOO comparison: take-off models of the one cross-section (a panel's rows are other data)
    takeoff = [m for m in config.models if outcomes[m] == (TAKEOFF,) and m not in PANEL_MODELS]
    if takeoff:
        steps.append(ComparisonStep("comparison", deps=tuple(f"model:{m}" for m in takeoff)))
    # verdicts on H1-H6 from the cross-section's rungs (the hazard's coefficients are in its estimates)
    verdict_models = [m for m in config.models if m not in PANEL_MODELS]
    if verdict_models:
        steps.append(
            HypothesesStep(
                "hypotheses",
                deps=("data", *(f"{k}:{m}" for m in verdict_models for k in ("estimates", "diagnostics"))),
                models=tuple(verdict_models),
                override_gate=config.override_gate,
                rule=RULE,
            )
        )
    for m in config.kfold:  # prediction of unseen countries: refits without whole countries, one step each
        settings, seed, k = config.settings_for(m), config.seed_for(m), config.kfold_k
        spec = model_spec(config, m)
        folds = [
            FoldStep(fold_step(m, f), ("data",), True, spec=spec, settings=settings, k=k, seed=seed, fold=f)
            for f in range(k)
        ]
        steps += [*folds, KFoldStep(f"kfold:{m}", tuple(f.name for f in folds), spec=spec, k=k, model=m)]
    if config.sbc:  # reads saved results: SBC itself never runs in the study
        rungs = saved_sbc_runs(config.sbc)
        fitted = {m: model_spec(config, m) for m in rungs if m in config.models}  # the study's specs
        specs = current_spec_hashes(rungs, {m: s for m, s in fitted.items() if s is not None})
        steps.append(SBCStep("sbc", folder=config.sbc, inputs=sbc_inputs(config.sbc), specs=specs))
    ref = config.reference_model
    if ref is not None and outcomes[ref] == (TAKEOFF,):
        if config.baselines:
            steps.append(ForestStep("forest", deps=("baselines", f"estimates:{ref}"), model=ref))
        steps.append(CasesStep("cases", deps=("data", f"model:{ref}"), model=ref, seed=config.seed))
    steps.append(
        ReportStep(
            "report",
            deps=tuple(s.name for s in steps),
            rule=RULE,
            pdf=pdf,
            versions=versions or {},
            study_design=study_design(),
        )
    )
    return steps


def select(steps: list[Step], only: Iterable[str]) -> list[Step]:
    """The steps named in ``only`` (a bare name such as ``model`` matches ``model:<M>``) and every
    step they need, in plan order."""
    wanted = set(only)
    by_name = {s.name: s for s in steps}
    unknown = [w for w in wanted if w not in by_name and not any(n.startswith(f"{w}:") for n in by_name)]
    if unknown:
        kinds = sorted({n.split(":", 1)[0] for n in by_name})
        raise ConfigError(f"unknown step(s) {sorted(unknown)}; the plan has {kinds}")
    keep: set[str] = set()
    todo = [n for n in by_name if n in wanted or n.split(":", 1)[0] in wanted]
    while todo:
        name = todo.pop()
        if name not in keep:
            keep.add(name)
            todo += list(by_name[name].deps)
    return [s for s in steps if s.name in keep]
