"""`culturelens translate`: checks on each translation, caching/resume, fallback to English, and its use by the probe."""
import json
import re

import pandas as pd
import pytest

from culturelens.cli import main
from culturelens.core.errors import ConfigError
from culturelens.core.translations import Translations
from culturelens.eval.config import EvalConfig
from culturelens.eval.runner import run_eval
from culturelens.synth.translate import TranslateChecks, TranslateConfig, check, run_translate

QUESTIONS = ["Q177", "Q178", "Q182"]
COUNTRIES = ["DEU", "IRQ", "MEX"]  # de, ar, es


class DictTeacher:
    """Translates by rule: German gets a prefix (passes), Arabic is echoed in English (wrong script), Spanish leaves
    Q182's text (homosexuality) empty, so Q182 falls back to English for Spanish."""

    name = "dict-teacher"

    def __init__(self):
        self.calls = 0
        self.asked = []

    def generate(self, prompts):
        self.calls += 1
        outs = []
        for m in prompts:
            content = m[-1]["content"]
            lang = content.split("into ", 1)[1].split(".", 1)[0]
            text = content.split("English: ", 1)[1].rsplit("\n", 1)[0]
            self.asked.append((lang, text))
            foreign = re.sub(r"(?<!\{)\b[A-Za-z]+\b(?!\})", lambda w: w.group()[::-1], text)  # not English any more
            if lang == "German":
                outs.append(f"German: Übersetzt {foreign}\nextra line the cleaner drops")
            elif lang == "Arabic":
                outs.append(text)
            else:
                outs.append("" if "homosexual" in text.lower() else f"“ES {foreign}”")
        return outs


def tcfg(tmp_path, **kw):
    data = {"teacher": {"backend": "local", "model": {"name_or_path": "unused"}, "batch_size": 7},
            "output": str(tmp_path / "tr" / "translations.json"), "questions": QUESTIONS, "countries": COUNTRIES}
    data.update(kw)
    return TranslateConfig.model_validate(data)


@pytest.fixture
def teacher(monkeypatch):
    t = DictTeacher()
    monkeypatch.setattr("culturelens.core.teacher.make_teacher", lambda cfg: t)
    return t


def test_each_check():
    c = TranslateChecks()
    assert check("Answer:", "Antwort:", "de", c) == "ok"
    assert check("Answer:", "", "de", c) == "empty"
    assert check("a person living in {country}", "eine Person in Land", "de", c) == "placeholders changed"
    assert check("1 - Never justifiable", "Niemals vertretbar", "de", c) == "numbers changed"
    assert check("Answer every question now", "answer every question now", "de", c).startswith("unchanged")
    assert check("Answer every question the way most people would", "Ja", "de", c).startswith("length ratio")
    assert check("Imagine you are a typical person from {country}.", "What do you think about the situation in {country}?", "de", c) == "still English"
    assert check("Imagine you are a typical person from {country}.", "Stell dir vor, du bist ein typischer Mensch aus {country}.", "de", c) == "ok"
    assert check("Reply with the letter", "Reply with the letter in Arabic", "ar", c).startswith("wrong script")
    assert check("Reply with the letter", "أجب بحرف الخيار", "ar", c) == "ok"
    assert check("Reply with the letter of one option only.", "只回答选项字母。", "zh", c) == "ok"  # short scripts allowed


def test_translate_writes_checked_file_and_review(tmp_path, teacher):
    out = run_translate(tcfg(tmp_path), progress=False)
    data = json.loads(out.read_text())
    assert "dict-teacher" in data["source"]
    # German: everything passed, placeholders kept, country named in German output
    de = Translations.load(out).entry("de")
    assert set(de["questions"]) == set(QUESTIONS) and set(de["templates"]) == {"persona_system", "persona_inline"}
    assert "{country}" in de["templates"]["persona_system"]["system"] and "{block}" in de["templates"]["persona_system"]["user"]
    assert de["answer_cue"].startswith("Übersetzt") and de["countries"]["DEU"] == "Übersetzt ynamreG"
    assert de["questions"]["Q177"]["options"][1] == "2"  # bare numbers are not sent to the teacher
    # Arabic: every string in the wrong script -> no Arabic entry at all
    assert "ar" not in data
    # Spanish: Q182's text came back empty -> Q182 is asked in English, the others in Spanish
    es = data["es"]
    assert set(es["questions"]) == {"Q177", "Q178"} and es["questions"]["Q177"]["text"].startswith("ES ")  # quotes stripped
    review = json.loads(out.with_name("translations_review.json").read_text())
    strings = pd.DataFrame(review["strings"])
    assert (strings[strings.language == "ar"].status != "ok").all() and strings.status.str.startswith("wrong script").any()
    assert "empty" in set(strings[strings.language == "es"].status)
    summary = {s["language"]: s for s in review["summary"]}
    assert summary["es"]["questions usable"] == 2 and any("Q182" in n for n in summary["es"]["notes"])
    md = out.with_name("translations_review.md").read_text()
    assert "## ar (Arabic)" in md and "wrong script" in md
    # one request per unique string
    assert len(teacher.asked) == len(set(teacher.asked))


