"""Prefix sharing as a tree: every distinct prefix of the run's prompts is computed once, many prompts per forward pass.

The prompts' token sequences form a trie (a radix tree, as in vLLM's and SGLang's prefix caches): the chat header
is shared by every prompt; with `country_in_answer`, a question's text by both option orders, the question block and
instructions by the 24 countries of a (question, order), and a country's few tokens close each path; a `no_persona`
prompt shares the header and its own preamble and question text with the other order's. Each trie node is one token
to compute (docs/performance.md has the counts).

Packing: a run of prompts in lexicographic order is a depth-first walk of its sub-trie, so its nodes are laid out as
one sequence in that order (`pack_tree`). A token attends to its ancestors in the trie only (a boolean [n, n] tree
mask); its position id is its depth. So every token is computed exactly as in its own prompt, and the logits are
kept at each prompt's last node only (`logits_to_keep` as indices): results match unshared scoring (fp32, ~1e-6).
Nothing is padded; the only KV cache is the one of the prefix every prompt shares (the chat header), computed once
per job and copied into each pack's pass (`root_cache`, models without window layers).

Batching (`tree_chunks`): the sorted prompts are cut into packs of at most `tokens_per_forward` nodes, at the
shallowest boundary available (between questions rather than between the countries of one), so the matrices are
large (several (question, order) groups and the question blocks of several questions per forward pass).

Tree attention (`tree_attention`, a transformers attention implementation used for a pack's forward pass only): the
pack's attention is computed per segment of consecutive prompts (`PackedTree.segments`), each over the keys its
queries may see (the cached prefix, the segment's ancestors outside it, its own nodes) with the tree mask cut to
them: the same softmax as the dense [n, n] mask, without spanning the whole pack, so it does not grow with the
square of the pack.

Sliding-window models (Gemma 3): when a prompt is longer than the window, the window's layers get their own mask
(the tree mask restricted to ancestors less than a window away, passed as the per-layer-type mask mapping those
models take); a model with window layers but no layer types is scored unshared past its window.

`group_by_prefix` is the flat view of the same sharing (groups of prompts with one common prefix), kept to inspect
how a template shares its prompts; `packed_mask` is the tree mask of suffixes packed after a prefix.
"""
from __future__ import annotations

import copy
import inspect
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from culturelens.core.token_trie import PackedTree, additive, lcp, pack_tree, shared_lengths
from culturelens.eval.backends.batches import plain_batches

if TYPE_CHECKING:
    from culturelens.eval.backends.probe import Probe

log = logging.getLogger(__name__)
ROOT_MIN = 8  # a prefix shared by every prompt (the chat header) at least this long is computed once per job


def group_by_prefix(encoded: list[list[int]], min_shared: int = 8, group_cost: int = 16,
                    max_group: int = 512) -> list[tuple[int, list[int]]]:
    """Partition prompts into groups that share a prefix, minimising the tokens run: [(prefix_len, [idx...])].

    Sequences are sorted lexicographically, so every group is a run of neighbours whose common prefix is
    the minimum of the neighbours' LCPs. A dynamic program over the sorted order picks the runs: a group
    of k prompts sharing p tokens saves (k - 1) * p tokens and costs `group_cost`. So a deep prefix (a
    country's persona and instructions, or a question block that comes first) wins over a shallow one that
    every prompt shares (the chat template's header). Prompts in no group come back as singletons with
    prefix_len 0. Every suffix keeps >= 1 token. (The flat view of the tree that `tree_batches` computes.)
    """
    n = len(encoded)
    order = sorted(range(n), key=lambda i: encoded[i])
    lens = [len(encoded[i]) for i in order]
    adj = [lcp(encoded[order[k]], encoded[order[k + 1]], min(lens[k], lens[k + 1]) - 1) for k in range(n - 1)]
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


