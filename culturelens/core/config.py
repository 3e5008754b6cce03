"""Typed YAML configs: pydantic models that forbid unknown keys, plus `key.sub=value` command-line overrides."""
from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from culturelens.core.errors import ConfigError, first_line

T = TypeVar("T", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for every config section: a key the section does not define is an error."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())


def _one_path_part(name: str) -> str:
    """A name used as one folder name (run_name, experiment): no separators, not '.' or '..', not hidden."""
    if not name or "/" in name or "\\" in name or name in (".", "..") or name.startswith(".") or "\0" in name:
        raise ValueError(f"'{name}' must be one plain folder name (no '/', '\\', '..' or leading '.'): "
                         "choose e.g. my-run; the folder is created inside output_dir")
    return name


PathName = Annotated[str, AfterValidator(_one_path_part)]  # a config value used as one folder name
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]  # a random seed (numpy and torch take 0 .. 2**32 - 1)


def yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error as one line that keeps its line and column (1-based)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or first_line(exc, with_type=False)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}"


def parse_overrides(overrides: list[str] | None) -> dict[str, Any]:
    """Turn ["model.dtype=bfloat16", "countries=[DEU,USA]"] into a nested dict (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not KEY=VALUE: write e.g. model.dtype=bfloat16")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else None
        except yaml.YAMLError as exc:
            raise ConfigError(f"override '{item}': the value is not valid YAML ({yaml_problem(exc)}): "
                              "write e.g. countries=[DEU,USA] or model.dtype=bfloat16") from None
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{item}': '{part}' is not a section")
        node[parts[-1]] = value
    return out


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _model_in(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The config model an annotation holds (``X``, ``X | None``, ``list[X]``, ``dict[str, X]``...) and whether it
    is held in a mapping (then the next part of an error location is a key of the user's, not a field)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    origin = getattr(annotation, "__origin__", None)
    in_mapping = isinstance(origin, type) and issubclass(origin, Mapping)
    for arg in getattr(annotation, "__args__", ()):
        model, nested = _model_in(arg)
        if model is not None:
            return model, in_mapping or nested
    return None, False


def _model_at(cls: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The (nested) model that `loc` points into. List indices and mapping keys in `loc` stay on the item model."""
    model: type[BaseModel] = cls
    skip_key = False
    for part in loc[:-1]:
        if isinstance(part, int) or skip_key:
            skip_key = False
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        found, skip_key = _model_in(field.annotation)
        if found is None:
            return None
        model = found
    return model


def _fields_at(cls: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the (nested) model that `loc` points into, for 'did you mean' hints."""
    model = _model_at(cls, loc)
    return list(model.model_fields) if model is not None else []


def _override_of(loc: tuple, overrides: list[str]) -> str | None:
    """The command-line override (KEY=VALUE) that set the value at `loc`, if one did (the last one wins, as in merging)."""
    where = [str(p) for p in loc]
    for item in reversed(overrides):
        parts = item.split("=", 1)[0].strip().split(".")
        if where[:len(parts)] == parts or parts[:len(where)] == where:  # the key itself, or a check of its section
            return item
    return None


def validate_config(cls: type[T], data: dict[str, Any], source: str = "config", overrides: list[str] | None = None) -> T:
    """`cls` from `data`; a ConfigError naming every bad key, and for a value set on the command line the override
    itself (`override 'probe.batch_sise=3': ...`), not the file."""
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        lines, from_file = [], False
        for err in exc.errors():
            loc = tuple(err["loc"])
            key = ".".join(str(p) for p in loc)
            if err["type"] == "extra_forbidden":
                known = _fields_at(cls, loc)
                hint = difflib.get_close_matches(str(loc[-1]), known, n=1)
                did = f" (did you mean '{hint[0]}'?)" if hint else ""
                section = _model_at(cls, loc)
                # a section with a long generated key list (train: = TRL's config) describes its keys instead
                allowed = getattr(section, "keys_doc", "") or ", ".join(known)
                line = f"unknown key '{key}'{did}; allowed here: {allowed}"
            elif err["type"] == "missing":
                line = f"missing required key '{key}'"
            else:
                msg = err["msg"].removeprefix("Value error, ")
                got = "" if isinstance(err.get("input"), dict) else f" (got {err.get('input')!r})"  # a section: its check says what
                line = f"key '{key}': {msg}{got}" if key and key not in msg else msg  # a message naming its key says it once
            item = _override_of(loc, overrides or []) if loc else None
            from_file = from_file or item is None
            lines.append(f"override '{item}': {line}" if item else line)
        raise ConfigError((f"{source}: " if from_file else "") + "; ".join(lines)) from None


def read_config_text(p: Path) -> str:
    """The text of a YAML config file; a ConfigError for a missing file, a folder, UTF-16 or binary content."""
    fix = "pass a UTF-8 YAML file such as configs/eval/default.yaml"
    if not p.exists():
        raise ConfigError(f"config file '{p}' does not exist: {fix}")
    if p.is_dir():
        raise ConfigError(f"config '{p}' is a folder, not a file: {fix}")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"config file '{p}' cannot be read ({exc.strerror}): {fix}") from None
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(raw) > 1 and raw[1:2] == b"\0" and raw[:1] != b"\0"):
        raise ConfigError(f"config file '{p}' is UTF-16 text: re-save it as UTF-8")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"config file '{p}' is not text (binary or not UTF-8): {fix}") from None
    if "\0" in text:
        raise ConfigError(f"config file '{p}' is not text (it contains NUL bytes): {fix}")
    return text


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML config file as a mapping (an empty file is {}); a YAML error keeps its line and column."""
    p = Path(path)
    try:
        data = yaml.safe_load(read_config_text(p)) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({yaml_problem(exc)}): fix the file there") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a mapping of keys to values")
    return data


def load_config(cls: type[T], path: str | Path | None, overrides: list[str] | None = None) -> T:
    data: dict[str, Any] = {}
    source = "command line"
    if path is not None:
        data = read_config_file(path)
        source = str(path)
    data = deep_merge(data, parse_overrides(overrides))
    return validate_config(cls, data, source, overrides)


def dump_config(cfg: BaseModel, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
