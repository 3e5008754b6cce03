"""synth on tiny teachers: split discipline (the leak test), labels from humans, filters, resume, server teacher."""
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace

import pytest
from datasets import load_from_disk

from culturelens.core.errors import DataError, ModelLoadError
from culturelens.core.questions import load_bank
from culturelens.core.reference import default_reference
from culturelens.core.teacher import OpenAITeacher
from culturelens.synth.config import SynthConfig
from culturelens.synth.filters import filter_variants, lexical_similarity
from culturelens.synth.generate import clean_output, make_jobs, run_jobs
from culturelens.synth.run import run_synth
from culturelens.synth.split import split_questions

QUESTIONS = ["Q27", "Q28", "Q29", "Q33", "Q36", "Q122", "Q123", "Q124", "Q132", "Q133", "Q158", "Q159", "Q185", "Q182"]
COUNTRIES = ["DEU", "IRQ", "MEX"]


class EchoTeacher:
    """A deterministic teacher: rewrites by light edits, so outputs pass the similarity filter."""

    name = "echo"

    def __init__(self):
        self.prompts = []

    def generate(self, prompts):
        self.prompts += prompts
        outs = []
        for m in prompts:
            text = m[-1]["content"].split("Question: ", 1)[1]
            outs.append(f"In other words: {text} Please think about it." if "Rewrite" in m[-1]["content"] else f"Maria lives here and works hard. {text}")
        return outs


def cfg_for(tmp_path, **kw):
    data = {"experiment": "t", "output_dir": str(tmp_path / "synth"), "questions": QUESTIONS, "countries": COUNTRIES,
            "teacher": {"backend": "local", "model": {"name_or_path": "unused"}},
            "variants": {"paraphrases": 1, "scenarios": 1}, "split": {"heldout_fraction": 0.3, "seed": 1}}
    data.update(kw)
    return SynthConfig.model_validate(data)


@pytest.fixture
def echo(monkeypatch):
    teacher = EchoTeacher()
    monkeypatch.setattr("culturelens.synth.run.make_teacher", lambda cfg: teacher)
    return teacher


def test_split_is_stratified_and_deterministic():
    bank = load_bank()
    cats = {q: bank.get(q).category for q in QUESTIONS}
    a = split_questions(QUESTIONS, cats, 0.3, seed=0)
    assert a == split_questions(QUESTIONS, cats, 0.3, seed=0)
    assert a != split_questions(QUESTIONS, cats, 0.3, seed=5)
    assert not set(a["train"]) & set(a["heldout"]) and set(a["train"]) | set(a["heldout"]) == set(QUESTIONS)
    for cat in set(cats.values()):
        qs = [q for q in QUESTIONS if cats[q] == cat]
        if len(qs) >= 2:
            assert set(qs) & set(a["train"]) and set(qs) & set(a["heldout"]), cat


def test_no_heldout_question_leaks_into_training_data(tmp_path, echo):
    out = run_synth(cfg_for(tmp_path), progress=False)
    split = json.loads((out / "split.json").read_text())
    held = set(split["heldout"])
    bank = load_bank()
    held_texts = [bank.get(q).text for q in held]
    assert held and split["train"]
    # nothing held out was sent to the teacher
    sent = " ".join(m[-1]["content"] for m in echo.prompts)
    assert not any(t in sent for t in held_texts)
    for name in ("sft", "dpo"):
        ds = load_from_disk(str(out / name))
        assert len(ds) > 0
        assert not set(ds["qid"]) & held
        blob = json.dumps(ds.to_list(), ensure_ascii=False)
        assert not any(t in blob for t in held_texts), name
    raw = [json.loads(line) for line in (out / "raw.jsonl").read_text().splitlines()]
    assert not {r["qid"] for r in raw} & held
    # whole batteries on one side: Q27-Q29 share a stem, so do Q122-Q124, Q132/Q133, Q158/Q159 and Q182/Q185
    for cluster in split["clusters"]:
        assert {q in held for q in cluster["questions"]} == {cluster["side"] == "heldout"}, cluster
    assert len(split["clusters"]) == 6


