"""`culturelens claims` on tiny models: every claim section is computed from real eval runs, with verdicts."""
import json
from pathlib import Path

import pandas as pd
import yaml

from culturelens.cli import main
from culturelens.experiments.claims import NOT_SUPPORTED, NOT_TESTABLE, SUPPORTED, verdict_from_ci

COUNTRIES = ["DEU", "ARG", "USA", "NLD", "AUS", "IRQ", "TUR", "CHN", "MEX", "BRA", "JOR", "EGY"]
QUESTIONS = ["Q27", "Q29", "Q33", "Q122", "Q124", "Q132", "Q158", "Q160", "Q169", "Q224", "Q177", "Q182", "Q184", "Q185", "Q187", "Q189", "Q195"]


def test_verdict_rule():
    assert verdict_from_ci(0.01, 0.2) == SUPPORTED
    assert verdict_from_ci(-0.01, 0.2) == NOT_SUPPORTED
    assert verdict_from_ci(None, None) == NOT_TESTABLE
    assert verdict_from_ci(-0.3, -0.1, direction=-1) == SUPPORTED


def test_claims_end_to_end(tmp_path, tiny_model_dir, tiny_model_dir_2, tiny_base_model_dir):
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": QUESTIONS[::2], "heldout": QUESTIONS[1::2]}))
    entries = [
        {"label": "small-en", "model": {"name_or_path": str(tiny_model_dir)},
         "facts": {"family": "tiny", "params": 1e5, "corpus": "english", "aligned": True}},
        {"label": "small-multi", "model": {"name_or_path": str(tiny_model_dir_2)},
         "facts": {"family": "other", "params": 1.5e5, "corpus": "multilingual", "aligned": False}},
        {"label": "small-base", "model": {"name_or_path": str(tiny_base_model_dir)},
         "facts": {"family": "tiny", "params": 1e5, "corpus": "english", "aligned": False}},
        {"label": "missing-sft", "model": {"name_or_path": str(tiny_model_dir), "adapter": str(tmp_path / "nope")},
         "facts": {"family": "tiny", "params": 1e5, "corpus": "english", "aligned": True, "synthetic": True, "stage": "sft", "base": "small-en"}},
    ]
    cfg = {
        "experiment": "claims", "output_dir": str(tmp_path / "runs"), "n_boot": 100, "split_file": str(split),
        "eval": {"countries": COUNTRIES, "questions": QUESTIONS, "cache_dir": str(tmp_path / "cache"), "probe": {"batch_size": 16}},
        "models": entries,
        "languages": {"translations_file": str(Path(__file__).parents[1] / "configs/translations/ethics_native.json"),
                      "models": ["small-en", "small-multi"]},
        "robustness": {"templates": ["persona_system", "persona_third"], "orders": ["original", "reversed"], "models": ["small-en"]},
    }
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["claims", "--config", str(path), "--no-progress"]) == 0
    out = tmp_path / "runs" / "claims"
    claims = json.loads((out / "claims.json").read_text())
    md = (out / "claims.md").read_text()
    assert (out / "figures" / "claims.png").stat().st_size > 1000
    for key in ("1_norms", "2_western_bias", "3_multilingual", "4_size", "5_synthetic", "6_alignment"):
        assert claims[key]["verdict"] in (SUPPORTED, NOT_SUPPORTED, NOT_TESTABLE), key
    # claim 1 has an effect with a CI around it
    c1 = claims["1_norms"]
    assert c1["ci"][0] <= c1["effect"] <= c1["ci"][1]
    # claim 2 uses the 19-item block and the rich-West flag: DEU ARG USA NLD AUS are Western here
    c2 = claims["2_western_bias"]
    assert c2["n_western"] == 5 and set(c2["gaps"]) == {"small-en", "small-multi", "small-base"}
    # claim 3 pairs the English-centric and multilingual entries, naming the confounds
    assert any(p["english"] == "small-en" and "family" in p["confounds"] for p in claims["3_multilingual"]["pairs"])
    # claim 4: one family has two entries of equal size -> no size contrast -> not testable
    assert claims["4_size"]["verdict"] == NOT_TESTABLE
    # claim 5: the SFT adapter is missing -> reported, not invented
    assert claims["5_synthetic"]["verdict"] == NOT_TESTABLE and "missing-sft" in claims["skipped"]
    # claim 6: instruct vs base of one family and size is testable, with train/held-out not needed
    c6 = claims["6_alignment"]["comparisons"]
    assert c6 and c6[0]["model"] == "small-en" and c6[0]["vs"] == "small-base"
    assert "# Verdicts" in md and "## 2. Western bias" in md and "Prompt robustness" in md
    # prompt language: the hand-written file covers de, es, ar, tr, zh, pt (not en, nl)
    lang = claims["languages"]["models"]
    assert set(lang) == {"small-en", "small-multi"}
    v = lang["small-en"]
    assert set(v["translated_countries"]) == {"DEU", "ARG", "IRQ", "TUR", "CHN", "MEX", "BRA", "JOR", "EGY"}
    assert v["gap_change"]["diff"] is not None and v["gap_change"]["ci"][0] <= v["gap_change"]["ci"][1]
    assert v["r_translated"]["n"] == 9 and "## Prompt language" in md
    native = pd.read_parquet(Path(v["run_dirs"]["native"]) / "results.parquet")
    assert set(native[native.country == "USA"]["language"]) == {"en"} and set(native[native.country == "DEU"]["language"]) == {"de"}
    english = pd.read_parquet(Path(v["run_dirs"]["en"]) / "results.parquet")
    assert set(english["language"]) == {"en"} and len(english) == len(native)
    # robustness: 2 templates x 2 orders, each with its own gap and CI
    rob = claims["robustness_study"]["models"]["small-en"]
    assert {(r["template"], r["order"]) for r in rob["variants"]} == {(t, o) for t in ("persona_system", "persona_third") for o in ("original", "reversed")}
    assert all(r["gap_ci"][0] <= r["gap"] <= r["gap_ci"][1] for r in rob["variants"]) and isinstance(rob["claim2_flips"], bool)
    assert "## Claim 2 under each template and option order" in md
    # bad language settings are clear errors
    cfg["languages"]["models"] = ["nope"]
    path.write_text(yaml.safe_dump(cfg))
    assert main(["claims", "--config", str(path), "--no-progress"]) == 2


