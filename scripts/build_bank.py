"""Build the question bank (culturelens/core/data/questions.json): every WVS wave-7 value question of the 12 sections.

    python scripts/build_bank.py \
        --metadata ../shared/data/wvs7_metadata \
        --wording ../shared/data/wvs7_shares19/wvs_questions.json \
        --project culturelens/core/data/questions.json \
        --out culturelens/core/data/questions.json

How a question is made (deterministic: same inputs, same bytes):
1. The ids are Q1..Q259 (and Q234A) of the WVS-7 questionnaire. An id is left out, with its reason written to the
   bank's metadata, when it is nominal, country-specific, a knowledge quiz item or absent from the data (EXCLUDED).
2. The project's own questions (entries of --project with "wording": "project", or every entry of an old list-format
   bank) are copied unchanged: id, wording, options, codes, remaps. Existing numbers do not move.
3. Every other question takes its answer codes from the WVS codebook (codebook.json: non-negative codes are answers),
   the remaps from answer_adjustment.json (raw code -> scale code, "" drops the code), its section from
   question_metadata.json (or, for the few ids the metadata lacks, the section of the nearest lower id), and its
   wording and option labels from wvs_questions.json (the question text without the trailing "Using this card ..."
   clause and without an inline list of the options; labels in code order). Numeric scales (1..10) are labelled
   "1 - <low anchor>", "2", ..., "10 - <high anchor>" with the anchors from the codebook or the metadata sentence.
4. Options are sorted by scale code (lowest first) so that culturelens scores them s_k = -1 + 2k/(K-1): the lowest
   code -1, the highest +1. ``direction`` names what the highest code means.
5. Two-point items are said so: "scale": "binary" (yes/no or a choice of two) or "mentioned" (the WVS lists where a
   respondent mentions an item or not: child qualities Q7-Q17 and unwanted neighbours Q18-Q26; 1 = mentioned -> -1,
   2 = not mentioned -> +1; a 0 = not mentioned coding, as in the WVS time-series files, is remapped to 2).
"""
from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

EXCLUDED = {
    "Q42": "nominal: three stances on society (revolution, reform, defence), not points of one scale",
    "Q82": "country-specific: confidence in 'the major regional organisation' (EU, AU, ASEAN, ... by country)",
    "Q91": "knowledge quiz item with a right answer (UN Security Council members), not a value",
    "Q92": "knowledge quiz item with a right answer (seat of the IMF), not a value",
    "Q93": "knowledge quiz item with a right answer (what Amnesty International does), not a value",
    "Q105": "unspecified object: membership of 'another type of organization' differs by respondent",
    "Q152": "nominal: first choice among four aims of the country (postmaterialism index input)",
    "Q153": "nominal: second choice among four aims of the country (postmaterialism index input)",
    "Q154": "nominal: first choice among four goals (postmaterialism index input)",
    "Q155": "nominal: second choice among four goals (postmaterialism index input)",
    "Q156": "nominal: first choice among four goals (postmaterialism index input)",
    "Q157": "nominal: second choice among four goals (postmaterialism index input)",
    "Q223": "country-specific and nominal: party the respondent would vote for; not in the data",
}
WORDING_FIXES = {"What does the government should do": "What should the government do"}  # grammar of the source
MENTIONED = {f"Q{i}" for i in range(7, 27)}  # child qualities Q7-Q17, unwanted neighbours Q18-Q26
QUESTIONNAIRE_IDS = [f"Q{i}" for i in range(1, 235)] + ["Q234A"] + [f"Q{i}" for i in range(235, 260)]

SOURCES = [
    {"file": "wvs7_metadata/question_metadata.json", "used_for": "value items, WVS sections, scale anchors",
     "origin": "WorldValuesBench (Zhao et al., LREC-COLING 2024), built from the WVS wave-7 codebook"},
    {"file": "wvs7_metadata/codebook.json", "used_for": "answer codes (non-negative = answers) and their labels",
     "origin": "WorldValuesBench, WVS wave-7 codebook"},
    {"file": "wvs7_metadata/answer_adjustment.json", "used_for": "remaps of codes not in scale order",
     "origin": "WorldValuesBench"},
    {"file": "wvs7_shares19/wvs_questions.json", "used_for": "question wording and option labels",
     "origin": "Xu et al., Self-Pluralising Culture Alignment (NAACL 2025)"},
]


def qid_key(qid: str) -> tuple:
    m = re.match(r"^Q(\d+)(.*)$", qid)
    return (int(m.group(1)), m.group(2)) if m else (10**6, qid)


