"""On-disk cache of probe results keyed by (model fingerprint, prompt key), and the wrapper that uses it.

SQLite in WAL mode, one commit per batch: an interrupted run resumes where it stopped (a kill -9
loses at most the batch in flight) and a rerun of the same prompts on the same weights is free.

`CachingBackend(backend, ProbeCache(...))` wraps any probe backend (eval/backends/base.py), the way
lm-evaluation-harness's `CachingLM` wraps an `LM`: `score` looks every prompt up by
(backend.fingerprint, prompt key), passes only the missing prompts to the backend, and writes each
batch the backend finishes to the cache before it calls the caller's `on_batch` (the run's
results.partial.jsonl). What a fingerprint trusts is the backend's business: hf hashes the weights,
vllm the served model's name and card (eval/backends/vllm_backend.py).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
import time
from pathlib import Path

from culturelens.core.zoo import cache_dir
from culturelens.eval.backends.base import OnBatch, ProbeBackend, ProbeResult

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    return cache_dir() / "probe"


class ProbeCache:
    """The SQLite cache. A file that is not a readable SQLite database (corrupt, truncated, foreign) is moved aside to
    `probe_cache.sqlite.corrupt-<time>` with a warning and a fresh cache is started: the run re-scores its prompts."""

    def __init__(self, directory: str | Path | None = None):
        self.dir = Path(directory) if directory else default_cache_dir()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "probe_cache.sqlite"
        try:
            self.conn = self._open()
        except sqlite3.DatabaseError as exc:
            aside = self.quarantine(exc)
            log.warning("probe cache %s is not a readable SQLite database (%s): moved it aside to %s and started an "
                        "empty cache (delete the old file once you do not need it)", self.path, exc, aside.name)
            self.conn = self._open()

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=60)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS results (fingerprint TEXT, prompt_key TEXT, probs TEXT, mass REAL, "
                "mode TEXT, PRIMARY KEY (fingerprint, prompt_key))"
            )
            conn.execute("SELECT prompt_key FROM results LIMIT 1").fetchall()
            conn.commit()
        except sqlite3.DatabaseError:
            conn.close()
            raise
        return conn

    def quarantine(self, exc: Exception) -> Path:
        """Move the unreadable cache file (and its -wal / -shm companions) to <name>.corrupt-<time>."""
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        self.path.rename(aside)
        for extra in ("-wal", "-shm"):
            companion = self.path.with_name(self.path.name + extra)
            if companion.exists():
                companion.rename(aside.with_name(aside.name + extra))
        return aside

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


@dataclasses.dataclass
class ScoreStats:
    """What the last `CachingBackend.score` did: prompts asked, served from the cache, seconds scoring the rest."""

    n_prompts: int = 0
    n_cached: int = 0
    probe_seconds: float = 0.0


class CachingBackend:
    """A probe backend whose results are read from and written to a ProbeCache (see the module docstring)."""

    def __init__(self, backend: ProbeBackend, cache: ProbeCache, batch_delay_s: float = 0.0):
        self.backend = backend
        self.cache = cache
        self.batch_delay_s = batch_delay_s  # test hook: slows every batch down so a test can kill the run
        self.stats = ScoreStats()

    def __getattr__(self, attr: str):  # name, fingerprint, tokenizer, is_chat, source, fallback_labels, ...
        if attr in ("backend", "cache", "batch_delay_s", "stats"):
            raise AttributeError(attr)
        return getattr(self.backend, attr)

    def score(self, items, on_batch: OnBatch | None = None, progress: bool = True, desc: str = "probe") -> dict[str, ProbeResult]:
        fingerprint = self.backend.fingerprint
        keys = list({it.key for it in items})
        cached = {k: ProbeResult(**v) for k, v in self.cache.get_many(fingerprint, keys).items()}
        todo = [it for it in items if it.key not in cached]
        log.info("%d prompts, %d cached, %d to score", len(keys), len(cached), len({it.key for it in todo}))

        def store(done: dict[str, ProbeResult]) -> None:
            self.cache.put_many(fingerprint, {k: dataclasses.asdict(v) for k, v in done.items()})
            if self.batch_delay_s:
                time.sleep(self.batch_delay_s)
            if on_batch:
                on_batch(done)

        start = time.time()
        self.stats = ScoreStats(n_prompts=len(keys), n_cached=len(cached))  # read by on_batch callers while scoring
        fresh = self.backend.score(todo, on_batch=store, progress=progress, desc=desc)
        self.stats = ScoreStats(n_prompts=len(keys), n_cached=len(cached), probe_seconds=time.time() - start)
        return {**cached, **fresh}
