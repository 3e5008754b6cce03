"""The study's data step: the 2 x 2 split, the teacher's wordings, every arm's rows per seed (resumable)."""
from __future__ import annotations

import json
from pathlib import Path

from culturelens.core.countries import load_countries
from culturelens.core.errors import ConfigError, DataError
from culturelens.core.inputs import load_question_bank
from culturelens.core.jsonsafe import write_json
from culturelens.core.reference import load_reference
from culturelens.experiments.study.config import StudyConfig
from culturelens.synth.study_data import build_arm_rows, human_cells, seed_settings
from culturelens.synth.study_split import draw_study_split, load_study_split, save_study_split
from culturelens.synth.study_variants import study_variants

SPLIT_FILE = "split.json"


def study_inputs(cfg: StudyConfig):
    """(bank, the FULL reference, the country table)."""
    bank = load_question_bank(None)
    return bank, load_reference(cfg.reference, bank=bank), load_countries(cfg.countries_file)


def study_split(cfg: StudyConfig, root: Path, bank, reference, table) -> dict:
    """The split drawn once (a rerun reads split.json); ``split.train_questions`` narrows the train side."""
    path = root / SPLIT_FILE
    if path.exists():
        return load_study_split(path)
    split = draw_study_split(bank, reference, table, cfg.split)
    if cfg.split.train_questions:
        wanted = [bank.get(q).qid for q in cfg.split.train_questions]
        wrong = [q for q in wanted if q not in split["train"]]
        if wrong:
            side = {q: ("held out" if q in split["heldout"] else "not eligible") for q in wrong}
            raise ConfigError(f"split.train_questions {', '.join(f'{q} ({side[q]})' for q in wrong)} are not on the train side "
                              "of the study split: drop them (held-out batteries never train)")
        split["train"] = wanted
    root.mkdir(parents=True, exist_ok=True)
    save_study_split(split, path)
    return split


def load_translations(path: str | None):
    if not path:
        return None
    from culturelens.core.translations import Translations

    return Translations.load(path)


def make_variants(cfg: StudyConfig, root: Path, bank, table, split: dict, progress: bool) -> tuple[dict, dict]:
    """(qid, country) -> wordings, and the teacher report (written to teacher.json)."""
    from culturelens.core.teacher import make_teacher

    questions = [bank.get(q) for q in split["train"]]
    countries = [table[c] for c in split["seen"]]
    teacher = make_teacher(cfg.teacher) if cfg.teacher and (cfg.variants.paraphrases or cfg.variants.scenarios) else None
    heldout = {q: bank.get(q).text for q in split["heldout"]}
    variants, report = study_variants(teacher, questions, countries, heldout, root / "raw.jsonl", cfg.variants.paraphrases,
                                      cfg.variants.scenarios if teacher else 0, cfg.filters,
                                      cfg.teacher.batch_size if cfg.teacher else 8, cfg.data.seed, progress)
    write_json(root / "teacher.json", report)
    return variants, report


def arm_data_dir(root: Path, seed: int) -> Path:
    return root / "data" / f"s{seed}"


def data_key(cfg: StudyConfig, split: dict, seed: int) -> dict:
    """What one seed's rows are made of (settings, the seed's sampling and permutation seeds, the train block): rows
    are reused only under the same key, so a changed setting or another seed never reads rows built for another."""
    s = seed_settings(cfg.data, seed)
    return {"data": cfg.data.model_dump(mode="json"), "training_seed": seed, "sampling_seed": s.seed,
            "shuffle_seed": s.shuffle_seed, "train": split["train"], "seen": split["seen"],
            "variants": cfg.variants.model_dump(mode="json"), "translations_file": cfg.translations_file}


def cached_facts(cfg: StudyConfig, root: Path, split: dict) -> dict | None:
    """data/facts.json when every seed's rows exist and were built under that seed's current ``data_key``."""
    path = root / "data" / "facts.json"
    if not path.exists():
        return None
    facts = json.loads(path.read_text())
    for seed in cfg.seeds:
        entry = facts.get("seeds", {}).get(str(seed), {})
        names = entry.get("rows", {})
        if entry.get("key") != data_key(cfg, split, seed) or not names or \
                not all((arm_data_dir(root, seed) / f"{n}.jsonl").exists() for n in names):
            return None
    return facts


def build_data(cfg: StudyConfig, root: Path, tokenizer_info, progress: bool = True) -> dict:
    """Split, wordings and each seed's rows of every arm (data/s<seed>/<arm>.jsonl, reused while each seed's
    ``data_key`` holds); returns the data facts."""
    bank, reference, table = study_inputs(cfg)
    split = study_split(cfg, root, bank, reference, table)
    facts_path = root / "data" / "facts.json"
    cached = cached_facts(cfg, root, split)
    if cached is not None:
        return cached
    jobs = len(split["train"]) * (cfg.variants.paraphrases + cfg.variants.scenarios * len(split["seen"])) if cfg.teacher else 0
    cached = sum(1 for _ in open(root / "raw.jsonl", encoding="utf-8")) if (root / "raw.jsonl").exists() else 0
    print(f"study {cfg.experiment}: {len(cfg.arms)} arms x {len(cfg.seeds)} seeds = {len(cfg.arms) * len(cfg.seeds)} trainings; "
          f"split {len(split['train'])} train / {len(split['heldout'])} held-out questions, {len(split['seen'])} seen / "
          f"{len(split['unseen'])} unseen countries; teacher jobs {jobs} ({min(cached, jobs)} cached); the full plan follows the data")
    variants, teacher = make_variants(cfg, root, bank, table, split, progress)
    cells = human_cells(reference, split["train"], split["seen"])
    if not cells:
        raise DataError("the train block (train questions x seen countries) has no answer distributions")
    translations = load_translations(cfg.translations_file)
    facts: dict = {"split": {k: split[k] for k in ("train", "heldout", "seen", "unseen")}, "teacher": teacher, "seeds": {}}
    for seed in cfg.seeds:
        # each training seed has its own sampling seed and its own SHUFFLED permutation: the permutation's chance
        # pattern is then part of the seed-to-seed spread that the effects' CIs resample
        arms, label_facts = build_arm_rows(cells, variants, bank, table, tokenizer_info.tokenizer, tokenizer_info.is_chat,
                                           seed_settings(cfg.data, seed), translations)
        out = arm_data_dir(root, seed)
        out.mkdir(parents=True, exist_ok=True)
        for name, rows in arms.items():
            with open(out / f"{name}.jsonl", "w", encoding="utf-8") as f:
                f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        facts["seeds"][str(seed)] = {**label_facts, "rows": {k: len(v) for k, v in arms.items()},
                                     "key": data_key(cfg, split, seed)}
    write_json(facts_path, facts)
    return facts
