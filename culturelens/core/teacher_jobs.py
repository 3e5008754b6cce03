"""The resumable teacher job: many prompts to a teacher in batches, each answer appended to a JSON-lines file.

Every answer is one line, written and flushed per batch, so a killed run loses at most the batch in flight: the
caller reads the file back (`culturelens.core.jsonl.read_records`), leaves out the jobs already answered and passes
the rest here. synth's paraphrase/scenario jobs and synth's translations both run this way.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tqdm.auto import tqdm

from culturelens.core.jsonl import open_append

Job = TypeVar("Job")


def run_teacher_jobs(teacher, jobs: Sequence[Job], path: Path, *, messages: Callable[[Job], list[dict]],
                     record: Callable[[Job, str], dict[str, Any]], batch_size: int = 8, progress: bool = True,
                     already_done: int = 0, desc: str = "teacher", unit: str = "job") -> list[dict[str, Any]]:
    """Ask `teacher` for every job (its chat `messages`), `batch_size` jobs per `teacher.generate` call; each answer
    becomes `record(job, answer)`, appended to `path` as one JSON line. Returns the new records in job order. The
    progress bar counts `already_done` jobs (answered by an earlier run) as done."""
    written: list[dict[str, Any]] = []
    with open_append(path) as f, tqdm(total=already_done + len(jobs), initial=already_done, desc=desc, unit=unit,
                                      disable=not progress) as bar:
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start : start + batch_size]
            for job, answer in zip(chunk, teacher.generate([messages(j) for j in chunk])):
                rec = record(job, answer)
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                written.append(rec)
            f.flush()
            bar.update(len(chunk))
    return written
