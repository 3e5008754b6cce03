"""JSON over HTTP to OpenAI-compatible servers (vLLM `serve`, llama.cpp server, TGI, hosted APIs).

One request, bounded retries with exponential backoff: a transport error (refused, reset, timed out)
or a status the server may recover from (429, 5xx) waits `backoff_s * 2**attempt` seconds and tries
again, at most `retries` more times. Any other status, or the last failed try, becomes one
ModelLoadError line naming the server and what to check; the caller never sees an httpx traceback.
"""
from __future__ import annotations

import asyncio

from culturelens.core.errors import ModelLoadError

RETRY_STATUS = (429, 500, 502, 503, 504)


def auth_headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


async def request_json(client, method: str, url: str, body: dict | None = None, *, retries: int = 3, backoff_s: float = 0.5,
                       what: str = "server", hint: str = "is it running?") -> dict:
    """The decoded JSON answer of `method url` (with `body` as JSON), retried as the module docstring says."""
    import httpx

    for attempt in range(retries + 1):
        last = attempt == retries
        try:
            r = await client.request(method, url, json=body)
        except (httpx.TransportError, httpx.TimeoutException):
            if last:
                raise ModelLoadError(f"{what} {url} did not answer after {retries + 1} tries: {hint}") from None
        else:
            if r.is_success:
                return r.json()
            if last or r.status_code not in RETRY_STATUS:
                raise ModelLoadError(f"{what} {url} answered {r.status_code}: {r.text[:200]}")
        await asyncio.sleep(backoff_s * 2**attempt)
    raise AssertionError("unreachable: the last attempt returns or raises")
