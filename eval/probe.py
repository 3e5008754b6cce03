"""The probe: one forward pass per prompt, the option distribution read from next-token probabilities.

For each prompt the probabilities of every option label's first token are read at the last
position ("A" and " A" are both counted, for tokenizers that merge the leading space), then
renormalised over the K options: p_k. `mass` is the probability that fell on the option labels
before renormalising; a low mass means the model did not take up the answer format.

Labels that are not a single token (e.g. "10") fall back to scoring the whole label string:
p_k is proportional to P(label_k tokens | prompt).

Prompts are batched by length (longest first) with left padding; position ids follow the padding,
so a prompt gets the same probabilities at any batch size. Only the last position's logits are
computed (`logits_to_keep`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from culturelens.core.prompts import PromptItem

log = logging.getLogger(__name__)


@dataclass
class ProbeResult:
    probs: list[float]  # over the options in scale order
    mass: float
    mode: str  # "token" or "sequence"


class Probe:
    def __init__(self, model, tokenizer, batch_size: int = 16, prefix_sharing: bool = False, label_variants: tuple[str, ...] = ("", " ")):
        self.model = model
        self.label_variants = label_variants  # prefixes tried for each label: bare and with a leading space
        self.tok = tokenizer
        self.batch_size = batch_size
        self.prefix_sharing = prefix_sharing
        self.device = next(model.parameters()).device
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self._label_ids: dict[str, list[int]] = {}
        self.fallback_labels: set[str] = set()
        bos = tokenizer.bos_token_id
        probe_ids = tokenizer("a").input_ids
        self._adds_bos = bos is not None and len(probe_ids) > 0 and probe_ids[0] == bos

    # ---- tokenisation -------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """Token ids of a rendered prompt with exactly one BOS when the model uses one."""
        ids = self.tok(text, add_special_tokens=False).input_ids
        bos = self.tok.bos_token_id
        if self._adds_bos and (not ids or ids[0] != bos):
            ids = [bos] + ids
        return ids

    def label_token_ids(self, label: str) -> list[int]:
        """Single-token ids that spell the label, with and without a leading space (empty: not one token)."""
        if label not in self._label_ids:
            ids: list[int] = []
            for variant in (prefix + label for prefix in self.label_variants):
                enc = self.tok(variant, add_special_tokens=False).input_ids
                if len(enc) == 1 and enc[0] not in ids and self.tok.decode(enc).strip() == label:
                    ids.append(enc[0])
            self._label_ids[label] = ids
            if not ids and label not in self.fallback_labels:
                self.fallback_labels.add(label)
                log.warning("option label %r is not a single token for this tokenizer: scoring the full label string", label)
        return self._label_ids[label]

    def uses_tokens(self, item: PromptItem) -> bool:
        return all(self.label_token_ids(label) for label in item.labels)

    # ---- forward ------------------------------------------------------------------------------
    @torch.inference_mode()
    def _logprobs_tail(self, batch: list[list[int]], keep: int) -> torch.Tensor:
        """Log-softmax (fp32) of the last `keep` positions of each left-padded sequence: [B, keep, V]."""
        width = max(len(ids) for ids in batch)
        input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, ids in enumerate(batch):
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            attention[row, width - len(ids) :] = 1
        position_ids = (attention.cumsum(-1) - 1).clamp(min=0)
        out = self.model(
            input_ids=input_ids.to(self.device),
            attention_mask=attention.to(self.device),
            position_ids=position_ids.to(self.device),
            logits_to_keep=keep,
            use_cache=False,
        )
        return out.logits[:, -keep:, :].float().log_softmax(-1)

    def _score_token_batch(self, items: list[PromptItem], encoded: list[list[int]]) -> list[ProbeResult]:
        logprobs = self._logprobs_tail(encoded, 1)[:, 0, :].exp()
        results = []
        for row, item in enumerate(items):
            raw = [float(logprobs[row, self.label_token_ids(lbl)].sum()) for lbl in item.labels]
            results.append(self._finish(item, raw, "token"))
        return results

    def _score_sequence_item(self, item: PromptItem, prompt_ids: list[int]) -> ProbeResult:
        sep = "" if item.text[-1:].isspace() else " "
        conts = [self.tok(sep + lbl, add_special_tokens=False).input_ids for lbl in item.labels]
        keep = max(len(c) for c in conts) + 1
        logprobs = self._logprobs_tail([prompt_ids + c for c in conts], keep)
        raw = []
        for row, cont in enumerate(conts):
            # The continuation occupies the last len(cont) positions; its tokens are predicted one step earlier.
            lp = logprobs[row, keep - 1 - len(cont) : keep - 1, :]
            raw.append(float(lp.gather(-1, torch.tensor(cont, device=lp.device)[:, None]).sum().exp()))
        return self._finish(item, raw, "sequence")

    @staticmethod
    def _finish(item: PromptItem, raw_presented: list[float], mode: str) -> ProbeResult:
        mass = sum(raw_presented)
        probs = [0.0] * len(raw_presented)
        for pos, option in enumerate(item.option_index):
            probs[option] = raw_presented[pos] / mass if mass > 0 else 1.0 / len(raw_presented)
        return ProbeResult(probs=probs, mass=mass, mode=mode)

    # ---- public API ---------------------------------------------------------------------------
    def score(self, items: list[PromptItem], on_batch=None, progress: bool = True, desc: str = "probe") -> dict[str, ProbeResult]:
        """Score prompts; `on_batch(results: dict[key, ProbeResult])` is called after every batch (for caching)."""
        results: dict[str, ProbeResult] = {}
        unique = list({item.key: item for item in items}.values())
        encoded = {item.key: self.encode(item.text) for item in unique}
        token_items = [it for it in unique if self.uses_tokens(it)]
        seq_items = [it for it in unique if not self.uses_tokens(it)]
        token_items.sort(key=lambda it: -len(encoded[it.key]))  # longest first: memory peaks early
        bar = tqdm(total=len(unique), desc=desc, disable=not progress, unit="prompt")
        if self.prefix_sharing and token_items:
            from culturelens.eval.prefix import score_with_shared_prefixes

            batches = score_with_shared_prefixes(self, token_items, encoded)
        else:
            batches = (
                (chunk, self._score_token_batch(chunk, [encoded[it.key] for it in chunk]))
                for chunk in (token_items[i : i + self.batch_size] for i in range(0, len(token_items), self.batch_size))
            )
        for chunk, scored in batches:
            done = {it.key: res for it, res in zip(chunk, scored)}
            results.update(done)
            if on_batch:
                on_batch(done)
            bar.update(len(chunk))
        for item in seq_items:
            done = {item.key: self._score_sequence_item(item, encoded[item.key])}
            results.update(done)
            if on_batch:
                on_batch(done)
            bar.update(1)
        bar.close()
        return results
