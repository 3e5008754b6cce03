"""Every arm of the training study differs from REAL only in its named factor (issue 16, items 2 and 3): the rows are
compared field by field, on the embedded reference and a real chat tokenizer (the tiny test model's)."""
import json
from collections import Counter

import numpy as np
import pytest

from culturelens.core.countries import load_countries
from culturelens.core.models import ModelConfig
from culturelens.core.questions import load_bank
from culturelens.core.reference import load_reference
from culturelens.core.tokenizer import load_tokenizer
from culturelens.core.translations import Translations
from culturelens.experiments.study.config import DataSection
from culturelens.synth.study_data import allocate, build_arm_rows, human_cells, induced, seed_settings

QIDS = ["Q177", "Q182"]
COUNTRIES = ["ARG", "BRA", "CHN", "DEU", "MEX", "USA", "NLD", "TUR"]


@pytest.fixture(scope="module")
def inputs(tiny_model_dir):
    bank, ref, table = load_bank(), load_reference("default"), load_countries()
    tok = load_tokenizer(ModelConfig(name_or_path=str(tiny_model_dir)))
    cells = human_cells(ref, QIDS, COUNTRIES)
    variants = {k: [{"kind": "seed", "text": bank.get(k[0]).text},
                    {"kind": "paraphrase", "text": f"In other words: {bank.get(k[0]).text}"}] for k in cells}
    translations = Translations.load("configs/translations/ethics_native.json")
    return lambda settings: build_arm_rows(cells, variants, bank, table, tok.tokenizer, tok.is_chat, settings, translations), cells, bank


@pytest.fixture(scope="module")
def built(inputs):
    build, cells, bank = inputs
    arms, facts = build(DataSection(templates=["country_last", "persona_inline"], passes=2, seed=3, shuffle_seed=5))
    return arms, facts, cells, bank


KEY = ("qid", "country", "template", "order", "pass", "slot")


def test_every_arm_has_reals_rows_and_differs_only_in_its_factor(built):
    arms, facts, cells, bank = built
    real = arms["real"]
    for name in ("shuffled", "multilingual", "seed_only"):
        rows = arms[name]
        assert len(rows) == len(real)
        assert [tuple(r[k] for k in KEY) for r in rows] == [tuple(r[k] for k in KEY) for r in real], name
    # SHUFFLED: the very same prompts; only the answers move (labels of another country)
    assert [r["prompt"] for r in arms["shuffled"]] == [r["prompt"] for r in real]
    assert [r["answer"] for r in arms["shuffled"]] != [r["answer"] for r in real]
    # MULTILINGUAL: the same answers; prompts differ exactly on the rows of translated languages
    ml = arms["multilingual"]
    assert [r["answer"] for r in ml] == [r["answer"] for r in real]
    for a, b in zip(ml, real):
        assert (a["prompt"] != b["prompt"]) == (a["language"] != "en")
    translated = {"ARG", "BRA", "CHN", "DEU", "MEX", "TUR"} & {c for _, c in cells}  # es, pt, zh, de, tr
    assert len(translated) >= 3 and {r["country"] for r in ml if r["language"] != "en"} == translated
    assert any("Responde como una persona típica de México" in r["prompt"] for r in ml)
    # SEED-ONLY: the same answers; prompts differ exactly where REAL used a teacher wording
    so = arms["seed_only"]
    assert [r["answer"] for r in so] == [r["answer"] for r in real]
    for a, b in zip(so, real):
        assert (a["prompt"] != b["prompt"]) == (b["kind"] != "seed")
    assert any(r["kind"] == "paraphrase" for r in real)


def test_rows_match_the_evaluation_and_carry_each_countrys_distribution(built):
    arms, facts, cells, bank = built
    real = arms["real"]
    n = facts["labels_per_cell"]
    assert n == 2 * 2 * 2  # passes x templates x orders
    assert Counter((r["qid"], r["country"]) for r in real) == {k: n for k in cells}
    assert {r["pass"] for r in real} == {0, 1} and {r["order"] for r in real} == {"original", "reversed"}
    for key, shares in cells.items():
        got = Counter(r["answer"] for r in real if (r["qid"], r["country"]) == key)
        assert max(abs(got.get(k, 0) / n - s) for k, s in enumerate(shares)) <= 1 / n + 1e-9
    for r in real:  # the completion is the letter the answer is shown under in this prompt's option order
        k = len(bank.get(r["qid"]).options)
        shown = r["answer"] if r["order"] == "original" else k - 1 - r["answer"]
        assert r["completion"] == f" {chr(ord('A') + shown)}"
        assert r["prompt"].rstrip().endswith("Answer:")
    assert facts["fidelity"]["real"]["max_abs_share_error"] <= 1 / n
    assert facts["fidelity"]["real"]["mean_r_label_vs_human"] > 0.9


