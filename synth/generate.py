"""Teacher jobs: paraphrases of a seed question and everyday scenarios asking the same judgement.

Jobs are written to raw.jsonl as they finish (one line each: job id, qid, country, kind, prompt,
output); a rerun skips the jobs already there, so an interrupted generation resumes.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from culturelens.core.countries import LANGUAGE_NAMES
from culturelens.core.jsonl import open_append, read_records

PARAPHRASE = ("Rewrite the following survey question in different words. Keep exactly the same meaning and the same answer scale. "
              "Write only the rewritten question.\n\nQuestion: {seed}")
SCENARIO = ("Write a short everyday scenario (two or three sentences) about an ordinary person in {country} that leads up to the "
            "following survey question, and end with the question itself.{language} Write only the scenario.\n\nQuestion: {seed}")


@dataclass(frozen=True)
class Job:
    job_id: str
    qid: str
    country: str  # alpha-3, or ALL for paraphrases (they serve every country)
    kind: str  # paraphrase | scenario
    messages: tuple  # chat messages for the teacher


def make_jobs(questions, countries, n_paraphrases: int, n_scenarios: int, native_language: bool) -> list[Job]:
    jobs = []
    for q in questions:
        for i in range(n_paraphrases):
            msg = ({"role": "user", "content": PARAPHRASE.format(seed=q.text)},)
            jobs.append(Job(f"{q.qid}|ALL|paraphrase|{i}", q.qid, "ALL", "paraphrase", msg))
        for c in countries:
            lang = c.languages[0] if c.languages else "en"
            note = f" Write it in {LANGUAGE_NAMES.get(lang, lang)}." if native_language and lang != "en" else ""
            for i in range(n_scenarios):
                msg = ({"role": "user", "content": SCENARIO.format(seed=q.text, country=c.name, language=note)},)
                jobs.append(Job(f"{q.qid}|{c.alpha3}|scenario|{i}", q.qid, c.alpha3, "scenario", msg))
    return jobs


def clean_output(text: str, kind: str) -> str:
    """First paragraph (first line for paraphrases), without quotes, numbering or a 'Question:' prefix."""
    text = text.strip()
    text = text.split("\n\n")[0] if kind == "scenario" else text.split("\n")[0]
    text = re.sub(r"^(\d+[.)]\s*|[-*]\s*|(rewritten question|question|scenario)\s*:\s*)", "", text.strip(), flags=re.I)
    return text.strip().strip('"“”\'').strip()


def done_jobs(raw_path: Path) -> dict[str, dict]:
    return {rec["job_id"]: rec for rec in read_records(raw_path)}  # a job whose line a kill cut runs again


def run_jobs(teacher, jobs: list[Job], raw_path: Path, batch_size: int = 8, progress: bool = True) -> list[dict]:
    done = done_jobs(raw_path)
    todo = [j for j in jobs if j.job_id not in done]
    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc="teacher", disable=not progress, unit="job")
    with open_append(raw_path) as f:
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            outputs = teacher.generate([list(j.messages) for j in chunk])
            for j, out in zip(chunk, outputs):
                rec = {"job_id": j.job_id, "qid": j.qid, "country": j.country, "kind": j.kind,
                       "prompt": j.messages[-1]["content"], "output": out, "teacher": getattr(teacher, "name", "")}
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                done[j.job_id] = rec
            f.flush()
            bar.update(len(chunk))
    bar.close()
    return [done[j.job_id] for j in jobs]
