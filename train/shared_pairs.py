"""LoRA DPO with each pair's prompt (and each batch's shared prompt prefixes) computed once (`prompt_sharing` in the
DPO config).

TRL's DPOTrainer runs prompt + chosen and prompt + rejected as two full padded rows, for the policy and again (no
gradient) for the reference (the adapter disabled, or the SFT adapter). Here TRL's padded batch is collated as usual
and, beside it, laid out as the trie of its 2B rows (`pack_pairs`: train/shared_prompts.py's `trie_of_rows`, as SFT
shares): the prompt is one run of nodes, chosen and rejected two branches of it (each from the token before its first
completion token: that node predicts a different token in each row), and rows of the batch that share prompt prefixes
share them too. Every node attends to its ancestors only, its position id is its depth, so every token is computed
exactly as in its padded row.

The override is the model call, not the loss: the policy's and the reference's forward (`shared_forward`, on the
PEFT model, so both the trained and the disabled / "ref" adapter go through it) run the trie and put each node's
fused-head outputs (log-probs, entropy, mean logits, top-1, WPO's log_sum_sq_probs) back at its padded row position,
zero elsewhere, as TRL's fused head returns them. TRL's `_compute_loss` then sums, masks and chunks them as it always
does: the same chosen / rejected log-prob sums, losses, rewards, margins and logged metrics (fp32: equal to
`prompt_sharing: off` within 1e-5, tests/test_shared_prompts.py), `num_tokens` counted on the padded rows as before.

Not used (TRL's path instead, with a log line) with padding_free, a separate reference model (only the PEFT
reference is shared), DeepSpeed or FSDP, MoE router losses, prompt-learning PEFT, vision data, the Liger kernel, or an
attention implementation other than sdpa / eager; a batch whose rows are longer than a sliding-window layer's window
runs padded. `precompute_ref_log_probs` precomputes on the tries too (the same reference log-probs).
"""
from __future__ import annotations

import functools
import logging
from typing import Any

import torch
from trl import DPOTrainer

from culturelens.core.token_trie import additive
from culturelens.train.shared_prompts import IGNORE, sliding_window, trie_of_rows

log = logging.getLogger(__name__)
PER_TOKEN = ("log_probs", "entropy", "log_sum_sq_probs", "mean_logits", "is_top1")


def pack_pairs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """TRL's padded preference batch (input_ids [2B, L], right padded, chosen rows then rejected rows; attention_mask;
    completion_mask) as one trie: input_ids, position_ids, the [1, 1, n, n] may-attend mask, shift_labels (each node's
    next completion token, IGNORE elsewhere) and `node_of` [2B, L - 1]: the node that scores padded position (row, t)
    (the label at t + 1), -1 where TRL's label is -100."""
    ids, lengths, completion = batch["input_ids"], batch["attention_mask"].sum(1).tolist(), batch["completion_mask"]
    rows = []
    for r, n in enumerate(lengths):
        row = ids[r, :n].tolist()
        rows.append((row, [t if c else IGNORE for t, c in zip(row, completion[r, :n].tolist())]))
    tree, tokens, shift, source = trie_of_rows(rows)
    node_of = torch.full((ids.shape[0], ids.shape[1] - 1), -1, dtype=torch.long)
    for node, (src, label) in enumerate(zip(source, shift)):
        if src is not None and label != IGNORE:
            node_of[src] = node
    return {"input_ids": torch.tensor([tokens]), "position_ids": torch.tensor([tree.positions]),
            "attention_mask": tree.allowed()[None, None], "shift_labels": torch.tensor([shift]), "node_of": node_of}


class PairTreeCollator:
    """TRL's preference collator, its padded batch plus the batch's trie (`shared_pack`: `pack_pairs`), except where a
    sliding window is shorter than the rows."""

    def __init__(self, base, window: int | None):
        self.base, self.window = base, window

    def __call__(self, examples: list[dict]) -> dict[str, Any]:
        batch = self.base(examples)
        if self.window is None or int(batch["attention_mask"].sum(1).max()) < self.window:
            batch["shared_pack"] = pack_pairs(batch)
        return batch


