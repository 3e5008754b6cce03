"""The probe on tiny random models: batch-size invariance, label tokens, fallback, option order, BOS."""
import math

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from culturelens.core.countries import resolve_country
from culturelens.core.prompts import build_prompts
from culturelens.core.questions import load_bank
from culturelens.eval.backends.probe import Probe


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    return model, tok


def prompts(tok, qids=("Q27", "Q33", "Q158", "Q122"), countries=("DEU", "IRQ", "MEX"), labels="letters", orders=("original",), chat=True,
            templates=("persona_system", "persona_inline", "no_persona")):
    bank = load_bank()
    return build_prompts(
        tok, [bank.get(q) for q in qids], [resolve_country(c) for c in countries], None,
        list(templates), list(orders), labels, "Answer:", chat,
    )


def test_batch_size_invariance(tiny):
    model, tok = tiny
    items = prompts(tok)
    lengths = {len(Probe(model, tok).encode(it.text)) for it in items}
    assert len(lengths) > 1, "prompts of different lengths are needed to exercise padding"
    r1 = Probe(model, tok, batch_size=1).score(items, progress=False)
    r32 = Probe(model, tok, batch_size=32).score(items, progress=False)
    diff = max(abs(a - b) for k in r1 for a, b in zip(r1[k].probs, r32[k].probs))
    assert diff < 1e-5
    assert max(abs(r1[k].mass - r32[k].mass) for k in r1) < 1e-5


def test_distribution_is_normalised_and_mass_is_reported(tiny):
    model, tok = tiny
    res = Probe(model, tok, batch_size=8).score(prompts(tok), progress=False)
    for r in res.values():
        assert math.isclose(sum(r.probs), 1.0, abs_tol=1e-6)
        assert 0.0 < r.mass < 1.0  # random model: most mass falls outside the labels
        assert r.mode == "token"


def test_label_ids_cover_leading_space_variants(tiny):
    model, tok = tiny
    probe = Probe(model, tok)
    ids = probe.label_token_ids("A")
    assert len(ids) >= 1
    for i in ids:
        assert tok.decode([i]).strip() == "A"


def test_mass_matches_direct_forward(tiny):
    """The probe's raw label probabilities equal a plain unbatched forward pass."""
    model, tok = tiny
    item = prompts(tok, qids=("Q27",), countries=("DEU",))[0]
    probe = Probe(model, tok)
    res = probe.score([item], progress=False)[item.key]
    ids = torch.tensor([probe.encode(item.text)])
    with torch.inference_mode():
        p = model(input_ids=ids).logits[0, -1].float().softmax(-1)
    raw = [float(p[probe.label_token_ids(lbl)].sum()) for lbl in item.labels]
    assert res.mass == pytest.approx(sum(raw), rel=1e-5)
    assert res.probs == pytest.approx([x / sum(raw) for x in raw], abs=1e-6)


def test_reversed_order_maps_back_to_scale_order(tiny):
    model, tok = tiny
    items = prompts(tok, qids=("Q27",), countries=("DEU",), orders=("original", "reversed"))
    rev = [it for it in items if it.order == "reversed"][0]
    assert rev.option_index == (3, 2, 1, 0)
    assert "A. Strongly disagree" in rev.text or rev.text.index("A. ") < rev.text.index("D. ")
    res = Probe(model, tok).score([rev], progress=False)[rev.key]
    probe = Probe(model, tok)
    ids = torch.tensor([probe.encode(rev.text)])
    with torch.inference_mode():
        p = model(input_ids=ids).logits[0, -1].float().softmax(-1)
    raw = [float(p[probe.label_token_ids(lbl)].sum()) for lbl in rev.labels]
    # presented label A holds option 3 (the last option in scale order)
    assert res.probs[3] == pytest.approx(raw[0] / sum(raw), abs=1e-6)


def test_numbers_fall_back_to_sequence_scoring_for_multi_token_labels(tiny, caplog):
    model, tok = tiny
    items = prompts(tok, qids=("Q158",), countries=("DEU",), labels="numbers")
    probe = Probe(model, tok, batch_size=4)
    if probe.label_token_ids("10"):
        pytest.skip("tokenizer has '10' as one token")
    with caplog.at_level("WARNING"):
        res = probe.score(items, progress=False)
    assert "10" in probe.fallback_labels
    assert "not a single token" in caplog.text
    for r in res.values():
        assert r.mode == "sequence"
        assert math.isclose(sum(r.probs), 1.0, abs_tol=1e-6)


