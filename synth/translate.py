"""`culturelens translate`: a teacher model translates the probe's prompts into each country's main language.

What gets translated, per language: the persona templates (line by line; `{country}`, `{block}`,
`{instruction}` stay as they are), the instruction and the words "Question", "Options", "Answer:",
the names of the countries that speak it, and every question text and option label. Each string is
sent to the teacher once: answers are cached in `<output>.cache.jsonl` as they arrive, so an
interrupted run resumes and a rerun is free.

Every translation is checked before it is used (empty, unchanged, placeholders or numbers lost,
implausible length, wrong script). A failed string is never used: its question (or template) is
asked in English instead, and `<output stem>_review.md` lists every string with its status for a
human to review. The output is the translations file `probe.translations_file` reads
(culturelens/core/translations.py); a user-supplied file given as `base_file` wins over the teacher.
"""
from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

import pandas as pd
from pydantic import Field

from culturelens.core.config import StrictModel
from culturelens.core.countries import LANGUAGE_NAMES
from culturelens.core.errors import ConfigError
from culturelens.core.jsonl import read_records
from culturelens.core.paths import ensure_writable_dir
from culturelens.core.prompts import INSTRUCTION, TEMPLATES
from culturelens.core.teacher import TeacherConfig
from culturelens.core.teacher_jobs import run_teacher_jobs

log = logging.getLogger(__name__)

PROMPT = ("Translate the following text from English into {language}. Copy every placeholder in curly braces, such as "
          "{{country}}, exactly as it is, and keep all numbers. Write only the translation.\n\nEnglish: {text}\n{language}:")
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
NUMBER = re.compile(r"\d+")
SCRIPTS = {  # languages not written in Latin script -> unicode ranges of their script
    "ar": [(0x0600, 0x06FF), (0x0750, 0x077F)], "fa": [(0x0600, 0x06FF)], "ur": [(0x0600, 0x06FF)], "dv": [(0x0780, 0x07BF)],
    "zh": [(0x4E00, 0x9FFF), (0x3400, 0x4DBF)], "ja": [(0x3040, 0x30FF), (0x4E00, 0x9FFF)], "ko": [(0xAC00, 0xD7AF), (0x1100, 0x11FF)],
    "bn": [(0x0980, 0x09FF)], "hi": [(0x0900, 0x097F)], "th": [(0x0E00, 0x0E7F)], "my": [(0x1000, 0x109F)], "am": [(0x1200, 0x137F)],
    "el": [(0x0370, 0x03FF)], "hy": [(0x0530, 0x058F)], "ru": [(0x0400, 0x04FF)], "uk": [(0x0400, 0x04FF)], "sr": [(0x0400, 0x04FF)],
    "kk": [(0x0400, 0x04FF)], "ky": [(0x0400, 0x04FF)], "tg": [(0x0400, 0x04FF)], "mn": [(0x0400, 0x04FF)],
}
SHORT_SCRIPTS = {"zh", "ja", "ko"}  # far fewer characters than English
ENGLISH_ONLY = {"the", "you", "are", "is", "of", "and", "what", "this", "that", "with", "your", "would", "about", "every", "they",
                "from", "how", "should", "which", "think", "people", "typical", "person", "living", "answer", "question", "survey"}
SHARED = {"instruction": INSTRUCTION, "question": "Question", "options": "Options"}


class TranslateChecks(StrictModel):
    """Checks every translated string must pass to be used."""

    min_length_ratio: float = 0.3  # translation chars / source chars (x 0.3 for zh, ja, ko)
    max_length_ratio: float = Field(3.5, description="translation chars / source chars above which a translation is rejected")
    min_script_share: float = 0.5  # share of letters in the language's script (non-Latin languages)


