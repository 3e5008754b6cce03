"""`culturelens synth`: split -> teacher generation (resumable) -> filters -> SFT / DPO datasets -> report."""
from __future__ import annotations

import json
import logging
import time
from collections import Counter
from pathlib import Path

from culturelens.core.batteries import battery_clusters
from culturelens.core.config import dump_config
from culturelens.core.errors import DataError
from culturelens.core.inputs import resolve_inputs
from culturelens.core.paths import ensure_writable_dir
from culturelens.core.teacher import make_teacher
from culturelens.synth.build import build_rows
from culturelens.synth.config import SynthConfig
from culturelens.synth.filters import EmbeddingSimilarity, filter_variants
from culturelens.synth.generate import clean_output, make_jobs, run_jobs
from culturelens.synth.split import load_split, require_no_heldout, save_split, split_questions

log = logging.getLogger(__name__)


def draw_split(cfg: SynthConfig, bank, reference, qids: list[str]) -> dict:
    """The seeded split; with ``split.by_battery`` whole battery clusters (core/batteries.py) go to one side."""
    clusters, links = battery_clusters(bank, qids, reference.means(), cfg.split) if cfg.split.by_battery else (None, None)
    if clusters is not None and len(clusters) == 1 < len(qids) and cfg.split.heldout_fraction > 0:
        raise DataError(f"all {len(qids)} seed questions form one battery cluster, so none can be held out without a "
                        "battery mate in training: add questions from other batteries, raise split.min_countries, "
                        "or set split.heldout_fraction=0")
    return split_questions(qids, {q: bank.get(q).category for q in qids}, cfg.split.heldout_fraction, cfg.split.seed,
                           clusters, links)


