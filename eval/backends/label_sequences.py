"""Option labels that are not one token (e.g. "10" on a digit-splitting tokenizer): score the label *and its end*.

A reply answers label "1" when it starts with "1" and the next character does not extend it: "1.",
"1\\n" and "1<|im_end|>" answer 1, "10" does not. Scoring only the label's tokens counts every reply
that starts with them, so P(" 1") included P(" 10") and the option mass could exceed 1 (1.006 on
Q182 with numeric labels). Here, for each label k and each spacing variant v ("" and " ", as in
token mode), the delimiter is whatever token comes next, as long as it does not extend the label:

    P(k) = sum_v  P(tokens of v+k | prompt) * P(next token does not extend the label | prompt, v+k)

A token *extends* a label when its text, decoded right after other text, starts with a letter or a
digit (" Strongly", "." and "<|im_end|>" do not; "0" does). The events "v+k, then a non-extending
token" are disjoint across labels and variants: two of them differ at their first token, or where
one has its non-extending end and the other a label token that extends (" 1" "." vs " 1" "0"). So
the option mass is a sum of probabilities of disjoint replies, at most 1.

Algorithm, one forward pass per prompt for all labels and variants: each row is prompt + the
variant's tokens; the log-softmax of the last ``len(tokens) + 1`` positions gives the label tokens'
log-probabilities (each predicted one position earlier) and, at the last position, the next-token
distribution whose non-extending part is the end probability.
"""
from __future__ import annotations

import torch


def extending_tokens(tokenizer, size: int) -> torch.Tensor:
    """Bool mask over ``size`` token ids: True where the token, decoded after other text, starts with a letter or digit.

    Decoding after an anchor token keeps the leading space that sentencepiece tokenizers drop on a lone token;
    ids past the tokenizer's vocabulary (padded embedding rows) count as not extending.
    """
    anchor = tokenizer("x", add_special_tokens=False).input_ids[-1]
    head = tokenizer.decode([anchor])
    n = min(size, len(tokenizer))
    texts = tokenizer.batch_decode([[anchor, t] for t in range(n)])
    mask = torch.zeros(size, dtype=torch.bool)
    mask[:n] = torch.tensor([t[len(head):len(head) + 1].isalnum() for t in texts], dtype=torch.bool)
    return mask


def label_continuations(tokenizer, label: str, variants: tuple[str, ...]) -> list[tuple[int, ...]]:
    """The distinct token sequences of a label's spacing variants (e.g. "10" and " 10")."""
    out: list[tuple[int, ...]] = []
    for prefix in variants:
        ids = tuple(tokenizer(prefix + label, add_special_tokens=False).input_ids)
        if ids and ids not in out:
            out.append(ids)
    return out


def ended_sequence_probability(logprobs: torch.Tensor, cont: tuple[int, ...], extends: torch.Tensor) -> float:
    """P(cont, then a non-extending token) from one row's log-softmax over its last positions [keep, V].

    The continuation fills the row's last ``len(cont)`` positions: its tokens are predicted at positions
    ``keep-1-len(cont) .. keep-2`` and the token after it at ``keep-1``.
    """
    keep = logprobs.shape[0]
    steps = logprobs[keep - 1 - len(cont): keep - 1, :]
    tokens = torch.tensor(cont, device=logprobs.device)[:, None]
    label_lp = steps.gather(-1, tokens).sum()
    end = logprobs[keep - 1].exp()[~extends.to(logprobs.device)].sum()
    return float(label_lp.exp() * end)


def score_label_sequences(logprobs_tail, prompt_ids: list[int], conts_per_label: list[list[tuple[int, ...]]],
                          extends: torch.Tensor) -> list[float]:
    """P(label k, ended) for each label, summed over its spacing variants, from one batched forward pass.

    ``logprobs_tail(batch, keep)`` returns the log-softmax of the last ``keep`` positions of left-padded sequences.
    """
    rows = [(k, cont) for k, conts in enumerate(conts_per_label) for cont in conts]
    keep = max(len(cont) for _, cont in rows) + 1
    logprobs = logprobs_tail([prompt_ids + list(cont) for _, cont in rows], keep)
    raw = [0.0] * len(conts_per_label)
    for row, (k, cont) in enumerate(rows):
        raw[k] += ended_sequence_probability(logprobs[row], cont, extends)
    return raw