def test_shuffled_labels_are_one_country_permutation_for_every_question(built):
    arms, facts, cells, bank = built
    perm = facts["permutation"]
    assert all(a != b for a, b in perm.items())
    for q in QIDS:
        have = {c for (qq, c) in cells if qq == q}
        mapping = induced(perm, have)
        assert sorted(mapping.values()) == sorted(have)
        for c in have:
            got = Counter(r["answer"] for r in arms["shuffled"] if (r["qid"], r["country"]) == (q, c))
            want = Counter(r["answer"] for r in arms["real"] if (r["qid"], r["country"]) == (q, mapping[c]))
            assert got == want  # the same allocation of the permuted country's shares


def joint(arms: dict, perm: dict, cells) -> bool:
    """SHUFFLED's labels are REAL's moved by ``perm`` (restricted to each question's countries), cell by cell."""
    def counts(name, key):
        return Counter(r["answer"] for r in arms[name] if (r["qid"], r["country"]) == key)
    for q in QIDS:
        mapping = induced(perm, {c for (qq, c) in cells if qq == q})
        if any(counts("shuffled", (q, c)) != counts("real", (q, d)) for c, d in mapping.items()):
            return False
    return True


def test_each_training_seed_draws_its_own_joint_permutation_and_real_rows_do_not_move(inputs):
    """SHUFFLED per training seed (seed_settings): another permutation for each seed, each one joint (the same
    permutation for every question, no fixed point) with the label marginals kept; REAL's labels are the same in
    every seed, and the permutation touches SHUFFLED's rows only."""
    build, cells, bank = inputs
    settings = DataSection(templates=["country_last"], passes=2, seed=3, shuffle_seed=5)
    per = {s: build(seed_settings(settings, s)) for s in (0, 1, 2)}
    perms = [per[s][1]["permutation"] for s in per]
    assert len({json.dumps(p, sort_keys=True) for p in perms}) == 3
    assert len({per[s][1]["shuffle_seed"] for s in per}) == 3
    for arms, facts in per.values():
        perm = facts["permutation"]
        assert sorted(perm) == sorted(perm.values()) == sorted({c for _, c in cells}) and all(a != b for a, b in perm.items())
        assert joint(arms, perm, cells)
        assert not joint(arms, next(p for p in perms if p != perm), cells)  # and not another seed's permutation
        for q in QIDS:  # label marginals: each question's answers over all its rows are REAL's
            assert Counter(r["answer"] for r in arms["shuffled"] if r["qid"] == q) == \
                Counter(r["answer"] for r in arms["real"] if r["qid"] == q)
        assert [r["prompt"] for r in arms["shuffled"]] == [r["prompt"] for r in arms["real"]]

    def labels(arms, name):
        return Counter((r["qid"], r["country"], r["answer"]) for r in arms[name])
    assert labels(per[0][0], "real") == labels(per[1][0], "real") == labels(per[2][0], "real")  # the human labels
    assert labels(per[0][0], "shuffled") != labels(per[1][0], "shuffled")
    # another permutation, the same sampling seed: every row but SHUFFLED's (and its DPO pairs) is unchanged
    one = seed_settings(settings, 0)
    a, b = build(one)[0], build(one.model_copy(update={"shuffle_seed": per[1][1]["shuffle_seed"]}))[0]
    for name in ("real", "multilingual", "seed_only", "dpo_real"):
        assert a[name] == b[name], name
    assert a["shuffled"] != b["shuffled"] and a["dpo_shuffled"] != b["dpo_shuffled"]


def test_dpo_pairs_are_country_discriminative(built):
    arms, facts, cells, bank = built
    pairs = arms["dpo_real"]
    assert pairs and all(p["chosen"] != p["rejected"] for p in pairs)
    mean = {q: np.mean([cells[(q, c)] for (qq, c) in cells if qq == q], axis=0) for q in QIDS}
    for p in pairs[:50]:
        excess = np.asarray(cells[(p["qid"], p["country"])]) - mean[p["qid"]]
        k = len(excess)
        hi, lo = (int(f(excess)) if p["order"] == "original" else k - 1 - int(f(excess)) for f in (np.argmax, np.argmin))
        assert p["chosen"] == f" {chr(ord('A') + hi)}" and p["rejected"] == f" {chr(ord('A') + lo)}"
    assert facts["dpo_pairs_same_chosen_in_every_country"] < 1.0
    assert [p["prompt"] for p in arms["dpo_shuffled"]] == [p["prompt"] for p in pairs]


def test_allocation_is_largest_remainder():
    import random

    labels = allocate([0.5, 0.3, 0.2], 8, random.Random(0))
    assert Counter(labels) == {0: 4, 1: 2, 2: 2}
    assert json.dumps(sorted(allocate([0.25] * 4, 4, random.Random(1)))) == "[0, 1, 2, 3]"