def shared_forward(forward, embeddings, *args, shared_pack=None, **kwargs):
    """The model's forward, with a padded batch's `shared_pack` run as its trie when the fused LM head is asked for;
    the fused head's per-token outputs come back in the padded batch's [2B, L - 1] layout (zero where unlabelled)."""
    if shared_pack is None or args or not kwargs.get("fused_lm_head") or kwargs.get("labels") is None:
        return forward(*args, **kwargs)  # e.g. the logits TRL recomputes for compute_metrics: the padded rows
    for key in ("input_ids", "attention_mask", "labels", "position_ids"):
        kwargs.pop(key, None)
    mask = shared_pack["attention_mask"]
    if mask.dtype == torch.bool and embeddings is not None:  # eager attention adds its mask (0 / the dtype's min)
        mask = additive(mask[0, 0], embeddings().weight.dtype)
    out = forward(input_ids=shared_pack["input_ids"], position_ids=shared_pack["position_ids"], attention_mask=mask,
                  shift_labels=shared_pack["shift_labels"], **kwargs)
    node_of = shared_pack["node_of"]
    scored = node_of >= 0
    nodes = node_of[scored]
    for name in PER_TOKEN:
        x = getattr(out, name, None)
        if x is not None:
            setattr(out, name, x.new_zeros(node_of.shape).masked_scatter(scored, x[0, nodes]))
    out.label_mask = scored
    return out


def why_not_shared_pairs(trainer: DPOTrainer) -> str | None:
    """Why this DPO trainer's batches cannot be computed as tries (None: they can)."""
    args, model = trainer.args, trainer.model
    impl = getattr(model.config, "_attn_implementation", None)
    peft = getattr(model, "active_peft_config", None)
    reasons = [(args.padding_free, "padding_free"), (trainer.ref_model is not None, "a separate reference model"),
               (trainer.is_deepspeed_enabled or trainer.is_fsdp_enabled, "DeepSpeed or FSDP"),
               (trainer.aux_loss_enabled, "a MoE router loss"), (trainer._is_vision_dataset, "vision data"),
               (peft is not None and peft.is_prompt_learning, "prompt-learning PEFT"),
               (getattr(args, "use_liger_kernel", False), "the Liger kernel"),
               (impl not in ("sdpa", "eager"), f"attention implementation {impl}")]
    return next((why for bad, why in reasons if bad), None)


class SharedPairDPOTrainer(DPOTrainer):
    """TRL's DPOTrainer with each batch's pairs computed as one trie (module docstring); `mode` is the config's
    `prompt_sharing` (off | batch)."""

    def __init__(self, *args, mode: str = "batch", **kwargs):
        self._sharing_mode, self._sharing_decided, self.sharing = mode, False, None
        super().__init__(*args, **kwargs)
        self._share()

    def _share(self) -> None:
        """Decide once (before TRL precomputes reference log-probs, if it does) and install the trie collator and
        forward."""
        if self._sharing_decided:
            return
        self._sharing_decided = True
        if self._sharing_mode == "off":
            return
        why = why_not_shared_pairs(self)
        if why:
            log.info("prompt_sharing=%s is not used with %s: TRL's padded pairs instead", self._sharing_mode, why)
            return
        self.sharing = self._sharing_mode
        self.data_collator = PairTreeCollator(self.data_collator, sliding_window(self.model))
        eager = getattr(self.model.config, "_attn_implementation", None) == "eager"
        self.model.forward = functools.partial(shared_forward, self.model.forward,
                                               self.model.get_input_embeddings if eager else None)

    def _precompute_ref_logps(self, dataset, name: str, batch_size: int):
        self._share()
        return super()._precompute_ref_logps(dataset, name, batch_size)
