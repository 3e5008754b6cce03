"""Multiple-choice prompts: country persona + question + labelled options + answer cue.

Every prompt is rendered as the model will see it: through the tokenizer's chat template for chat
models (the cue is put at the start of the assistant turn), as plain text for base models.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from culturelens.core.countries import Country
from culturelens.core.questions import Question

NO_COUNTRY = "NONE"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Template:
    """system/user are used for chat models; plain for base models. {country} and {block} are filled in.

    `answer` opens the chat model's assistant turn ({cue} is the configured answer cue): a template can put the
    country there, so that everything before it is shared by every country's prompt (see `country_in_answer`).
    """

    system: str | None
    user: str
    plain: str
    persona: bool = True
    answer: str = "{cue}"


INSTRUCTION = "Reply with the letter of one option only."
TEMPLATES: dict[str, Template] = {
    "persona_system": Template(
        system=(
            "You are a typical person living in {country}, taking part in the World Values Survey. "
            "Answer every question the way most people in {country} would."
        ),
        user="{block}\n\n{instruction}",
        plain=(
            "The following is an answer to the World Values Survey given by a typical person "
            "living in {country}.\n\n{block}\n"
        ),
    ),
    "persona_inline": Template(
        system=None,
        user="Imagine you are a typical person from {country}. Answer this survey question as they would.\n\n{block}\n\n{instruction}",
        plain="Imagine you are a typical person from {country}. Answer this survey question as they would.\n\n{block}\n",
    ),
    "persona_third": Template(
        system=None,
        user="How would most people in {country} answer this survey question?\n\n{block}\n\n{instruction}",
        plain="Survey question as answered by most people in {country}.\n\n{block}\n",
    ),
    # Question first, persona after: every country's prompt for a question starts with the same tokens, so with
    # probe.prefix_sharing the question block is computed once per question (the fastest sweeps).
    "question_first": Template(
        system=None,
        user="{block}\n\nAnswer the way a typical person living in {country} would.\n\n{instruction}",
        plain="{block}\n\nAs answered by a typical person living in {country}.\n",
    ),
    "question_first_third": Template(
        system=None,
        user="{block}\n\nHow would most people in {country} answer this question?\n\n{instruction}",
        plain="{block}\n\nAs answered by most people in {country}.\n",
    ),
    "question_first_citizen": Template(
        system=None,
        user="{block}\n\nYou are a citizen of {country}. Give your answer.\n\n{instruction}",
        plain="{block}\n\nA citizen of {country} answers.\n",
    ),
    # Country last: only the country's name and the few tokens after it differ between countries, everything before
    # (chat header, question block, instructions) is one shared prefix. country_last ends the user turn with the
    # persona (the chat template's turn closing then follows the country); country_in_answer states the persona at
    # the start of the assistant turn, right before the answer cue (the fewest country-specific tokens).
    "country_last": Template(
        system=None,
        user="{block}\n\n{instruction} Answer as a typical person from {country}.",
        plain="{block}\n\nAs answered by a typical person from {country}.\n",
    ),
    "country_in_answer": Template(
        system=None,
        user="{block}\n\nAnswer as a typical person from the country named at the start of your answer would. {instruction}",
        plain="{block}\n\nSpeaking as a typical person from {country}.\n",
        answer="Speaking as a typical person from {country}. {cue}",
    ),
    "no_persona": Template(
        system=None,
        user="Answer this survey question with your own view.\n\n{block}\n\n{instruction}",
        plain="Answer to a survey question.\n\n{block}\n",
        persona=False,
    ),
}


@dataclass(frozen=True)
class PromptItem:
    template: str
    order: str  # "original" | "reversed"
    country: str  # alpha-3, or NONE for the no-persona template
    qid: str
    text: str  # the full rendered prompt, specials included
    labels: tuple[str, ...]  # labels in presented order
    option_index: tuple[int, ...]  # presented position -> option index in scale order
    language: str = "en"
    key: str = field(default="", compare=False)

    def __post_init__(self):
        if not self.key:
            digest = hashlib.sha256(json.dumps([self.text, self.labels, self.option_index]).encode()).hexdigest()[:32]
            object.__setattr__(self, "key", digest)


def make_labels(k: int, style: str) -> tuple[str, ...]:
    return tuple(LETTERS[:k]) if style == "letters" else tuple(str(i + 1) for i in range(k))


def question_block(
    question: Question, labels: tuple[str, ...], order: str, text: str | None = None,
    option_labels: list[str] | None = None, words: tuple[str, str] = ("Question", "Options"),
) -> tuple[str, tuple[int, ...]]:
    index = list(range(len(question.options)))
    if order == "reversed":
        index.reverse()
    names = option_labels or [o.label for o in question.options]
    lines = [f"{words[0]}: {text or question.text}", f"{words[1]}:"]
    lines += [f"{label}. {names[i]}" for label, i in zip(labels, index)]
    return "\n".join(lines), tuple(index)


def render(tokenizer, template: Template, country_name: str | None, block: str, cue: str, chat: bool, labels,
           instruction: str | None = None) -> str:
    fill = {"country": country_name or "", "block": block}
    if instruction is None:
        instruction = INSTRUCTION if labels[0].isalpha() else "Reply with the number of one option only."
    if chat:
        messages = []
        if template.system:
            messages.append({"role": "system", "content": template.system.format(**fill)})
        messages.append({"role": "user", "content": template.user.format(**fill, instruction=instruction)})
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return text + template.answer.format(country=fill["country"], cue=cue)
    return template.plain.format(**fill) + cue


def build_prompts(
    tokenizer,
    questions: Iterable[Question],
    countries: list[Country],
    pairs: set[tuple[str, str]] | None,
    templates: list[str],
    orders: list[str],
    label_style: str,
    cue: str,
    chat: bool,
    translations=None,
) -> list[PromptItem]:
    """All prompts of a run. `pairs` limits persona prompts to (country, qid) pairs with human data.

    With `translations` (culturelens/core/translations.py), persona prompts are asked in each country's main
    language where the file covers it (English otherwise); the no-persona prompt stays in English.
    """
    items: list[PromptItem] = []
    for question in questions:
        for order in orders:
            for name in templates:
                targets = countries if TEMPLATES[name].persona else [None]
                for country in targets:
                    code = country.alpha3 if country else NO_COUNTRY
                    if country is not None and pairs is not None and (code, question.qid) not in pairs:
                        continue
                    items.append(render_item(tokenizer, question, country, name, order, label_style, cue, chat, translations))
    return items


def render_item(tokenizer, question: Question, country: Country | None, name: str, order: str, label_style: str, cue: str,
                chat: bool, translations=None, text: str | None = None) -> PromptItem:
    """One prompt: ``question`` (or its wording ``text``) asked with template ``name`` in option ``order``, as a person
    from ``country`` (None for the no-persona template). With ``translations`` covering the country's main language,
    template and question, the prompt is in that language (the question's own translated wording; ``text`` is then
    not used), else in English."""
    labels = make_labels(len(question.options), label_style)
    template = TEMPLATES[name]
    code = country.alpha3 if country else NO_COUNTRY
    lang = country.languages[0] if (country and translations and country.languages) else "en"
    if lang != "en" and translations.has(lang, name, question.qid, len(question.options)):
        e = translations.entry(lang)
        tq = e["questions"][question.qid]
        tblock, index = question_block(question, labels, order, tq["text"], tq["options"],
                                       (e.get("question", "Question"), e.get("options", "Options")))
        t = e["templates"][name]
        ttemplate = Template(t.get("system"), t["user"], t["plain"], template.persona, t.get("answer", template.answer))
        cname = e.get("countries", {}).get(code, country.name)  # type: ignore[union-attr]  # lang != 'en' only with a country
        rendered = render(tokenizer, ttemplate, cname, tblock, e.get("answer_cue", cue), chat, labels, e.get("instruction", INSTRUCTION))
        return PromptItem(name, order, code, question.qid, rendered, labels, index, language=lang)
    block, index = question_block(question, labels, order, text=text)
    rendered = render(tokenizer, template, country.name if country else None, block, cue, chat, labels)
    return PromptItem(name, order, code, question.qid, rendered, labels, index)
