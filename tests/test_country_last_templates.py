"""Country-last templates: one shared prefix per question and order, a few country tokens at the end, exact results."""
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from culturelens.core.countries import resolve_country
from culturelens.core.prompts import build_prompts
from culturelens.core.questions import load_bank
from culturelens.eval.backends.prefix import group_by_prefix
from culturelens.eval.backends.probe import Probe

COUNTRIES = ("DEU", "IRQ", "MEX", "NGA", "USA")


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    return model, tok


def _items(tok, template: str, chat: bool):
    bank = load_bank()
    return build_prompts(tok, [bank.get(q) for q in ("Q27", "Q33", "Q158")], [resolve_country(c) for c in COUNTRIES], None,
                         [template], ["original", "reversed"], "letters", "Answer:", chat)


@pytest.mark.parametrize("chat", [True, False])
@pytest.mark.parametrize("template", ["country_last", "country_in_answer"])
def test_everything_before_the_country_is_shared_and_scores_are_exact(tiny, template, chat):
    model, tok = tiny
    items = _items(tok, template, chat)
    probe = Probe(model, tok, batch_size=8, prefix_sharing=True)
    encoded = [probe.encode(it.text) for it in items]
    groups = group_by_prefix(encoded)
    assert len(groups) == 6 and all(len(idx) == len(COUNTRIES) for _, idx in groups)  # one per question and order
    for p, idx in groups:
        for i in idx:
            suffix = tok.decode(encoded[i][p:])
            name = resolve_country(items[i].country).name
            assert name in suffix and len(suffix) <= len(name) + 60, suffix  # the country and the turn's closing only
    plain = Probe(model, tok, batch_size=8).score(items, progress=False)
    fast = probe.score(items, progress=False)
    assert max(abs(a - b) for k in plain for a, b in zip(plain[k].probs, fast[k].probs)) < 1e-5


def test_country_in_answer_states_the_persona_before_the_answer_cue(tiny):
    _, tok = tiny
    item = next(it for it in _items(tok, "country_in_answer", True) if it.country == "DEU")
    assert item.text.endswith("Speaking as a typical person from Germany. Answer:")
    assert "Reply with the letter of one option only." in item.text
    last = next(it for it in _items(tok, "country_last", True) if it.country == "DEU")
    assert "Answer as a typical person from Germany." in last.text and last.text.endswith("Answer:")


def test_prefix_sharing_is_exact_on_gemma3_past_its_sliding_window(tiny_gemma_dir):
    """Gemma 3 has sliding-window layers (64 tokens in the tiny model, shorter than these prompts): exact anyway."""
    tok = AutoTokenizer.from_pretrained(tiny_gemma_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_gemma_dir, dtype=torch.float32).eval()
    items = _items(tok, "country_in_answer", True)
    plain = Probe(model, tok, batch_size=8).score(items, progress=False)
    fast = Probe(model, tok, batch_size=8, prefix_sharing=True).score(items, progress=False)
    assert max(abs(a - b) for k in plain for a, b in zip(plain[k].probs, fast[k].probs)) < 1e-5


def test_packed_mask_lets_a_suffix_see_the_prefix_and_its_own_earlier_tokens_only():
    from culturelens.eval.backends.prefix import packed_mask

    mask, positions, last = packed_mask(2, [2, 1], torch.float32)
    allowed = (mask[0, 0] == 0).int().tolist()
    assert allowed == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 0], [1, 1, 0, 0, 1]]
    assert positions.tolist() == [[2, 3, 2]] and last.tolist() == [1, 2]
