"""The probe: one forward pass per prompt, the option distribution read from next-token probabilities.

For each prompt the probabilities of every option label's first token are read at the last
position ("A" and " A" are both counted, for tokenizers that merge the leading space), then
renormalised over the K options: p_k. `mass` is the probability that fell on the option labels
before renormalising; a low mass means the model did not take up the answer format.

Labels that are not a single token (e.g. "10" on a digit-splitting tokenizer) are scored as
sequences, the label *and its end*: p_k is proportional to the sum over both spacings of
P(label_k tokens | prompt) x P(next token does not extend the label), so "1" no longer counts the
replies that go on to "10" and the option mass stays <= 1 (eval/backends/label_sequences.py).

Prompts are batched by length (longest first) with left padding; position ids follow the padding,
so a prompt gets the same probabilities at any batch size. Only the last position's logits are
computed (`logits_to_keep`).

`Probe` is the "hf" backend of eval/backends/base.py. How prompts are put into batches is a strategy:
`plain_batches` (eval/backends/batches.py), or `tree_batches` (eval/backends/prefix.py, `prefix_sharing=True`: the
prompts' trie packed, `tokens_per_forward` tokens per forward pass); both yield (prompts, results) per batch through
the public `score_token_batch` / `token_results`. `stats` counts forward passes and tokens computed. Intra-op threads
follow a `ThreadPolicy` (core/threads.py), re-checked between batches.
"""
from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from culturelens.core.prompts import PromptItem
from culturelens.core.threads import ThreadPolicy
from culturelens.eval.backends.base import ProbeResult, option_distribution
from culturelens.eval.backends.batches import left_pad, plain_batches
from culturelens.eval.backends.label_sequences import extending_tokens, label_continuations, score_label_sequences

__all__ = ["Probe", "ProbeResult", "ProbeStats", "left_pad", "plain_batches"]

log = logging.getLogger(__name__)


@dataclass
class ProbeStats:
    """What the probe computed: forward passes, token positions run (padding included) and prompts scored."""

    forwards: int = 0
    tokens_computed: int = 0
    prompts: int = 0


def label_spellings(tokenizer, label: str, prefixes: tuple[str, ...] = ("", " ")) -> list[tuple[str, int]]:
    """(spelling, token id) of each prefix + label that is one distinct token decoding to the label ("A", " A")."""
    found: list[tuple[str, int]] = []
    for text in (prefix + label for prefix in prefixes):
        enc = tokenizer(text, add_special_tokens=False).input_ids
        if len(enc) == 1 and enc[0] not in {t for _, t in found} and tokenizer.decode(enc).strip() == label:
            found.append((text, enc[0]))
    return found