class TranslateConfig(StrictModel):
    teacher: TeacherConfig
    output: str = Field("runs/translations/translations.json",
                        description="translations file to write (a cache of teacher answers sits next to it)")
    languages: list[str] | None = None  # ISO 639-1 codes; default: the main language of every country in `countries`
    countries: list[str] | None = None  # default: every country of the reference
    reference: str = Field("default", description="human reference: which countries and questions exist")
    questions: list[str] | None = None  # default: every bank question the reference has
    questions_file: str | None = Field(None, description="extra questions, as in eval")
    templates: list[str] = Field(default_factory=lambda: ["persona_system", "persona_inline"], description="persona templates to translate")
    answer_cue: str = Field("Answer:", description="answer cue to translate")
    base_file: str | None = None  # a user-supplied translations file: what it has is kept, only the rest is translated
    checks: TranslateChecks = TranslateChecks()


# ----------------------------------------------------------------------------------- the strings


def has_words(text: str) -> bool:
    return bool(re.search(r"[^\W\d_]", PLACEHOLDER.sub("", text)))


def template_lines(text: str | None) -> list[str]:
    return [line for line in (text or "").split("\n") if has_words(line)]


def source_strings(cfg: TranslateConfig, questions, countries, lang: str, base: dict | None = None) -> dict[str, str]:
    """key -> English source, for one language, minus what `base` (a user-supplied entry) already has.
    Keys: instruction, question, options, answer_cue, tpl|line, country|A3, q|QID, opt|QID|k."""
    base = base or {}
    out = {k: v for k, v in {**SHARED, "answer_cue": cfg.answer_cue}.items() if k not in base}
    for name in cfg.templates:
        if name in base.get("templates", {}):
            continue
        t = TEMPLATES[name]
        for part in ("system", "user", "plain", "answer"):
            for line in template_lines(getattr(t, part)):
                out[f"tpl|{line}"] = line
    for c in countries:
        if c.languages and c.languages[0] == lang and c.alpha3 not in base.get("countries", {}):
            out[f"country|{c.alpha3}"] = c.name
    for q in questions:
        if q.qid in base.get("questions", {}):
            continue
        out[f"q|{q.qid}"] = q.text
        for k, o in enumerate(q.options):
            if has_words(o.label):
                out[f"opt|{q.qid}|{k}"] = o.label
    return out


def clean(raw: str, language: str) -> str:
    text = next((line for line in raw.strip().split("\n") if line.strip()), "")
    text = re.sub(rf"^\s*({re.escape(language)}|translation)\s*:\s*", "", text, flags=re.I)
    return text.strip().strip('"“”«»').strip()


def check(source: str, text: str, lang: str, checks: TranslateChecks) -> str:
    """'ok' or the reason the translation cannot be used."""
    if not text:
        return "empty"
    if sorted(PLACEHOLDER.findall(source)) != sorted(PLACEHOLDER.findall(text)):
        return "placeholders changed"
    if sorted(NUMBER.findall(source)) != sorted(NUMBER.findall(text)):
        return "numbers changed"
    if len(source.split()) >= 3 and text.casefold() == source.casefold():
        return "unchanged (not translated)"
    ratio = len(text) / max(1, len(source))
    lo = checks.min_length_ratio * (0.3 if lang in SHORT_SCRIPTS else 1)
    if not lo <= ratio <= checks.max_length_ratio:
        return f"length ratio {ratio:.2f} outside [{lo:.2f}, {checks.max_length_ratio}]"
    if lang in SCRIPTS:
        letters = [ch for ch in PLACEHOLDER.sub("", text) if ch.isalpha()]
        inside = sum(any(a <= ord(ch) <= b for a, b in SCRIPTS[lang]) for ch in letters)
        if letters and inside / len(letters) < checks.min_script_share:
            return f"wrong script ({inside}/{len(letters)} letters in {LANGUAGE_NAMES.get(lang, lang)} script)"
    words = re.findall(r"[^\W\d_]+", PLACEHOLDER.sub("", text).lower())
    if lang != "en" and len(words) >= 4 and sum(w in ENGLISH_ONLY for w in words) / len(words) >= 0.25:
        return "still English"
    return "ok"


