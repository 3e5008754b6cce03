"""Question and QuestionBank: immutable, hashable questions; membership accepts the ids `get` accepts."""
from __future__ import annotations

import json

import pytest

from culturelens.core.questions import Option, Question, Remap, linear_scores, load_bank


def question(remap=None) -> Question:
    s = linear_scores(3)
    return Question("Q4", "Ethical Values", "text", tuple(Option(c, str(c), x) for c, x in zip((1, 2, 3), s)),
                    remap=remap if remap is not None else {})


def test_questions_are_hashable_and_equal_by_value():
    a, b = question({2: 3, 3: 2, 9: None}), question({9: None, 3: 2, 2: 3})
    assert hash(a) == hash(b) and a == b and len({a, b}) == 1
    assert a != question({2: 3})
    bank = load_bank()
    assert len({q for q in bank}) == len(bank)  # every bank question can key a dict or set


def test_remap_is_an_immutable_mapping_that_can_drop_codes():
    q = question({"2": "3", 9: None, 8: ""})
    assert isinstance(q.remap, Remap) and dict(q.remap) == {2: 3, 9: None, 8: None}
    assert q.remap.get(9, "absent") is None and q.remap.get(5, 5) == 5
    with pytest.raises(TypeError):
        q.remap[2] = 1  # type: ignore[index]
    assert not question().remap and question().remap == {}


def test_remap_read_from_a_bank_file_keeps_none(tmp_path):
    path = tmp_path / "bank.json"
    path.write_text(json.dumps([{"qid": "Q9", "category": "Ethical Values", "text": "t",
                                 "options": [{"code": 1, "label": "a"}, {"code": 2, "label": "b"}],
                                 "remap": {"3": 2, "-5": None}}]))
    q = load_bank(path).get("Q9")
    assert dict(q.remap) == {3: 2, -5: None}
    hash(q)


@pytest.mark.parametrize("qid", ["Q27", "q27", " Q27 ", "27", 27])
def test_membership_accepts_the_ids_get_accepts(qid):
    bank = load_bank()
    assert qid in bank and bank.get(qid).qid == "Q27"


def test_membership_of_unknown_ids():
    bank = load_bank()
    assert "Q9999" not in bank and "9999" not in bank and "" not in bank
