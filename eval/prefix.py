"""Shared-prefix reuse: prompts that start with the same tokens (same persona and instructions, or the
same question block) compute that prefix's KV cache once; only the suffixes are run, batched.

Grouping is generic: the token sequences are sorted lexicographically and swept; a prompt joins the
current group while the group's longest common prefix stays at least `min_shared` tokens long.
The suffixes of a group are left-padded *after* the prefix: the attention mask hides the padding
and position ids continue from the prefix, so results match unshared scoring (fp32, ~1e-6).
"""
from __future__ import annotations

import copy
from typing import Iterator

import torch


def _lcp(a: list[int], b: list[int], limit: int) -> int:
    n = min(len(a), len(b), limit)
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def group_by_prefix(encoded: list[list[int]], min_shared: int = 8) -> list[tuple[int, list[int]]]:
    """Groups of indices whose sequences share >= min_shared leading tokens: [(prefix_len, [idx...])]."""
    order = sorted(range(len(encoded)), key=lambda i: encoded[i])
    groups: list[tuple[int, list[int]]] = []
    cur: list[int] = []
    cur_lcp = 0
    for i in order:
        if not cur:
            cur, cur_lcp = [i], len(encoded[i]) - 1
            continue
        lcp = _lcp(encoded[cur[0]], encoded[i], cur_lcp)
        if lcp >= min_shared:
            cur.append(i)
            cur_lcp = lcp
        else:
            groups.append((cur_lcp if len(cur) > 1 else 0, cur))
            cur, cur_lcp = [i], len(encoded[i]) - 1
    if cur:
        groups.append((cur_lcp if len(cur) > 1 else 0, cur))
    # every suffix must keep at least one token (the position whose logits we read)
    return [(min(p, min(len(encoded[i]) for i in idx) - 1), idx) for p, idx in groups]


@torch.inference_mode()
def _suffix_logprobs(probe, prefix_ids: list[int], suffixes: list[list[int]], prefix_cache) -> torch.Tensor:
    device = probe.device
    width = max(len(s) for s in suffixes)
    batch = len(suffixes)
    input_ids = torch.full((batch, width), probe.pad_id, dtype=torch.long)
    suffix_mask = torch.zeros((batch, width), dtype=torch.long)
    for row, ids in enumerate(suffixes):
        input_ids[row, width - len(ids) :] = torch.tensor(ids)
        suffix_mask[row, width - len(ids) :] = 1
    p = len(prefix_ids)
    attention = torch.cat([torch.ones((batch, p), dtype=torch.long), suffix_mask], dim=1)
    position_ids = p + (suffix_mask.cumsum(-1) - 1).clamp(min=0)
    cache = copy.deepcopy(prefix_cache)
    if batch > 1:
        cache.batch_repeat_interleave(batch)
    out = probe.model(
        input_ids=input_ids.to(device),
        attention_mask=attention.to(device),
        position_ids=position_ids.to(device),
        past_key_values=cache,
        use_cache=True,
        logits_to_keep=1,
    )
    return out.logits[:, -1, :].float().log_softmax(-1)


@torch.inference_mode()
def _prefix_cache(probe, prefix_ids: list[int]):
    ids = torch.tensor([prefix_ids], device=probe.device)
    out = probe.model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=True, logits_to_keep=1)
    return out.past_key_values


def score_with_shared_prefixes(probe, items, encoded: dict[str, list[int]], min_shared: int = 8) -> Iterator:
    """Yields (items, results) per batch, like the plain path of Probe.score."""
    seqs = [encoded[it.key] for it in items]
    for prefix_len, idx in group_by_prefix(seqs, min_shared):
        group = [items[i] for i in idx]
        if prefix_len < min_shared:
            for start in range(0, len(group), probe.batch_size):
                chunk = group[start : start + probe.batch_size]
                yield chunk, probe._score_token_batch(chunk, [encoded[it.key] for it in chunk])
            continue
        prefix = seqs[idx[0]][:prefix_len]
        cache = _prefix_cache(probe, prefix)
        group.sort(key=lambda it: -len(encoded[it.key]))
        for start in range(0, len(group), probe.batch_size):
            chunk = group[start : start + probe.batch_size]
            logprobs = _suffix_logprobs(probe, prefix, [encoded[it.key][prefix_len:] for it in chunk], cache).exp()
            results = []
            for row, item in enumerate(chunk):
                raw = [float(logprobs[row, probe.label_token_ids(lbl)].sum()) for lbl in item.labels]
                results.append(probe._finish(item, raw, "token"))
            yield chunk, results
