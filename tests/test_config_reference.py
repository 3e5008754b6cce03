"""docs/config-reference.md is generated from the pydantic config models (scripts/gen_config_reference.py): it is
up to date, lists every key, and a config the page does not cover is an error, not a silent gap."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("gen_config_reference", ROOT / "scripts" / "gen_config_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def models(gen):
    return gen.find_models()


def test_committed_reference_is_up_to_date(gen, models):
    committed = (ROOT / "docs" / "config-reference.md").read_text()
    assert committed == gen.render(models), (
        "docs/config-reference.md is out of date with the config models: regenerate it with "
        "`python scripts/gen_config_reference.py` and commit it")


def _leaf_keys(gen, model, prefix=""):
    for name, field in model.model_fields.items():
        nested = list(gen._models_in(field.annotation))
        yield f"{prefix}{name}"
        for sub, suffix in nested:
            yield from _leaf_keys(gen, sub, f"{prefix}{name}{suffix}.")


def test_every_key_of_every_config_is_listed(gen, models):
    text = gen.render(models)
    from culturelens.eval.config import EvalConfig
    from culturelens.train.config import DPORunConfig

    for model in (EvalConfig, DPORunConfig):
        for key in _leaf_keys(gen, model):
            assert f"| `{key}` |" in text, key
    assert "| `probe.batch_size` | int (≥ 1) | `16` |" in text
    assert "| `model.name_or_path` | str | **required** |" in text


def test_every_field_has_a_description(gen, models):
    """Descriptions come from Field(description=...) or the comment on the field's line."""
    rows = [line for line in gen.render(models).splitlines() if line.startswith("| `")]
    empty = [line.split("|")[1].strip() for line in rows if line.rstrip().endswith("|  |")]
    assert not empty, f"config keys without a description: {empty}: add Field(description=...) and regenerate"


def test_a_new_config_outside_the_roots_is_documented_too(gen, models):
    from pydantic import Field

    from culturelens.core.config import StrictModel

    class KnobSettings(StrictModel):
        """Knob settings."""

        turns: int = Field(3, description="how far")

    class NewFeatureConfig(StrictModel):
        knob: KnobSettings = KnobSettings()
        level: float = 0.5  # how high

    text = gen.render({**models, "NewFeatureConfig": NewFeatureConfig})
    assert "| [NewFeatureConfig](#newfeatureconfig) |" in text and "\n## NewFeatureConfig\n" in text
    assert "| `knob.turns` | int | `3` | how far |" in text and "| `level` | float | `0.5` | how high |" in text


def test_comment_fallback_and_types(gen):
    from typing import Literal

    from culturelens.core.config import PathName, StrictModel

    class Demo(StrictModel):
        name: PathName = "x"  # one folder name
        # how the answer is read
        mode: Literal["a", "b"] | None = None
        sizes: list[int] = [1, 2]

    rows = {r[0]: r for r in gen.rows(Demo)}
    assert rows["`name`"][1:] == ("folder name", '`"x"`', "one folder name")
    assert rows["`mode`"][1] == '"a" \\| "b" \\| null' and rows["`mode`"][3] == "how the answer is read"
    assert rows["`sizes`"][1:3] == ("list[int]", "`[1, 2]`")
