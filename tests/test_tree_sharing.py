"""Prefix sharing as a tree (eval/backends/prefix.py): the trie packed per forward pass is exact at any pack size, the
no_persona prompt shares what it can, and the thread policy (core/threads.py) backs off when other processes want the CPUs."""
import random

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from culturelens.core.countries import resolve_country
from culturelens.core.prompts import build_prompts
from culturelens.core.questions import load_bank
from culturelens.eval.backends.prefix import pack_tree, shared_lengths, tree_chunks, trie_size
from culturelens.eval.backends.probe import Probe


def _items(tok, templates=("country_in_answer", "no_persona", "persona_system"), qids=("Q27", "Q33", "Q158"),
           countries=("DEU", "IRQ", "MEX", "USA"), chat=True):
    bank = load_bank()
    return build_prompts(tok, [bank.get(q) for q in qids], [resolve_country(c) for c in countries], None, list(templates),
                         ["original", "reversed"], "letters", "Answer:", chat)


def _load(path):
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval(), AutoTokenizer.from_pretrained(path)


def _max_dp(a, b):
    assert set(a) == set(b)
    return max(abs(x - y) for k in a for x, y in zip(a[k].probs, b[k].probs))


def test_pack_tree_lays_out_the_trie_depth_first_with_ancestor_attention():
    seqs = sorted([[1, 2, 3], [1, 2, 4, 5], [1, 6], [1, 2, 3]])  # a duplicate keeps its last token to itself
    assert shared_lengths(seqs) == [0, 2, 2, 1]
    tree = pack_tree(seqs)
    assert tree.tokens == [1, 2, 3, 3, 4, 5, 6] and tree.positions == [0, 1, 2, 2, 2, 3, 1]
    assert tree.last == [2, 3, 5, 6]
    allowed = tree.allowed().int().tolist()
    assert allowed == [[1, 0, 0, 0, 0, 0, 0],
                       [1, 1, 0, 0, 0, 0, 0],
                       [1, 1, 1, 0, 0, 0, 0],
                       [1, 1, 0, 1, 0, 0, 0],
                       [1, 1, 0, 0, 1, 0, 0],
                       [1, 1, 0, 0, 1, 1, 0],
                       [1, 0, 0, 0, 0, 0, 1]]
    assert trie_size(seqs) == len(tree.tokens)


def test_tree_chunks_cover_everything_within_the_budget_and_cut_where_least_is_shared():
    rng = random.Random(0)
    header = list(range(10))
    seqs = sorted(header + [100 + q] + list(range(200, 230)) + [300 + c, 400 + rng.randrange(3)] for q in range(6) for c in range(8))
    runs = tree_chunks(seqs, 120)
    assert [i for r in runs for i in r] == list(range(len(seqs)))
    sizes = [len(pack_tree(seqs[r.start:r.stop]).tokens) for r in runs]
    assert max(sizes) <= 120
    shared = shared_lengths(seqs)
    assert all(shared[r.start] == 10 for r in runs[1:])  # every cut between questions (only the header shared)
    assert len(tree_chunks(seqs, 10_000)) == 1 and tree_chunks([[1] * 50], 8) == [range(0, 1)]


@pytest.mark.parametrize("chat", [True, False])
def test_tree_packing_is_exact_and_pack_size_invariant(tiny_model_dir, chat):
    model, tok = _load(tiny_model_dir)
    items = _items(tok, chat=chat)
    plain = Probe(model, tok, batch_size=8).score(items, progress=False)
    seqs = [Probe(model, tok).encode(it.text) for it in items]
    forwards = []
    for budget in (16, 150, 400, 100_000):
        probe = Probe(model, tok, prefix_sharing=True, tokens_per_forward=budget)
        shared = probe.score(items, progress=False)
        assert _max_dp(plain, shared) < 1e-5, budget
        assert max(abs(shared[k].mass - plain[k].mass) for k in plain) < 1e-5
        assert probe.stats.prompts == len(items)
        forwards.append(probe.stats.forwards)
        if budget == 100_000:  # one pack: every distinct prefix computed once
            assert probe.stats.forwards == 1 and probe.stats.tokens_computed == trie_size(seqs)
    assert forwards == sorted(forwards, reverse=True) and forwards[0] > forwards[-1]


