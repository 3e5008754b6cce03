"""Teacher jobs: paraphrases of a seed question and everyday scenarios asking the same judgement.

Jobs are written to raw.jsonl as they finish (one line each: job id, qid, country, kind, prompt,
output); a rerun skips the jobs already there, so an interrupted generation resumes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from culturelens.core.countries import LANGUAGE_NAMES
from culturelens.core.jsonl import read_records
from culturelens.core.teacher_jobs import run_teacher_jobs

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

    def record(j: Job, out: str) -> dict:
        return {"job_id": j.job_id, "qid": j.qid, "country": j.country, "kind": j.kind,
                "prompt": j.messages[-1]["content"], "output": out, "teacher": getattr(teacher, "name", "")}

    new = run_teacher_jobs(teacher, todo, raw_path, messages=lambda j: list(j.messages), record=record, batch_size=batch_size,
                           progress=progress, already_done=len(jobs) - len(todo), desc="teacher", unit="job")
    done.update((rec["job_id"], rec) for rec in new)
    return [done[j.job_id] for j in jobs]
