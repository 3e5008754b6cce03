"""LoRA SFT with each batch's shared prompt prefixes computed once (`prompt_sharing` in the SFT config).

The rows of one batch often share most of their prompt: the chat header always, and with the training study's
`country_last` rows of one (question, option order) everything but the closing "Answer as a typical person from
<country>." TRL runs every row in full. Here a batch is laid out as the trie of its rows (core/token_trie.py, as the
probe scores prompts): one packed sequence in which each shared prefix is one run of nodes, every node attends to
its ancestors only and its position id is its depth, so every token is computed exactly as in its own row (fp32:
the loss and the LoRA gradients match unshared training to ~1e-6, tests/test_shared_prompts.py).

Each row is shared only up to the token before its first labelled token; from there on its nodes are its own, so
each labelled token is predicted from its own row's node, and rows with one prompt and different answers (the soft
labels of the study) keep one prediction each. The labels are passed as `shift_labels` (node -> the label of the
next token in its row), which TRL's fused LM head scores without shifting.

`prompt_sharing`:
- `batch` (default): the batches TRL draws (random rows), each computed as a trie: the same training, fewer tokens;
- `grouped`: batches are drawn from rows in a random trie order (the rows of a batch share long prefixes: one
  question and order, several countries), then the batches are shuffled: far fewer tokens, a different batch mix;
- `off`: TRL's own padded batches.
Not used (TRL's path instead, with a log line) with packing or padding_free, label smoothing, a custom loss, or an
attention implementation other than sdpa / eager; a batch whose rows are longer than a sliding window layer's window
is run padded.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler
from trl import SFTTrainer

from culturelens.core.token_trie import PackedTree, additive, pack_tree

log = logging.getLogger(__name__)
IGNORE = -100


def shared_until(labels: list[int]) -> int:
    """Tokens of a row that may be shared with other rows: those before the token that predicts its first label."""
    first = next((j for j, lab in enumerate(labels) if lab != IGNORE), len(labels))
    return max(first - 1, 0)


def trie_of_rows(rows: list[tuple[list[int], list[int]]]) -> tuple[PackedTree, list[int], list[int], list[tuple[int, int] | None]]:
    """The trie of rows ((input ids, labels) each), each shared up to `shared_until`: the tree, its nodes' tokens, each
    node's next-token label in its row (IGNORE on shared nodes) and each node's (row, position) (None: shared)."""
    width = max(len(ids) for ids, _ in rows) + 1
    seqs = []
    for r, (ids, labels) in enumerate(rows):  # private nodes get a unique negative code: they never merge
        cut = shared_until(labels)
        seqs.append(list(ids[:cut]) + [-(1 + r * width + j) for j in range(cut, len(ids))])
    tree = pack_tree(sorted(seqs))
    tokens, shift, source = [], [], []
    for code in tree.tokens:
        if code >= 0:
            tokens.append(code)
            shift.append(IGNORE)  # a shared node: the next token of every row through it is unlabelled
            source.append(None)
            continue
        r, j = divmod(-code - 1, width)
        ids, labels = rows[r]
        tokens.append(ids[j])
        shift.append(labels[j + 1] if j + 1 < len(ids) else IGNORE)
        source.append((r, j))
    return tree, tokens, shift, source


def pack_rows(rows: list[tuple[list[int], list[int]]]) -> dict[str, Any]:
    """The trie of a batch's rows ((input ids, labels) each) as one sequence: input_ids, position_ids, a [1, 1, n, n]
    boolean attention mask (True: may attend), shift_labels (each node's next-token label in its row; `labels` holds
    the same: TRL's fused head scores shift_labels when given, and never shifts labels then) and the rows' token
    count."""
    tree, tokens, shift, _ = trie_of_rows(rows)
    return {"input_ids": torch.tensor([tokens]), "position_ids": torch.tensor([tree.positions]),
            "attention_mask": tree.allowed()[None, None], "shift_labels": torch.tensor([shift]),
            "labels": torch.tensor([shift]),  # the Trainer counts the loss's tokens (and evaluates) where labels are given
            "row_tokens": sum(len(ids) for ids, _ in rows)}


class TreeBatchCollator:
    """Wraps TRL's collator: a batch of tokenized rows as their trie (`pack_rows`), or TRL's padded batch where a
    sliding window is shorter than the rows."""

    def __init__(self, base, window: int | None):
        self.base, self.window = base, window

    def __call__(self, examples: list[dict]) -> dict[str, Any]:
        if len(examples) < 2 or (self.window is not None and max(len(e["input_ids"]) for e in examples) >= self.window):
            return self.base(examples)
        return pack_rows([(list(e["input_ids"]), list(e.get("labels", e["input_ids"]))) for e in examples])


class PromptGroupedSampler(Sampler[int]):
    """Rows in a random trie order (tokens ranked by a random permutation drawn per epoch, ties broken at random), cut
    into batches of `batch_size` consecutive rows, the batches shuffled: each batch holds rows with long common
    prefixes, and every epoch a different mix."""

    def __init__(self, keys: list[list[int]], batch_size: int, seed: int):
        self.keys, self.batch_size, self.seed, self.epoch = keys, batch_size, seed, 0

    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        vocab = sorted({t for key in self.keys for t in key})
        rank = dict(zip(vocab, rng.permutation(len(vocab)).tolist()))
        tiebreak = rng.permutation(len(self.keys)).tolist()
        order = sorted(range(len(self.keys)), key=lambda i: ([rank[t] for t in self.keys[i]], tiebreak[i]))
        batches = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        for b in rng.permutation(len(batches)).tolist():
            yield from batches[b]


def why_not_shared(trainer: SFTTrainer) -> str | None:
    """Why this trainer's batches cannot be computed as tries (None: they can)."""
    args = trainer.args
    impl = getattr(trainer.model.config, "_attn_implementation", None)
    reasons = [(args.packing, "packing"), (args.padding_free, "padding_free"),
               (args.label_smoothing_factor, "label smoothing"), (trainer.compute_loss_func is not None, "a custom loss"),
               (getattr(args, "use_liger_kernel", False), "the Liger kernel"),
               (impl not in ("sdpa", "eager"), f"attention implementation {impl}")]
    return next((why for bad, why in reasons if bad), None)


def sliding_window(model) -> int | None:
    """The shortest window of the model's sliding-window layers (None: every layer sees the whole row)."""
    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    types = getattr(cfg, "layer_types", None) or []
    if types and all(t == "full_attention" for t in types):
        return None
    return getattr(cfg, "sliding_window", None) or getattr(cfg, "attention_chunk_size", None)


class SharedPromptSFTTrainer(SFTTrainer):
    """TRL's SFTTrainer with each batch computed as the trie of its rows (module docstring); `mode` is the config's
    `prompt_sharing`."""

    def __init__(self, *args, mode: str = "batch", **kwargs):
        super().__init__(*args, **kwargs)
        self.sharing = mode if mode != "off" else None
        why = why_not_shared(self) if self.sharing else None
        if why:
            log.info("prompt_sharing=%s is not used with %s: TRL's padded batches instead", mode, why)
            self.sharing = None
        if self.sharing:
            self.data_collator = TreeBatchCollator(self.data_collator, sliding_window(self.model))
        self._eager = getattr(self.model.config, "_attn_implementation", None) == "eager"

    def _get_train_sampler(self, train_dataset=None):
        dataset = self.train_dataset if train_dataset is None else train_dataset
        if self.sharing != "grouped" or dataset is None or "input_ids" not in dataset.column_names:
            return super()._get_train_sampler(train_dataset)
        labels = dataset["labels"] if "labels" in dataset.column_names else None
        keys = [ids[:shared_until(labels[i])] if labels is not None else [] for i, ids in enumerate(dataset["input_ids"])]
        return PromptGroupedSampler(keys, self.args.per_device_train_batch_size, self.args.seed)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        row_tokens = inputs.pop("row_tokens", None)
        if row_tokens is None:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if self._eager:  # eager attention adds its mask: 0 where it may attend, the dtype's min elsewhere
            inputs["attention_mask"] = additive(inputs["attention_mask"][0, 0], model.get_input_embeddings().weight.dtype)
        before = self._total_train_tokens
        out = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if model.training:  # TRL counts the mask's entries: count the rows' tokens, as for padded batches
            self._total_train_tokens = before + int(row_tokens) // self._tp_size
            self._metrics["train"]["num_tokens"] = [self._total_train_tokens]
        return out
