"""Shared-prefix reuse: prompts that start with the same tokens (same persona and instructions, or the
same question block) compute that prefix's KV cache once; only the suffixes are run, packed.

Grouping is generic: the token sequences are sorted lexicographically and swept; a prompt joins the
current group while the group's longest common prefix stays at least `min_shared` tokens long.

Suffixes are packed, not padded: a batch of a group's suffixes is concatenated into one sequence that
follows the prefix's KV cache (batch 1: the cache is neither repeated nor padded). A 4D additive
attention mask lets every suffix token see the whole prefix and the earlier tokens of its own suffix
only; its position ids restart at the prefix length for each suffix; the logits are kept at each
suffix's last token only. So every suffix is computed exactly as if it followed the prefix alone, and
results match unshared scoring (fp32, ~1e-6). With country-last templates a suffix is a few tokens,
and packing avoids the copies and padded attention of one cache row per suffix; suffixes longer
than PACK_MAX_SUFFIX tokens (persona-first templates) go as rows, since packed attention grows
with the square of the packed length. Models with
sliding-window layers (Gemma 3) keep only part of the prefix in those layers' caches, so one mask
does not fit every layer: there each suffix is a left-padded row after a repeated copy of the cache
(`_rows_logprobs`; the attention mask hides the padding, positions continue from the prefix), and
prompts that reach the window are scored unshared (a window that cuts the prefix would not be exact).

This is the batching strategy `Probe` uses with `prefix_sharing=True` (`shared_prefix_batches`):
per group, one forward pass over the prefix keeps its KV cache; each packed batch of that group's
suffixes runs on a copy of it; each suffix's last-position distribution is read by the probe's own
`token_results`, as in the plain path.
"""
from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch

from culturelens.eval.backends.batches import left_pad, plain_batches

if TYPE_CHECKING:
    from culturelens.eval.backends.probe import Probe

log = logging.getLogger(__name__)
PACK_MAX_SUFFIX = 32  # suffixes up to this many tokens are packed (country-last templates); longer ones go as rows


def _lcp(a: list[int], b: list[int], limit: int) -> int:
    n = min(len(a), len(b), limit)
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def group_by_prefix(encoded: list[list[int]], min_shared: int = 8, group_cost: int = 16,
                    max_group: int = 512) -> list[tuple[int, list[int]]]:
    """Partition prompts into groups that share a prefix, minimising the tokens run: [(prefix_len, [idx...])].

    Sequences are sorted lexicographically, so every group is a run of neighbours whose common prefix is
    the minimum of the neighbours' LCPs. A dynamic program over the sorted order picks the runs: a group
    of k prompts sharing p tokens saves (k - 1) * p tokens and costs `group_cost` (its own prefix pass
    and smaller batches). So a deep prefix (a country's persona and instructions, or a question block
    that comes first) wins over a shallow one that every prompt shares (the chat template's header).
    Prompts in no group come back as singletons with prefix_len 0. Every suffix keeps >= 1 token.
    """
    n = len(encoded)
    order = sorted(range(n), key=lambda i: encoded[i])
    lens = [len(encoded[i]) for i in order]
    adj = [_lcp(encoded[order[k]], encoded[order[k + 1]], min(lens[k], lens[k + 1]) - 1) for k in range(n - 1)]
    total = [0]
    for length in lens:
        total.append(total[-1] + length)
    best = [0.0] * (n + 1)
    choice: list[tuple[int, int]] = [(0, 0)] * (n + 1)
    for j in range(1, n + 1):  # best cost of the first j sorted prompts; the last group ends at j - 1
        best[j], choice[j] = best[j - 1] + lens[j - 1], (j - 1, 0)
        p = 1 << 30
        for i in range(j - 2, max(-1, j - 1 - max_group), -1):
            p = min(p, adj[i])
            if p < min_shared:
                break
            cost = best[i] + (total[j] - total[i]) - (j - i - 1) * p + group_cost
            if cost < best[j]:
                best[j], choice[j] = cost, (i, p)
    groups: list[tuple[int, list[int]]] = []
    j = n
    while j > 0:
        i, p = choice[j]
        groups.append((p, [order[k] for k in range(i, j)]))
        j = i
    return groups[::-1]