def trie_size(seqs: list[list[int]]) -> int:
    """Tokens computed when the sequences are scored as one tree: the nodes of their trie (one pack, no budget)."""
    ordered = sorted(seqs)
    return sum(len(s) - k for s, k in zip(ordered, shared_lengths(ordered)))


def packed_tokens(seqs: list[list[int]], budget: int) -> int:
    """Tokens computed when the sequences (any order) are scored in packs of at most `budget` trie nodes."""
    ordered = sorted(seqs)
    shared = shared_lengths(ordered)
    return sum(len(ordered[i]) - (shared[i] if i > run.start else 0) for run in tree_chunks(ordered, budget) for i in run)


def tree_chunks(seqs: list[list[int]], budget: int) -> list[range]:
    """Cut sequences in lexicographic order into runs of at most `budget` trie nodes (a longer sequence is a run of its
    own). Where a run must end, it ends at the shallowest boundary of its second half: a cut there recomputes the
    least shared prefix in the next run (the chat header rather than a question block)."""
    shared = shared_lengths(seqs)
    runs: list[range] = []
    start, n = 0, len(seqs)
    while start < n:
        nodes, end, filled = len(seqs[start]), start + 1, []  # filled[j]: nodes of the run start..start+j
        filled.append(nodes)
        while end < n and nodes + len(seqs[end]) - shared[end] <= budget:
            nodes += len(seqs[end]) - shared[end]
            filled.append(nodes)
            end += 1
        if end < n:
            cuts = [b for b in range(start + 1, end + 1) if filled[b - start - 1] * 2 >= nodes] or [end]
            end = min(cuts, key=lambda b: (shared[b], -b))
        runs.append(range(start, end))
        start = end
    return runs