class Probe:
    """The hf backend: a transformers causal LM scored here (see the module docstring)."""

    source = "hf"
    num_parameters: int | None = None

    def __init__(self, model, tokenizer, batch_size: int = 16, prefix_sharing: bool = False, label_variants: tuple[str, ...] = ("", " "),
                 tokens_per_forward: int = 1024, threads: ThreadPolicy | None = None, pack_workers: int = 1):
        self.model = model
        self.label_variants = label_variants  # prefixes tried for each label: bare and with a leading space
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.prefix_sharing = prefix_sharing
        self.tokens_per_forward = tokens_per_forward  # prefix sharing: trie tokens packed into one forward pass
        self.threads = threads  # None: leave torch's intra-op threads as they are
        self.tree_attention = True  # prefix sharing: a pack's attention computed per segment (eval/backends/prefix.py)
        self.pack_workers = pack_workers  # prefix sharing: packs computed at once, one intra-op thread each
        self.stats = ProbeStats()
        self.device = next(model.parameters()).device
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self._label_ids: dict[str, list[int]] = {}
        self.fallback_labels: set[str] = set()
        self._extends: torch.Tensor | None = None  # tokens that extend a label ("0" after "1"), built on first need
        self.name = getattr(getattr(model, "config", None), "_name_or_path", "") or "hf"
        self.is_chat = bool(getattr(tokenizer, "chat_template", None))
        self._fingerprint: str | None = None
        bos = tokenizer.bos_token_id
        probe_ids = tokenizer("a").input_ids
        self._adds_bos = bos is not None and len(probe_ids) > 0 and probe_ids[0] == bos

    @classmethod
    def from_loaded(cls, lm, batch_size: int = 16, prefix_sharing: bool = False, tokens_per_forward: int = 1024,
                    threads: ThreadPolicy | None = None, pack_workers: int = 1) -> Probe:
        """A probe on a `LoadedModel` (culturelens.core.models), with its name, fingerprint and chat flag."""
        probe = cls(lm.model, lm.tokenizer, batch_size=batch_size, prefix_sharing=prefix_sharing,
                    tokens_per_forward=tokens_per_forward, threads=threads, pack_workers=pack_workers)
        probe.name, probe.is_chat, probe._fingerprint = lm.name, lm.is_chat, lm.fingerprint
        probe.source, probe.num_parameters = lm.source, lm.num_parameters
        return probe

    @property
    def fingerprint(self) -> str:
        """Content hash of the weights and tokenizer (computed on first use for a bare model)."""
        if self._fingerprint is None:
            from culturelens.core.models import fingerprint

            self._fingerprint = fingerprint(self.model, self.tokenizer)
        return self._fingerprint

    # ---- tokenisation -------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """Token ids of a rendered prompt with exactly one BOS when the model uses one."""
        return self.encode_many([text])[0]

    def encode_many(self, texts: list[str]) -> list[list[int]]:
        """`encode` of many prompts in one tokenizer call (a fast tokenizer batches them in Rust)."""
        if not texts:
            return []
        bos = self.tokenizer.bos_token_id
        out = self.tokenizer(texts, add_special_tokens=False).input_ids
        return [[bos] + ids if self._adds_bos and (not ids or ids[0] != bos) else ids for ids in out]

    def label_token_ids(self, label: str) -> list[int]:
        """Single-token ids that spell the label, with and without a leading space (empty: not one token)."""
        if label not in self._label_ids:
            ids = [token for _, token in label_spellings(self.tokenizer, label, self.label_variants)]
            self._label_ids[label] = ids
            if not ids and label not in self.fallback_labels:
                self.fallback_labels.add(label)
                log.warning("option label %r is not a single token for this tokenizer: scoring the label and its end", label)
        return self._label_ids[label]

    def uses_tokens(self, item: PromptItem) -> bool:
        return all(self.label_token_ids(label) for label in item.labels)

    # ---- forward ------------------------------------------------------------------------------
    @torch.inference_mode()
    def logprobs_tail(self, batch: list[list[int]], keep: int) -> torch.Tensor:
        """Log-softmax (fp32) of the last `keep` positions of each left-padded sequence: [B, keep, V]."""
        input_ids, attention = left_pad(batch, self.pad_id)
        position_ids = (attention.cumsum(-1) - 1).clamp(min=0)
        self.stats.forwards += 1
        self.stats.tokens_computed += input_ids.numel()
        out = self.model(
            input_ids=input_ids.to(self.device),
            attention_mask=attention.to(self.device),
            position_ids=position_ids.to(self.device),
            logits_to_keep=keep,
            use_cache=False,
        )
        return out.logits[:, -keep:, :].float().log_softmax(-1)

    def token_results(self, items: list[PromptItem], next_token_logprobs: torch.Tensor) -> list[ProbeResult]:
        """Row i of `next_token_logprobs` [B, V] is prompt i's next-token log-distribution: read its labels (one gather)."""
        rows, ids, slots = [], [], []
        width = max(len(item.labels) for item in items)
        for row, item in enumerate(items):
            for pos, label in enumerate(item.labels):
                for token in self.label_token_ids(label):
                    rows.append(row)
                    ids.append(token)
                    slots.append(row * width + pos)
        probs = next_token_logprobs[torch.tensor(rows), torch.tensor(ids)].double().exp()
        raw = torch.zeros(len(items) * width, dtype=torch.float64).index_add_(0, torch.tensor(slots), probs).tolist()
        return [option_distribution(item, raw[row * width : row * width + len(item.labels)], "token")
                for row, item in enumerate(items)]

    def score_token_batch(self, items: list[PromptItem], encoded: list[list[int]]) -> list[ProbeResult]:
        return self.token_results(items, self.logprobs_tail(encoded, 1)[:, 0, :])

    def score_sequence_item(self, item: PromptItem, prompt_ids: list[int]) -> ProbeResult:
        """Labels that are not one token: P(label, then a token that ends it), both spacings (eval/backends/label_sequences.py)."""
        if self._extends is None:
            self._extends = extending_tokens(self.tokenizer, self.model.get_output_embeddings().weight.shape[0])
        conts = [label_continuations(self.tokenizer, lbl, self.label_variants) for lbl in item.labels]
        raw = score_label_sequences(self.logprobs_tail, prompt_ids, conts, self._extends)
        return option_distribution(item, raw, "sequence")

    # ---- public API ---------------------------------------------------------------------------
    def batches(self, token_items: list[PromptItem], encoded: dict[str, list[int]]) -> Iterator:
        """The batching strategy: the prompts' trie packed (eval/backends/prefix.py) or plain length-sorted batches."""
        if self.prefix_sharing and token_items:
            from culturelens.eval.backends.prefix import tree_batches

            return tree_batches(self, token_items, encoded)
        return plain_batches(self, token_items, encoded)

    def score(self, items: list[PromptItem], on_batch=None, progress: bool = True, desc: str = "probe") -> dict[str, ProbeResult]:
        """Score prompts; `on_batch(results: dict[key, ProbeResult])` is called after every batch (for caching)."""
        results: dict[str, ProbeResult] = {}
        unique = list({item.key: item for item in items}.values())
        encoded = dict(zip((item.key for item in unique), self.encode_many([item.text for item in unique])))
        token_items = [it for it in unique if self.uses_tokens(it)]
        seq_items = [it for it in unique if not self.uses_tokens(it)]
        token_items.sort(key=lambda it: -len(encoded[it.key]))  # longest first: memory peaks early
        bar = tqdm(total=len(unique), desc=desc, disable=not progress, unit="prompt")
        singles = (([it], [self.score_sequence_item(it, encoded[it.key])]) for it in seq_items)
        packs_at_once = self.pack_workers > 1 and self.prefix_sharing
        policy = None if packs_at_once else self.threads
        if packs_at_once:
            torch.set_num_threads(1)  # several packs at once, one intra-op thread each
        if policy is not None:
            policy.apply()
        for batch_items, scored in itertools.chain(self.batches(token_items, encoded), singles):  # lazily: one batch at a time
            if policy is not None:
                policy.adjust()  # for the next forward pass: fewer threads while other processes want the CPUs
            self.stats.prompts += len(batch_items)
            done = {it.key: res for it, res in zip(batch_items, scored)}
            results.update(done)
            if on_batch:
                on_batch(done)
            bar.update(len(batch_items))
        bar.close()
        return results
