"""Probe backend for an OpenAI-compatible completions server with log-probs (vLLM `serve`).

One request per prompt: max_tokens=1, temperature 0, the top log-probs of the next token; the
option labels' probabilities are read from them (labels outside the top list count as 0, which
lowers the reported mass). Start vLLM with prefix caching so shared persona prefixes are reused:

    vllm serve Qwen/Qwen2.5-7B-Instruct --enable-prefix-caching --max-logprobs 40

and set `probe.backend: vllm`, `probe.server_url: http://localhost:8000/v1` in the eval config.
The prompt text is rendered locally (with the model's own chat template), so the server sees
exactly the prompt the HF backend would score.
"""
from __future__ import annotations

import asyncio
import math
import os

from culturelens.core.errors import ModelLoadError
from culturelens.eval.probe import ProbeResult
from culturelens.core.prompts import PromptItem


def build_request(item: PromptItem, model: str, top_logprobs: int = 20) -> dict:
    return {
        "model": model,
        "prompt": item.text,
        "max_tokens": 1,
        "temperature": 0.0,
        "logprobs": top_logprobs,
        "echo": False,
        # vLLM extension: the prompt already carries its special tokens
        "add_special_tokens": False,
    }


def parse_response(item: PromptItem, payload: dict) -> ProbeResult:
    """Option distribution from a completions response (`choices[0].logprobs.top_logprobs[0]`)."""
    try:
        top = payload["choices"][0]["logprobs"]["top_logprobs"][0] or {}
    except (KeyError, IndexError, TypeError) as exc:
        raise ModelLoadError(f"server response has no top log-probs ({exc!r}): start vLLM with --max-logprobs >= 20") from None
    raw = []
    for label in item.labels:
        raw.append(sum(math.exp(lp) for tok, lp in top.items() if tok.strip() == label))
    mass = sum(raw)
    probs = [0.0] * len(raw)
    for pos, option in enumerate(item.option_index):
        probs[option] = raw[pos] / mass if mass > 0 else 1.0 / len(raw)
    return ProbeResult(probs=probs, mass=mass, mode="server")


class ServerProbe:
    """Same interface as Probe.score, against an OpenAI-compatible server (bounded concurrency, retries)."""

    def __init__(self, base_url: str, model: str, concurrency: int = 16, timeout_s: float = 60, retries: int = 3,
                 api_key_env: str = "OPENAI_API_KEY", top_logprobs: int = 20):
        self.url = base_url.rstrip("/") + "/completions"
        self.model = model
        self.concurrency = concurrency
        self.timeout = timeout_s
        self.retries = retries
        self.key = os.environ.get(api_key_env, "")
        self.top = top_logprobs
        self.fallback_labels: set[str] = set()

    async def _one(self, client, sem, item: PromptItem) -> ProbeResult:
        import httpx

        async with sem:
            for attempt in range(self.retries + 1):
                try:
                    r = await client.post(self.url, json=build_request(item, self.model, self.top))
                    if r.status_code in (429, 500, 502, 503, 504) and attempt < self.retries:
                        await asyncio.sleep(0.5 * 2**attempt)
                        continue
                    r.raise_for_status()
                    return parse_response(item, r.json())
                except (httpx.TransportError, httpx.TimeoutException):
                    if attempt == self.retries:
                        raise ModelLoadError(f"server {self.url} did not answer after {self.retries + 1} tries: is vLLM running?") from None
                    await asyncio.sleep(0.5 * 2**attempt)
        raise ModelLoadError(f"server {self.url} kept failing")

    async def _run(self, items, on_batch):
        import httpx

        sem = asyncio.Semaphore(self.concurrency)
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        results = {}
        async with httpx.AsyncClient(timeout=self.timeout, headers=headers) as client:
            unique = list({it.key: it for it in items}.values())
            for start in range(0, len(unique), 64):
                chunk = unique[start : start + 64]
                got = await asyncio.gather(*(self._one(client, sem, it) for it in chunk))
                done = {it.key: res for it, res in zip(chunk, got)}
                results.update(done)
                if on_batch:
                    on_batch(done)
        return results

    def score(self, items, on_batch=None, progress: bool = True, desc: str = "probe") -> dict[str, ProbeResult]:
        return asyncio.run(self._run(items, on_batch))
