"""The study's up-front plan (trainings, prompts, what is cached, an estimated time) and its progress lines."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from culturelens.core.runfolder import RunFolder
from culturelens.experiments.study.config import StudyConfig


def _tokens(path: Path, tokenizer, dpo: bool) -> int:
    total = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            n = len(tokenizer(r["prompt"], add_special_tokens=False).input_ids) + 2
            total += 2 * n if dpo else n
    return total


def eval_prompts(ecfg, tok) -> int:
    """The prompts one evaluation scores, counted as the eval runner builds them (only the question x country pairs
    the reference has, every template and order)."""
    from culturelens.core.inputs import resolve_inputs
    from culturelens.eval.runner import build_items

    return len(build_items(ecfg, resolve_inputs(ecfg), tok))


def make_plan(cfg: StudyConfig, root: Path, facts: dict, split: dict, tok, ecfg) -> dict:
    """Every training and evaluation with its size, whether it is cached and its estimated seconds: tokens / measured
    tokens/s, prompts / measured prompts/s (``rates.plan_rates``; ``ecfg``: the evaluation's config)."""
    from culturelens.experiments.study.layout import batch_size, dpo_steps, eval_dir, ordered_arms, train_config, train_dir, trained
    from culturelens.experiments.study.rates import plan_rates

    arms = ordered_arms(cfg)
    sft_cfg = next((train_config(cfg, root, a, cfg.seeds[0]) for a in arms if not a.startswith("dpo_") and a != "extra_sft"), None)
    dpo_cfg = next((train_config(cfg, root, a, cfg.seeds[0]) for a in arms if a.startswith("dpo_")), None)
    rates, sources = plan_rates(cfg.rates, sft_cfg.train if sft_cfg else None, dpo_cfg.train if dpo_cfg else None,
                                list(ecfg.probe.templates), ecfg.model.dtype, ecfg.probe.prefix_sharing,
                                sft_sharing=getattr(sft_cfg, "prompt_sharing", None),
                                dpo_sharing=getattr(dpo_cfg, "prompt_sharing", None))
    trainings, evals = [], []
    prompts = eval_prompts(ecfg, tok)
    names = (["base"] if "base" in cfg.references else [])
    tokens_cache: dict[str, int] = {}
    for seed in cfg.seeds:
        for arm in ordered_arms(cfg):
            extra = dpo_steps(cfg, root, seed) if arm == "extra_sft" else None
            tcfg = train_config(cfg, root, arm, seed, extra)
            dpo = arm.startswith("dpo_")
            key = str(tcfg.dataset)  # each seed's own rows (data/s<seed>/<arm>.jsonl)
            if key not in tokens_cache:
                tokens_cache[key] = _tokens(Path(tcfg.dataset), tok.tokenizer, dpo)
            rows = facts["seeds"][str(seed)]["rows"][Path(tcfg.dataset).stem]
            steps = math.ceil(rows / batch_size(tcfg))
            tokens = tokens_cache[key]
            if arm == "extra_sft":
                steps = extra
                tokens = int(tokens * min(1.0, steps * batch_size(tcfg) / max(rows, 1)))
            elif tcfg.train.max_steps and tcfg.train.max_steps > 0:
                tokens = int(tokens * min(1.0, tcfg.train.max_steps * batch_size(tcfg) / max(rows, 1)))
                steps = min(steps, tcfg.train.max_steps)
            rate = rates["dpo_tokens_per_s"] if dpo else rates["sft_tokens_per_s"]
            trainings.append({"arm": arm, "seed": seed, "rows": rows, "steps": steps, "tokens": tokens,
                              "cached": trained(train_dir(root, arm, seed), tcfg.dataset), "estimate_s": round(tokens / rate, 1)})
            names.append(f"{arm}-s{seed}")
            if cfg.native_eval:
                names.append(f"{arm}-s{seed}-native")
    for name in names:
        folder = RunFolder(eval_dir(root, cfg, name))
        cached = folder.path.exists() and folder.is_complete()
        evals.append({"name": name, "prompts": prompts, "cached": cached, "estimate_s": round(prompts / rates["eval_prompts_per_s"], 1)})
    todo = sum(t["estimate_s"] for t in trainings if not t["cached"]) + sum(e["estimate_s"] for e in evals if not e["cached"])
    return {"trainings": trainings, "evals": evals, "n_trainings": len(trainings), "n_evals": len(evals),
            "prompts": sum(e["prompts"] for e in evals), "cached_trainings": sum(t["cached"] for t in trainings),
            "cached_evals": sum(e["cached"] for e in evals), "estimated_seconds": round(todo), "rates": rates, "rate_sources": sources,
            "arms": cfg.arms, "seeds": cfg.seeds, "split": {k: len(split[k]) for k in ("train", "heldout", "seen", "unseen")}}


def print_plan(plan: dict) -> None:
    console = Console()
    table = Table(title="study plan: trainings")
    for col in ("arm", "seed", "rows", "steps", "tokens", "cached", "estimate"):
        table.add_column(col)
    for t in plan["trainings"]:
        table.add_row(t["arm"], str(t["seed"]), str(t["rows"]), str(t["steps"]), str(t["tokens"]), "yes" if t["cached"] else "",
                      f"{t['estimate_s']:.0f}s")
    console.print(table)
    s = plan["split"]
    console.print(f"{plan['n_trainings']} trainings ({plan['cached_trainings']} cached), {plan['n_evals']} evaluations of "
                  f"{plan['evals'][0]['prompts'] if plan['evals'] else 0} prompts ({plan['cached_evals']} cached); split: "
                  f"{s['train']} train / {s['heldout']} held-out questions, {s['seen']} seen / {s['unseen']} unseen countries; "
                  f"estimated time {plan['estimated_seconds'] / 60:.1f} min")
    for key, rate in plan["rates"].items():
        console.print(f"  {key} = {rate:g}: {plan.get('rate_sources', {}).get(key, '')}")


class Progress:
    """One line per step: ``[i/N] what ... done in Xs; about Y min left`` (the estimate rescaled by measured time)."""

    def __init__(self, plan: dict, timings: Path | None = None):
        self.plan = plan
        self.timings = timings  # each step's measured seconds (the arm x seed breakdown), rewritten after every step
        self.rows: list[dict] = []
        self.total = plan["n_trainings"] + plan["n_evals"]
        self.done = 0
        self.left_estimate = float(plan["estimated_seconds"])
        self.spent = self.spent_estimate = 0.0
        self.console = Console()

    def step(self, label: str, fn, train: bool = False):
        self.done += 1
        t0 = time.time()
        self.console.print(f"[{self.done}/{self.total}] {label} ...")
        result = fn()
        seconds = time.time() - t0
        if seconds > 1:  # not cached
            self.spent += seconds
            self.spent_estimate += self._estimate(label)
        if self.timings is not None:
            import os

            self.rows.append({"step": label, "seconds": round(seconds, 1), "load_average": round(os.getloadavg()[0], 2)})
            self.timings.write_text(json.dumps({"steps": self.rows, "total_seconds": round(sum(r["seconds"] for r in self.rows), 1)},
                                               indent=1))
        scale = self.spent / self.spent_estimate if self.spent_estimate else 1.0
        self.left_estimate = max(0.0, self.left_estimate - self._estimate(label))
        self.console.print(f"[{self.done}/{self.total}] {label}: done in {seconds:.0f}s; about "
                           f"{self.left_estimate * scale / 60:.1f} min left")
        return result

    def _estimate(self, label: str) -> float:
        for t in self.plan["trainings"]:
            if label == f"train {t['arm']} seed {t['seed']}":
                return 0.0 if t["cached"] else t["estimate_s"]
        for e in self.plan["evals"]:
            if label.startswith("eval ") and e["name"] in (label[5:].replace(" seed ", "-s").replace(" (native)", "-native"),):
                return 0.0 if e["cached"] else e["estimate_s"]
        return 0.0
