"""A trie of token sequences laid out as one packed sequence: every distinct prefix is one run of nodes, computed once.

Sequences given in lexicographic order are a depth-first walk of their trie (`pack_tree`): each node is one token,
its position id is its depth, and it may attend to its ancestors only (`PackedTree.allowed`, as the additive mask
models take: `additive`). A model run on the pack computes every token exactly as in its own sequence, each shared
prefix once. The probe scores prompts this way (eval/backends/prefix.py); LoRA SFT trains on a batch's rows this way
(train/shared_prompts.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


def lcp(a: list[int], b: list[int], limit: int) -> int:
    n = min(len(a), len(b), limit)
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def shared_lengths(seqs: list[list[int]]) -> list[int]:
    """For sequences in lexicographic order: the tokens each shares with the one before (0 for the first), capped so that
    every sequence keeps at least its last token to itself (its next-token distribution is read there)."""
    return [0] + [lcp(seqs[k - 1], seqs[k], len(seqs[k]) - 1) for k in range(1, len(seqs))]


@dataclass
class PackedTree:
    """One pack: trie nodes in depth-first order (`tokens`, `positions` = depth) and each sequence's last node (`last`);
    `spans[i]` = (first new node, end, ancestor nodes it shares with earlier sequences) of sequence i."""

    tokens: list[int]
    positions: list[int]
    last: list[int]
    spans: list[tuple[int, int, list[int]]]

    def allowed(self) -> torch.Tensor:
        """[n, n] bool: node q may attend to node k (k is q or an ancestor of q in the trie)."""
        n = len(self.tokens)
        allowed = torch.zeros((n, n), dtype=torch.bool)
        tril = torch.ones((0, 0), dtype=torch.bool)
        for start, end, ancestors in self.spans:
            if end - start > tril.shape[0]:
                tril = torch.ones((end - start, end - start), dtype=torch.bool).tril()
            allowed[start:end, start:end] = tril[: end - start, : end - start]
            if ancestors:
                allowed[start:end, ancestors[0] : ancestors[-1] + 1] = _runs_mask(ancestors)
        return allowed

    def segments(self, min_rows: int) -> list[tuple[int, int, list[int]]]:
        """Consecutive sequences grouped into runs of at least `min_rows` new nodes: (start, end, outside) each, where
        `outside` are the nodes before `start` that the run's nodes may attend to (the first sequence's ancestors: in
        depth-first order every later sequence's ancestors before `start` are a prefix of them)."""
        out: list[tuple[int, int, list[int]]] = []
        for start, end, ancestors in self.spans:
            if out and out[-1][1] - out[-1][0] < min_rows:
                out[-1] = (out[-1][0], end, out[-1][2])
            else:
                out.append((start, end, [a for a in ancestors if a < start]))
        return out


def _runs_mask(ancestors: list[int]) -> torch.Tensor:
    """Bool row over ancestors[0]..ancestors[-1]: True at the ancestors (they are a few contiguous runs)."""
    row = torch.zeros(ancestors[-1] - ancestors[0] + 1, dtype=torch.bool)
    row[torch.tensor(ancestors) - ancestors[0]] = True
    return row


def pack_tree(seqs: list[list[int]]) -> PackedTree:
    """The trie of sequences given in lexicographic order, laid out depth first (see the module docstring)."""
    tokens: list[int] = []
    positions: list[int] = []
    last: list[int] = []
    spans: list[tuple[int, int, list[int]]] = []
    path: list[int] = []  # node index at each depth of the previous sequence
    for seq, k in zip(seqs, shared_lengths(seqs)):
        del path[k:]
        start = len(tokens)
        ancestors = list(path)
        for depth in range(k, len(seq)):
            path.append(len(tokens))
            tokens.append(seq[depth])
            positions.append(depth)
        spans.append((start, len(tokens), ancestors))
        last.append(len(tokens) - 1)
    return PackedTree(tokens, positions, last, spans)


def additive(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A boolean may-attend mask as the [1, 1, q, k] additive mask models take (0 = may attend, dtype's min = may not)."""
    return torch.zeros(allowed.shape, dtype=dtype).masked_fill_(~allowed, torch.finfo(dtype).min)[None, None]