def test_labels_come_from_the_human_reference(tmp_path, echo):
    out = run_synth(cfg_for(tmp_path, sft={"answer": "majority"}), progress=False)
    ref = default_reference()
    bank = load_bank()
    sft = load_from_disk(str(out / "sft")).to_list()
    for row in sft[:50]:
        r = ref.df[(ref.df.country == row["country"]) & (ref.df.qid == row["qid"])].iloc[0]
        answer = row["messages"][-1]["content"]
        q = bank.get(row["qid"])
        if r["dist"] is not None:
            k = max(range(len(r["dist"])), key=lambda i: r["dist"][i])
        else:
            k = min(range(len(q.options)), key=lambda i: abs(q.options[i].score - r["mean"]))
        assert answer == f"Answer: {'ABCDEFGHIJ'[k]}"
        assert row["messages"][0]["role"] == "system" and "Question:" in row["messages"][1]["content"]
    dpo = load_from_disk(str(out / "dpo")).to_list()
    with_shares = [d for d in dpo if d["chosen_share"] is not None]
    assert with_shares and all(d["chosen_share"] >= d["rejected_share"] + 0.15 for d in with_shares)
    report = json.loads((out / "report.json").read_text())
    assert report["sft_rows"] == len(sft) and set(report["filters"]) >= {"empty", "too_long", "low_similarity", "near_duplicate"}


def test_sampled_answers_follow_the_distribution(tmp_path, echo):
    out = run_synth(cfg_for(tmp_path, sft={"answer": "sample", "samples_per_prompt": 20}), progress=False)
    sft = load_from_disk(str(out / "sft")).to_list()
    answers = {r["messages"][-1]["content"] for r in sft if r["qid"] == sft[0]["qid"] and r["country"] == sft[0]["country"]}
    assert len(answers) > 1  # the spread of opinion, not only the majority


def test_filters_catch_each_bad_output():
    seeds = {"Q1": "How important is family in your life?"}
    s = SimpleNamespace(min_chars=15, max_chars=120, min_similarity=0.2, near_duplicate_jaccard=0.8)
    recs = [
        {"qid": "Q1", "kind": "paraphrase", "prompt": "Rewrite the following survey question", "text": ""},
        {"qid": "Q1", "kind": "paraphrase", "prompt": "Rewrite the following survey question", "text": "family " * 40},
        {"qid": "Q1", "kind": "paraphrase", "prompt": "Rewrite the following survey question", "text": "How important is family in your life?"},
        {"qid": "Q1", "kind": "paraphrase", "prompt": "Rewrite the following survey question", "text": "The weather tomorrow will be sunny and warm."},
        {"qid": "Q1", "kind": "paraphrase", "prompt": "Rewrite the following survey question", "text": "How much does your family matter in your life?"},
        {"qid": "Q1", "kind": "paraphrase", "prompt": "Rewrite the following survey question", "text": "How much does your family matter in your life?"},
        {"qid": "Q1", "kind": "paraphrase", "prompt": "Rewrite the following survey question", "text": "How much does your family matter in your life today?"},
        {"qid": "Q1", "kind": "scenario", "prompt": "Write a short everyday scenario", "text": "Answer: I agree, family is important in my life."},
    ]
    kept, report = filter_variants(recs, seeds, s)
    assert [r["text"] for r in kept] == ["How much does your family matter in your life?"]
    assert report["empty"] == 1 and report["too_long"] == 1 and report["repeats_prompt"] == 1 and report["answers_instead"] == 1
    assert report["low_similarity"] == 1 and report["duplicate"] == 1 and report["near_duplicate"] == 1
    assert lexical_similarity("a b c", "a b c") == pytest.approx(1.0)


def test_clean_output():
    assert clean_output('1. "How much does family matter?"\nmore', "paraphrase") == "How much does family matter?"
    assert clean_output("Scenario: Ana works.\nShe asks: is it fine?\n\nExtra", "scenario") == "Ana works.\nShe asks: is it fine?"


