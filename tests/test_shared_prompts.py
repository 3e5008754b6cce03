"""SFT with each batch's shared prompt prefixes computed once (train/shared_prompts.py): the same losses and adapter as
TRL's padded batches, fewer tokens computed, soft-label rows (one prompt, several answers) kept apart, grouped batches;
DPO with each pair's prompt computed once (train/shared_pairs.py): the same losses, rewards and adapter as TRL's two
padded rows per pair."""
import json

import pytest
import torch
from datasets import Dataset

from culturelens.train.config import DPORunConfig, SFTRunConfig
from culturelens.train.dpo import run_dpo
from culturelens.train.sft import run_sft
from culturelens.train.shared_prompts import IGNORE, PromptGroupedSampler, pack_rows

COUNTRIES = ["Canada", "India", "Brazil", "Germany", "Japan", "Nigeria"]


def study_like_rows(n_questions=2):
    """Rows as the training study writes them (country_last): one prompt per (question, country), answers vary."""
    rows = []
    for q in range(n_questions):
        for i, country in enumerate(COUNTRIES):
            prompt = (f"Question {q}: how justifiable is it?" + " Options: A. Never B. Sometimes C. Always" * (1 + q)
                      + f"\nAnswer as a typical person from {country}.")
            for answer in ("A", "C") if i % 3 == 0 else ("AB"[i % 2],):
                rows.append({"prompt": [{"role": "user", "content": prompt}],
                             "completion": [{"role": "assistant", "content": "Answer: " + answer}]})
    return rows


def train(tmp_path, model_dir, sharing, rows, steps=2, **train):
    data = tmp_path / f"data-{sharing}"
    Dataset.from_list(rows).save_to_disk(str(data))
    cfg = SFTRunConfig.model_validate({
        "experiment": "t", "output_dir": str(tmp_path / f"sft-{sharing}"), "model": {"name_or_path": str(model_dir)},
        "dataset": str(data), "lora": {"dropout": 0.0}, "prompt_sharing": sharing,
        "train": {"max_steps": steps, "per_device_train_batch_size": 6, "logging_steps": 1, "learning_rate": 1e-2, **train}})
    out = run_sft(cfg)
    return json.loads((out / "culturelens_train.json").read_text()), out


def test_pack_rows_shares_prompts_and_keeps_each_rows_prediction():
    """Two rows with one prompt and different answers, a third with another ending: the prompt is one run of nodes,
    each row's token before its answer is its own (two predictions of the answer, one per row), and every label of
    every row is scored exactly once, from a node whose ancestors are that row's own tokens."""
    prompt = [5, 6, 7, 8, 9]
    rows = [(prompt + [1, 20], [IGNORE] * 6 + [20]), (prompt + [1, 21], [IGNORE] * 6 + [21]),
            (prompt[:3] + [4, 1, 22], [IGNORE] * 5 + [22])]
    pack = pack_rows(rows)
    ids, pos, mask, shift = pack["input_ids"][0], pack["position_ids"][0], pack["attention_mask"][0, 0], pack["shift_labels"][0]
    assert pack["row_tokens"] == 20 and len(ids) == 5 + 2 + 2 + 3  # prompt once, then each row's own tail
    assert sorted(shift[shift != IGNORE].tolist()) == [20, 21, 22]
    for node in torch.nonzero(shift != IGNORE).flatten().tolist():  # the node predicting a label: its row's prefix
        path = torch.nonzero(mask[node]).flatten()
        row = next(r for r in rows if r[1][len(path)] == int(shift[node]))
        assert ids[path].tolist() == row[0][:len(path)] and pos[path].tolist() == list(range(len(path)))
    assert torch.equal(pack["labels"], pack["shift_labels"])


