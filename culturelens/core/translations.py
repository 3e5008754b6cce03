"""Prompts in each country's main language.

A translations file (JSON) holds, per ISO 639-1 language code, the template wording, the question
texts and option labels, and the country names in that language:

    {"de": {"templates": {"persona_system": {"system": "...{country}...", "user": "{block}\\n\\n{instruction}",
                                             "plain": "...{country}...\\n\\n{block}\\n"}, ...},
            "instruction": "Antworte nur mit dem Buchstaben einer Option.",
            "question": "Frage", "options": "Optionen", "answer_cue": "Antwort:",
            "countries": {"DEU": "Deutschland"},
            "questions": {"Q27": {"text": "...", "options": ["Stimme voll zu", "..."]}}},
     "source": "teacher model X / supplied by the user", ...}

Option letters stay A, B, C... so the probe reads the same tokens in every language. A country
whose language, template or question is missing from the file is asked in English, and the run
says which (prompts carry `language`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from culturelens.core.errors import DataError


@dataclass
class Translations:
    data: dict  # lang -> entry

    @classmethod
    def load(cls, path: str | Path) -> Translations:
        p = Path(path)
        if not p.exists():
            raise DataError(f"translations file '{p}' does not exist: write one with `culturelens translate` or supply your own (see "
                            "culturelens/core/translations.py)")
        try:
            raw = json.loads(p.read_text())
        except json.JSONDecodeError as exc:
            raise DataError(f"translations file '{p}' is not valid JSON: {exc}") from None
        langs = {k: v for k, v in raw.items() if isinstance(v, dict) and len(k) <= 3}
        for lang, entry in langs.items():
            for key in ("templates", "questions"):
                if key not in entry:
                    raise DataError(f"translations file '{p}': language '{lang}' has no '{key}' section")
        return cls(langs)

    def has(self, lang: str, template: str, qid: str, n_options: int) -> bool:
        e = self.data.get(lang)
        if not e or template not in e["templates"] or qid not in e["questions"]:
            return False
        return len(e["questions"][qid].get("options", [])) == n_options

    def entry(self, lang: str) -> dict:
        return self.data[lang]
