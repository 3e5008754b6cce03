"""On-disk cache of probe results keyed by (model fingerprint, prompt key).

SQLite in WAL mode, one commit per batch: an interrupted run resumes where it stopped (a kill -9
loses at most the batch in flight) and a rerun of the same prompts on the same weights is free.
"""
from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path


def default_cache_dir() -> Path:
    root = os.environ.get("CULTURELENS_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "culturelens") / "probe"


class ProbeCache:
    def __init__(self, directory: str | Path | None = None):
        self.dir = Path(directory) if directory else default_cache_dir()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "probe_cache.sqlite"
        self.conn = sqlite3.connect(self.path, timeout=60)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS results (fingerprint TEXT, prompt_key TEXT, probs TEXT, mass REAL, "
            "mode TEXT, PRIMARY KEY (fingerprint, prompt_key))"
        )
        self.conn.commit()

    def get_many(self, fingerprint: str, keys: list[str]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            rows = self.conn.execute(
                f"SELECT prompt_key, probs, mass, mode FROM results WHERE fingerprint=? AND prompt_key IN "
                f"({','.join('?' * len(chunk))})",
                [fingerprint, *chunk],
            ).fetchall()
            for key, probs, mass, mode in rows:
                found[key] = {"probs": json.loads(probs), "mass": mass, "mode": mode}
        return found

    def put_many(self, fingerprint: str, results: dict[str, dict]) -> None:
        self.conn.executemany(
            "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?)",
            [(fingerprint, k, json.dumps(v["probs"]), v["mass"], v["mode"]) for k, v in results.items()],
        )
        self.conn.commit()

    def count(self, fingerprint: str | None = None) -> int:
        if fingerprint is None:
            return self.conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        return self.conn.execute("SELECT COUNT(*) FROM results WHERE fingerprint=?", [fingerprint]).fetchone()[0]

    def close(self) -> None:
        self.conn.close()
