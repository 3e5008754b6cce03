"""`culturelens claims` on tiny models: every claim section is computed from real eval runs, with verdicts."""
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from culturelens.cli import main
from culturelens.core.ci import CI
from culturelens.experiments.claims import NOT_SUPPORTED, NOT_TESTABLE, SUPPORTED, verdict_from_ci
from culturelens.experiments.claims.results import FRAGILE, robust_verdict

COUNTRIES = ["DEU", "ARG", "USA", "NLD", "AUS", "IRQ", "TUR", "CHN", "MEX", "BRA", "JOR", "EGY"]
QUESTIONS = ["Q27", "Q29", "Q33", "Q122", "Q124", "Q132", "Q158", "Q160", "Q169", "Q224", "Q177", "Q182", "Q184", "Q185", "Q187", "Q189", "Q195"]


def test_verdict_rule():
    assert verdict_from_ci(0.01, 0.2) == SUPPORTED
    assert verdict_from_ci(-0.01, 0.2) == NOT_SUPPORTED == "no evidence" and NOT_TESTABLE == "not testable"
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
        {"label": "loo", "model": {"name_or_path": "baseline:leave_one_out"},
         "facts": {"family": "baseline", "params": 0, "aligned": False, "stage": "reference"}},
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
        assert claims[key]["verdict"] in (SUPPORTED, NOT_SUPPORTED, NOT_TESTABLE, FRAGILE), key
        # every claim is re-tested on each option order and persona template alone
        assert {"order=original", "order=reversed", "template=persona_system", "template=persona_inline"} <= set(
            claims[key]["verdict_by_view"]), key
    # claim 1 has an effect with a CI around it
    c1 = claims["1_norms"]
    assert c1["ci"]["lo"] <= c1["effect"] <= c1["ci"]["hi"]
    # claim 2 uses the 19-item block and the rich-West flag: DEU ARG USA NLD AUS are Western here
    c2 = claims["2_western_bias"]
    assert c2["n_western"] == 5 and set(c2["gaps"]) == {"small-en", "small-multi", "small-base", "loo"}
    # the country-blind reference predictor is shown next to the models, never counted as one; claim 1 takes base
    # models only, one per family and size (small-en and small-base are both tiny at 1e5: the unaligned one counts)
    assert c2["gaps"]["loo"]["verdict"] != "western" and c1["n_models"] == 2
    assert c1["models_used"] == ["small-multi", "small-base"]
    assert c1["models_left_out"] == {"small-en": "same family and size as small-base", "loo": "a reference entry"}
    assert "small-multi, small-base" in md and "left out: small-en" in md
    # one primary endpoint per claim (the defaults), Holm across the claims that have a p
    tested = [k for k in claims if k[0].isdigit() and claims[k].get("p") is not None]
    assert tested and all(claims[k]["n_holm"] == len(tested) and claims[k]["p_holm"] >= claims[k]["p"] for k in tested)
    for key in tested:
        c = claims[key]
        assert c["primary"] and c["alpha"] == 0.025
        if c["verdict_by_view"]["averaged over orders and templates"] == SUPPORTED:
            assert c["p_holm"] < 0.025
        if c["verdict"] == NOT_SUPPORTED:  # no evidence says what it could have detected
            assert "minimum detectable" in c["reason"] and c["mde"] > 0
    assert [x["primary"] for x in c1["contrasts"]] == [True, False, False]
    assert all(x["q_bh"] is None or x["q_bh"] >= x["p"] for x in c1["contrasts"])
    assert "**Primary endpoint**" in md and "q (BH)" in md and "p (Holm)" in md
    assert all("loo" not in (p["english"], p["multilingual"]) for p in claims["3_multilingual"]["pairs"])
    # claim 3 pairs the English-centric and multilingual entries, naming the confounds
    pairs = claims["3_multilingual"]["pairs"]
    assert any(p["english"] == "small-en" and any(c.startswith("family") for c in p["confounds"]) for p in pairs)
    assert all(any(c.startswith("overall r level") for c in p["confounds"]) for p in pairs)
    # claim 2 stands on the gap beyond the null; the raw gap is kept next to it
    assert all(g["verdict"] in ("western", "non-western", "no evidence", "too few countries") and "raw" in g for g in c2["gaps"].values())
    # claim 1: one data kind, the same countries on every question
    assert c1["kind"] == "wvs7" and len(c1["countries"]) >= 5
    # claim 4: one family has two entries of equal size -> no size contrast -> not testable
    assert claims["4_size"]["verdict"] == NOT_TESTABLE
    # claim 5: the SFT adapter is missing -> reported, not invented
    assert claims["5_synthetic"]["verdict"] == NOT_TESTABLE and "missing-sft" in claims["skipped"]
    # claim 6: instruct vs base of one family and size is testable, with train/held-out not needed
    c6 = claims["6_alignment"]["comparisons"]
    assert c6 and c6[0]["model"] == "small-en" and c6[0]["vs"] == "small-base"
    assert c6[0]["scope"] == "all" and c6[0]["questions"].startswith("all ")
    assert c6[0]["all"]["p_perm"] is not None and c6[0]["all"]["q_bh"] is not None and claims["6_alignment"]["p"] is not None
    # claim 3 needs an English-centric gap to reduce: without one it is not testable, never "no evidence"
    for pair in claims["3_multilingual"]["pairs"]:
        if pair["verdict_english"] != "western":
            assert pair["verdict"] == NOT_TESTABLE and pair["reason"].startswith("premise missing")
    assert "# Verdicts" in md and "## 2. Western bias" in md and "Prompt robustness" in md
    # prompt language: the hand-written file covers de, es, ar, tr, zh, pt (not en, nl)
    lang = claims["languages"]["models"]
    assert set(lang) == {"small-en", "small-multi"}
    v = lang["small-en"]
    assert set(v["translated_countries"]) == {"DEU", "ARG", "IRQ", "TUR", "CHN", "MEX", "BRA", "JOR", "EGY"}
    assert v["gap_change"]["diff"] is not None and v["gap_change"]["ci"]["lo"] <= v["gap_change"]["ci"]["hi"]
    assert v["r_translated"]["n"] == 9 and "## Prompt language" in md
    native = pd.read_parquet(Path(v["run_dirs"]["native"]) / "results.parquet")
    assert set(native[native.country == "USA"]["language"]) == {"en"} and set(native[native.country == "DEU"]["language"]) == {"de"}
    english = pd.read_parquet(Path(v["run_dirs"]["en"]) / "results.parquet")
    assert set(english["language"]) == {"en"} and len(english) == len(native)
    # robustness: 2 templates x 2 orders, each with its own gap and CI
    rob = claims["robustness_study"]["models"]["small-en"]
    assert {(r["template"], r["order"]) for r in rob["variants"]} == {(t, o) for t in ("persona_system", "persona_third") for o in ("original", "reversed")}
    assert all(r["ci"]["lo"] <= r["gap"] <= r["ci"]["hi"] for r in rob["variants"]) and isinstance(rob["claim2_flips"], bool)
    # the robustness and language tables carry a BH q-value beside each p (one BH over the rows of each table)
    assert all(r["q_bh"] is None or r["q_bh"] >= r["p"] for r in rob["variants"])
    assert sum(r["p"] is not None for r in rob["variants"]) == sum(r["q_bh"] is not None for r in rob["variants"])
    ch = v["gap_change"]
    assert (ch["p"] is None) == (ch["q_bh"] is None) and (ch["q_bh"] is None or ch["q_bh"] >= ch["p"])
    assert md.count("| p (Welch) | q (BH) |") == 2
    assert "## Claim 2 under each template and option order" in md
    # bad language settings are clear errors
    cfg["languages"]["models"] = ["nope"]
    path.write_text(yaml.safe_dump(cfg))
    assert main(["claims", "--config", str(path), "--no-progress"]) == 2


