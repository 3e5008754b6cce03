"""Real multi-process training (slow: about 2.5 min per stage, measured at load average 12 on the 2 shared cores): `accelerate launch --num_processes 2` on CPU (torch.distributed with gloo) for SFT and
DPO on a tiny model. Each rank trains on its shard of every global batch (DDP averages the gradients), rank 0 alone
writes the adapter, the facts and the W&B run; the adapter equals a single-process run with the same global batch.

Tolerance: every adapter tensor within 1e-5 absolute + 1e-3 relative of the single-process run (float32 sums in
another order; measured max |difference| after 3 steps at lr 1e-2: SFT 2.4e-07, DPO 2.7e-06). A single-process run on one rank's batch size (what the ranks would
learn without sharding and gradient averaging) differs by far more, so the comparison can fail.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from datasets import Dataset

from culturelens.train.config import DPORunConfig, SFTRunConfig
from culturelens.train.dpo import run_dpo
from culturelens.train.sft import run_sft

ATOL, RTOL = 1e-5, 1e-3


def sft_rows(n=16):
    return [{"messages": [{"role": "system", "content": "You are a typical person living in Germany."},
                          {"role": "user", "content": f"Question {i}: is work a duty?" + " Options: A. Agree B. Disagree" * (1 + i % 3)},
                          {"role": "assistant", "content": "Answer: " + "AB"[i % 2]}]} for i in range(n)]


def dpo_rows(n=16):
    return [{"prompt": [{"role": "user", "content": f"Question {i}: is work a duty?" + " Options: A. Agree B. Disagree" * (1 + i % 3)}],
             "chosen": [{"role": "assistant", "content": "Answer: A"}],
             "rejected": [{"role": "assistant", "content": "Answer: B" + " really" * (i % 2)}]} for i in range(n)]


def config(tmp: Path, model: Path, stage: str, out: str, per_device: int, wandb: bool = False) -> dict:
    data = tmp / f"{stage}-data"
    if not data.exists():
        Dataset.from_list(sft_rows() if stage == "sft" else dpo_rows()).save_to_disk(str(data))
    return {"experiment": "mp", "run_name": out, "output_dir": str(tmp / out), "model": {"name_or_path": str(model)},
            "dataset": str(data), "lora": {"dropout": 0.0},  # no dropout: the ranks' masks could not match one process's
            "train": {"max_steps": 3, "per_device_train_batch_size": per_device, "learning_rate": 1e-2, "logging_steps": 1,
                      "save_steps": 100, "seed": 0},
            "wandb": {"enabled": wandb, "project": "mp", "dir": str(tmp / "wb")}}


def launch_two_processes(cfg: dict, tmp: Path, stage: str) -> Path:
    """`accelerate launch` with the config `culturelens train accelerate-config` writes for this training config (DDP;
    on CPU: gloo, mixed precision from train.bf16), held to 2 processes whatever the machine's core count."""
    from culturelens.cli import main

    path = tmp / f"{cfg['run_name']}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    acc = tmp / f"{cfg['run_name']}-accelerate.yaml"
    assert main(["train", "accelerate-config", "--config", str(path), "--for", stage, "--out", str(acc)]) == 0
    written = yaml.safe_load(acc.read_text())
    assert written["mixed_precision"] == "no" and written["distributed_type"] == "MULTI_GPU"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(acc), "--num_processes", "2",
           "--main_process_port", "0", "-m", "culturelens", "train", stage, "--config", str(path)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    return Path(cfg["output_dir"])


def adapter_tensors(out: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(out / "adapter" / "adapter_model.safetensors"))


def max_excess(a: dict, b: dict) -> float:
    """max over tensors of |a - b| - (ATOL + RTOL |b|): <= 0 when every element is within the tolerance."""
    assert a.keys() == b.keys()
    return max(float(((a[k] - b[k]).abs() - (ATOL + RTOL * b[k].abs())).max()) for k in a)


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["sft", "dpo"])
def test_two_process_training_equals_one_process_with_the_same_global_batch(tmp_path, tiny_model_dir, stage):
    run, cls = (run_sft, SFTRunConfig) if stage == "sft" else (run_dpo, DPORunConfig)
    two = launch_two_processes(config(tmp_path, tiny_model_dir, stage, f"{stage}-2proc", per_device=2, wandb=True), tmp_path, stage)
    one = run(cls.model_validate(config(tmp_path, tiny_model_dir, stage, f"{stage}-1proc", per_device=4)))
    unsharded = run(cls.model_validate(config(tmp_path, tiny_model_dir, stage, f"{stage}-1proc-b2", per_device=2)))

    facts = json.loads((two / "culturelens_train.json").read_text())
    assert facts["world_size"] == 2 and facts["global_step"] == 3 and facts["n_rows"] == 16
    assert json.loads((one / "culturelens_train.json").read_text())["world_size"] == 1
    # rank 0 alone wrote: one W&B run (with the adapter artifact in the facts), one adapter, no lock left behind
    runs = list((tmp_path / "wb" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and facts["wandb_artifact"]["name"] == f"adapter-mp-{stage}-2proc"
    assert not (two / ".culturelens-train.lock").exists()

    a2, a1, ab = adapter_tensors(two), adapter_tensors(one), adapter_tensors(unsharded)
    print(f"{stage}: max |two ranks - one process| = {max(float((a2[k] - a1[k]).abs().max()) for k in a1):.2e}, "
          f"max |half batch - one process| = {max(float((ab[k] - a1[k]).abs().max()) for k in a1):.2e}")
    assert max_excess(a2, a1) <= 0, "two ranks differ from one process with the same global batch"
    assert max_excess(ab, a1) > 0.01, "control: half the global batch must give another adapter"
