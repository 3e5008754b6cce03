"""Teachers write text from chat messages: a local model culturelens loads, or an OpenAI-compatible server."""
from __future__ import annotations

import asyncio
import os
from typing import Literal

import torch
from pydantic import Field

from culturelens.core.config import Seed, StrictModel
from culturelens.core.errors import ModelLoadError
from culturelens.core.http import auth_headers, request_json
from culturelens.core.models import ModelConfig


class TeacherConfig(StrictModel):
    """The teacher model that writes text: a local model or an OpenAI-compatible server."""

    backend: Literal["local", "openai"] = Field("local",
                                                description="local: a model culturelens loads; openai: an OpenAI-compatible server")
    model: ModelConfig | None = None  # local: any model culturelens loads
    base_url: str | None = None  # openai: e.g. http://localhost:8000/v1 (vLLM serve, llama.cpp server, TGI, hosted APIs)
    server_model: str | None = None  # openai: the model name the server knows
    api_key_env: str = Field("OPENAI_API_KEY", description="openai: environment variable that holds the API key (unset: no key sent)")
    max_new_tokens: int = Field(96, ge=1, description="longest answer the teacher may write")
    temperature: float = Field(0.8, ge=0, description="sampling temperature (0: greedy)")
    top_p: float = Field(0.95, gt=0, le=1, description="nucleus sampling p")
    batch_size: int = Field(8, ge=1, description="local: prompts generated together")
    concurrency: int = Field(8, ge=1, description="openai: requests in flight at once")
    timeout_s: float = Field(60, gt=0)  # total deadline of one request (connect + the whole answer)
    retries: int = Field(3, ge=0)  # more tries after a failed one (each logged as a warning)
    seed: Seed = Field(0, description="sampling seed")


def render_plain(messages: list[dict]) -> str:
    """For base models without a chat template: the contents one after another."""
    return "\n\n".join(m["content"] for m in messages)


class LocalTeacher:
    def __init__(self, loaded, max_new_tokens: int = 96, temperature: float = 0.8, top_p: float = 0.95, batch_size: int = 8, seed: int = 0):
        self.lm = loaded
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.batch_size = batch_size
        self.seed = seed
        self.name = loaded.name

    def _text(self, messages: list[dict]) -> str:
        tok = self.lm.tokenizer
        if self.lm.is_chat:
            return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return render_plain(messages)

    @torch.inference_mode()
    def generate(self, prompts: list[list[dict]]) -> list[str]:
        tok, model = self.lm.tokenizer, self.lm.model
        tok.padding_side = "left"
        outs: list[str] = []
        for start in range(0, len(prompts), self.batch_size):
            chunk = [self._text(m) for m in prompts[start : start + self.batch_size]]
            enc = tok(chunk, return_tensors="pt", padding=True, add_special_tokens=not self.lm.is_chat).to(model.device)
            torch.manual_seed(self.seed + start)
            sampling = ({"do_sample": True, "temperature": self.temperature, "top_p": self.top_p}
                        if self.temperature > 0 else {"do_sample": False})
            gen = model.generate(**enc, max_new_tokens=self.max_new_tokens, pad_token_id=tok.pad_token_id, **sampling)
            outs += tok.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        return outs


def reply_text(answer: dict, url: str) -> str:
    """The text of a chat completion; a ModelLoadError when the answer has no choice with a message."""
    try:
        return answer["choices"][0]["message"]["content"] or ""
    except (KeyError, IndexError, TypeError):
        raise ModelLoadError(f"teacher server {url} answered without choices[0].message.content "
                             f"({str(answer)[:120]}): check teacher.server_model and that it is a chat model") from None


class OpenAITeacher:
    """POST {base_url}/chat/completions with bounded concurrency, retries with backoff and timeouts."""

    def __init__(self, base_url: str, model: str, api_key_env: str = "OPENAI_API_KEY", concurrency: int = 8, timeout_s: float = 60,
                 retries: int = 3, max_new_tokens: int = 96, temperature: float = 0.8, top_p: float = 0.95):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.key = os.environ.get(api_key_env, "")
        self.concurrency, self.timeout, self.retries = concurrency, timeout_s, retries
        self.params = {"max_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p}
        self.name = f"{model}@{base_url}"

    async def _one(self, client, sem, messages):
        async with sem:
            body = {"model": self.model, "messages": messages, **self.params}
            answer = await request_json(client, "POST", self.url, body, retries=self.retries, backoff_s=0.2,
                                        what="teacher server", hint="is it running?")
            return reply_text(answer, self.url)

    async def _all(self, prompts):
        import httpx

        sem = asyncio.Semaphore(self.concurrency)
        async with httpx.AsyncClient(timeout=self.timeout, headers=auth_headers(self.key)) as client:
            return await asyncio.gather(*(self._one(client, sem, m) for m in prompts))

    def generate(self, prompts: list[list[dict]]) -> list[str]:
        return list(asyncio.run(self._all(prompts)))


def make_teacher(cfg):
    if cfg.backend == "openai":
        if not cfg.base_url or not cfg.server_model:
            raise ModelLoadError("teacher.backend=openai needs teacher.base_url and teacher.server_model")
        return OpenAITeacher(cfg.base_url, cfg.server_model, cfg.api_key_env, cfg.concurrency, cfg.timeout_s, cfg.retries,
                             cfg.max_new_tokens, cfg.temperature, cfg.top_p)
    if cfg.model is None:
        raise ModelLoadError("teacher.backend=local needs teacher.model (e.g. {name_or_path: gemma3-270m})")
    from culturelens.core.models import load_model

    return LocalTeacher(load_model(cfg.model), cfg.max_new_tokens, cfg.temperature, cfg.top_p, cfg.batch_size, cfg.seed)