def test_bos_added_once(tiny):
    model, tok = tiny
    probe = Probe(model, tok)
    for it in prompts(tok, qids=("Q27",), countries=("DEU",)):
        ids = probe.encode(it.text)
        if tok.bos_token_id is not None:
            assert ids.count(tok.bos_token_id) <= 1


def test_plain_prompts_for_base_models(tiny):
    model, tok = tiny
    items = prompts(tok, qids=("Q27",), countries=("DEU",), chat=False)
    persona = [it for it in items if it.template == "persona_system"][0]
    assert "Germany" in persona.text and persona.text.endswith("Answer:")
    nop = [it for it in items if it.template == "no_persona"][0]
    assert nop.country == "NONE" and "Germany" not in nop.text


def test_prefix_sharing_matches_plain_scoring(tiny):
    from culturelens.eval.backends.prefix import group_by_prefix

    model, tok = tiny
    items = prompts(tok, orders=("original", "reversed"))
    plain = Probe(model, tok, batch_size=8).score(items, progress=False)
    shared_probe = Probe(model, tok, batch_size=8, prefix_sharing=True)
    shared = shared_probe.score(items, progress=False)
    groups = group_by_prefix([shared_probe.encode(it.text) for it in items])
    assert any(p >= 8 and len(idx) > 1 for p, idx in groups), "expected some prompts to share a prefix"
    diff = max(abs(a - b) for k in plain for a, b in zip(plain[k].probs, shared[k].probs))
    assert diff < 1e-5


@pytest.mark.parametrize("chat", [True, False])
def test_question_first_templates_share_the_question_block(tiny, chat):
    from culturelens.eval.backends.prefix import group_by_prefix

    model, tok = tiny
    templates = ("question_first", "question_first_third", "question_first_citizen")
    items = prompts(tok, templates=templates, chat=chat)
    probe = Probe(model, tok, batch_size=8, prefix_sharing=True)
    encoded = [probe.encode(it.text) for it in items]
    groups = group_by_prefix(encoded)
    # one group per question: its 3 templates x 3 countries share everything up to the persona sentence
    assert len(groups) == 4 and all(len(idx) == 9 for _, idx in groups)
    shared = sum(p * (len(idx) - 1) for p, idx in groups) / sum(map(len, encoded))
    assert shared > 0.4, f"only {shared:.0%} of the tokens are reused"
    plain = Probe(model, tok, batch_size=8).score(items, progress=False)
    fast = probe.score(items, progress=False)
    assert max(abs(a - b) for k in plain for a, b in zip(plain[k].probs, fast[k].probs)) < 1e-5


def test_caching_backend_scores_only_what_is_missing(tiny, tmp_path):
    from culturelens.eval.backends import ProbeBackend
    from culturelens.eval.backends.cache import CachingBackend, ProbeCache

    model, tok = tiny
    items = prompts(tok, qids=("Q27", "Q33"), countries=("DEU",))
    probe = Probe(model, tok, batch_size=2)
    asked: list[int] = []
    score = probe.score
    probe.score = lambda todo, **kw: asked.append(len(todo)) or score(todo, **kw)
    cache = ProbeCache(tmp_path)
    wrapped = CachingBackend(probe, cache)
    assert isinstance(wrapped.fingerprint, str) and wrapped.tokenizer is tok and wrapped.fallback_labels == set()
    seen: list[dict] = []
    first = wrapped.score(items[:3], on_batch=seen.append, progress=False)
    assert sum(map(len, seen)) == 3 and cache.count(probe.fingerprint) == 3 and wrapped.stats.n_cached == 0
    both = wrapped.score(items, progress=False)
    assert asked == [3, len(items) - 3] and wrapped.stats.n_cached == 3
    assert all(both[k].probs == pytest.approx(first[k].probs, abs=1e-12) for k in first)
    assert set(both) == {it.key for it in items}
    for backend in (probe, wrapped):
        assert all(hasattr(backend, attr) for attr in ProbeBackend.__annotations__)