def packed_mask(prefix_len: int, lengths: list[int], dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For suffixes of `lengths` packed after a prefix: the [1, 1, n, prefix_len + n] additive mask (0 = may attend,
    dtype's min = may not), the position ids [1, n] and the index of each suffix's last token [len(lengths)]: the tree
    of prefix + suffix sequences, rows below the prefix."""
    seqs = [list(range(prefix_len)) + [-1 - i] * k for i, k in enumerate(lengths)]  # distinct suffix tokens
    tree = pack_tree(sorted(seqs, reverse=True))  # -1... sorts descending: suffix 0 first
    allowed = tree.allowed()[prefix_len:]
    return additive(allowed, dtype), torch.tensor([tree.positions[prefix_len:]]), torch.tensor(tree.last) - prefix_len


def sliding_window(model) -> int | None:
    """The attention window of a model with sliding-window (or chunked) layers, None when every layer sees everything."""
    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    types = getattr(cfg, "layer_types", None) or []
    window = getattr(cfg, "sliding_window", None) or getattr(cfg, "attention_chunk_size", None)
    if types and all(t == "full_attention" for t in types) or getattr(cfg, "use_sliding_window", True) is False:
        return None
    return window or (1 if types else None)  # layer types other than full attention but no size: treat as unknown


def tree_attention_mask(tree: PackedTree, dtype: torch.dtype, window: int | None, prefix_len: int = 0):
    """The tree mask for the model: one [1, 1, n, prefix_len + n] mask (every node also sees a cached prefix of
    `prefix_len` tokens), or {layer type: mask} when a window cuts some prompt's ancestors (window layers then see the
    ancestors less than `window` positions back, as their causal mask would; only without a cached prefix)."""
    allowed = tree.allowed()
    if prefix_len:
        allowed = torch.cat([torch.ones((allowed.shape[0], prefix_len), dtype=torch.bool), allowed], dim=1)
    if window is None or max(tree.positions, default=0) + prefix_len < window:
        return additive(allowed, dtype)
    assert not prefix_len, "a cached prefix is only used by models without window layers"
    pos = torch.tensor(tree.positions)
    near = allowed & (pos[:, None] - pos[None, :] < window)
    return {"full_attention": additive(allowed, dtype), "sliding_attention": additive(near, dtype)}


SEGMENT_ROWS = 64  # tree attention: query rows per segment (fewer: more, smaller attention calls)
TREE_ATTENTION = "culturelens_tree"


@dataclass
class TreeSegments:
    """Attention of a pack, segment by segment: (query start, query end, key indices [k], additive mask [1, 1, q, k])
    each; the keys of a segment are the cached prefix, the segment's outside ancestors and its own nodes, so
    attention skips the pack's other branches (which the tree mask would only mask out)."""

    parts: list[tuple[int, int, torch.Tensor, torch.Tensor]]


def tree_segments(tree: PackedTree, mask: torch.Tensor, prefix_len: int, device) -> TreeSegments:
    """`mask` [1, 1, n, prefix_len + n] (additive) cut into the segments of `tree` (PackedTree.segments)."""
    parts = []
    head = list(range(prefix_len))
    for start, end, outside in tree.segments(SEGMENT_ROWS):
        keys = torch.tensor(head + [prefix_len + a for a in outside] + list(range(prefix_len + start, prefix_len + end)))
        parts.append((start, end, keys.to(device), mask[:, :, start:end].index_select(-1, keys.to(mask.device)).to(device)))
    return TreeSegments(parts)


def tree_attention(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None, tree=None, **kwargs):
    """An attention implementation (transformers' AttentionInterface) that computes a pack's attention per segment
    (`tree`: TreeSegments); every other call goes to the model's own implementation. The same softmax over the same
    allowed keys: the keys a segment leaves out are the ones its mask would set to zero weight."""
    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

    if tree is None:  # not a pack's forward pass
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    groups = getattr(module, "num_key_value_groups", 1)
    outs = []
    for start, end, keys, mask in tree.parts:
        k = repeat_kv(key.index_select(2, keys), groups)
        v = repeat_kv(value.index_select(2, keys), groups)
        outs.append(torch.nn.functional.scaled_dot_product_attention(
            query[:, :, start:end], k, v, attn_mask=mask, dropout_p=0.0, scale=scaling))
    return torch.cat(outs, dim=2).transpose(1, 2).contiguous(), None


def use_tree_attention(model) -> str | None:
    """Register `tree_attention` and return the model's own implementation when it is one it can stand in for."""
    from transformers import AttentionInterface

    cfg = model.config
    inner = getattr(cfg, "_attn_implementation", None)
    if inner not in ("sdpa", TREE_ATTENTION) or getattr(cfg, "sub_configs", None):
        return None
    if TREE_ATTENTION not in AttentionInterface._global_mapping:
        AttentionInterface.register(TREE_ATTENTION, tree_attention)
    return "sdpa" if inner == TREE_ATTENTION else inner


def mask_mapping_ok(model, window: int | None) -> bool:
    """Whether prompts past the window can be packed: the model's layers are typed full or sliding attention only (the
    models whose forward takes a {layer type: mask} mapping)."""
    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    types = set(getattr(cfg, "layer_types", None) or [])
    return bool(types) and types <= {"full_attention", "sliding_attention"} and window is not None and window > 1


def _cache_arg(model) -> str:
    """The forward argument that takes a KV cache: `cache` in newer transformers (where `past_key_values` is deprecated
    with a FutureWarning that would print inside the progress bar), `past_key_values` before."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # a peft model forwards **kwargs
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


@torch.inference_mode()
def root_cache(probe: Probe, root: list[int]):
    """The KV cache of the prefix every prompt shares (the chat header): computed once, copied into each pack's pass."""
    ids = torch.tensor([root], device=probe.device)
    out = probe.model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=True, logits_to_keep=1)
    return out["cache"] if "cache" in out else out["past_key_values"]


