"""Shared-prefix reuse: prompts that start with the same tokens (same persona and instructions, or the
same question block) compute that prefix's KV cache once; only the suffixes are run, batched.

Grouping is generic: the token sequences are sorted lexicographically and swept; a prompt joins the
current group while the group's longest common prefix stays at least `min_shared` tokens long.
The suffixes of a group are left-padded *after* the prefix: the attention mask hides the padding
and position ids continue from the prefix, so results match unshared scoring (fp32, ~1e-6).

This is the batching strategy `Probe` uses with `prefix_sharing=True` (`shared_prefix_batches`):
per group, one forward pass over the prefix keeps its KV cache; the cache is copied and repeated
for every batch of that group's suffixes; each suffix batch's last-position distribution is read
by the probe's own `token_results`, as in the plain path.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator

import torch

from culturelens.eval.probe import Probe, left_pad, plain_batches


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


@torch.inference_mode()
def _suffix_logprobs(probe: Probe, prefix_ids: list[int], suffixes: list[list[int]], prefix_cache) -> torch.Tensor:
    device = probe.device
    batch = len(suffixes)
    input_ids, suffix_mask = left_pad(suffixes, probe.pad_id)
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
def _prefix_cache(probe: Probe, prefix_ids: list[int]):
    ids = torch.tensor([prefix_ids], device=probe.device)
    out = probe.model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=True, logits_to_keep=1)
    return out.past_key_values


def shared_prefix_batches(probe: Probe, items, encoded: dict[str, list[int]], min_shared: int = 8) -> Iterator:
    """Probe's batching strategy with prefix sharing: yields (items, results) per batch, like `plain_batches`."""
    seqs = [encoded[it.key] for it in items]
    groups = group_by_prefix(seqs, min_shared)
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
            logprobs = _suffix_logprobs(probe, prefix, [encoded[it.key][prefix_len:] for it in chunk], cache)
            yield chunk, probe.token_results(chunk, logprobs.exp())
