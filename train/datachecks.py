"""Checks of a training dataset before any model loads: readable JSON lines, splits and rows, and conversations
and preference pairs that SFT / DPO can learn from.

Each problem is one DataError naming the file, the row or line, and the fix, instead of a traceback from
`datasets` or from inside a TRL data collator after the model has loaded (or a run that trains on nothing).
"""
from __future__ import annotations

import json
from pathlib import Path

from culturelens.core.errors import DataError

FIX = "regenerate it with `culturelens synth` or fix the file"
ROLES = ("system", "user", "assistant", "tool")


def check_json_file(p: Path) -> None:
    """A .jsonl must be one JSON object per line (at least one), a .json one JSON document; DataError naming the first
    bad line."""
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError(f"dataset '{p}' is not UTF-8 text: {FIX}") from None
    if not text.strip():
        raise DataError(f"dataset '{p}' has no rows (only blank lines): {FIX}")
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


def _turns_problem(messages, what: str) -> str | None:
    """Why `messages` is not a list of {role, content} turns with known roles and text, or None."""
    if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m and "content" in m for m in messages):
        return f"`{what}` must be a list of {{role, content}} turns, got {type(messages).__name__} ({str(messages)[:60]!r})"
    for m in messages:
        if m["role"] not in ROLES:
            return f"`{what}` has a turn with role {m['role']!r}; roles are {', '.join(ROLES)}"
        if not isinstance(m["content"], str):
            return f"`{what}` has a {m['role']} turn whose content is {type(m['content']).__name__}, not text"
    return None


def check_conversations(ds, path: str) -> None:
    """Every `messages` value: {role, content} turns with known roles, ending in what SFT learns (the last assistant
    turn, non-empty) after at least one turn to answer."""
    for i, messages in enumerate(ds["messages"]):
        problem = _turns_problem(messages, "messages")
        if problem is None:
            assistant = [k for k, m in enumerate(messages) if m["role"] == "assistant"]
            if not assistant:
                problem = "`messages` has no assistant turn to learn from"
            elif not any(m["role"] in ("user", "system") for m in messages[:assistant[-1]]):
                problem = "the conversation has no user or system turn before its last assistant turn: there is nothing it answers"
            elif not messages[assistant[-1]]["content"].strip():
                problem = "the last assistant turn is empty: there is nothing to learn"
        if problem:
            raise DataError(f"dataset '{path}' row {i}: {problem}: {FIX}")


def _text_of(value, what: str) -> str | None:
    """The text of a prompt / chosen / rejected value (a string or a list of turns); None when it is malformed."""
    if isinstance(value, str):
        return value
    if _turns_problem(value, what) is None:
        return "\n".join(m["content"] for m in value)
    return None


def check_preferences(ds, path: str) -> None:
    """Every DPO row: prompt, chosen and rejected as text or turns, none empty, chosen different from rejected (an
    empty or identical pair trains at loss ln 2 and teaches nothing)."""
    for i, row in enumerate(ds):
        texts = {}
        for key in ("prompt", "chosen", "rejected"):
            text = _text_of(row[key], key)
            if text is None:
                problem = _turns_problem(row[key], key) or f"`{key}` must be text or a list of turns"
                raise DataError(f"dataset '{path}' row {i}: {problem}: {FIX}")
            if not text.strip():
                raise DataError(f"dataset '{path}' row {i}: `{key}` is empty: a preference pair needs a prompt and two "
                                f"different non-empty answers; {FIX}")
            texts[key] = text
        if texts["chosen"].strip() == texts["rejected"].strip():
            raise DataError(f"dataset '{path}' row {i}: `chosen` and `rejected` are the same answer "
                            f"({texts['chosen'][:40]!r}): DPO learns nothing from it; {FIX}")