def test_segments_hold_every_ancestor_their_nodes_attend_to():
    """Tree attention computes a pack segment by segment: each segment's keys (its outside ancestors and its own nodes)
    are every node its queries may attend to, so leaving the rest out changes no softmax."""
    rng = random.Random(1)
    seqs = sorted([0] + [rng.randrange(3) for _ in range(rng.randrange(1, 12))] for _ in range(200))
    tree = pack_tree(seqs)
    allowed = tree.allowed()
    for rows in (1, 8, 64):
        segments = tree.segments(rows)
        assert [i for s, e, _ in segments for i in range(s, e)] == list(range(len(tree.tokens)))
        for start, end, outside in segments:
            needed = allowed[start:end, :start].any(0).nonzero().flatten().tolist()
            assert set(needed) <= set(outside) and max(outside, default=-1) < start


def test_tree_attention_matches_the_dense_tree_mask(tiny_model_dir, monkeypatch):
    """The segmented attention (the default) against the pack's dense tree mask through the model's own attention."""
    from culturelens.eval.backends import prefix

    model, tok = _load(tiny_model_dir)
    items = _items(tok)
    calls = []
    seg = prefix.tree_attention
    monkeypatch.setattr(prefix, "tree_attention", lambda *a, **k: calls.append(k.get("tree")) or seg(*a, **k))
    monkeypatch.setitem(__import__("transformers").AttentionInterface._global_mapping, prefix.TREE_ATTENTION, prefix.tree_attention)
    segmented = Probe(model, tok, prefix_sharing=True, tokens_per_forward=400)
    dense = Probe(model, tok, prefix_sharing=True, tokens_per_forward=400)
    dense.tree_attention = False
    a = segmented.score(items, progress=False)
    assert calls and all(t is not None for t in calls) and model.config._attn_implementation == "sdpa"
    n = len(calls)
    b = dense.score(items, progress=False)
    assert len(calls) == n and _max_dp(a, b) < 1e-5


def test_packs_computed_at_once_give_the_same_results_in_order(tiny_model_dir):
    """pack_workers=2: two packs in flight, one intra-op thread each; the same probabilities, yielded in pack order."""
    model, tok = _load(tiny_model_dir)
    items = _items(tok)
    one = Probe(model, tok, prefix_sharing=True, tokens_per_forward=150)
    two = Probe(model, tok, prefix_sharing=True, tokens_per_forward=150, pack_workers=2)
    seen = []
    a = one.score(items, progress=False)
    b = two.score(items, progress=False, on_batch=lambda done: seen.extend(done))
    assert two.stats.forwards == one.stats.forwards > 3 and _max_dp(a, b) < 1e-6
    assert seen == sorted(seen, key=lambda k: tok(next(it.text for it in items if it.key == k)).input_ids)


def test_no_persona_shares_the_header_and_question_text_across_orders(tiny_model_dir):
    model, tok = _load(tiny_model_dir)
    items = _items(tok, templates=("no_persona",), qids=("Q27",))
    probe = Probe(model, tok)
    seqs = sorted(probe.encode_many([it.text for it in items]))
    question = load_bank().get("Q27").text
    shared_text = tok.decode(seqs[0][: shared_lengths(seqs)[1]])
    assert question in shared_text and "own view" in shared_text
    assert trie_size(seqs) < sum(map(len, seqs)) * 0.8


def test_a_multi_question_pack_matches_one_question_at_a_time(tiny_model_dir):
    """Several (question, order) groups in one forward pass: the same as each question's prompts on their own."""
    model, tok = _load(tiny_model_dir)
    items = _items(tok, templates=("country_in_answer",))
    together = Probe(model, tok, prefix_sharing=True, tokens_per_forward=100_000)
    res = together.score(items, progress=False)
    assert together.stats.forwards == 1
    alone = {}
    for qid in ("Q27", "Q33", "Q158"):
        alone.update(Probe(model, tok, prefix_sharing=True).score([it for it in items if it.qid == qid], progress=False))
    assert _max_dp(res, alone) < 1e-5


def test_gemma3_packs_past_its_sliding_window_with_a_per_layer_type_mask(tiny_gemma_dir):
    """The tiny Gemma 3's window is 64 tokens, shorter than these prompts: its window layers get their own tree mask."""
    from culturelens.eval.backends.prefix import mask_mapping_ok, sliding_window

    model, tok = _load(tiny_gemma_dir)
    assert sliding_window(model) == 64 and mask_mapping_ok(model, 64)
    items = _items(tok, countries=("DEU", "IRQ"))
    assert min(len(Probe(model, tok).encode(it.text)) for it in items) > 64
    plain = Probe(model, tok, batch_size=8).score(items, progress=False)
    for budget in (200, 100_000):
        probe = Probe(model, tok, prefix_sharing=True, tokens_per_forward=budget)
        assert _max_dp(plain, probe.score(items, progress=False)) < 1e-5


