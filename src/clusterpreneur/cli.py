"""Command line: ``clusterpreneur <command>`` (or ``python -m clusterpreneur <command>``).

Exit codes: 0 ok; 1 a check failed (validation problems, an unreadable survey file, a saved
fit that was damaged or edited or does not match the data, a fit that failed the convergence
gate, a step that failed); 2 usage error (bad option, missing file or a folder, a file that is
not a saved fit, bad configuration or mapping); 130 interrupted (Ctrl-C; completed steps stay
cached, rerun to resume). Package errors are printed as messages, without a traceback
(``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

from clusterpreneur.errors import (
    ClusterpreneurError,
    ConvergenceError,
    FitFileError,
    InputFileError,
    MappingError,
    ProblemsError,
    UnsupportedFormatError,
)

EXIT_OK, EXIT_CHECK, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

MAIN_EPILOG = """\
examples:
  clusterpreneur validate my_survey.sav --mapping my_mapping.toml
  clusterpreneur simulate --out sim/survey.csv --n-initiatives 250 --seed 1
  clusterpreneur fit data/survey.csv --model M2 --out results/fits/M2.nc
  clusterpreneur diagnose results/fits/M2.nc --out results/fits/M2_checks
  clusterpreneur predict results/fits/M2.nc --data data/survey.csv --what-if
  clusterpreneur report                                   # the whole study on the shipped data
  clusterpreneur report --pdf                             # ... and report.pdf beside report.html
  clusterpreneur report my_survey.sav --mapping my_mapping.toml --out results/my_study
  clusterpreneur cache prune --dry-run                    # what pruning the step cache would free