def test_sharing_trains_the_same_adapter_as_padded_batches_with_fewer_tokens(tmp_path, tiny_model_dir, monkeypatch):
    """prompt_sharing=batch on TRL's own batches: the losses and the adapter of prompt_sharing=off (fp32, 1e-5), the
    rows' tokens counted the same (TRL's num_tokens), far fewer tokens through the model."""
    from safetensors.torch import load_file

    import culturelens.train.shared_prompts as sp

    computed: list[int] = []
    real = sp.pack_rows
    monkeypatch.setattr(sp, "pack_rows", lambda rows: computed.append(len(real(rows)["input_ids"][0])) or real(rows))
    rows = study_like_rows()
    results = {}
    for sharing in ("off", "batch"):
        facts, out = train(tmp_path, tiny_model_dir, sharing, rows)
        losses = [h["loss"] for h in facts["log_history"] if "loss" in h]
        tokens = [h["num_tokens"] for h in facts["log_history"] if "num_tokens" in h]
        results[sharing] = losses, tokens, load_file(str(out / "adapter" / "adapter_model.safetensors"))
    (losses, tokens, full), (s_losses, s_tokens, shared) = results["off"], results["batch"]
    assert s_losses == pytest.approx(losses, rel=1e-5, abs=1e-6) and s_tokens == tokens
    worst = max(float((shared[k] - full[k]).abs().max()) for k in full)
    moved = max(float(full[k].abs().max()) for k in full if "lora_B" in k)
    assert moved > 1e-3 and worst < 1e-5, (worst, moved)
    assert len(computed) >= 2 and sum(computed[:2]) < 0.6 * tokens[-1], (computed, tokens)  # the 2 steps' packs (+ a prefetch)


def test_grouped_batches_share_long_prefixes_and_every_row_is_drawn_once_per_epoch():
    keys = [[1, 2, q, 9, c] for q in (3, 4, 5) for c in range(8)]  # 3 questions x 8 countries
    sampler = PromptGroupedSampler(keys, batch_size=4, seed=0)
    first, second = list(sampler), list(sampler)
    assert sorted(first) == list(range(24)) and sorted(second) == list(range(24)) and first != second
    for order in (first, second):
        for b in range(0, 24, 4):
            assert len({keys[i][2] for i in order[b:b + 4]}) == 1  # a batch: one question, four countries
    assert list(PromptGroupedSampler(keys, 4, 0)) == first  # seeded


def test_grouped_sharing_trains(tmp_path, tiny_model_dir):
    facts, out = train(tmp_path, tiny_model_dir, "grouped", study_like_rows(), steps=3)
    losses = [h["loss"] for h in facts["log_history"] if "loss" in h]
    assert len(losses) == 3 and all(loss == loss for loss in losses) and (out / "adapter" / "adapter_model.safetensors").is_file()


def test_sharing_falls_back_to_padded_batches_where_it_cannot_be_used(tmp_path, tiny_model_dir, caplog):
    with caplog.at_level("INFO", logger="culturelens.train.shared_prompts"):
        train(tmp_path, tiny_model_dir, "batch", study_like_rows(1), steps=1, padding_free=True, max_length=None)
    assert "not used with padding_free" in caplog.text


def pair_rows():
    """Preference pairs with study-like prompts: each pair's chosen and rejected share its prompt, the pairs of one
    question share all but the country, one prompt appears in two pairs."""
    rows = []
    for r in study_like_rows(2):
        text = r["prompt"][0]["content"]
        rows.append({"prompt": [{"role": "user", "content": text}],
                     "chosen": [{"role": "assistant", "content": "Answer: A" + " because" * (len(rows) % 3)}],
                     "rejected": [{"role": "assistant", "content": "Answer: C"}]})
    return rows


def train_dpo(tmp_path, model_dir, sharing, rows, steps=3, **train):
    data = tmp_path / f"pairs-{sharing}"
    Dataset.from_list(rows).save_to_disk(str(data))
    cfg = DPORunConfig.model_validate({
        "experiment": "t", "output_dir": str(tmp_path / f"dpo-{sharing}"), "model": {"name_or_path": str(model_dir)},
        "dataset": str(data), "lora": {"dropout": 0.0}, "prompt_sharing": sharing,
        "train": {"max_steps": steps, "per_device_train_batch_size": 4, "logging_steps": 1, "learning_rate": 1e-2,
                  "beta": 0.5, **train}})
    out = run_dpo(cfg)
    return json.loads((out / "culturelens_train.json").read_text()), out