def run_synth(cfg: SynthConfig, progress: bool = True) -> Path:
    from datasets import Dataset

    t0 = time.time()
    out = ensure_writable_dir(cfg.output_dir or Path("runs") / "synth" / cfg.experiment, "output_dir")  # paths first
    dump_config(cfg, out / "config.yaml")
    inputs = resolve_inputs(cfg)
    bank, reference, countries, qids = inputs.bank, inputs.reference, inputs.countries, inputs.qids
    codes = {c.alpha3 for c in countries}
    if not qids:
        raise DataError("no seed questions: the reference has no answers for these countries")

    # 1. split first; only train questions ever reach the teacher or a training set
    split_path = out / "split.json"
    if cfg.split.file:
        split = load_split(cfg.split.file)
    elif split_path.exists():
        split = load_split(split_path)  # resume: keep the split drawn the first time
    else:
        split = draw_split(cfg, bank, reference, qids)
    save_split(split, split_path)
    train_q = [bank.get(q) for q in split["train"] if q in qids]

    # 2. teacher jobs (resumable)
    jobs = make_jobs(train_q, countries, cfg.variants.paraphrases, cfg.variants.scenarios, cfg.variants.native_language)
    require_no_heldout((j.qid for j in jobs), split["heldout"], "the teacher's jobs")
    raw = run_jobs(make_teacher(cfg.teacher), jobs, out / "raw.jsonl", cfg.teacher.batch_size, progress) if jobs else []
    require_no_heldout((r["qid"] for r in raw), split["heldout"], "the teacher's outputs")

    # 3. filters
    records = [{**r, "text": clean_output(r["output"], r["kind"])} for r in raw]
    similarity = EmbeddingSimilarity(cfg.filters.embedding_model) if cfg.filters.embedding_model else None
    heldout_texts = {q: bank.get(q).text for q in split["heldout"] if q in bank}
    kept, filter_report = filter_variants(records, {q.qid: q.text for q in train_q}, cfg.filters, similarity, heldout_texts)
    variants = [{"qid": r["qid"], "country": r["country"], "kind": r["kind"], "text": r["text"]} for r in kept]
    if jobs and not kept:  # only the seed rows would be left: the teacher contributed nothing
        texts = {r["text"] for r in records}
        worst = max((k for k in filter_report if isinstance(filter_report[k], int) and k != "kept"), key=filter_report.get,
                    default=None)
        why = (f"{sum(1 for r in records if not r['text'])} empty answers"
               + (f", '{worst}' removed {filter_report[worst]}" if worst else ""))
        message = (f"the teacher contributed nothing: none of its {len(records)} answers survived the filters ({why}; its "
                   f"answers are in {out / 'raw.jsonl'})")
        if len(texts) <= 1:  # every answer empty or the same text: the teacher is broken, not merely weak
            raise DataError(f"{message}: check the teacher (model, server_model, max_new_tokens)")
        log.warning("%s; the datasets hold the seed questions only: use a stronger teacher or loosen the filters", message)
    if cfg.variants.include_seed:
        variants += [{"qid": q.qid, "country": "ALL", "kind": "seed", "text": q.text} for q in train_q]
    if not variants:
        worst = max((k for k in filter_report if isinstance(filter_report[k], int) and k != "kept"), key=filter_report.get)
        raise DataError(f"no training variants left after filtering: '{worst}' removed {filter_report[worst]} of {len(records)}; "
                        f"loosen filters (e.g. filters.min_similarity) or set variants.include_seed=true")

    # 4. datasets, labelled from the human reference
    cmap = {c.alpha3: c for c in countries}
    sft, dpo = build_rows(variants, bank, reference.subset(countries=sorted(codes)), cmap, cfg.sft, cfg.dpo, "train")
    if not sft:
        raise DataError("the SFT dataset is empty: the reference has no answers for the train questions in these countries")
    for name, rows in (("sft", sft), ("dpo", dpo)):
        ds = Dataset.from_list(rows)
        ds.save_to_disk(str(out / name))
        ds.to_json(str(out / f"{name}.jsonl"), force_ascii=False)
    report = {
        "teacher": cfg.teacher.model.name_or_path if cfg.teacher.model else cfg.teacher.server_model,
        "split": {"train": len(split["train"]), "heldout": len(split["heldout"]),
                  "clusters": len(split.get("clusters", []))},
        "jobs": len(jobs), "filters": filter_report,
        "kept_by_kind": dict(Counter(v["kind"] for v in variants)),
        "sft_rows": len(sft), "dpo_rows": len(dpo),
        "examples": [{"qid": v["qid"], "kind": v["kind"], "text": v["text"]} for v in variants if v["kind"] != "seed"][:10],
        "seconds": time.time() - t0,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))

    track(cfg, out, report, filter_report)
    return out


def track(cfg: SynthConfig, out: Path, report: dict, filter_report: dict) -> None:
    """W&B: the row counts and filter tallies; the datasets as a `dataset` artifact, its ref in <out>/artifact.json
    (train reads it to declare the dataset as its input)."""
    from culturelens.core.tracking import ARTIFACT_FILE, finish, log_artifact, save_ref, start_run

    (out / ARTIFACT_FILE).unlink(missing_ok=True)  # a rerun without the artifact must not point at the old one
    from culturelens.core.manifest import collect_manifest, sha256_path

    manifest = collect_manifest(data={f: sha256_path(out / f) for f in ("sft.jsonl", "dpo.jsonl", "split.json")},
                                seeds={"split.seed": cfg.split.seed})
    run = start_run(cfg.wandb, name=f"synth-{cfg.experiment}", group=cfg.experiment, job_type="synth",
                    config={**cfg.model_dump(mode="json"), "manifest": manifest.model_dump(mode="json")}, run_dir=out)
    if run is None:
        return
    counts = {f"filter/{k}": v for k, v in filter_report.items() if isinstance(v, int)}
    run.summary.update({"sft_rows": report["sft_rows"], "dpo_rows": report["dpo_rows"], **counts})
    if cfg.log_artifact:
        files = [out / f for f in ("sft.jsonl", "dpo.jsonl", "split.json", "report.json")]
        save_ref(log_artifact(run, f"synth-{cfg.experiment}", "dataset", files, report), out)
    finish(run)
