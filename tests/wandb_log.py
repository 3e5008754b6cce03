"""Test helper: read a local W&B run back from its transaction log (`<run folder>/run-<id>.wandb`), e.g. an offline run.

Production code never reads this file: it talks to W&B through culturelens.core.tracking only. The tests use this
reader to check what an offline run recorded.

wandb >= 0.2x has no public Python reader for this file any more (the SDK's `datastore` module was removed; `wandb
sync` replays the file in the Go core), so this module reads it the way that module did: the file is a LevelDB-style
log (a 7-byte header ":W&B", 0xBEE1, version 0; then 32 KiB blocks of chunks, each `crc32 | length | type` + data,
type 1 = a whole record, 2/3/4 = first/middle/last piece), and every record is a `wandb.proto.wandb_internal_pb2.Record`
(wandb's own protobuf definitions). `RunLog` folds the records culturelens checks: run (name, group, job type),
config, summary, history keys, artifacts logged (`artifact` records) and artifacts used (`use_artifact` records).
"""
from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from culturelens.core.errors import DataError

HEADER = struct.Struct("<4sHB")
CHUNK = struct.Struct("<IHB")
BLOCK = 32768
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def _check(data: bytes, kind: int, crc: int, path: Path) -> None:
    if zlib.crc32(data, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF != crc:
        raise DataError(f"{path} is corrupt (checksum mismatch): the run was interrupted while writing; rerun it")


def raw_records(path: str | Path):
    """The serialized records of a .wandb file, in order."""
    path = Path(path)
    data = path.read_bytes()
    ident, magic, version = HEADER.unpack_from(data, 0) if len(data) >= HEADER.size else (b"", 0, -1)
    if ident != b":W&B" or magic != 0xBEE1 or version != 0:
        raise DataError(f"{path} is not a W&B transaction log (.wandb file of a run folder)")
    pos, pieces = HEADER.size, b""
    while pos + CHUNK.size <= len(data):
        left = BLOCK - pos % BLOCK
        if left < CHUNK.size:  # block trailer: padding
            pos += left
            continue
        crc, length, kind = CHUNK.unpack_from(data, pos)
        if kind == 0 and length == 0:  # zero padding up to the block end
            pos += left
            continue
        chunk = data[pos + CHUNK.size: pos + CHUNK.size + length]
        _check(chunk, kind, crc, path)
        pos += CHUNK.size + length
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            pieces = chunk
        elif kind == MIDDLE:
            pieces += chunk
        elif kind == LAST:
            yield pieces + chunk
            pieces = b""


def records(path: str | Path):
    from wandb.proto import wandb_internal_pb2 as pb

    for raw in raw_records(path):
        rec = pb.Record()
        rec.ParseFromString(raw)
        yield rec


def _key(item) -> str:
    return "/".join(item.nested_key) if item.nested_key else item.key


@dataclass
class LoggedArtifact:
    name: str
    type: str
    digest: str
    metadata: dict
    files: list[str]


@dataclass
class RunLog:
    path: Path
    run_id: str = ""
    name: str = ""
    group: str = ""
    job_type: str = ""
    config: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    history_keys: set[str] = field(default_factory=set)
    logged: list[LoggedArtifact] = field(default_factory=list)
    used: list[dict] = field(default_factory=list)  # use_artifact records: id, type, name
    exited: bool = False  # the exit record is there: the run finished and its log is complete

    def artifact(self, type_: str) -> LoggedArtifact:
        hits = [a for a in self.logged if a.type == type_]
        if not hits:
            raise DataError(f"run {self.name} logged no {type_} artifact")
        return hits[-1]


def _fold(log: RunLog, rec) -> None:
    kind = rec.WhichOneof("record_type")
    if kind == "run":
        log.run_id, log.name, log.group, log.job_type = rec.run.run_id, rec.run.display_name, rec.run.run_group, rec.run.job_type
        for item in rec.run.config.update:
            log.config[_key(item)] = json.loads(item.value_json)
    elif kind == "config":
        for item in rec.config.update:
            log.config[_key(item)] = json.loads(item.value_json)
    elif kind == "summary":
        for item in rec.summary.update:
            log.summary[_key(item)] = json.loads(item.value_json)
    elif kind == "history":
        log.history_keys.update(_key(item) for item in rec.history.item)
    elif kind == "artifact":
        a = rec.artifact
        log.logged.append(LoggedArtifact(a.name, a.type, a.digest, json.loads(a.metadata or "{}"),
                                         [c.path for c in a.manifest.contents]))
    elif kind == "exit":
        log.exited = True
    elif kind == "use_artifact":
        log.used.append({"id": rec.use_artifact.id, "type": rec.use_artifact.type, "name": rec.use_artifact.name})


def read_run(run_folder: str | Path, wait_s: float = 30.0) -> RunLog:
    """The facts of one W&B run folder (…/wandb/offline-run-… or run-…), from its .wandb file.

    `run.finish()` can return before W&B's service has written the whole file, so this waits up to `wait_s` seconds
    for the run's exit record (a run still going, or killed, is returned as far as it was written)."""
    import time

    folder = Path(run_folder)
    files = sorted(folder.glob("*.wandb")) if folder.is_dir() else [folder]
    if not files or not files[0].exists():
        raise DataError(f"no .wandb file in {folder}: pass a W&B run folder (…/wandb/offline-run-…)")
    deadline = time.monotonic() + wait_s
    while True:
        log = RunLog(path=files[0])
        try:
            for rec in records(files[0]):
                _fold(log, rec)
        except DataError:
            if time.monotonic() > deadline:
                raise
        if log.exited or time.monotonic() > deadline:
            return log
        time.sleep(0.2)


def run_folders(wandb_dir: str | Path) -> list[Path]:
    """The run folders under a W&B directory (the folder that holds `wandb/`, or `wandb/` itself), oldest first."""
    root = Path(wandb_dir)
    root = root / "wandb" if (root / "wandb").is_dir() else root
    return sorted(p for p in root.glob("*run-*") if p.is_dir() and not p.is_symlink())