@torch.inference_mode()
def tree_logprobs(probe: Probe, tree: PackedTree, window: int | None, root: tuple[int, object] = (0, None)) -> torch.Tensor:
    """Next-token log-probabilities at each packed sequence's last node [len(tree.last), V]: one forward pass, after
    `root` = (length, KV cache) of a prefix shared by every sequence (the tree holds what follows it), if any."""
    dtype = next(probe.model.parameters()).dtype
    device = probe.device
    root_len, cache = root
    mask = tree_attention_mask(tree, dtype, window, root_len)
    mask = {k: v.to(device) for k, v in mask.items()} if isinstance(mask, dict) else mask.to(device)
    past = {_cache_arg(probe.model): copy.deepcopy(cache), "use_cache": True} if root_len else {"use_cache": False}
    segmented = probe.model.config._attn_implementation == TREE_ATTENTION and not isinstance(mask, dict)
    out = probe.model(
        input_ids=torch.tensor([tree.tokens], device=device),
        attention_mask=mask,
        position_ids=torch.tensor([[root_len + p for p in tree.positions]], device=device),
        logits_to_keep=torch.tensor(tree.last, device=device),
        **past, **({"tree": tree_segments(tree, mask, root_len, device)} if segmented else {}),
    )
    return out.logits[0].float().log_softmax(-1)


def tree_batches(probe: Probe, items, encoded: dict[str, list[int]]) -> Iterator:
    """Probe's batching strategy with prefix sharing: yields (items, results) per pack, like `plain_batches`.

    When the prompts make several packs, the prefix they all share (the chat header, at least ROOT_MIN tokens) is
    computed once and its KV cache copied into every pack's forward pass (models without window layers)."""
    window = sliding_window(probe.model)
    if window is not None and not mask_mapping_ok(probe.model, window):
        reach = [it for it in items if len(encoded[it.key]) > window]
        if reach:  # a window that cuts the shared prefix, and no per-layer mask: not exact shared
            log.warning("%d prompts reach the model's %d-token attention window: scored without prefix sharing", len(reach), window)
            yield from plain_batches(probe, reach, encoded)
            items = [it for it in items if len(encoded[it.key]) <= window]
    if not items:
        return
    ordered = sorted(items, key=lambda it: encoded[it.key])
    seqs = [encoded[it.key] for it in ordered]
    root_len = lcp(seqs[0], seqs[-1], min(map(len, seqs)) - 1)  # sorted: the first and last share what all share
    if window is not None or root_len < ROOT_MIN or len(tree_chunks(seqs, probe.tokens_per_forward)) < 2:
        root_len = 0
    root = (root_len, root_cache(probe, seqs[0][:root_len]) if root_len else None)
    if root_len:
        probe.stats.forwards += 1
        probe.stats.tokens_computed += root_len
    rests = [s[root_len:] for s in seqs]

    def run_pack(run: range) -> tuple[PackedTree, torch.Tensor]:
        tree = pack_tree(rests[run.start : run.stop])
        return tree, tree_logprobs(probe, tree, window, root)

    cfg = probe.model.config
    inner = use_tree_attention(probe.model) if probe.tree_attention else None
    if inner:
        cfg._attn_implementation = TREE_ATTENTION  # for the packs' forward passes only (restored below)
    try:
        for run, (tree, logprobs) in _in_order(run_pack, tree_chunks(rests, probe.tokens_per_forward), probe.pack_workers):
            chunk = ordered[run.start : run.stop]
            probe.stats.forwards += 1
            probe.stats.tokens_computed += len(tree.tokens)
            yield chunk, probe.token_results(chunk, logprobs)
    finally:
        if inner:
            cfg._attn_implementation = inner


def _in_order(fn, args: list, workers: int) -> Iterator:
    """(arg, fn(arg)) for each arg in order; with workers > 1, that many calls run at once in threads (torch releases
    the GIL in its operators), the results still yielded in order."""
    if workers <= 1:
        for arg in args:
            yield arg, fn(arg)
        return
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque = deque()
        for arg in args:
            pending.append((arg, pool.submit(fn, arg)))
            if len(pending) >= workers:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
