"""The Hugging Face hub as culturelens reaches it: offline switches, a quick reachability check, hub ids, snapshots.

Used by model loading (core.models), adapters (core.adapters), tokenizers of served models and training data ids.
"""
from __future__ import annotations

import os
from pathlib import Path

from culturelens.core.errors import ModelLoadError, first_line


def hub_offline() -> bool:
    """HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE is set (1/true/yes/on)."""
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def hub_reachable() -> bool:
    """Quick check that the hub's host name resolves (skipped behind a proxy, where DNS may be the proxy's job)."""
    import socket
    from urllib.parse import urlparse

    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")):
        return True
    host = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co").hostname or "huggingface.co"
    try:
        socket.getaddrinfo(host, 443)
        return True
    except OSError:
        return False


def is_hub_id(s: str) -> bool:
    """True when `s` reads as a Hugging Face hub id (owner/name), not as a local path or a .gguf file."""
    s = s.strip()
    if s.startswith((".", "/", "~", "\\")) or "\\" in s or s.count("/") > 1 or s.lower().endswith(".gguf"):
        return False
    try:
        from huggingface_hub.utils import validate_repo_id

        validate_repo_id(s)
    except Exception:
        return False
    return True


def fetch_hub_folder(repo_id: str, what: str, repo_type: str = "model") -> Path:
    """A local snapshot of hub repo `repo_id` (the local cache only when offline or the hub is unreachable), or a
    ModelLoadError naming `what` (e.g. "adapter") and the fix."""
    from huggingface_hub import snapshot_download

    local_only = hub_offline() or not hub_reachable()
    try:
        return Path(snapshot_download(repo_id, repo_type=repo_type, local_files_only=local_only))
    except Exception as e:
        where = "the local Hugging Face cache (offline or no network)" if local_only else "the Hugging Face hub"
        raise ModelLoadError(f"{what} '{repo_id}' is not a local folder and could not be fetched from {where} ({first_line(e)}): "
                             "check the path or the hub id, or download it first (`huggingface-cli download "
                             f"{repo_id}`)") from None
