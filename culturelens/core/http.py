"""JSON over HTTP to OpenAI-compatible servers (vLLM `serve`, llama.cpp server, TGI, hosted APIs).

One request, bounded retries with exponential backoff: a transport error (refused, reset, timed out),
a try that did not finish within its total deadline, or a status the server may recover from (429,
5xx) waits `backoff_s * 2**attempt` seconds and tries again, at most `retries` more times; every
retry is logged as a warning (visible on the console). Any other status, a 200 whose body is not a
JSON object, or the last failed try, becomes one ModelLoadError line naming the server and what to
check; the caller never sees an httpx traceback.

The deadline: httpx's own timeout bounds each network read, so a server that drips one byte per
second would never trip it. Each try therefore also runs under `asyncio.wait_for(..., deadline_s)`, a
total deadline for connect + send + the whole answer (default: the client's timeout).
"""
from __future__ import annotations

import asyncio
import json
import logging

from culturelens.core.errors import ModelLoadError

RETRY_STATUS = (429, 500, 502, 503, 504)
log = logging.getLogger(__name__)


class ServerStatusError(ModelLoadError):
    """The server answered with an error status (kept in ``status``), e.g. 400 for a request it does not support."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def auth_headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _deadline_of(client, deadline_s: float | None) -> float | None:
    if deadline_s is not None:
        return deadline_s
    timeout = getattr(client, "timeout", None)
    parts = [getattr(timeout, k, None) for k in ("connect", "read", "write", "pool")]
    known = [p for p in parts if p]
    return max(known) if known else None


def decode_json(r, what: str, url: str) -> dict:
    """The JSON object of a successful answer; a ModelLoadError when the body is not one."""
    try:
        data = r.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        data = None
    if not isinstance(data, dict):
        raise ModelLoadError(f"{what} {url} answered {r.status_code} but not with a JSON object "
                             f"(body starts {r.text[:80]!r}): check that the URL is an OpenAI-compatible /v1 endpoint")
    return data


async def request_json(client, method: str, url: str, body: dict | None = None, *, retries: int = 3, backoff_s: float = 0.5,
                       what: str = "server", hint: str = "is it running?", deadline_s: float | None = None) -> dict:
    """The decoded JSON answer of `method url` (with `body` as JSON), retried as the module docstring says."""
    import httpx

    deadline = _deadline_of(client, deadline_s)
    for attempt in range(retries + 1):
        last = attempt == retries
        try:
            r = await asyncio.wait_for(client.request(method, url, json=body), deadline)
        except (TimeoutError, asyncio.TimeoutError):  # one class from Python 3.11; two before (requires-python >= 3.10)
            problem = f"no complete answer within {deadline:g} s"
        except (httpx.TransportError, httpx.TimeoutException) as exc:
            problem = f"{type(exc).__name__}"
        else:
            if r.is_success:
                return decode_json(r, what, url)
            if last or r.status_code not in RETRY_STATUS:
                raise ServerStatusError(f"{what} {url} answered {r.status_code}: {r.text[:200]}", r.status_code)
            problem = f"status {r.status_code}"
        if last:
            raise ModelLoadError(f"{what} {url} did not answer after {retries + 1} tries ({problem}): {hint}")
        wait = backoff_s * 2**attempt
        log.warning("%s %s: %s; retry %d of %d in %.1f s", what, url, problem, attempt + 1, retries, wait)
        await asyncio.sleep(wait)
    raise AssertionError("unreachable: the last attempt returns or raises")
