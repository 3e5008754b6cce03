"""Option-label probabilities from an OpenAI-compatible completions server, including labels outside the top-k.

A server returns only the top-k log-probs of the next token (vLLM: ``--max-logprobs``, default 20), so
a label that is not among them is unknown, not 0. For every (label, spacing variant) the answer is:
1. listed in the top-k of the first request (``tok.strip() == label`` sums all spellings listed);
2. else, when its probability could matter (the missing pairs can hold >= 1e-6: each is below the
   smallest listed probability, all together below 1 - the listed total),
   read from an *echo* request: prompt + variant + label, ``echo: true``, ``max_tokens: 1``; the
   server returns the log-prob of every prompt token (vLLM, and lm-evaluation-harness's
   ``local-completions`` loglikelihood use the same request). The label's tokens are the last
   prompt tokens whose strings join to ``variant + label``;
3. else the prompt is flagged ``mode="incomplete"`` (echo refused, or the label's tokens did not
   line up), keeping the mass it has: never a silent 0.

Labels that are not one token (or, without a local tokenizer, labels that are a prefix of another,
"1" of "10") are scored like the hf backend's sequence mode (eval/backends/label_sequences.py): P(variant +
label tokens) x P(next token does not extend the label), the end read from the echo request's top-k at
the position after the label. That top-k is a lower bound of the end probability; when the unread
remainder, P(label) x (1 - top-k mass), exceeds 1e-3 in total, the prompt is ``incomplete``.
"""
from __future__ import annotations

import math

VARIANTS = ("", " ")
NEGLIGIBLE = 1e-6  # below this bound a missing top-k entry is not worth a request
UNREAD_LIMIT = 1e-3  # sequence mode: more unread end mass than this flags the prompt


def echo_request(text: str, model: str, top_logprobs: int) -> dict:
    return {"model": model, "prompt": text, "max_tokens": 1, "temperature": 0.0, "logprobs": top_logprobs,
            "echo": True, "add_special_tokens": False}


def listed_weights(top: dict[str, float], labels) -> tuple[list[float], list[list[str]]]:
    """Per label: the probability listed in the top-k (all spellings), and the canonical variants not listed."""
    raw, missing = [], []
    for label in labels:
        raw.append(sum(math.exp(lp) for tok, lp in top.items() if tok.strip() == label))
        missing.append([v for v in VARIANTS if v + label not in top])
    return raw, missing


def worth_asking(top: dict[str, float], n_missing: int) -> bool:
    """Whether the missing entries could carry >= NEGLIGIBLE mass: each is below the smallest listed probability, and
    all of them together below the probability the listing leaves unlisted."""
    if n_missing == 0:
        return False
    listed = [math.exp(lp) for lp in top.values()]
    bound = min(n_missing * min(listed, default=1.0), max(0.0, 1.0 - sum(listed)))
    return bound >= NEGLIGIBLE


def continuation_logprob(payload: dict, cont: str) -> tuple[float, dict[str, float]] | None:
    """(log P(cont | prompt), top-k after cont) from an echo answer for prompt + cont; None if it does not line up.

    With ``max_tokens: 1`` the last token is the generated one; the continuation is the run of prompt tokens
    before it whose strings join to exactly ``cont``.
    """
    try:
        lp = payload["choices"][0]["logprobs"]
        tokens, token_lps, tops = lp["tokens"], lp["token_logprobs"], lp["top_logprobs"]
    except (KeyError, IndexError, TypeError):
        return None
    if not tokens or len(tokens) != len(token_lps) or len(tokens) != len(tops):
        return None
    joined, total = "", 0.0
    for i in range(len(tokens) - 2, 0, -1):
        joined = tokens[i] + joined
        if token_lps[i] is None or not cont.endswith(joined):
            return None
        total += token_lps[i]
        if joined == cont:
            return total, tops[-1] or {}
    return None


def end_probability(top: dict[str, float]) -> tuple[float, float]:
    """(probability listed for tokens that end a label, total listed probability) at the position after a label.

    A token ends a label unless its text starts with a letter or digit ("." "\\n" " Strongly" and "" end it; "0" does not).
    """
    ended = sum(math.exp(lp) for tok, lp in top.items() if not tok[:1].isalnum())
    return ended, sum(math.exp(lp) for lp in top.values())


def is_prefix_set(labels) -> bool:
    """True when a label is a proper prefix of another ("1" and "10"): first-token probabilities would mix them."""
    return any(a != b and b.startswith(a) for a in labels for b in labels)
