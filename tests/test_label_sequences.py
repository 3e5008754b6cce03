"""Multi-token option labels ("10" on a digit-splitting tokenizer): label + its end, option mass <= 1, and agreement
with a brute-force computation (one unpadded forward pass per full reply, the reply read back as text)."""
import re

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from culturelens.core.countries import resolve_country
from culturelens.core.prompts import build_prompts
from culturelens.core.questions import load_bank
from culturelens.eval.backends.label_sequences import extending_tokens, label_continuations
from culturelens.eval.backends.probe import Probe


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    return model, tok


def ten_point_items(tok, qids=("Q182", "Q158"), chat=True):
    bank = load_bank()
    return build_prompts(tok, [bank.get(q) for q in qids], [resolve_country("DEU"), resolve_country("IRQ")], None,
                         ["persona_system", "no_persona"], ["original", "reversed"], "numbers", "Answer:", chat)


@torch.inference_mode()
def brute_force(model, tok, prompt_ids: list[int], labels) -> list[float]:
    """P(reply answers label k) in presented order: for each label and spacing, one full unpadded forward of
    prompt + label tokens; every next token t is appended and the reply decoded; it answers k when its text is
    (space) label followed by a character that is not a letter or digit."""
    raw = []
    for label in labels:
        total = 0.0
        for prefix in ("", " "):
            cont = tok(prefix + label, add_special_tokens=False).input_ids
            ids = torch.tensor([prompt_ids + cont])
            lp = model(input_ids=ids).logits[0].float().log_softmax(-1)
            p_label = float(sum(lp[len(prompt_ids) - 1 + i, c] for i, c in enumerate(cont)).exp())
            nxt = lp[-1].exp()
            pattern = re.compile(rf"^{re.escape(prefix + label)}(?![0-9A-Za-z])", re.S)
            ends = [t for t in range(len(tok)) if pattern.match(tok.decode(cont + [t]))]
            total += p_label * float(nxt[ends].sum())
        raw.append(total)
    return raw


def test_tiny_tokenizer_splits_ten(tiny):
    _, tok = tiny
    assert len(tok("10", add_special_tokens=False).input_ids) == 2  # the case this file is about


def test_option_mass_is_at_most_one_on_a_ten_point_item(tiny):
    model, tok = tiny
    probe = Probe(model, tok, batch_size=4)
    res = probe.score(ten_point_items(tok, qids=("Q182",)), progress=False)
    assert res and all(r.mode == "sequence" for r in res.values())
    assert max(r.mass for r in res.values()) <= 1 + 1e-6
    assert all(sum(r.probs) == pytest.approx(1.0, abs=1e-6) for r in res.values())


def test_sequence_probabilities_match_brute_force(tiny):
    model, tok = tiny
    probe = Probe(model, tok, batch_size=4)
    items = [it for it in ten_point_items(tok, qids=("Q182",)) if it.country == "DEU"][:2]
    res = probe.score(items, progress=False)
    for it in items:
        raw = brute_force(model, tok, probe.encode(it.text), it.labels)
        mass = sum(raw)
        assert res[it.key].mass == pytest.approx(mass, rel=1e-4)
        want = [0.0] * len(raw)
        for pos, option in enumerate(it.option_index):
            want[option] = raw[pos] / mass
        assert res[it.key].probs == pytest.approx(want, abs=1e-5)


def test_label_one_excludes_ten(tiny):
    """P("1", ended) = P("1" as a prefix) - P("1" then a letter or digit): the old score counted "10" as "1"."""
    model, tok = tiny
    probe = Probe(model, tok)
    it = ten_point_items(tok, qids=("Q182",))[0]
    ids = probe.encode(it.text)
    res = probe.score([it], progress=False)[it.key]
    prefix = extended = 0.0
    for text in ("1", " 1"):
        one = tok(text, add_special_tokens=False).input_ids
        with torch.inference_mode():
            lp = model(input_ids=torch.tensor([ids + one])).logits[0].float().log_softmax(-1)
        p = float(sum(lp[len(ids) - 1 + i, c] for i, c in enumerate(one)).exp())
        prefix += p
        extended += p * float(lp[-1, extending_tokens(tok, lp.shape[-1])].exp().sum())
    zero = tok("0", add_special_tokens=False).input_ids[0]
    assert extending_tokens(tok, len(tok))[zero]
    position = it.option_index[it.labels.index("1")]
    assert res.probs[position] * res.mass == pytest.approx(prefix - extended, rel=1e-4)
    assert res.probs[position] * res.mass < prefix


def test_extending_tokens_mark_letters_and_digits(tiny):
    _, tok = tiny
    mask = extending_tokens(tok, len(tok) + 3)
    ids = {s: tok(s, add_special_tokens=False).input_ids for s in ("0", "7", ".", "\n", " Strongly")}
    assert mask[ids["0"][0]] and mask[ids["7"][0]]
    assert not mask[ids["."][0]] and not mask[ids["\n"][0]] and not mask[ids[" Strongly"][0]]
    assert not mask[tok.convert_tokens_to_ids("<|im_end|>")] and not mask[-1]
    assert label_continuations(tok, "10", ("", " ")) == [tuple(tok(t, add_special_tokens=False).input_ids)
                                                               for t in ("10", " 10")]