def read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def project_questions(path: Path) -> dict[str, dict]:
    """The project's hand-written questions: entries marked "wording": "project" (or all of an old list bank)."""
    data = read_json(path)
    if isinstance(data, list):
        return {d["qid"]: {**d, "wording": "project"} for d in data}
    return {d["qid"]: d for d in data["questions"] if d.get("wording") == "project"}


def section_of(qid: str, meta: dict) -> str:
    """The metadata's section, or that of the nearest lower id in the metadata (the questionnaire runs in blocks)."""
    if qid in meta:
        return meta[qid]["category"]
    lower = [q for q in meta if q.startswith("Q") and meta[q]["use_case"] == "value" and qid_key(q) < qid_key(qid)]
    return meta[max(lower, key=qid_key)]["category"]


def clean_text(text: str) -> str:
    """wvs_questions wording without the trailing scale clause (the options carry the scale) or an inline option list."""
    text = " ".join(text.split())
    text = re.sub(r"\?\s*Using this card.*$", "?", text)
    text = re.sub(r"\s*Using this card.*$", ".", text)
    text = re.sub(r":\s[^:?]*\bor\b[^:?]*\?$", "?", text)  # "...: a great deal, quite a lot, ..., or none at all?"
    text = re.sub(r"statement(\d)", r"statement \1", text).replace(" ?", "?")
    for wrong, right in WORDING_FIXES.items():
        text = text.replace(wrong, right)
    return text[:1].upper() + text[1:]


def clean_label(label: str) -> str:
    label = " ".join(str(label).split()).rstrip(".")
    label = re.sub(r"\bi would\b", "I would", label)
    return label[:1].upper() + label[1:]


def metadata_anchors(sentence: str) -> dict[int, str]:
    """{1: 'There is no corruption in your country', 10: ...} from "On a scale of 1 to 10, 1 meaning '...' and ..."."""
    return {int(c): a for c, a in re.findall(r"(\d+) meaning '([^']+)'", sentence)}


def answer_codes(codebook_entry: dict) -> dict[int, str]:
    return {int(c): lab for c, lab in codebook_entry["choices"].items() if int(c) >= 0}


def raw_labels(qid: str, codes: dict[int, str], wording: dict, meta: dict) -> dict[int, str]:
    """Label per raw code: wvs_questions' options for worded scales, 'k - anchor' for numeric ones."""
    options = wording.get(qid, {}).get("option_lst", [])
    numeric = all(str(o).strip().isdigit() for o in options) or not options
    if not numeric and len(options) == len(codes):
        return {c: clean_label(o) for c, o in zip(sorted(codes), options)}
    if not numeric:
        return {c: clean_label(lab) for c, lab in codes.items()}
    anchors = metadata_anchors(meta.get(qid, {}).get("question", ""))
    out = {}
    for c, lab in codes.items():
        anchor = lab if not lab.strip().isdigit() else anchors.get(c, "")
        out[c] = f"{c} - {clean_label(anchor)}" if anchor else str(c)
    return out


def scale_options(labels: dict[int, str], remap: dict[int, int | None]) -> list[dict]:
    """Options by scale code after the remaps; when two raw codes meet, the label of the code that stays wins."""
    by_code: dict[int, str] = {}
    for raw in sorted(labels, key=lambda c: (remap.get(c, c) != c, c)):
        new = remap.get(raw, raw)
        if new is not None:
            by_code.setdefault(new, labels[raw])
    return [{"code": c, "label": by_code[c]} for c in sorted(by_code)]


def direction_of(options: list[dict]) -> str:
    top = re.sub(r"^\d+ - ", "", options[-1]["label"])
    return top.lower() if not top.isdigit() else f"code {top}"


def generated_question(qid: str, meta: dict, codebook: dict, adjust: dict, wording: dict) -> dict:
    codes = answer_codes(codebook[qid])
    remap = {int(k): (int(v) if v != "" else None) for k, v in adjust.get(qid, {}).items()}
    if qid in MENTIONED:
        remap.setdefault(0, 2)
    options = scale_options(raw_labels(qid, codes, wording, meta), remap)
    if qid in MENTIONED:
        scale = "mentioned"
    else:
        scale = "binary" if len(options) == 2 else "ordinal"
    text = clean_text(wording[qid]["question"]) if qid in wording else meta[qid]["question"]
    return {
        "qid": qid, "section": section_of(qid, meta), "text": text,
        "short": " ".join(codebook[qid].get("question", "").split()).lower(), "aliases": [],
        "direction": direction_of(options), "scale": scale, "options": options,
        "remap": {str(k): v for k, v in sorted(remap.items())}, "wording": "generated",
    }