def test_usable_cpus_take_the_smallest_of_affinity_quota_and_omp(monkeypatch):
    import os

    from culturelens.core import threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "cgroup_cpu_quota", lambda: None)
    assert threads.usable_cpus() == len(os.sched_getaffinity(0))
    monkeypatch.setattr(threads, "_affinity", lambda: {0, 1, 2, 3})
    monkeypatch.setattr(threads, "cgroup_cpu_quota", lambda: 2.5)
    assert threads.usable_cpus() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert threads.usable_cpus() == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "8")
    assert threads.usable_cpus() == 3


def test_cgroup_quota_reads_v2_and_v1(tmp_path):
    from culturelens.core.threads import cgroup_cpu_quota

    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_quota(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_quota(tmp_path) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("200000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_quota(v1) == 2.0
    assert cgroup_cpu_quota(tmp_path / "missing") is None


def test_thread_policy_backs_off_while_others_keep_a_cpu_busy_and_returns_after(monkeypatch):
    from culturelens.core import threads

    monkeypatch.setattr(threads, "usable_cpus", lambda: 2)
    clock = {"wall": 0.0, "busy": 0.0, "own": 0.0}
    monkeypatch.setattr(threads, "_busy_jiffies", lambda cpus: clock["busy"])
    monkeypatch.setattr(threads.time, "monotonic", lambda: clock["wall"])
    monkeypatch.setattr(threads.time, "process_time", lambda: clock["own"])
    before = torch.get_num_threads()
    others_at_start = {"cpus": 0.0}

    def sleep(seconds):  # while the policy looks before the job, the others keep `others_at_start` CPUs busy
        clock["wall"] += seconds
        clock["busy"] += seconds * others_at_start["cpus"]

    monkeypatch.setattr(threads.time, "sleep", sleep)
    try:
        busy_start = threads.ThreadPolicy("auto", interval_s=1.0)
        others_at_start["cpus"] = 1.0
        busy_start.apply()  # the first forward pass already runs with one thread
        assert busy_start.threads == 1 and torch.get_num_threads() == 1 and busy_start.history[0][1:] == (1, 1.0)

        others_at_start["cpus"] = 0.0
        policy = threads.ThreadPolicy("auto", interval_s=1.0)
        policy.apply()
        assert policy.threads == 2 and torch.get_num_threads() == 2
        policy.history.clear()

        def tick(seconds, own_cpus, other_cpus):
            clock["wall"] += seconds
            clock["own"] += seconds * own_cpus
            clock["busy"] += seconds * (own_cpus + other_cpus)
            policy.adjust()

        tick(0.5, 2.0, 0.0)
        assert policy.history == []  # not yet an interval
        tick(1.0, 2.0, 0.0)
        assert policy.threads == 2
        tick(2.0, 1.3, 0.7)  # a competitor took most of a CPU
        assert policy.threads == 1 and torch.get_num_threads() == 1
        tick(2.0, 1.0, 1.0)
        assert policy.threads == 1
        tick(2.0, 1.0, 0.1)  # it stopped
        assert policy.threads == 2 and [h[1] for h in policy.history] == [2, 1, 1, 2]
        fixed = threads.ThreadPolicy(3)
        fixed.apply()
        clock["wall"] += 5.0
        clock["busy"] += 10.0  # others busy: a fixed setting stays
        fixed.adjust()
        assert fixed.threads == 3 and torch.get_num_threads() == 3 and fixed.history == []
    finally:
        torch.set_num_threads(before)


@pytest.mark.realmodel
@pytest.mark.slow
def test_smollm2_main_job_questions_tree_vs_unshared():
    """Two questions of the main job (configs/eval/default.yaml) on SmolLM2: packed tree == unshared scoring."""
    from culturelens.core.config import load_config
    from culturelens.core.inputs import resolve_inputs
    from culturelens.core.models import load_model
    from culturelens.eval.config import EvalConfig
    from culturelens.eval.runner import build_items

    cfg = load_config(EvalConfig, "configs/eval/default.yaml", ["questions=[Q27,Q158]"])
    lm = load_model(cfg.model)
    probe = Probe.from_loaded(lm, prefix_sharing=True, tokens_per_forward=cfg.probe.tokens_per_forward)
    items = build_items(cfg, resolve_inputs(cfg), probe)
    shared = probe.score(items, progress=False)
    plain = Probe.from_loaded(lm, batch_size=24).score(items, progress=False)
    assert _max_dp(plain, shared) < 1e-5
    assert probe.stats.tokens_computed < 0.15 * sum(len(s) for s in probe.encode_many([it.text for it in items]))
