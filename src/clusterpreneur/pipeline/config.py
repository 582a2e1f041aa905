"""The study configuration: data, models, sampler settings, seeds (``analysis/study.toml``).

Paths in a TOML file are relative to the folder that holds the file. Every setting has a
default (the values of ``analysis/study.toml``, whose ``[models.M3]`` and ``[models.M4]`` add
draws for the two rungs that mix slowest), so a TOML file (or command-line option) only needs to
state what it changes.

::

    [study]
    title = "..."
    seed = 20032                     # base seed; model k samples with seed + k (k = 0, 1, ...)

    [data]
    survey = "../data/survey.csv"    # any format readers.load_survey knows
    mapping = ""                     # optional TOML column mapping
    cases = ""                       # "" = the shipped North Jutland cases
    panel = ""                       # a panel of survey waves: adds the hazard rung M6

    [sampler]                        # defaults of every model
    sampler = "nutpie"               # or "pymc"
    draws = 1000
    tune = 1000
    chains = 4

    [models]
    fit = ["M1", "M2", "M3", "M4", "M5"]
    reference = "M2"                 # the model of the hypothesis table, forest plot, cases

    [models.M4]                      # per-model overrides of [sampler]
    draws = 500

    [models.firms]                   # a model of your own, named in `fit`: by formula ...
    formula = "takeoff ~ log_firms + anchor_firm + (1 | country_id)"
    family = "bernoulli"             # default: bernoulli (binomial with p(y, n))
    [models.mine]                    # ... or by a spec file (ModelSpec.to_json)
    spec = "models/mine.json"

    [diagnostics]
    override_gate = false            # report estimates of fits that fail the gate (flagged)
    ppc_draws = 200
    sbc = "sbc"                      # saved SBC results (default: the checkout's analysis/sbc,
                                     # where nox -s sbc publishes them); "" = no SBC appendix
    kfold = []                       # rungs scored by K-fold by country too (e.g. ["M4"])
    kfold_k = 5
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from clusterpreneur.errors import ClusterpreneurError

SAMPLERS = ("nutpie", "pymc")
DEFAULT_MODELS = ("M1", "M2", "M3", "M4", "M5")
SAMPLER_KEYS = ("sampler", "draws", "tune", "chains")
SOURCE_KEYS = ("formula", "family", "spec")
"""Keys of ``[models.<name>]`` that define a model of one's own (not of the ladder)."""


class ConfigError(ClusterpreneurError):
    """The study configuration is malformed."""