def test_generation_resumes_without_repeating_jobs(tmp_path):
    bank = load_bank()
    from culturelens.core.countries import resolve_countries

    jobs = make_jobs([bank.get("Q27"), bank.get("Q28")], resolve_countries(["DEU", "MEX"]), 1, 1, False)
    assert len(jobs) == 6

    class Dying(EchoTeacher):
        def generate(self, prompts):
            if len(self.prompts) >= 2:
                raise KeyboardInterrupt
            return super().generate(prompts)

    raw = tmp_path / "raw.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_jobs(Dying(), jobs, raw, batch_size=2, progress=False)
    assert len(raw.read_text().splitlines()) == 2
    t = EchoTeacher()
    recs = run_jobs(t, jobs, raw, batch_size=2, progress=False)
    assert len(t.prompts) == 4 and len(recs) == 6
    assert len({json.loads(line)["job_id"] for line in raw.read_text().splitlines()}) == 6


def test_local_tiny_teacher_end_to_end(tmp_path, tiny_model_dir):
    """A real (random, tiny) model as teacher: generation runs; its noise is filtered; seeds keep the data non-empty."""
    cfg = cfg_for(tmp_path, teacher={"backend": "local", "model": {"name_or_path": str(tiny_model_dir)}, "max_new_tokens": 12, "batch_size": 8})
    out = run_synth(cfg, progress=False)
    report = json.loads((out / "report.json").read_text())
    assert report["jobs"] == len((out / "raw.jsonl").read_text().splitlines()) > 0
    assert report["sft_rows"] > 0 and report["kept_by_kind"].get("seed")


def test_empty_after_filtering_is_a_clear_error(tmp_path, echo):
    with pytest.raises(DataError, match="loosen"):
        run_synth(cfg_for(tmp_path, filters={"min_chars": 1000, "max_chars": 2000}, variants={"paraphrases": 1, "scenarios": 0, "include_seed": False}), progress=False)


class Handler(BaseHTTPRequestHandler):
    calls = 0

    def do_POST(self):  # noqa: N802
        Handler.calls += 1
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if Handler.calls == 1:
            self.send_response(500)
            self.end_headers()
            return
        text = "Paraphrased: " + body["messages"][-1]["content"][-30:]
        out = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *a):
        pass


def test_openai_teacher_retries_against_local_server():
    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        t = OpenAITeacher(f"http://127.0.0.1:{server.server_port}/v1", "m", concurrency=2, retries=2)
        outs = t.generate([[{"role": "user", "content": "hello there"}], [{"role": "user", "content": "second"}]])
        assert outs[0].startswith("Paraphrased:") and len(outs) == 2 and Handler.calls == 3
    finally:
        server.shutdown()
    with pytest.raises(ModelLoadError, match="did not answer"):
        OpenAITeacher("http://127.0.0.1:9/v1", "m", retries=0, timeout_s=2).generate([[{"role": "user", "content": "x"}]])


def test_a_heldout_question_in_the_jobs_stops_synth_before_the_teacher(tmp_path, echo, monkeypatch):
    """The held-out guard is a DataError (not an assert, which `python -O` drops), raised before the teacher runs."""
    import culturelens.synth.run as synth_run

    real_make_jobs = synth_run.make_jobs
    bank = load_bank()

    def leaky_make_jobs(train_q, *args):  # a bug that sends every seed question, held-out ones included
        return real_make_jobs([bank.get(q) for q in QUESTIONS], *args)

    monkeypatch.setattr(synth_run, "make_jobs", leaky_make_jobs)
    with pytest.raises(DataError, match=r"held-out question\(s\) .* reached the teacher's jobs"):
        run_synth(cfg_for(tmp_path), progress=False)
    assert echo.prompts == []


def test_the_heldout_guard_survives_python_O():
    import subprocess
    import sys

    code = ("from culturelens.core.errors import DataError\nfrom culturelens.synth.split import require_no_heldout\n"
            "require_no_heldout(['Q1'], ['Q2'], 'x')\ntry:\n    require_no_heldout(['Q1', 'Q2'], ['Q2'], 'the teacher')\n"
            "except DataError as e:\n    print('raised:', e)\n")
    done = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True, check=True)
    assert "raised: held-out question(s) Q2 reached the teacher" in done.stdout
