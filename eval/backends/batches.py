"""Putting a probe's prompts into forward passes: left padding, and the plain batching strategy.

`plain_batches` yields (prompts, results) per batch of `probe.batch_size` prompts in the given order; the
prefix-sharing strategy (eval/backends/prefix.py) yields the same. Both call the probe's public
`score_token_batch`; neither imports the probe (`Probe` is named for the type checker only), so the probe may
import both.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch

from culturelens.core.prompts import PromptItem

if TYPE_CHECKING:
    from culturelens.eval.backends.probe import Probe


def left_pad(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids [B, W] left-padded with `pad_id` to the longest sequence, and the mask of real tokens."""
    width = max(len(ids) for ids in seqs)
    input_ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, ids in enumerate(seqs):
        input_ids[row, width - len(ids) :] = torch.tensor(ids)
        mask[row, width - len(ids) :] = 1
    return input_ids, mask


def plain_batches(probe: Probe, items: list[PromptItem], encoded: dict[str, list[int]]) -> Iterator:
    """Batches of `probe.batch_size` prompts in the given order (longest first): (items, results) each."""
    for start in range(0, len(items), probe.batch_size):
        chunk = items[start : start + probe.batch_size]
        yield chunk, probe.score_token_batch(chunk, [encoded[it.key] for it in chunk])