@dataclass(frozen=True)
class SamplerSettings:
    """How one model is sampled."""

    sampler: str = "nutpie"
    draws: int = 1000
    tune: int = 1000
    chains: int = 4

    def check(self, where: str) -> None:
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"{where}: sampler {self.sampler!r} unknown; choose one of {SAMPLERS}")
        for name in ("draws", "tune", "chains"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{where}: {name} must be a positive integer, not {value!r}")


@dataclass(frozen=True)
class StudyConfig:
    """Everything one run of the study needs (see the module docstring)."""

    title: str = "Clusterpreneurs, social capital and cluster take-off"
    seed: int = 20032
    survey: str | None = None  # None: the shipped data/survey.csv
    mapping: str | None = None
    cases: str | None = None  # None: the shipped North Jutland cases
    panel: str | None = None  # a panel of survey waves (one row per initiative and wave): rung M6
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    models: tuple[str, ...] = DEFAULT_MODELS
    reference: str = "M2"
    model_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    model_sources: dict[str, dict[str, str]] = field(default_factory=dict)
    baselines: bool = True
    override_gate: bool = False
    ppc_draws: int = 200
    sbc: str | None = field(default_factory=lambda: default_sbc())  # saved SBC results; None: none
    kfold: tuple[str, ...] = ()  # rungs also scored by K-fold cross-validation by country
    kfold_k: int = 5

    def settings_for(self, model: str) -> SamplerSettings:
        """Sampler settings of one model: ``[sampler]`` with ``[models.<name>]`` on top."""
        return replace(self.sampler, **self.model_overrides.get(model, {}))

    def seed_for(self, model: str) -> int:
        """Seed of one model: the base seed plus its position in the study's list."""
        order = list(self.fitted_models)
        return self.seed + (order.index(model) if model in order else 0)

    @property
    def fitted_models(self) -> tuple[str, ...]:
        """The rungs fitted: ``models`` and, when a panel is named, the panel rungs (M6) too."""
        from clusterpreneur.study.ladder import PANEL_MODELS

        extra = tuple(m for m in PANEL_MODELS if self.panel and m not in self.models)
        return (*self.models, *extra)

    @property
    def reference_model(self) -> str | None:
        """The model the hypothesis table, forest plot and case predictions use."""
        if self.reference in self.models:
            return self.reference
        return self.models[-1] if self.models else None

    def check(self) -> None:
        self.sampler.check("[sampler]")
        for name, over in self.model_overrides.items():
            unknown = set(over) - set(SAMPLER_KEYS)
            if unknown:
                known = [*SAMPLER_KEYS, *SOURCE_KEYS]
                raise ConfigError(f"[models.{name}]: unknown setting(s) {sorted(unknown)}; known: {known}")
            self.settings_for(name).check(f"[models.{name}]")
        for name, source in self.model_sources.items():
            if ("formula" in source) == ("spec" in source):
                raise ConfigError(f'[models.{name}]: give either formula = "..." or spec = "file.json"')
            if "family" in source and "formula" not in source:
                raise ConfigError(f"[models.{name}]: family goes with formula (a spec file states its own)")
        if len(set(self.models)) != len(self.models):
            raise ConfigError(f"[models] fit lists a model twice: {list(self.models)}")
        from clusterpreneur.study.ladder import PANEL_MODELS

        needs_panel = [m for m in self.models if m in PANEL_MODELS]
        if self.reference in PANEL_MODELS:
            raise ConfigError(
                f"[models] reference = {self.reference!r}: the reference model (hypothesis table, forest "
                "plot, cases) is a model of the cross-section survey, one of M1-M5"
            )
        if needs_panel and not self.panel:
            raise ConfigError(
                f"[models] fit lists {needs_panel}, fitted on a panel of survey waves: name one with "
                '[data] panel = "..." (the shipped one: "../data/panel.csv")'
            )
        stray = [m for m in self.kfold if m not in self.models or m in PANEL_MODELS]
        if stray:
            raise ConfigError(f"[diagnostics] kfold names {stray}: list rungs of [models] fit on the survey")
        if self.ppc_draws < 1:
            raise ConfigError("[diagnostics] ppc_draws must be positive")

    def with_changes(self, **changes: Any) -> StudyConfig:
        """A copy with fields replaced; ``None`` values are ignored; sampler keys go to ``sampler``."""
        sampler_keys = {"sampler", "draws", "tune", "chains"}
        sampler = {k: v for k, v in changes.items() if k in sampler_keys and v is not None}
        rest = {k: v for k, v in changes.items() if k not in sampler_keys and v is not None}
        out = replace(self, **rest)
        if sampler:
            out = replace(out, sampler=replace(out.sampler, **sampler))
        out.check()
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["models"] = list(self.models)
        return d


SBC_DIR = Path(__file__).resolve().parents[3] / "analysis" / "sbc"
"""The committed SBC results of the ladder's rungs (``nox -s sbc`` publishes each complete run
there, with ``MANIFEST.json``): the default of ``[diagnostics] sbc``."""


def default_sbc() -> str | None:
    """The checkout's committed SBC results, or None where there are none (an installed wheel)."""
    return str(SBC_DIR) if (SBC_DIR / "MANIFEST.json").is_file() else None


def _path(value: Any, base: Path) -> str | None:
    if value in (None, ""):
        return None
    p = Path(str(value)).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def load_config(path: str | Path | None = None) -> StudyConfig:
    """Read a study TOML file (paths relative to its folder); ``None`` gives the defaults."""
    if path is None:
        return StudyConfig()
    from clusterpreneur.errors import DataFileError, InputFileError
    from clusterpreneur.files import read_text

    path = Path(path)
    try:  # UTF-8, with or without a byte-order mark
        raw = tomllib.loads(read_text(path, "study configuration", option=None))
    except InputFileError as exc:
        raise ConfigError(str(exc)) from None
    except DataFileError as exc:
        raise ConfigError(str(exc.problems[0])) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    known = {"study", "data", "sampler", "models", "diagnostics", "baselines"}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"{path}: unknown table(s) {sorted(unknown)}; known: {sorted(known)}")
    base = path.parent.resolve()
    study, data = raw.get("study", {}), raw.get("data", {})
    models = dict(raw.get("models", {}))
    fit = models.pop("fit", list(DEFAULT_MODELS))
    reference = models.pop("reference", "M2")
    tables = {k: dict(v) for k, v in models.items() if isinstance(v, dict)}
    overrides = {k: {s: v for s, v in t.items() if s not in SOURCE_KEYS} for k, t in tables.items()}
    overrides = {k: v for k, v in overrides.items() if v}
    sources = {k: {s: v for s, v in t.items() if s in SOURCE_KEYS} for k, t in tables.items()}
    sources = {k: v for k, v in sources.items() if v}
    for source in sources.values():
        if "spec" in source:
            source["spec"] = _path(source["spec"], base)
    stray = [k for k, v in models.items() if not isinstance(v, dict)]
    if stray:
        raise ConfigError(f"{path}: [models] has unknown key(s) {stray}")
    diag = raw.get("diagnostics", {})
    try:
        cfg = StudyConfig(
            title=str(study.get("title", StudyConfig.title)),
            seed=int(study.get("seed", StudyConfig.seed)),
            survey=_path(data.get("survey"), base),
            mapping=_path(data.get("mapping"), base),
            cases=_path(data.get("cases"), base),
            panel=_path(data.get("panel"), base),
            sampler=SamplerSettings(**raw.get("sampler", {})),
            models=tuple(str(m) for m in fit),
            reference=str(reference),
            model_overrides=overrides,
            model_sources=sources,
            baselines=bool(raw.get("baselines", {}).get("enabled", True)),
            override_gate=bool(diag.get("override_gate", False)),
            ppc_draws=int(diag.get("ppc_draws", 200)),
            sbc=_path(diag["sbc"], base) if "sbc" in diag else default_sbc(),
            kfold=tuple(str(m) for m in diag.get("kfold", [])),
            kfold_k=int(diag.get("kfold_k", 5)),
        )
    except TypeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    cfg.check()
    return cfg