def test_gap_range_skips_undefined_gaps():
    # a prompt variant whose Western gap is undefined (None) used to raise TypeError in min()
    from culturelens.experiments.claims.studies import gap_range

    assert gap_range([0.2, None, -0.1]) == [-0.1, 0.2]
    assert gap_range([None, None]) is None and gap_range([]) is None


def test_missing_split_file_is_a_config_error(tmp_path, tiny_model_dir, capsys):
    adapter = tmp_path / "sft-adapter"
    adapter.mkdir()  # present, so the SFT entry would be evaluated on a split that does not exist
    missing = tmp_path / "no" / "split.json"
    cfg = {
        "output_dir": str(tmp_path / "runs"), "split_file": str(missing),
        "models": [
            {"label": "base", "model": {"name_or_path": str(tiny_model_dir)},
             "facts": {"family": "tiny", "params": 1e5, "corpus": "english", "aligned": True}},
            {"label": "sft", "model": {"name_or_path": str(tiny_model_dir), "adapter": str(adapter)},
             "facts": {"family": "tiny", "params": 1e5, "corpus": "english", "aligned": True, "synthetic": True, "stage": "sft", "base": "base"}},
        ],
    }
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["claims", "--config", str(path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(missing) in err and "culturelens synth" in err
    assert not (tmp_path / "runs").exists()  # nothing was evaluated