DPO_LOGGED = ["loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen",
              "logps/rejected", "logits/chosen", "logits/rejected", "entropy", "mean_token_accuracy", "num_tokens"]


@pytest.mark.parametrize("extra", [{}, {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, 0.5]},
                                   {"loss_type": ["ipo"], "use_weighting": True, "ld_alpha": 0.5},
                                   {"precompute_ref_log_probs": True}],
                         ids=["sigmoid", "sigmoid+sft", "ipo+wpo+ld_alpha", "precomputed-reference"])
def test_dpo_sharing_trains_the_same_adapter_as_padded_pairs_with_fewer_tokens(tmp_path, tiny_model_dir, monkeypatch, extra):
    """prompt_sharing=batch for DPO: TRL's losses, rewards / margins / log-prob metrics and the adapter of
    prompt_sharing=off (fp32, 1e-5), the policy's and the reference's forwards both on the trie, far fewer tokens."""
    from safetensors.torch import load_file

    import culturelens.train.shared_pairs as sp

    packs: list[tuple[int, int, int]] = []  # (trie nodes, rows' real tokens, padded tokens) of each collated batch
    real = sp.pack_pairs

    def counted(batch):
        out = real(batch)
        packs.append((out["input_ids"].shape[1], int(batch["attention_mask"].sum()), batch["input_ids"].numel()))
        return out

    monkeypatch.setattr(sp, "pack_pairs", counted)
    forwards: list[int] = []
    shared = sp.shared_forward
    monkeypatch.setattr(sp, "shared_forward", lambda *a, **kw: forwards.append(
        kw.get("shared_pack") is not None and bool(kw.get("fused_lm_head"))) or shared(*a, **kw))
    rows = pair_rows()
    logs, adapters = {}, {}
    for sharing in ("off", "batch"):
        facts, out = train_dpo(tmp_path, tiny_model_dir, sharing, rows, **extra)
        logs[sharing] = [{k: h[k] for k in DPO_LOGGED if k in h} for h in facts["log_history"] if "loss" in h]
        adapters[sharing] = load_file(str(out / "adapter" / "adapter_model.safetensors"))
    assert len(logs["off"]) == 3 and set(logs["off"][0]) == set(DPO_LOGGED)
    for off, on in zip(logs["off"], logs["batch"], strict=True):
        assert on.keys() == off.keys()
        for k in off:
            if k == "rewards/accuracies" and abs(off["rewards/margins"]) < 1e-4:
                continue  # policy = reference (step 1): chosen > rejected is decided by rounding (precomputed: 5e-7)
            assert on[k] == pytest.approx(off[k], rel=1e-5, abs=1e-5), (k, on, off)
    assert logs["off"][-1]["rewards/margins"] != 0 and logs["off"][-1]["loss"] != logs["off"][0]["loss"]  # it trained
    full, mine = adapters["off"], adapters["batch"]
    worst = max(float((mine[k] - full[k]).abs().max()) for k in full)
    moved = max(float(full[k].abs().max()) for k in full if "lora_B" in k)
    assert moved > 1e-3 and worst < 1e-5, (worst, moved)
    assert sum(forwards) >= 2 * 3  # policy and reference, each step, through the trie
    nodes, real_tokens, padded = (sum(p[i] for p in packs[:3]) for i in range(3))
    print(f"DPO 3 steps: {nodes} tokens computed on tries, {real_tokens} real / {padded} padded tokens unshared; "
          f"adapter max diff {worst:.2e}")
    assert nodes < 0.6 * real_tokens <= 0.6 * padded, packs  # each prompt once instead of twice, headers once per batch


def test_dpo_sharing_falls_back_to_padded_pairs_where_it_cannot_be_used(tmp_path, tiny_model_dir, caplog):
    with caplog.at_level("INFO", logger="culturelens.train.shared_pairs"):
        train_dpo(tmp_path, tiny_model_dir, "batch", pair_rows()[:4], steps=1, padding_free=True, max_length=None)
    assert "not used with padding_free" in caplog.text
