import pytest

from culturelens.core.config import load_config, parse_overrides
from culturelens.core.errors import ConfigError
from culturelens.eval.config import EvalConfig


def write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_loads_and_overrides(tmp_path):
    p = write(tmp_path, "model:\n  name_or_path: x\nprobe:\n  batch_size: 4\n")
    cfg = load_config(EvalConfig, p, ["probe.batch_size=8", "countries=[DEU,USA]", "model.dtype=bfloat16"])
    assert cfg.probe.batch_size == 8
    assert cfg.countries == ["DEU", "USA"]
    assert cfg.model.dtype == "bfloat16"


def test_unknown_key_is_named_with_suggestion(tmp_path):
    p = write(tmp_path, "model:\n  name_or_path: x\nprobe:\n  batch_sise: 4\n")
    with pytest.raises(ConfigError, match=r"unknown key 'probe.batch_sise' \(did you mean 'batch_size'\?\)"):
        load_config(EvalConfig, p)


def test_unknown_top_level_key(tmp_path):
    p = write(tmp_path, "modle:\n  name_or_path: x\n")
    with pytest.raises(ConfigError, match="unknown key 'modle'"):
        load_config(EvalConfig, p, ["model.name_or_path=y"])


def test_wrong_type_names_key(tmp_path):
    p = write(tmp_path, "model:\n  name_or_path: x\nprobe:\n  batch_size: many\n")
    with pytest.raises(ConfigError, match="probe.batch_size"):
        load_config(EvalConfig, p)


def test_bad_template_name(tmp_path):
    p = write(tmp_path, "model:\n  name_or_path: x\nprobe:\n  templates: [persona_sytem]\n")
    with pytest.raises(ConfigError, match="probe.templates"):
        load_config(EvalConfig, p)


def test_missing_file_and_bad_override(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(EvalConfig, tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_overrides(["model.dtype"])


def test_shipped_configs_are_valid():
    from pathlib import Path

    for path in sorted(Path(__file__).resolve().parents[1].glob("configs/eval/*.yaml")):
        load_config(EvalConfig, path)


def test_unknown_key_inside_a_list_gets_a_suggestion_and_the_allowed_keys(tmp_path):
    from culturelens.experiments.claims import ClaimsConfig

    p = write(tmp_path, "models:\n  - label: a\n    model:\n      name_or_path: x\n"
                        "    facts:\n      famly: smollm\n      params: 1.0e8\n      corpus: english\n      aligned: false\n")
    with pytest.raises(ConfigError) as info:
        load_config(ClaimsConfig, p)
    msg = str(info.value)
    assert "unknown key 'models.0.facts.famly' (did you mean 'family'?)" in msg
    assert "allowed here: family, params, corpus, aligned, synthetic, stage, base" in msg
    assert "missing required key 'models.0.facts.family'" in msg


def test_unknown_key_inside_a_mapping_of_models():
    from pydantic import Field

    from culturelens.core.config import StrictModel, validate_config

    class Leaf(StrictModel):
        size: int = 1

    class Root(StrictModel):
        leaves: dict[str, Leaf] | None = Field(default=None)

    with pytest.raises(ConfigError, match=r"unknown key 'leaves.big.sise' \(did you mean 'size'\?\); allowed here: size"):
        validate_config(Root, {"leaves": {"big": {"sise": 2}}})
