"""study.toml names models by ladder name, by formula or by spec file."""

from __future__ import annotations

import pytest

from clusterpreneur.pipeline import load_config
from clusterpreneur.pipeline.config import ConfigError
from clusterpreneur.pipeline.plan import model_family, model_spec
from clusterpreneur.pipeline.steps.model import formula_spec
from clusterpreneur.study.ladder import LADDER

FORMULA = "takeoff ~ log_firms + anchor_firm + breadth + (1 | country_id)"


def _toml(tmp_path, body: str):
    path = tmp_path / "study.toml"
    path.write_text(body, encoding="utf-8")
    return load_config(path)


def test_models_by_ladder_name_formula_and_spec_file(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "mine.json").write_text(LADDER["M1"].with_overrides(name="mine").to_json())
    cfg = _toml(
        tmp_path,
        f"""
[models]
fit = ["M1", "firms", "mine"]
[models.firms]
formula = "{FORMULA}"
draws = 300
[models.mine]
spec = "models/mine.json"
""",
    )
    assert cfg.models == ("M1", "firms", "mine")
    assert cfg.settings_for("firms").draws == 300  # sampler settings and the formula side by side
    assert model_spec(cfg, "M1") == LADDER["M1"]
    assert model_spec(cfg, "firms") is None and model_family(cfg, "firms") == "bernoulli"
    assert model_spec(cfg, "mine").name == "mine"  # read relative to the TOML file


def test_formula_model_on_the_survey_gets_the_study_names(survey_frame):
    spec = formula_spec("firms", {"formula": FORMULA}, survey_frame)
    assert (spec.obs_dim, spec.id_column, spec.name) == ("initiative", "initiative_id", "firms")
    assert set(spec.hypotheses) == {"log_firms", "anchor_firm", "breadth"}  # the study's H1, H4
    assert spec.groups[0].name == "country_id" and spec.formula == FORMULA


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ('[models]\nfit = ["nope"]\n', "unknown model 'nope'"),
        ('[models]\nfit = ["x"]\n[models.x]\nformula = "y ~ a"\nspec = "s.json"\n', "either formula"),
        ('[models]\nfit = ["x"]\n[models.x]\nspec = "s.json"\nfamily = "binomial"\n', "family goes with"),
        ('[models]\nfit = ["x"]\n[models.x]\nformla = "y ~ a"\n', "unknown setting"),
    ],
)
def test_bad_model_entries_are_config_errors(tmp_path, body, says):
    with pytest.raises(ConfigError, match=says):
        cfg = _toml(tmp_path, body)
        model_spec(cfg, cfg.models[0])


def test_spec_file_that_is_not_a_spec_is_a_config_error(tmp_path):
    (tmp_path / "s.json").write_text('{"name": "x"}')
    cfg = _toml(tmp_path, '[models]\nfit = ["x"]\n[models.x]\nspec = "s.json"\n')
    with pytest.raises(ConfigError, match=r"s\.json"):
        model_spec(cfg, "x")