def packed_mask(prefix_len: int, lengths: list[int], dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For suffixes of `lengths` packed after a prefix: the [1, 1, n, prefix_len + n] additive mask (0 = may attend,
    dtype's min = may not), the position ids [1, n] and the index of each suffix's last token [len(lengths)]."""
    segment = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths))
    offset = torch.cat([torch.arange(k) for k in lengths])
    own = (segment[:, None] == segment[None, :]) & (offset[None, :] <= offset[:, None])  # same suffix, causal
    allowed = torch.cat([torch.ones(len(segment), prefix_len, dtype=torch.bool), own], dim=1)
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)
    last = torch.cumsum(torch.tensor(lengths), 0) - 1
    return mask[None, None], (prefix_len + offset)[None], last


def sliding_window(model) -> int | None:
    """The attention window of a model with sliding-window (or chunked) layers, None when every layer sees everything."""
    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    types = getattr(cfg, "layer_types", None) or []
    window = getattr(cfg, "sliding_window", None) or getattr(cfg, "attention_chunk_size", None)
    if types and all(t == "full_attention" for t in types) or getattr(cfg, "use_sliding_window", True) is False:
        return None
    return window or (1 if types else None)  # layer types other than full attention but no size: treat as unknown


def can_pack(model) -> bool:
    """Packing needs one causal mask for every layer: models with sliding-window (or chunked) attention layers keep
    only part of the prefix in those layers' caches, so their suffixes are batched as rows instead."""
    return sliding_window(model) is None


@torch.inference_mode()
def _rows_logprobs(probe: Probe, prefix_ids: list[int], suffixes: list[list[int]], prefix_cache) -> torch.Tensor:
    """Next-token log-probabilities after each suffix [len(suffixes), V]: one left-padded row per suffix after a
    repeated copy of the prefix cache (the attention mask hides the padding, positions continue from the prefix)."""
    batch = len(suffixes)
    input_ids, suffix_mask = left_pad(suffixes, probe.pad_id)
    p = len(prefix_ids)
    attention = torch.cat([torch.ones((batch, p), dtype=torch.long), suffix_mask], dim=1)
    position_ids = p + (suffix_mask.cumsum(-1) - 1).clamp(min=0)
    cache = copy.deepcopy(prefix_cache)
    if batch > 1:
        cache.batch_repeat_interleave(batch)
    out = probe.model(input_ids=input_ids.to(probe.device), attention_mask=attention.to(probe.device),
                      position_ids=position_ids.to(probe.device), past_key_values=cache, use_cache=True, logits_to_keep=1)
    return out.logits[:, -1, :].float().log_softmax(-1)


@torch.inference_mode()
def _packed_logprobs(probe: Probe, prefix_ids: list[int], suffixes: list[list[int]], prefix_cache) -> torch.Tensor:
    """Next-token log-probabilities after each suffix [len(suffixes), V], all suffixes packed in one forward pass."""
    device = probe.device
    dtype = next(probe.model.parameters()).dtype
    mask, position_ids, last = packed_mask(len(prefix_ids), [len(s) for s in suffixes], dtype)
    out = probe.model(
        input_ids=torch.tensor([[t for s in suffixes for t in s]], device=device),
        attention_mask=mask.to(device),
        position_ids=position_ids.to(device),
        past_key_values=copy.deepcopy(prefix_cache),
        use_cache=True,
        logits_to_keep=last.to(device),
    )
    return out.logits[0].float().log_softmax(-1)


@torch.inference_mode()
def _prefix_cache(probe: Probe, prefix_ids: list[int]):
    ids = torch.tensor([prefix_ids], device=probe.device)
    out = probe.model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=True, logits_to_keep=1)
    return out.past_key_values


def shared_prefix_batches(probe: Probe, items, encoded: dict[str, list[int]], min_shared: int = 8) -> Iterator:
    """Probe's batching strategy with prefix sharing: yields (items, results) per batch, like `plain_batches`."""
    seqs = [encoded[it.key] for it in items]
    window = sliding_window(probe.model)
    if window is not None and max(map(len, seqs), default=0) >= window:  # a window cuts the shared prefix: not exact
        log.warning("prompts reach the model's %d-token attention window: prefix sharing is off for this batch", window)
        yield from plain_batches(probe, items, encoded)
        return
    groups = group_by_prefix(seqs, min_shared)
    packs = can_pack(probe.model)
    alone = sorted((items[i] for p, idx in groups if p == 0 for i in idx), key=lambda it: len(encoded[it.key]))
    yield from plain_batches(probe, alone, encoded)  # prompts that share nothing: plain length-sorted batches
    for prefix_len, idx in groups:
        if prefix_len == 0:
            continue
        group = [items[i] for i in idx]
        prefix = seqs[idx[0]][:prefix_len]
        cache = _prefix_cache(probe, prefix)
        group.sort(key=lambda it: -len(encoded[it.key]))
        for start in range(0, len(group), probe.batch_size):
            chunk = group[start : start + probe.batch_size]
            suffixes = [encoded[it.key][prefix_len:] for it in chunk]
            # packed attention grows with the square of the packed length: long suffixes go as rows
            pack = packs and max(map(len, suffixes)) <= PACK_MAX_SUFFIX
            logprobs = (_packed_logprobs if pack else _rows_logprobs)(probe, prefix, suffixes, cache)
            yield chunk, probe.token_results(chunk, logprobs.exp())
