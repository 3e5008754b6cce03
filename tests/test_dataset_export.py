"""`culturelens data export`: the reference and the rendered prompts as a Hugging Face DatasetDict that round-trips."""
import pandas as pd
import pytest
import yaml

from culturelens.cli import main
from culturelens.core.reference import WVS_CITATION, default_reference

QUESTIONS = ["Q27", "Q122", "Q185"]


def eval_yaml(tmp_path, model_dir) -> str:
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump({
        "model": {"name_or_path": str(model_dir)}, "countries": ["DEU", "IRQ", "USA"], "questions": QUESTIONS,
        "probe": {"templates": ["persona_system", "no_persona"], "orders": ["original", "reversed"]},
    }))
    return str(path)


def test_export_round_trips_and_matches_the_probe(tmp_path, tiny_model_dir):
    from datasets import load_dataset, load_from_disk

    from culturelens.core.inputs import InputSpec, resolve_inputs
    from culturelens.core.models import ModelConfig, load_model
    from culturelens.core.prompts import build_prompts

    out = tmp_path / "ds"
    assert main(["data", "export", "--config", eval_yaml(tmp_path, tiny_model_dir), "--out", str(out)]) == 0
    ds = load_from_disk(str(out))
    assert set(ds) == {"reference", "prompts"}

    # the reference split is the reference, row for row (DEU/USA from respondent or shares data, IRQ from its respondent file)
    ref = default_reference().subset(countries=["DEU", "IRQ", "USA"], qids=QUESTIONS)
    got = ds["reference"].to_pandas()
    assert len(got) == len(ref.df)
    for row in got.itertuples():
        want = ref.get(row.country, row.qid)
        assert row.mean == pytest.approx(want["mean"], abs=1e-6) and row.source == want["source"]
        if want["dist"] is None:
            assert row.shares is None and pd.isna(row.n)
        else:
            assert list(row.shares) == pytest.approx(want["dist"], abs=1e-6)
            assert pd.isna(row.n) if want["n"] is None else row.n == want["n"]  # n unknown for answer-shares rows
            assert len(row.options) == len(row.shares) == len(row.scores)
    assert sorted(got[got.country == "USA"].qid) == sorted(ref.df[ref.df.country == "USA"].qid) == sorted(QUESTIONS)

    # the prompts split holds exactly the probe's prompts for this tokenizer (chat template rendered)
    lm = load_model(ModelConfig(name_or_path=str(tiny_model_dir)))
    inputs = resolve_inputs(InputSpec(countries=["DEU", "IRQ", "USA"], questions=QUESTIONS))
    pairs = set(zip(inputs.reference.df["country"], inputs.reference.df["qid"]))
    items = build_prompts(lm.tokenizer, [inputs.bank.get(q) for q in QUESTIONS], inputs.countries, pairs,
                          ["persona_system", "no_persona"], ["original", "reversed"], "letters", "Answer:", lm.is_chat)
    prompts = ds["prompts"].to_pandas().set_index("prompt_key")
    assert sorted(prompts.index) == sorted(it.key for it in items)
    for it in items:
        row = prompts.loc[it.key]
        assert row.prompt == it.text and list(row.option_index) == list(it.option_index) and row.order == it.order
    assert set(prompts.rendering) == {f"chat:{tiny_model_dir.name}"}
    assert "<|im_start|>" in prompts.prompt.iloc[0]  # the tiny model's chat template

    # parquet copies, declared in the card, load with load_dataset and equal the saved splits
    for split in ("reference", "prompts"):
        parquet = load_dataset(str(out), split, split="train", cache_dir=str(tmp_path / "hf-cache"))
        assert parquet.to_pandas().equals(ds[split].to_pandas())
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlicense: other") and WVS_CITATION in card
    assert "non-commercial research use" in card and "config_name: prompts" in card


def test_default_export_is_plain_and_covers_the_embedded_reference(tmp_path):
    from datasets import load_from_disk

    out = tmp_path / "ds"
    assert main(["data", "export", "--out", str(out)]) == 0
    ds = load_from_disk(str(out))
    ref = default_reference()
    assert len(ds["reference"]) == len(ref.df)
    assert sum(s is not None for s in ds["reference"]["shares"]) == int(ref.df["dist"].notna().sum())
    prompts = ds["prompts"]
    assert set(prompts["rendering"]) == {"plain"} and set(prompts["order"]) == {"original", "reversed"}
    from culturelens.core.prompts import TEMPLATES

    assert set(prompts["template"]) == set(TEMPLATES)
    assert all(p.endswith("Answer:") for p in prompts["prompt"][:50])


def test_overrides_without_a_config_are_an_error(tmp_path, capsys):
    assert main(["data", "export", "--out", str(tmp_path / "x"), "--plain"]) == 2
    assert "need --config" in capsys.readouterr().err