def test_primary_endpoint_is_validated(tmp_path, capsys):
    from culturelens.experiments.claims.config import DEFAULT_PRIMARY, ENDPOINTS

    assert set(DEFAULT_PRIMARY) == set(ENDPOINTS) and all(DEFAULT_PRIMARY[k] in ENDPOINTS[k] for k in ENDPOINTS)
    base = Path(__file__).parents[1] / "configs/experiments/claims.yaml"
    for override, said in (("primary.6_alignment=nope", "unknown endpoint 'nope'"), ("primary.7_x=a", "unknown claim '7_x'")):
        assert main(["claims", "--config", str(base), override, f"output_dir={tmp_path}", "--dry-run"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and said in err and len(err.splitlines()) == 1, err


def test_claim_1_takes_base_models_only_one_per_family_and_size():
    """configs/experiments/claims.yaml lists SmolLM2 three times (base + SFT + DPO adapters): claim 1 counts it once."""
    from culturelens.core.config import load_config
    from culturelens.experiments.claims.config import ClaimsConfig
    from culturelens.experiments.claims.context import one_per_family_size

    cfg = load_config(ClaimsConfig, Path(__file__).parents[1] / "configs/experiments/claims.yaml", [])
    used, left_out = one_per_family_size({e.label: e.facts for e in cfg.models})
    assert used == ["smollm2-135m-instruct", "gemma3-270m"]
    assert left_out == {"smollm2-135m-sft": "a sft entry", "smollm2-135m-dpo": "a dpo entry", "baseline-leave_one_out": "a reference entry"}
    gpu = load_config(ClaimsConfig, Path(__file__).parents[1] / "configs/experiments/claims_gpu.yaml", [])
    used, left_out = one_per_family_size({e.label: e.facts for e in gpu.models})
    assert "smollm2-135m" in used and "smollm2-135m-instruct" not in used and len(used) == 7  # 7 (family, size) pairs
    assert left_out["smollm2-135m-instruct"] == "same family and size as smollm2-135m"


def test_holm_across_claims_and_no_evidence_states_the_mde():
    from culturelens.experiments.claims.results import ClaimResult, holm_verdicts, intersection_p, one_sided, p_from_ci

    res = {"a": ClaimResult(verdict=SUPPORTED, p=0.01, mde=0.1), "b": ClaimResult(verdict=SUPPORTED, p=0.02, mde=0.2),
           "c": ClaimResult(verdict=NOT_TESTABLE, reason="premise missing")}
    holm_verdicts(res, 0.025)
    # Holm over the two testable claims: 0.01 * 2 = 0.02 < 0.025 supported; max(0.02, 0.02 * 1) = 0.02 supported
    assert res["a"].verdict == SUPPORTED and res["a"].p_holm == 0.02 and res["a"].n_holm == 2
    res = {"a": ClaimResult(verdict=SUPPORTED, p=0.015, mde=0.1), "b": ClaimResult(verdict=SUPPORTED, p=0.2, mde=0.25)}
    holm_verdicts(res, 0.025)  # 0.015 alone would pass; adjusted 0.03 does not
    assert res["a"].verdict == NOT_SUPPORTED and abs(res["a"].p_holm - 0.03) < 1e-12
    assert "minimum detectable effect at this n: 0.100" in res["a"].reason and "Holm-adjusted over 2 claims" in res["a"].reason
    assert res["c"].verdict == NOT_TESTABLE if "c" in res else True
    assert intersection_p([0.01, 0.03]) == 0.03 and intersection_p([0.01, None]) is None and intersection_p([]) is None
    assert one_sided(0.04, 0.3) == 0.02 and one_sided(0.04, -0.3) == 0.98 and one_sided(None, 0.1) is None
    p, mde = p_from_ci(0.2, 0.0, 0.4, alpha=0.025)  # CI just touching 0: p = 2.5 %, se = 0.102, mde = 2.8 se
    assert abs(p - 0.025) < 1e-9 and abs(mde - 2.80 * 0.2 / 1.96) < 1e-2


def test_a_verdict_that_flips_across_views_is_fragile():
    assert robust_verdict({"averaged": SUPPORTED, "order=original": SUPPORTED, "order=reversed": NOT_SUPPORTED}) == FRAGILE
    assert robust_verdict({"averaged": NOT_SUPPORTED, "order=original": SUPPORTED}) == FRAGILE
    assert robust_verdict({"averaged": SUPPORTED, "order=original": SUPPORTED, "template=x": NOT_TESTABLE}) == SUPPORTED
    assert robust_verdict({"averaged": NOT_TESTABLE}) == NOT_TESTABLE


def test_adapter_comparison_without_its_question_set_is_not_testable():
    from culturelens.experiments.claims.results import AdapterDiff, PairedDiff

    d = AdapterDiff(model="dpo", vs="sft", scope="heldout", questions="held-out questions: unknown (no split_file)",
                    all=PairedDiff(diff=0.3, ci=CI(lo=0.1, hi=0.5), n=20))
    assert d.scoped() is None and d.verdict == NOT_TESTABLE and "no heldout questions" in d.reason
    assert d.model_dump()["verdict"] == NOT_TESTABLE  # never the all-questions verdict


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


def test_norms_contrast_slope_and_cluster_permutation():
    """Claim 1's contrast by hand (per-question fidelity slope after removing each country's mean), entering a model four
    times changes nothing (the slopes are averaged before the one test), and equal signal on both groups is not evidence
    even when the groups' human answers spread differently (what fooled the r contrast)."""
    import numpy as np
    import pytest

    from culturelens.eval.statistics import engine
    from culturelens.experiments.claims.paper_claims import norms_contrast

    rng = np.random.default_rng(0)
    human = rng.normal(size=(24, 15))
    in_a, clusters = np.arange(24) < 12, np.arange(24) // 2
    model = np.where(in_a[:, None], 0.8, 0.2) * human + rng.normal(scale=0.3, size=(24, 15))  # norms (first 12) closer
    one = norms_contrast(model[None], human, clusters, in_a, ~in_a, 0.025, 999, seed=1)
    dc = [x - x.mean(axis=0, keepdims=True) for x in (model, human)]
    b = engine.question_slope(*dc)
    assert one["effect"] == pytest.approx(b[:12].mean() - b[12:].mean())
    assert one["ci"].lo < one["effect"] < one["ci"].hi and one["p"] < 0.025 and one["mde"] > 0
    four = norms_contrast(np.repeat(model[None], 4, axis=0), human, clusters, in_a, ~in_a, 0.025, 999, seed=1)
    assert four["ci"].as_list() == pytest.approx(one["ci"].as_list()) and four["p"] == one["p"] and four["effect"] == pytest.approx(one["effect"])
    assert norms_contrast(model[None], human, clusters, np.arange(24) < 2, ~in_a, 0.025, 999)["p"] is None  # 1 cluster a side
    spread = np.where(in_a[:, None], 2.0, 0.7) * human  # norms spread more across countries
    hits = [norms_contrast((0.3 * spread + g.normal(0, 0.3, spread.shape))[None], spread, clusters, in_a, ~in_a, 0.025, 199, s)["p"]
            < 0.025 for s, g in ((s, np.random.default_rng(100 + s)) for s in range(60))]
    r_hits = [(lambda m: engine.question_r(m, spread)[:12].mean() - engine.question_r(m, spread)[12:].mean())(
        0.3 * spread + g.normal(0, 0.3, spread.shape)) > 0 for g in (np.random.default_rng(100 + s) for s in range(60))]
    assert sum(hits) <= 5 and sum(r_hits) >= 55  # the slope test holds its level where r favours norms every time


def test_claims_json_reads_through_its_model_and_refuses_unknown_keys(tmp_path):
    from culturelens.core.errors import DataError
    from culturelens.experiments.claims.claims_file import ClaimsFile

    gaps = {"m": {"verdict": "no evidence", "gap": 0.01, "ci": {"lo": -0.1, "hi": 0.2, "method": "Welch's t"},
                  "raw": {"gap": 0.3, "ci": {"lo": 0.1, "hi": 0.5}}}}
    claims = {"2_western_bias": {"verdict": "no evidence", "questions": ["Q177"], "n_western": 5, "n_countries": 12,
                                 "gaps": gaps, "nearest": {}, "western_base_rate": 0.4, "n_models_western_beyond_null": 0},
              "5_synthetic": {"verdict": "no evidence", "comparisons": [{"model": "a", "vs": "b", "verdict": "no evidence",
                                                                         "all": {"diff": 0.1, "ci_lo": -0.1, "ci_hi": 0.3, "n": 5}}]},
              "skipped": {}}
    (tmp_path / "claims.json").write_text(json.dumps(claims))
    typed = ClaimsFile.read(tmp_path)
    assert typed.western_bias.gaps["m"].raw.ci == CI(lo=0.1, hi=0.5)
    assert typed.synthetic.comparisons[0].all.ci == CI(lo=-0.1, hi=0.3)  # an older file's ci_lo/ci_hi read as one CI
    assert set(typed.claims()) == {"2_western_bias", "5_synthetic"}
    assert typed.as_json()["2_western_bias"]["gaps"]["m"]["ci"] == {"lo": -0.1, "hi": 0.2, "method": "Welch's t"}
    gaps["m"]["surprise"] = 1
    (tmp_path / "claims.json").write_text(json.dumps(claims))
    with pytest.raises(DataError, match="2_western_bias.gaps.m.surprise"):
        ClaimsFile.read(tmp_path)
