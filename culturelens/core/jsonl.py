"""Append-only JSONL files that survive a kill: a line cut mid-write is dropped before appending again."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


def read_records(path: str | Path) -> Iterator[dict]:
    """The records of a JSONL file written by `open_append` appends; a line cut by a kill is skipped (redone)."""
    path = Path(path)
    if not path.exists():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            continue


def open_append(path: str | Path) -> TextIO:
    """Open `path` for appending, first truncating a last line that a killed writer left without its newline."""
    path = Path(path)
    if path.exists() and path.stat().st_size:
        with path.open("rb+") as f:
            data = f.read()
            end = data.rfind(b"\n") + 1
            if end != len(data):
                f.truncate(end)
    return path.open("a", encoding="utf-8")