exit codes: 0 ok, 1 a check failed, 2 usage error, 130 interrupted
"""

logger = logging.getLogger("clusterpreneur.cli")


class UsageError(ClusterpreneurError):
    """Wrong input from the command line (missing file, bad option value)."""


def _usage_errors() -> tuple[type[BaseException], ...]:
    errs: list[type[BaseException]] = [
        MappingError,
        UnsupportedFormatError,
        UsageError,
        InputFileError,
        FitFileError,
        FileNotFoundError,
    ]
    try:
        from clusterpreneur.pipeline.config import ConfigError

        errs.append(ConfigError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errs)


def _existing(path: str | None, what: str) -> Path | None:
    """``path`` if it is a file; a usage error naming what it is instead (absent, a folder)."""
    from clusterpreneur.files import SUPPORTED_EXTENSIONS, check_input_file

    return None if path is None else check_input_file(path, what, (*SUPPORTED_EXTENSIONS, ".toml", ".nc"))


def _read(path: str | None, mapping: str | None, encoding=None, mapping_encoding=None):
    """The survey (validated), its warnings printed; the shipped data when ``path`` is None."""
    from clusterpreneur.errors import SurveyValidationError
    from clusterpreneur.study.datasets import default_survey_path
    from clusterpreneur.study.readers import check_survey_file

    p = _existing(path, "survey file") if path else default_survey_path()
    check = check_survey_file(
        p, _existing(mapping, "mapping file"), encoding=encoding, mapping_encoding=mapping_encoding
    )
    for warning in check.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if check.problems:
        raise SurveyValidationError(check.problems, str(p))
    return check.frame


# --------------------------------------------------------------------------- commands


def cmd_validate(args) -> int:
    from clusterpreneur.study.schema import is_panel

    df = _read(args.file, args.mapping, args.encoding, args.mapping_encoding)
    where = f"{df['region_id'].nunique()} regions of {df['country_id'].nunique()} countries"
    if is_panel(df):
        print(
            f"{args.file}: valid panel - {df['initiative_id'].nunique()} initiatives in {where}, "
            f"{df['wave'].nunique()} waves, {len(df)} rows (one per initiative and wave)"
        )
    else:
        print(f"{args.file}: valid - {len(df)} initiatives in {where}")
    return EXIT_OK


def cmd_simulate(args) -> int:
    from clusterpreneur.io import write_atomic
    from clusterpreneur.study.readers import write_survey
    from clusterpreneur.study.simulate import simulate_survey

    if args.panel:
        from clusterpreneur.study.panel import simulate_panel

        if args.scenario != "default":
            raise UsageError("--scenario applies to a cross-sectional survey; a --panel has its own process")
        sim = simulate_panel(n_initiatives=args.n_initiatives, n_countries=args.n_countries, seed=args.seed)
    else:
        sim = simulate_survey(
            n_initiatives=args.n_initiatives,
            n_countries=args.n_countries,
            seed=args.seed,
            scenario=args.scenario,
        )
    out = Path(args.out)
    write_survey(sim.data, out)
    truth = out.with_name(f"{out.stem}_truth.json")
    write_atomic(truth, json.dumps(sim.truth, indent=2, sort_keys=True) + "\n")
    what = f"{sim.data['initiative_id'].nunique()} initiatives"
    if args.panel:
        what += f" in {len(sim.data)} initiative-waves"
    print(f"wrote {out} ({what}) and its true parameters {truth}")
    return EXIT_OK


def _model(name: str):
    from clusterpreneur.study.ladder import LADDER

    if name not in LADDER:
        raise UsageError(f"unknown model {name!r}; the ladder has {', '.join(LADDER)}")
    return LADDER[name]


def _spec_file(path: str):
    """A model spec from a JSON file (``ModelSpec.to_json``), checked."""
    from clusterpreneur.files import read_text
    from clusterpreneur.models import ModelSpec

    p = _existing(path, "spec file")
    try:
        spec = ModelSpec.from_json(read_text(p, "spec file", option=None))
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise UsageError(f"{p}: not a model spec (JSON written by ModelSpec.to_json): {exc}") from None
    spec.check()
    return spec


def _group_names(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        factor, sep, name = pair.partition("=")
        if not sep or not factor or not name:
            raise UsageError(f"--group-name takes FACTOR=NAME (e.g. county_id=county), not {pair!r}")
        out[factor] = name
    return out


def _spec_and_data(args):
    """(spec, data) of `clusterpreneur fit`: a ladder model on a survey, or a formula / spec
    file on any data file (a spec whose predictors are the study's measures reads a survey)."""
    from clusterpreneur.files import read_data

    if args.formula and args.spec:
        raise UsageError("give either --formula or --spec, not both")
    if not args.formula and not args.spec:
        if args.family or args.group_name or args.id_column or args.obs_dim or args.no_standardize:
            raise UsageError(
                "--family, --group-name, --id-column, --obs-dim and --no-standardize go with --formula"
            )
        df = _read(args.file, args.mapping, args.encoding, args.mapping_encoding)
        return _model(_route(df, args.file, args.model)), df
    if args.model:
        raise UsageError("--model names a ladder model; with --formula or --spec leave it out")
    if args.formula:
        from clusterpreneur.models import ModelSpec

        if not args.file:
            raise UsageError("--formula needs the data file: clusterpreneur fit DATA --formula '...'")
        df = read_data(_existing(args.file, "data file"), encoding=args.encoding)
        spec = ModelSpec.from_formula(
            args.formula, df, family=args.family, name=args.name, group_names=_group_names(args.group_name),
            id_column=args.id_column, obs_dim=args.obs_dim or "obs", standardize=not args.no_standardize,
        )  # fmt: skip
        return spec, df
    spec = _spec_file(args.spec)
    if args.family or args.group_name or args.id_column or args.obs_dim or args.no_standardize:
        raise UsageError(
            "--family, --group-name, --id-column, --obs-dim and --no-standardize go with --formula"
        )
    if spec.derived_from or args.mapping:  # the study's measures: a survey in codebook form
        df = _read(args.file, args.mapping, args.encoding, args.mapping_encoding)
    elif not args.file:
        raise UsageError("--spec needs the data file: clusterpreneur fit DATA --spec FILE.json")
    else:
        df = read_data(_existing(args.file, "data file"), encoding=args.encoding)
    return spec, df


def cmd_fit(args) -> int:
    from clusterpreneur.diagnostics import attach_gate, check_convergence
    from clusterpreneur.models import fit_model

    if args.check:
        print(
            "warning: --check is deprecated: `clusterpreneur fit` runs the convergence gate by default "
            "(--no-gate skips it)",
            file=sys.stderr,
        )
    if args.target_accept is not None and not 0 < args.target_accept < 1:
        raise UsageError(f"--target-accept must lie strictly between 0 and 1, not {args.target_accept:g}")
    spec, df = _spec_and_data(args)
    if args.name and not args.formula:
        spec = replace(spec, name=args.name)
    out = Path(args.out or f"results/fits/{spec.name}.nc")
    logger.info("fitting %s (%s, %d chains x %d draws, seed %d)", spec.name, args.sampler, args.chains,
                args.draws, args.seed)  # fmt: skip
    fitted = fit_model(
        spec, df, draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed, sampler=args.sampler,
        target_accept=args.target_accept,
    )  # fmt: skip
    gate = check_convergence(fitted.idata, label=spec.name)
    if not args.no_gate:
        attach_gate(fitted.idata, gate)  # the saved fit carries its verdict
    fitted.save(out)  # also a failed fit: `clusterpreneur diagnose` can then look into it
    print(_estimates(fitted.idata, gate, spec))
    if args.no_gate:
        print(f"{spec.name}: convergence gate skipped (--no-gate): these estimates are unchecked.")
        print(f"wrote {out}")
        return EXIT_OK
    print(gate.message("cli"))
    if gate.passed:
        print(f"wrote {out}")
        return EXIT_OK
    print(f"wrote {out} anyway, so it can be inspected: clusterpreneur diagnose {out} --table")
    return EXIT_CHECK


def _route(df, path, model: str | None) -> str:
    """The rung to fit: ``model``, or by default M6 (the discrete-time hazard) for a panel and M2
    for a cross-section; a cross-sectional rung on a panel (or M6 on a cross-section) is refused:
    an initiative's waves are not independent initiatives."""
    from clusterpreneur.study.ladder import PANEL_MODELS
    from clusterpreneur.study.schema import is_panel

    panel = is_panel(df)
    if model is None:
        return PANEL_MODELS[0] if panel else "M2"
    if panel and model not in PANEL_MODELS:
        raise UsageError(
            f"{path or 'the data'} is a panel (one row per initiative and wave); {model} takes one row per "
            f"initiative. Fit the discrete-time hazard of take-off, --model {PANEL_MODELS[0]} (the default "
            "for a panel), or one wave (the rows of that wave in a file of their own)."
        )
    if not panel and model in PANEL_MODELS:
        raise UsageError(
            f"{model} is the discrete-time hazard over survey waves: it needs a panel (a 'wave' column, one "
            f"row per initiative and wave), and {path or 'the shipped survey'} is a cross-section. "
            "Fit M1-M5, or give a panel such as data/panel.csv."
        )
    return model


def _estimates(idata, gate, spec) -> str:
    """The short estimate table of a fit: main parameters (the spec's hypothesis terms marked)
    with the gate's R-hat and ESS, as aligned text."""
    from clusterpreneur.diagnostics import estimate_table

    table = estimate_table(idata, gate)
    hypotheses = {t.name: t.hypothesis for t in spec.term_objects if t.sign}
    terms = table["parameter"].str.extract(r"^beta\[(?:.*,)?([^,\]]+)\]$", expand=False)
    numbers = {"mean": "mean", "sd": "sd", "2.5%": "eti95_lower", "97.5%": "eti95_upper", "r_hat": "r_hat"}
    columns = {
        "parameter": table["parameter"].tolist(),
        "H": [hypotheses.get(t, "") for t in terms],
        **{head: [f"{v:.3f}" for v in table[col]] for head, col in numbers.items()},
        **{col: ["-" if v != v else f"{v:.0f}" for v in table[col]] for col in ("ess_bulk", "ess_tail")},
    }
    widths = {k: max([len(k), *(len(v) for v in vals)]) for k, vals in columns.items()}

    def line(cells: dict[str, str]) -> str:
        aligned = (
            v.ljust(widths[k]) if k in ("parameter", "H") else v.rjust(widths[k]) for k, v in cells.items()
        )
        return "  ".join(aligned).rstrip()

    rows = [line({k: k for k in columns})]
    rows += [line({k: vals[i] for k, vals in columns.items()}) for i in range(len(table))]
    return "\n".join(rows)


def _gate(idata, label: str) -> int:
    from clusterpreneur.diagnostics import check_convergence

    result = check_convergence(idata, label=label)
    print(result.message("cli"))
    return EXIT_OK if result.passed else EXIT_CHECK


def cmd_diagnose(args) -> int:
    from clusterpreneur.models.persist import read_fit

    path = Path(args.fit)
    idata = read_fit(path)  # refuses an unreadable, damaged or edited file
    label = str(idata.attrs.get("clusterpreneur_model", path.stem))
    code = _gate(idata, label)
    if args.table:
        from clusterpreneur.diagnostics import check_convergence

        print(check_convergence(idata, label=label).table.to_string(index=False))
    if args.out:
        from clusterpreneur.pipeline.steps.diagnostics import diagnose, study_labels
        from clusterpreneur.pipeline.steps.model import outcomes_of, posterior_predictive

        predictive = None
        if args.data:
            from clusterpreneur.models import load_fit

            fitted = load_fit(path, _data_for(_saved_spec(path), args.data, args.mapping, args))
            if fitted.spec.family == "ordinal":
                predictive = posterior_predictive(fitted, outcomes_of(idata), args.ppc_draws, seed=args.seed)
        out = Path(args.out)
        diagnose(idata, label, out, predictive=predictive, labels=study_labels(), seed=args.seed)
        print(f"wrote the checks of {label} to {out} (tables as CSV, figures as PNG and SVG)")
    return code


def _saved_spec(path):
    from clusterpreneur.models import ModelSpec
    from clusterpreneur.models.persist import read_fit

    return ModelSpec.from_json(str(read_fit(path).attrs["spec_json"]))


def _data_for(spec, path: str | None, mapping: str | None, args, what: str = "data file"):
    """The data of a fit: a survey (the study's models, or with a mapping), else any data file."""
    from clusterpreneur.files import read_data

    if spec.derived_from or mapping:
        return _read(path, mapping, args.encoding, args.mapping_encoding)
    if not path:
        raise UsageError(
            f"model {spec.name!r} is not a model of the study's survey: give its {what} (--data)"
        )
    return read_data(_existing(path, what), encoding=args.encoding)


def cmd_predict(args) -> int:
    import pandas as pd

    from clusterpreneur.files import csv_bytes
    from clusterpreneur.io import write_atomic
    from clusterpreneur.models import load_fit
    from clusterpreneur.study.cases import case_predictions, check_scenarios, validate_rows
    from clusterpreneur.study.datasets import north_jutland_cases

    spec = _saved_spec(args.fit)
    if not (spec.derived_from or args.mapping):  # a model of data of one's own: rows of that data
        if not args.cases or args.what_if:
            raise UsageError(
                f"model {spec.name!r} is not a model of the study's survey: give the rows to predict "
                "(--cases FILE; --what-if is the study's scenarios)"
            )
        fitted = load_fit(args.fit, _data_for(spec, args.data, None, args))
        pred = fitted.predict(_data_for(spec, args.cases, None, args, "cases file"), seed=args.seed)
        with pd.option_context("display.width", 160, "display.max_columns", 20):
            print(pred.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        if args.out:
            write_atomic(args.out, csv_bytes(pred))
            print(f"wrote {args.out}")
        return EXIT_OK
    if args.cases:
        cases = _read(args.cases, args.cases_mapping, args.encoding, args.mapping_encoding)
    else:
        cases = validate_rows(north_jutland_cases(), "shipped North Jutland cases")
    if args.what_if:
        check_scenarios(cases, args.case)  # a bad case is named before the fit is loaded
    fitted = load_fit(args.fit, _read(args.data, args.mapping, args.encoding, args.mapping_encoding))
    if args.what_if:
        pred = case_predictions(fitted, cases, case_id=args.case, seed=args.seed)
    else:
        pred = fitted.predict(cases, seed=args.seed)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(pred.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.out:
        write_atomic(args.out, csv_bytes(pred))  # text cells that spreadsheets would run are neutralised
        print(f"wrote {args.out}")
    return EXIT_OK


def cmd_report(args) -> int:
    from clusterpreneur.pipeline import load_config, run_study

    config_path = args.config
    if config_path is None and Path("analysis/study.toml").is_file():
        config_path = "analysis/study.toml"
    config = load_config(config_path)
    changes = {
        "sampler": args.sampler,
        "draws": args.draws,
        "tune": args.tune,
        "chains": args.chains,
        "seed": args.seed,
    }
    if args.file:  # a survey of one's own: the configuration's mapping belongs to its own survey
        changes["survey"] = str(_existing(args.file, "survey file").resolve())
        config = replace(config, mapping=None)
    if args.mapping:
        changes["mapping"] = str(_existing(args.mapping, "mapping file").resolve())
    if args.models is not None:
        changes["models"] = tuple(m for m in args.models.split(",") if m)
    if args.reference:
        changes["reference"] = args.reference
    if args.override_gate:
        changes["override_gate"] = True
    config = config.with_changes(**changes)
    only = tuple(s for s in args.only.split(",") if s) if args.only else None
    result = run_study(
        config, args.out, cache_dir=args.cache_dir, force=args.force, pdf=args.pdf, only=only, jobs=args.jobs
    )
    cached = sum(r.cached for r in result.records)
    if only:
        print(f"steps {', '.join(only)}: their files are in {result.out_dir}/<step>/")
    else:
        from clusterpreneur.pipeline.report import REPORT_BUDGET, describe_sizes

        pdf = f"\npdf: {result.out_dir / 'report.pdf'}" if args.pdf else ""
        size = next(r.summary["sizes"] for r in result.records if r.name == "report")  # as the step measured
        print(
            f"report: {result.report}, {describe_sizes(size)}{pdf}\n"
            f"tables: {result.out_dir / 'tables'} (CSV, Markdown, LaTeX; all in tables.md / tables.tex)\n"
            f"manifest: {result.out_dir / 'manifest.json'}"
        )
        if size["total"] > REPORT_BUDGET:
            print(
                f"warning: {result.report} is over its budget of {REPORT_BUDGET:,} bytes; "
                "the sizes above say which part grew",
                file=sys.stderr,
            )
    print(
        f"{len(result.records)} steps ({cached} from the cache) in {result.manifest['total_seconds']:.1f} s"
    )
    print(cache_summary(args.cache_dir), file=sys.stderr)
    failed = result.failed_models
    if failed:
        how = "reported flagged" if config.override_gate else "withheld from the report"
        if only:
            how = "not to be reported (see their diagnostics)"
        print(
            f"convergence gate FAILED for {', '.join(failed)}: their estimates are {how}. "
            "See the diagnostics table; sample longer (--draws/--tune) and rerun.",
            file=sys.stderr,
        )
        return EXIT_OK if config.override_gate else EXIT_CHECK
    return EXIT_OK


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def cache_summary(cache_dir: str | Path) -> str:
    """One line: the step cache's size and what ``clusterpreneur cache prune`` would free."""
    from clusterpreneur.pipeline.cache import StepCache

    rows = StepCache(cache_dir).usage()
    total = sum(r["bytes"] for r in rows)
    free = total - sum(r["used_bytes"] for r in rows)
    return f"step cache {cache_dir}: {_mib(total)}; `clusterpreneur cache prune` would free {_mib(free)}"


def cmd_cache(args) -> int:
    from clusterpreneur.pipeline.cache import StepCache

    cache = StepCache(args.cache_dir)
    if args.action == "prune":
        gone = cache.prune(dry_run=args.dry_run)
        verb = "would remove" if args.dry_run else "removed"
        for path, size in gone:
            print(f"{verb} {path} ({_mib(size)})")
        print(f"{verb} {len(gone)} entries, {_mib(sum(s for _, s in gone))}")
        return EXIT_OK
    rows = cache.usage()
    if not rows:
        print(f"step cache {args.cache_dir}: empty")
        return EXIT_OK
    width = max(len(r["step"]) for r in rows)
    print(f"{'step':<{width}}  entries  {'size':>12}  used by the latest runs")
    for r in rows:
        used = f"{r['used']} ({_mib(r['used_bytes'])})"
        print(f"{r['step']:<{width}}  {r['entries']:>7}  {_mib(r['bytes']):>12}  {used}")
    print(cache_summary(args.cache_dir))
    return EXIT_OK


# --------------------------------------------------------------------------- parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not {text!r}")
    return value


def _sampling_options(p: argparse.ArgumentParser, defaults: bool) -> None:
    d = (lambda v: v) if defaults else (lambda v: None)
    p.add_argument("--sampler", choices=("nutpie", "pymc"), default=d("nutpie"), help="NUTS sampler")
    p.add_argument("--draws", type=int, default=d(1000), help="posterior draws per chain")
    p.add_argument("--tune", type=int, default=d(1000), help="tuning steps per chain")
    p.add_argument("--chains", type=int, default=d(4), help="chains")
    p.add_argument("--seed", type=int, default=d(20032), help="random seed")


def _encoding_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--encoding",
        help="text encoding of a survey file that is not UTF-8 (CSV, Stata, SPSS), e.g. cp1252 or latin-1",
    )
    p.add_argument("--mapping-encoding", help="text encoding of a mapping file that is not UTF-8")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clusterpreneur",
        description="Clusterpreneurs, social capital and cluster take-off: validate survey files, "
        "simulate, fit the Bayesian model ladder, check and report the whole study.",
        epilog=MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and results")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of package errors")
    sub = parser.add_subparsers(dest="command", metavar="command", required=True)

    def add(name: str, help_: str, epilog: str):
        return sub.add_parser(
            name,
            help=help_,
            description=help_,
            epilog="examples:\n" + textwrap.indent(textwrap.dedent(epilog).strip(), "  "),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    p = add(
        "validate",
        "check a survey file against the codebook and list every problem (exit 1 if any)",
        """
        clusterpreneur validate data/survey.csv
        clusterpreneur validate my_survey.sav --mapping my_mapping.toml
        clusterpreneur validate old_export.csv --encoding cp1252
        """,
    )
    p.add_argument("file", help="survey file (.csv, .xlsx, .dta, .sav, .parquet)")
    p.add_argument("--mapping", help="TOML file mapping your columns and codes onto the codebook")
    _encoding_options(p)
    p.set_defaults(func=cmd_validate)

    p = add(
        "simulate",
        "write a simulated survey (or a panel of survey waves) with known truth "
        "(and <stem>_truth.json beside it)",
        """
        clusterpreneur simulate --out sim/survey.csv
        clusterpreneur simulate --out sim/survey.sav --n-initiatives 120 --scenario mar --seed 3
        clusterpreneur simulate --panel --out sim/panel.csv --n-initiatives 400
        """,
    )
    p.add_argument("--out", required=True, help="survey file to write (format from the extension)")
    p.add_argument("--n-initiatives", type=int, default=250)
    p.add_argument("--n-countries", type=int, default=30)
    p.add_argument("--seed", type=int, default=20032)
    p.add_argument(
        "--scenario", default="default", help="default, null_social_capital, null_hypotheses, mcar or mar"
    )
    p.add_argument(
        "--panel",
        action="store_true",
        help="a panel: initiatives over three survey waves (2003, 2008, 2013), known hazard of take-off",
    )
    p.set_defaults(func=cmd_simulate)

    p = add(
        "fit",
        "fit a model (one of the ladder M1-M5, M6 on a panel, a formula, or a spec file), save it as NetCDF, "
        "print its main estimates and the convergence gate's verdict (exit 1 if the gate fails; the fit is "
        "saved either way)",
        """
        clusterpreneur fit data/survey.csv --model M2 --out results/fits/M2.nc
        clusterpreneur fit my_survey.dta --mapping map.toml --model M1 --sampler pymc --draws 2000
        clusterpreneur fit data/survey.csv --model M3 --tune 2000 --target-accept 0.95
        clusterpreneur fit data/panel.csv --out results/fits/M6.nc   # a panel: the hazard M6
        clusterpreneur fit herds.csv --formula "p(incidence, size) ~ C(period) + (1 | herd)" --family binomial
        clusterpreneur fit ratings.csv --formula "rating ~ temp + contact + (1 | judge)" --family ordinal
        clusterpreneur fit herds.csv --spec herd_model.json
        """,
    )
    p.add_argument(
        "file",
        nargs="?",
        help="data file (.csv, .xlsx, .dta, .sav, .parquet; ladder models: the shipped survey)",
    )
    p.add_argument("--mapping", help="TOML column mapping for the survey file")
    p.add_argument(
        "--model",
        help="model of the ladder (default: M2; M6 for a panel of survey waves; not with --formula)",
    )
    p.add_argument("--formula", help="model formula, e.g. 'y ~ x + C(k) + (1 + x | g)' (see the README)")
    p.add_argument("--family", help="with --formula: bernoulli, binomial, ordinal ... (default: bernoulli, "
                   "binomial with p(y, n))")  # fmt: skip
    p.add_argument(
        "--spec", help="JSON model spec (ModelSpec.to_json) instead of a ladder model or a formula"
    )
    p.add_argument("--name", help="name of the model (default: the ladder name, the outcome or the spec's)")
    p.add_argument(
        "--group-name",
        action="append",
        metavar="FACTOR=NAME",
        help="with --formula: name a grouping factor's dimension (e.g. county_id=county; 'a:b' becomes "
        "a_b by default); repeatable",
    )
    p.add_argument("--id-column", help="with --formula: column of observation ids (default: the row number)")
    p.add_argument("--obs-dim", help="with --formula: name of the observation dimension (default: obs)")
    p.add_argument(
        "--no-standardize",
        action="store_true",
        help="with --formula: keep continuous predictors on their scale",
    )
    p.add_argument("--out", help="NetCDF file to write (default: results/fits/<model>.nc)")
    p.add_argument(
        "--no-gate", action="store_true", help="skip the convergence gate: exit 0 whatever R-hat, ESS ... say"
    )
    p.add_argument("--check", action="store_true", help=argparse.SUPPRESS)  # deprecated: the gate is default
    p.add_argument(
        "--target-accept", type=float, help="NUTS target acceptance rate (e.g. 0.95 against divergences)"
    )
    _encoding_options(p)
    _sampling_options(p, defaults=True)
    p.set_defaults(func=cmd_fit)

    p = add(
        "diagnose",
        "run the convergence gate on a saved fit (exit 1 if it fails)",
        """
        clusterpreneur diagnose results/fits/M2.nc
        clusterpreneur diagnose results/fits/M2.nc --table
        clusterpreneur diagnose results/fits/M4.nc --data data/survey.csv --out results/fits/M4_checks
        """,
    )
    p.add_argument("fit", help="NetCDF file written by `clusterpreneur fit`")
    p.add_argument("--table", action="store_true", help="print R-hat and ESS of every parameter")
    p.add_argument("--out", help="folder for every check's tables and figures (the report's appendix)")
    p.add_argument("--data", help="the survey the model was fitted on (rating checks need it)")
    p.add_argument("--mapping", help="TOML column mapping for --data")
    p.add_argument("--ppc-draws", type=int, default=200, help="posterior draws for predictive checks")
    p.add_argument("--seed", type=int, default=20032, help="seed of the checks' simulations")
    _encoding_options(p)
    p.set_defaults(func=cmd_diagnose)

    p = add(
        "predict",
        "posterior take-off probabilities of cases (default: the North Jutland cases)",
        """
        clusterpreneur predict results/fits/M2.nc --data data/survey.csv
        clusterpreneur predict results/fits/M2.nc --data data/survey.csv --what-if --out cases.csv
        clusterpreneur predict fit.nc --data my_survey.sav --mapping map.toml --cases new_cis.csv
        """,
    )
    p.add_argument("fit", help="NetCDF file written by `clusterpreneur fit`")
    p.add_argument("--data", help="the survey the model was fitted on (default: shipped data)")
    p.add_argument("--mapping", help="TOML column mapping for --data")
    p.add_argument("--cases", help="survey-format file of initiatives to predict")
    p.add_argument("--cases-mapping", help="TOML column mapping for --cases")
    p.add_argument("--what-if", action="store_true", help="add the what-if scenarios of --case")
    p.add_argument("--case", default="DNK-Biomedico", help="initiative for --what-if (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of new-group and imputation draws")
    p.add_argument("--out", help="CSV file to write the predictions to")
    _encoding_options(p)
    p.set_defaults(func=cmd_predict)

    p = add(
        "report",
        "run the whole study (cached steps) and write the HTML report, tables and manifest",
        """
        clusterpreneur report                                  # shipped data, analysis/study.toml
        clusterpreneur report --out results/paper --force      # rerun every step
        clusterpreneur report my_survey.sav --mapping my_mapping.toml --out results/my_study
        clusterpreneur report --models M1,M2 --sampler pymc --draws 300 --tune 300 --chains 2
        clusterpreneur report --pdf                            # also report.pdf (needs Chromium)
        clusterpreneur report --jobs 1                         # one step at a time, in this process
        clusterpreneur report --only model --out results/models   # fit the ladder, no report
        """,
    )
    p.add_argument(
        "file", nargs="?", help="survey file (default: the configuration's, else the shipped data)"
    )
    p.add_argument("--mapping", help="TOML column mapping for the survey file")
    p.add_argument("--config", help="study configuration TOML (default: analysis/study.toml if present)")
    p.add_argument("--out", default="results/paper", help="output folder of this run (default: %(default)s)")
    p.add_argument(
        "--cache-dir", default=".cache/clusterpreneur", help="step cache folder (default: %(default)s)"
    )
    p.add_argument("--force", action="store_true", help="rerun every step, ignoring the cache")
    p.add_argument(
        "--jobs",
        type=_positive_int,
        default=None,
        help="steps run at once, each in a worker process (default: $CLUSTERPRENEUR_JOBS, else one per "
        "CPU; 1: one after another in this process)",
    )
    p.add_argument("--models", help="comma-separated models to fit, e.g. M1,M2 ('' for none)")
    p.add_argument("--reference", help="model of the hypothesis table, forest plot and cases")
    p.add_argument("--override-gate", action="store_true", help="report fits that fail the gate (flagged)")
    p.add_argument("--pdf", action="store_true", help="also print report.pdf with headless Chromium")
    p.add_argument(
        "--only",
        help="run only these steps (and what they need) and copy their files to --out/<step>, no report; "
        "e.g. model, diagnostics, baselines, cases",
    )
    _sampling_options(p, defaults=False)
    p.set_defaults(func=cmd_report)

    p = add(
        "cache",
        "show the step cache's size, or prune it to what the latest runs used",
        """
        clusterpreneur cache
        clusterpreneur cache prune --dry-run
        clusterpreneur cache prune --cache-dir .cache/clusterpreneur
        """,
    )
    p.add_argument("action", nargs="?", choices=("size", "prune"), default="size")
    p.add_argument(
        "--cache-dir", default=".cache/clusterpreneur", help="step cache folder (default: %(default)s)"
    )
    p.add_argument("--dry-run", action="store_true", help="with prune: list what would go, remove nothing")
    p.set_defaults(func=cmd_cache)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(message)s" if not args.debug else "%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.debug:
        for noisy in ("pymc", "pytensor", "numba", "distributed", "matplotlib"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(
            "interrupted: no half-written file was left; completed steps are cached, rerun to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except ProblemsError as exc:  # every problem of an input file, already in the user's terms
        if args.debug:
            raise
        print(str(exc), file=sys.stderr)
        return EXIT_CHECK
    except ConvergenceError as exc:
        print(exc.gate.message("cli") if exc.gate is not None else str(exc), file=sys.stderr)
        return EXIT_CHECK
    except _usage_errors() as exc:
        if args.debug:
            raise
        print(f"clusterpreneur {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ClusterpreneurError as exc:
        if args.debug:
            raise
        print(f"clusterpreneur {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_CHECK


if __name__ == "__main__":
    sys.exit(main())
