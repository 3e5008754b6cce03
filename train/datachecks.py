"""Checks of a training dataset before any model loads: readable JSON lines, and conversations that SFT can use.

Each problem is one DataError naming the file, the row or line, and the fix, instead of a traceback from
`datasets` or from inside a TRL data collator after the model has loaded.
"""
from __future__ import annotations

import json
from pathlib import Path

from culturelens.core.errors import DataError

FIX = "regenerate it with `culturelens synth` or fix the file"


def check_json_file(p: Path) -> None:
    """A .jsonl must be one JSON object per line, a .json one JSON document; DataError naming the first bad line."""
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError(f"dataset '{p}' is not UTF-8 text: {FIX}") from None
    if p.suffix.lower() != ".jsonl":
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"dataset '{p}' is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}): {FIX}") from None
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"dataset '{p}' line {number} is not valid JSON ({exc.msg}, column {exc.colno}): {FIX}") from None
        if not isinstance(row, dict):
            raise DataError(f"dataset '{p}' line {number} is a {type(row).__name__}, not a JSON object: {FIX}")


def check_conversations(ds, path: str) -> None:
    """Every `messages` value must be a list of {role, content} turns with at least one assistant turn."""
    for i, messages in enumerate(ds["messages"]):
        ok = isinstance(messages, list) and all(isinstance(m, dict) and "role" in m and "content" in m for m in messages)
        if not ok:
            got = type(messages).__name__
            raise DataError(f"dataset '{path}' row {i}: `messages` must be a list of {{role, content}} turns, got {got} "
                            f"({str(messages)[:60]!r}): {FIX}")
        if not any(m["role"] == "assistant" for m in messages):
            raise DataError(f"dataset '{path}' row {i}: `messages` has no assistant turn to learn from: {FIX}")