# ------------------------------------------------------------------------------------ the cache


def load_cache(path: Path) -> tuple[dict[tuple[str, str], str], set[str]]:
    """(lang, English) -> the teacher's raw answer, and the names of the teachers that wrote them."""
    out, teachers = {}, set()
    for rec in read_records(path):  # a string whose line a kill cut is translated again
        out[(rec["lang"], rec["source"])] = rec["raw"]
        teachers.add(rec.get("teacher", "?"))
    return out, teachers


def translate_missing(teacher, todo: list[tuple[str, str]], cache_path: Path, batch_size: int, progress: bool) -> None:
    run_teacher_jobs(
        teacher, todo, cache_path, batch_size=batch_size, progress=progress, desc="translate", unit="string",
        messages=lambda job: [{"role": "user", "content": PROMPT.format(language=LANGUAGE_NAMES.get(job[0], job[0]), text=job[1])}],
        record=lambda job, raw: {"lang": job[0], "source": job[1], "raw": raw, "teacher": teacher.name},
    )


# ------------------------------------------------------------------------------------- assembly


def assemble(lang: str, strings: dict[str, str], done: dict[str, tuple[str, str]], cfg: TranslateConfig, questions,
             base: dict) -> tuple[dict, list[str]]:
    """The translations-file entry of one language from checked strings; notes say what falls back to English."""
    ok = {k: text for k, (text, status) in done.items() if status == "ok"}
    notes = []
    entry: dict = {"templates": {}, "countries": {}, "questions": {}}
    for k in ("instruction", "question", "options", "answer_cue"):
        if k in base:
            entry[k] = base[k]
        elif k in ok:
            entry[k] = ok[k]
        else:
            return {}, [f"'{strings[k]}' has no usable translation: every prompt in this language falls back to English"]
    for name in cfg.templates:
        if name in base.get("templates", {}):
            entry["templates"][name] = base["templates"][name]
            continue
        t, parts, missing = TEMPLATES[name], {}, []
        for part in ("system", "user", "plain", "answer"):
            text = getattr(t, part)
            if text is None:
                parts[part] = None
                continue
            lines = []
            for line in text.split("\n"):
                if has_words(line) and f"tpl|{line}" not in ok:
                    missing.append(line)
                lines.append(ok.get(f"tpl|{line}", line))
            parts[part] = "\n".join(lines)
        if missing:
            notes.append(f"template {name}: asked in English ({len(missing)} line(s) failed the checks)")
        else:
            entry["templates"][name] = parts
    entry["countries"] = {**{k.split("|")[1]: v for k, v in ok.items() if k.startswith("country|")}, **base.get("countries", {})}
    for q in questions:
        if q.qid in base.get("questions", {}):
            entry["questions"][q.qid] = base["questions"][q.qid]
            continue
        opts = [ok.get(f"opt|{q.qid}|{k}", o.label) if has_words(o.label) else o.label for k, o in enumerate(q.options)]
        bad = [k for k, o in enumerate(q.options) if has_words(o.label) and f"opt|{q.qid}|{k}" not in ok]
        if f"q|{q.qid}" in ok and not bad:
            entry["questions"][q.qid] = {"text": ok[f"q|{q.qid}"], "options": opts}
        else:
            notes.append(f"{q.qid}: asked in English (question text or {len(bad)} option(s) failed the checks)")
    return entry, notes