def test_rerun_uses_the_cache_and_resumes(tmp_path, teacher):
    cfg = tcfg(tmp_path)
    run_translate(cfg, progress=False)
    cache = cfg.output.replace(".json", ".cache.jsonl")
    lines = open(cache).read().splitlines()
    calls = teacher.calls
    run_translate(cfg, progress=False)
    assert teacher.calls == calls  # nothing to translate
    # an interrupted run: the last 10 answers and a half-written line are lost
    open(cache, "w").write("\n".join(lines[:-10]) + "\n" + lines[-10][:15])
    teacher.asked.clear()
    run_translate(cfg, progress=False)
    assert len(teacher.asked) == 10


def test_base_file_wins_and_is_not_retranslated(tmp_path, teacher):
    base = {"de": {"templates": {}, "questions": {"Q177": {"text": "Handgemacht?", "options": ["1 - Nie"] + [str(i) for i in range(2, 10)] + ["10 - Immer"]}},
                   "instruction": "Nur den Buchstaben.", "question": "Frage", "options": "Optionen", "answer_cue": "Antwort:"}}
    path = tmp_path / "base.json"
    path.write_text(json.dumps(base))
    out = run_translate(tcfg(tmp_path, base_file=str(path), languages=["de"]), progress=False)
    de = json.loads(out.read_text())["de"]
    assert de["questions"]["Q177"]["text"] == "Handgemacht?" and de["answer_cue"] == "Antwort:"
    assert de["questions"]["Q178"]["text"].startswith("Übersetzt")
    asked = {t for _, t in teacher.asked}
    assert "Answer:" not in asked and not any(t.startswith("How justifiable") and "benefits" in t for t in asked)


def test_translations_drive_the_probe(tmp_path, teacher, tiny_model_dir):
    out = run_translate(tcfg(tmp_path), progress=False)
    cfg = EvalConfig.model_validate({
        "experiment": "t", "output_dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache"),
        "model": {"name_or_path": str(tiny_model_dir)}, "countries": COUNTRIES, "questions": QUESTIONS, "n_boot": 20,
        "probe": {"templates": ["persona_system"], "language": "native", "translations_file": str(out)}})
    run_dir = run_eval(cfg, progress=False)
    df = pd.read_parquet(run_dir / "results.parquet")
    lang = df.groupby("country")["language"].apply(set).to_dict()
    assert lang["DEU"] == {"de"} and lang["IRQ"] == {"en"}
    assert set(df[df.country == "MEX"].set_index("qid")["language"].items()) == {("Q177", "es"), ("Q178", "es"), ("Q182", "en")}
    prompts = (run_dir / "example_prompts.txt").read_text()
    assert "Übersetzt" in prompts or "ES " in prompts or df.language.nunique() == 3


def test_bad_translate_config(tmp_path, capsys):
    with pytest.raises(ConfigError, match="cannot be translated"):
        run_translate(tcfg(tmp_path, templates=["no_persona"]), progress=False)
    cfg = tmp_path / "t.yaml"
    cfg.write_text("teacher: {backend: local, model: {name_or_path: unused}}\nlanguage: [de]\n")
    assert main(["translate", "--config", str(cfg)]) == 2
    assert "language" in capsys.readouterr().err


def test_local_tiny_teacher_end_to_end(tmp_path, tiny_model_dir):
    """A real (random) model as teacher: its output fails the checks and nothing unusable reaches the file."""
    cfg = tcfg(tmp_path, teacher={"backend": "local", "model": {"name_or_path": str(tiny_model_dir)}, "max_new_tokens": 8,
                                  "temperature": 0.0, "batch_size": 16}, questions=["Q177"], languages=["de"])
    out = run_translate(cfg, progress=False)
    review = json.loads(out.with_name("translations_review.json").read_text())
    assert review["summary"][0]["strings"] > 5
    data = json.loads(out.read_text())
    for entry in data.values():
        if isinstance(entry, dict):
            for q in entry["questions"].values():
                assert q["text"]
