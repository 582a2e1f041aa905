"""The codebook: the single source of truth for every survey variable.

Schema validation, readers, the simulator and ``data/CODEBOOK.md`` are all derived
from :data:`CODEBOOK`. Add a variable here and everything else follows.

A survey is cross-sectional (one row per initiative, no ``wave``) or a panel of repeated
waves (one row per initiative and wave: the column ``wave`` numbers them 1, 2, ...; take-off is
absorbing, so an initiative has no row after the wave it took off in). Variables marked
``time_constant`` keep their value in every wave of an initiative; the others may change
between waves (involvement, social capital, firms; age grows with ``survey_year``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

Construct = Literal[
    "identifiers",
    "composition",
    "social_capital",
    "regional_setting",
    "critical_mass",
    "phase",
    "outcomes",
]
Level = Literal["initiative", "region", "country"]
Kind = Literal["id", "binary", "ordinal", "nominal", "count", "share", "continuous", "year"]

ACTORS: tuple[str, ...] = ("research", "policy", "industry", "finance")
"""The four clusterpreneur actor types (the paper's 'Quadra Helix')."""

SC_ITEMS: tuple[str, ...] = ("sc_trust", "sc_concerted", "sc_vision", "sc_networks")
"""Likert items that measure latent social capital."""

RATINGS: tuple[str, ...] = ("perf_competitiveness", "perf_growth", "perf_goals")
"""Greenbook-style ordinal performance ratings."""

MISSING_CODES: dict[int, str] = {-9: "not answered", -8: "don't know"}
"""Survey missing-value codes, turned into missing values on load."""

SHARE_TOLERANCE = 0.01
"""Board shares of an initiative must sum to one within this tolerance."""

INVOLVEMENT = {0: "none", 1: "minor", 2: "moderate", 3: "major", 4: "leading"}
LIKERT = {
    1: "strongly disagree",
    2: "disagree",
    3: "neither",
    4: "agree",
    5: "strongly agree",
}
YES_NO = {0: "no", 1: "yes"}


@dataclass(frozen=True)
class Variable:
    """One survey variable: what it measures, at which level, and its allowed values."""

    name: str
    construct: Construct
    level: Level
    kind: Kind
    description: str
    labels: dict[int, str] = field(default_factory=dict)
    minimum: float | None = None
    maximum: float | None = None
    required: bool = True
    nullable: bool = True
    missing_codes: dict[int, str] = field(default_factory=lambda: dict(MISSING_CODES))
    time_constant: bool = False
    """In a panel: the same value in every wave of an initiative (missing values aside)."""

    @property
    def dtype(self) -> str:
        """The pandas dtype of this variable in a frame in codebook form."""
        if self.kind == "id":
            return "string"
        return "Int64" if self.kind in ("binary", "ordinal", "nominal", "count", "year") else "float64"

    @property
    def is_coded(self) -> bool:
        """True when values must be one of the labelled codes."""
        return bool(self.labels)

    def rule(self) -> str:
        """Human-readable statement of the allowed values."""
        if self.labels:
            codes = ", ".join(f"{k}={v}" for k, v in self.labels.items())
            return f"one of the codes {codes}"
        if self.kind == "id":
            return "a non-empty identifier"
        lo = "-inf" if self.minimum is None else f"{self.minimum:g}"
        hi = "inf" if self.maximum is None else f"{self.maximum:g}"
        whole = "a whole number" if self.kind in ("count", "year", "ordinal") else "a number"
        return f"{whole} in [{lo}, {hi}]"


def _v(*args, **kwargs) -> Variable:
    return Variable(*args, **kwargs)


_VARIABLES: list[Variable] = [
    # identifiers
    _v(
        "initiative_id",
        "identifiers",
        "initiative",
        "id",
        "Unique id of the cluster initiative (in a panel: the same id in each of its waves).",
        nullable=False,
        missing_codes={},
    ),
    _v(
        "region_id",
        "identifiers",
        "region",
        "id",
        "Id of the region the initiative is located in; unique within the whole survey.",
        nullable=False,
        missing_codes={},
        time_constant=True,
    ),
    _v(
        "country_id",
        "identifiers",
        "country",
        "id",
        "Id of the country (ISO 3166 alpha-3 or any code).",
        nullable=False,
        missing_codes={},
        time_constant=True,
    ),
    _v(
        "survey_year",
        "identifiers",
        "initiative",
        "year",
        "Year the survey was answered.",
        minimum=1990,
        maximum=2100,
        nullable=False,
    ),
    _v(
        "wave",
        "identifiers",
        "initiative",
        "ordinal",
        "Survey wave of a panel: 1 for the first wave, 2 for the next, ... (a later wave has a later "
        "survey_year). Leave the column out, or empty, for a cross-sectional survey.",
        minimum=1,
        maximum=100,
        required=False,
        missing_codes={},
    ),
    # clusterpreneur composition
    *[
        _v(
            f"involve_{a}",
            "composition",
            "initiative",
            "ordinal",
            f"Involvement intensity of {a} actors in the initiative.",
            labels=INVOLVEMENT,
        )
        for a in ACTORS
    ],
    *[
        _v(
            f"board_{a}",
            "composition",
            "initiative",
            "share",
            f"Share of steering-board seats held by {a} actors (the four shares sum to one).",
            minimum=0.0,
            maximum=1.0,
        )
        for a in ACTORS
    ],
    _v(
        "board_seats",
        "composition",
        "initiative",
        "count",
        "Number of seats on the steering board.",
        minimum=1,
        maximum=200,
    ),
    _v(
        "initiator",
        "composition",
        "initiative",
        "nominal",
        "Who initiated the initiative.",
        labels={1: "public", 2: "private", 3: "joint"},
        time_constant=True,
    ),
    _v(
        "facilitator",
        "composition",
        "initiative",
        "binary",
        "The initiative has a dedicated facilitator (one person who drives it).",
        labels=YES_NO,
    ),
    _v(
        "key_individual",
        "composition",
        "initiative",
        "binary",
        "The initiative depends on one key individual.",
        labels=YES_NO,
    ),
    _v(
        "office",
        "composition",
        "initiative",
        "binary",
        "The initiative has some sort of office.",
        labels=YES_NO,
    ),
    _v(
        "formalised_year",
        "composition",
        "initiative",
        "year",
        "Year the initiative was formalised in its own organisation; missing if never.",
        minimum=1950,
        maximum=2100,
        required=False,
        time_constant=True,
    ),
    _v(
        "public_funding",
        "composition",
        "initiative",
        "share",
        "Share of the initiative's budget from public sources.",
        minimum=0.0,
        maximum=1.0,
    ),
    _v(
        "member_fees",
        "composition",
        "initiative",
        "share",
        "Share of the initiative's budget from membership fees.",
        minimum=0.0,
        maximum=1.0,
        required=False,
    ),
    _v(
        "n_members",
        "composition",
        "initiative",
        "count",
        "Number of active members.",
        minimum=1,
        maximum=100000,
    ),
    # social capital
    _v(
        "sc_trust",
        "social_capital",
        "initiative",
        "ordinal",
        "Cluster actors trust each other.",
        labels=LIKERT,
    ),
    _v(
        "sc_concerted",
        "social_capital",
        "initiative",
        "ordinal",
        "The region has a tradition of concerted action.",
        labels=LIKERT,
    ),
    _v(
        "sc_vision",
        "social_capital",
        "initiative",
        "ordinal",
        "Actors share a vision and agree on the initiative's objectives.",
        labels=LIKERT,
    ),
    _v(
        "sc_networks",
        "social_capital",
        "initiative",
        "ordinal",
        "Informal networks (clubs, associations) among actors are dense.",
        labels=LIKERT,
    ),
    _v(
        "prior_cluster",
        "social_capital",
        "initiative",
        "binary",
        "The region had a previous successful cluster when the initiative started "
        "(initiative level: it changes over time within a region).",
        labels=YES_NO,
        time_constant=True,
    ),
    # regional setting
    _v(
        "peripheral",
        "regional_setting",
        "region",
        "binary",
        "Region is officially less favoured / peripheral.",
        labels=YES_NO,
    ),
    _v(
        "unemp_gap",
        "regional_setting",
        "region",
        "continuous",
        "Regional minus national unemployment rate (percentage points).",
        minimum=-30,
        maximum=30,
    ),
    _v(
        "tertiary_ratio",
        "regional_setting",
        "region",
        "continuous",
        "Regional / national share with tertiary education.",
        minimum=0.01,
        maximum=10,
    ),
    _v(
        "rnd_ratio",
        "regional_setting",
        "region",
        "continuous",
        "Regional / national R&D intensity.",
        minimum=0.01,
        maximum=10,
    ),
    _v(
        "patent_ratio",
        "regional_setting",
        "region",
        "continuous",
        "Regional / national patents per 1000 inhabitants.",
        minimum=0.01,
        maximum=10,
    ),
    # critical mass
    _v(
        "n_firms",
        "critical_mass",
        "initiative",
        "count",
        "Number of firms in the cluster.",
        minimum=1,
        maximum=1_000_000,
    ),
    _v(
        "n_firms_10plus",
        "critical_mass",
        "initiative",
        "count",
        "Number of cluster firms with more than 10 employees (at most n_firms).",
        minimum=0,
        maximum=1_000_000,
    ),
    _v(
        "anchor_firm",
        "critical_mass",
        "initiative",
        "binary",
        "A large anchor firm (e.g. a multinational subsidiary) is present.",
        labels=YES_NO,
    ),
    _v(
        "university",
        "critical_mass",
        "region",
        "binary",
        "A university is present in the region.",
        labels=YES_NO,
    ),
    _v(
        "venture_capital",
        "critical_mass",
        "initiative",
        "binary",
        "Venture capital is present in the cluster.",
        labels=YES_NO,
    ),
    # phase
    _v(
        "start_year",
        "phase",
        "initiative",
        "year",
        "Year the initiative started.",
        minimum=1950,
        maximum=2100,
        time_constant=True,
    ),
    _v(
        "lifecycle",
        "phase",
        "initiative",
        "ordinal",
        "Cluster life-cycle stage.",
        labels={1: "emerging", 2: "growing", 3: "mature"},
    ),
    # outcomes
    _v(
        "takeoff",
        "outcomes",
        "initiative",
        "binary",
        "The cluster reached self-sustaining growth (in a panel: in the interval that ends at this wave; "
        "take-off is absorbing, so it is the initiative's last row).",
        labels=YES_NO,
    ),
    _v(
        "perf_competitiveness",
        "outcomes",
        "initiative",
        "ordinal",
        "The initiative improved the cluster's competitiveness.",
        labels=LIKERT,
    ),
    _v(
        "perf_growth",
        "outcomes",
        "initiative",
        "ordinal",
        "The initiative helped the cluster grow.",
        labels=LIKERT,
    ),
    _v("perf_goals", "outcomes", "initiative", "ordinal", "The initiative met its goals.", labels=LIKERT),
    _v(
        "firm_growth",
        "outcomes",
        "initiative",
        "continuous",
        "Growth of the number of firms since the previous wave (log ratio).",
        minimum=-5,
        maximum=5,
        required=False,
    ),
]

CODEBOOK: dict[str, Variable] = {v.name: v for v in _VARIABLES}
ID_COLUMNS: tuple[str, ...] = ("initiative_id", "region_id", "country_id")
WAVE = "wave"
"""The panel's wave column (absent or empty in a cross-sectional survey)."""
TIME_CONSTANT: tuple[str, ...] = tuple(v.name for v in _VARIABLES if v.time_constant)
"""Variables that keep their value in every wave of an initiative."""
CROSS_SECTION: tuple[str, ...] = tuple(name for name in CODEBOOK if name != WAVE)
"""The columns of a cross-sectional survey in codebook form: every variable but ``wave``."""
BOARD_COLUMNS: tuple[str, ...] = tuple(f"board_{a}" for a in ACTORS)
INVOLVE_COLUMNS: tuple[str, ...] = tuple(f"involve_{a}" for a in ACTORS)


def as_codebook_dtypes(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with the codebook's columns (in codebook order) cast to their dtypes."""
    out = df.copy()
    for name, var in CODEBOOK.items():
        if name in out:
            out[name] = out[name].astype(var.dtype)
    return out[[c for c in CODEBOOK if c in out]]


def required_columns() -> list[str]:
    """Names of the columns a survey file must provide."""
    return [v.name for v in _VARIABLES if v.required]


def _panel_role(v: Variable) -> str:
    if v.name in ("initiative_id", WAVE):
        return "key (one row per initiative and wave)"
    return "constant" if v.time_constant else "may change"


def render_markdown() -> str:
    """Render the codebook as Markdown (the content of ``data/CODEBOOK.md``)."""
    lines = [
        "# Codebook",
        "",
        "Generated from `src/clusterpreneur/study/codebook.py` by `nox -s data`; do not edit by hand.",
        "",
        "One row = one cluster initiative. Missing-value codes "
        + ", ".join(f"`{k}` ({v})" for k, v in MISSING_CODES.items())
        + " are read as missing wherever a variable allows missing values.",
        f"The four `board_*` shares must sum to one within {SHARE_TOLERANCE}.",
        "",
        "A panel of repeated survey waves has one row per initiative and wave, numbered by `wave` "
        "(1, 2, ...): an initiative's waves follow each other without gaps, a later wave has a later "
        "`survey_year`, and take-off is absorbing, so there is no row after the wave an initiative "
        "took off in. Variables marked *constant* in the column *in a panel* keep their value in every "
        "wave of an initiative; region-level variables are constant within a region in each wave.",
        "",
    ]
    constructs = dict.fromkeys(v.construct for v in _VARIABLES)
    for construct in constructs:
        lines += [
            f"## {construct.replace('_', ' ')}",
            "",
            "| name | level | type | allowed values | required | missing allowed | in a panel "
            "| description |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for v in _VARIABLES:
            if v.construct != construct:
                continue
            lines.append(
                f"| `{v.name}` | {v.level} | {v.kind} | {v.rule()} | "
                f"{'yes' if v.required else 'no'} | {'yes' if v.nullable else 'no'} | "
                f"{_panel_role(v)} | {v.description} |"
            )
        lines.append("")
    return "\n".join(lines)