def run_translate(cfg: TranslateConfig, progress: bool = True) -> Path:
    from culturelens.core.inputs import resolve_inputs
    from culturelens.core.teacher import make_teacher

    unknown = [t for t in cfg.templates if t not in TEMPLATES or not TEMPLATES[t].persona]
    if unknown:
        raise ConfigError(f"templates {unknown} cannot be translated: choose persona templates from "
                          f"{[n for n, t in TEMPLATES.items() if t.persona]}")
    inputs = resolve_inputs(cfg)
    countries, questions = inputs.countries, [inputs.bank.get(q) for q in inputs.qids]
    languages = cfg.languages or sorted({c.languages[0] for c in countries if c.languages} - {"en"})
    if cfg.base_file and not Path(cfg.base_file).exists():
        raise ConfigError(f"base_file '{cfg.base_file}' does not exist: point it at a translations file or drop it")
    base_all = json.loads(Path(cfg.base_file).read_text()) if cfg.base_file else {}

    out = Path(cfg.output)
    ensure_writable_dir(out.parent, "output folder")  # paths first: before the teacher loads
    cache_path = out.with_suffix(".cache.jsonl")
    strings = {lang: source_strings(cfg, questions, countries, lang, base_all.get(lang)) for lang in languages}
    cache, _ = load_cache(cache_path)
    todo = sorted({(lang, src) for lang, s in strings.items() for src in s.values() if (lang, src) not in cache})
    n_strings = sum(map(len, strings.values()))
    log.info("%d languages, %d strings, %d cached, %d to translate", len(languages), n_strings, n_strings - len(todo), len(todo))
    if todo:
        teacher = make_teacher(cfg.teacher)
        translate_missing(teacher, todo, cache_path, cfg.teacher.batch_size, progress)
    cache, teachers = load_cache(cache_path)

    on_top = f", on top of {cfg.base_file}" if cfg.base_file else ""
    result: dict = {"source": f"teacher {', '.join(sorted(teachers)) or '-'} via `culturelens translate`" + on_top,
                    "created": time.strftime("%Y-%m-%d %H:%M:%S")}
    rows, summary = [], []
    for lang in languages:
        name = LANGUAGE_NAMES.get(lang, lang)
        done = {}
        for key, src in strings[lang].items():
            text = clean(cache[(lang, src)], name)
            done[key] = (text, check(src, text, lang, cfg.checks))
            rows.append({"language": lang, "key": key, "english": src, "translation": text, "status": done[key][1]})
        entry, notes = assemble(lang, strings[lang], done, cfg, questions, base_all.get(lang, {}))
        if entry:
            result[lang] = entry
        statuses = pd.Series([s for _, s in done.values()])
        summary.append({"language": lang, "strings": len(done), "ok": int((statuses == "ok").sum()),
                        "rejected": int((statuses != "ok").sum()), "questions usable": len(entry.get("questions", {})) if entry else 0,
                        "templates usable": ", ".join(entry.get("templates", {})) if entry else "none", "notes": notes})
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1))
    write_review(out, summary, rows, result["source"])
    return out


def write_review(out: Path, summary: list[dict], rows: list[dict], source: str) -> None:
    from culturelens.core.formatting import format_table

    stem = out.with_name(out.stem + "_review")
    stem.with_suffix(".json").write_text(json.dumps({"summary": summary, "strings": rows}, ensure_ascii=False, indent=1))
    df = pd.DataFrame(rows)
    md = ["# Translations review", "", f"Source: {source}. Strings that fail a check are not used (that question or template is asked in "
                                       "English).", "",
          format_table(pd.DataFrame([{k: v for k, v in s.items() if k != "notes"} for s in summary])), ""]
    if not df.empty:
        reasons = df[df.status != "ok"].groupby(["language", "status"]).size().rename("n").reset_index()
        md += ["Rejections by reason:", "", format_table(reasons), ""]
    for s in summary:
        md += [f"## {s['language']} ({LANGUAGE_NAMES.get(s['language'], s['language'])})", ""]
        md += [f"- {n}" for n in s["notes"][:20]] + ([f"- ... {len(s['notes']) - 20} more"] if len(s["notes"]) > 20 else []) + [""]
        part = df[df.language == s["language"]][["key", "english", "translation", "status"]]
        part = part.assign(english=part.english.str.replace("|", "/"), translation=part.translation.str.replace("|", "/"))
        md += [format_table(part), ""]
    stem.with_suffix(".md").write_text("\n".join(md))