def kept_question(d: dict) -> dict:
    """A project question in the bank layout, its content unchanged."""
    opts = sorted(d["options"], key=lambda o: int(o["code"]))
    scale = d.get("scale") or ("mentioned" if d["qid"] in MENTIONED else "binary" if len(opts) == 2 else "ordinal")
    return {
        "qid": d["qid"], "section": d.get("section", d.get("category")), "text": d["text"],
        "short": d.get("short", ""), "aliases": list(d.get("aliases", [])), "direction": d.get("direction", ""),
        "scale": scale, "options": [{"code": int(o["code"]), "label": o["label"]} for o in opts],
        "remap": dict(d.get("remap") or {}), "wording": "project",
    }


def check_shorts(questions: list[dict]) -> None:
    """Short names and aliases name one question each (they match the questions of users' means files)."""
    seen: dict[str, str] = {}
    for q in questions:
        for t in (q["short"], *q["aliases"]):
            key = " ".join(t.casefold().split())
            if key and seen.setdefault(key, q["qid"]) != q["qid"]:
                raise SystemExit(f"short name {t!r} of {q['qid']} is already used by {seen[key]}")


def build(metadata_dir: Path, wording_path: Path, project_path: Path) -> dict:
    meta = read_json(metadata_dir / "question_metadata.json")
    codebook = read_json(metadata_dir / "codebook.json")
    adjust = read_json(metadata_dir / "answer_adjustment.json")
    wording = {q["Q_id"]: q for q in read_json(wording_path)}
    kept = project_questions(project_path)
    questions = []
    for qid in QUESTIONNAIRE_IDS:
        if qid in EXCLUDED:
            continue
        if qid in kept:
            questions.append(kept_question(kept[qid]))
        elif qid in codebook and len(answer_codes(codebook[qid])) >= 2:
            questions.append(generated_question(qid, meta, codebook, adjust, wording))
        else:
            raise SystemExit(f"{qid}: no codebook entry with answer codes; add it to EXCLUDED with a reason")
    check_shorts(questions)
    return {"meta": bank_meta(questions), "questions": questions}


def bank_meta(questions: list[dict]) -> dict:
    sections = Counter(q["section"] for q in questions)
    return {
        "description": "WVS wave-7 value questions (Q1-Q259 of the 12 value sections), culturelens wording and scale",
        "generator": "scripts/build_bank.py",
        "sources": SOURCES,
        "wvs_citation": "Haerpfer et al. (eds.) 2022, World Values Survey: Round Seven, doi:10.14281/18241.24",
        "scoring": "options in scale-code order after remaps; option k of K scores s_k = -1 + 2k/(K-1) "
                   "(lowest code -1, highest +1); 'direction' names what +1 means",
        "groups": "sections map to norms / systems / progress in culturelens.core.questions.DEFAULT_GROUPS; "
                  "override with 'groups:' in eval configs",
        "two_point_items": "scale 'mentioned' (Q7-Q26): 1 = mentioned -> -1, 2 = not mentioned -> +1, a 0 coding "
                           "of 'not mentioned' is remapped to 2; scale 'binary': yes/no or a choice of two",
        "questions": len(questions),
        "project_wording": sum(q["wording"] == "project" for q in questions),
        "per_section": dict(sorted(sections.items())),
        "excluded": [{"qid": q, "reason": r} for q, r in sorted(EXCLUDED.items(), key=lambda x: qid_key(x[0]))],
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--metadata", type=Path, required=True, help="folder with question_metadata.json, codebook.json, "
                   "answer_adjustment.json (WorldValuesBench layout)")
    p.add_argument("--wording", type=Path, required=True, help="wvs_questions.json (Q_id, question, option_lst)")
    p.add_argument("--project", type=Path, required=True, help="bank whose 'project' questions are kept unchanged")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    bank = build(args.metadata, args.wording, args.project)
    text = json.dumps(bank, indent=1, ensure_ascii=False) + "\n"
    args.out.write_text(text, encoding="utf-8")
    m = bank["meta"]
    print(f"{m['questions']} questions ({m['project_wording']} in the project's wording) in {len(m['per_section'])} "
          f"sections, {len(m['excluded'])} excluded -> {args.out}")


if __name__ == "__main__":
    main()
