"""The vLLM backend reads labels outside the server's top-k (echo requests), scores multi-token labels with their end,
and flags a prompt it cannot complete: against a local fake server that answers like vLLM from a known toy model."""
import json
import math
import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from culturelens.core.prompts import PromptItem
from culturelens.eval.backends.vllm_backend import ServerProbe

CUE = {" A": 0.30, " B": 0.15, " C": 0.10, " D": 0.05, "A": 0.02, "B": 0.01,
       " 1": 0.08, " 2": 0.06, " 3": 0.03, " 4": 0.02, " 5": 0.02, " 6": 0.01, " 7": 0.01, " 8": 0.01, " 9": 0.01,
       " The": 0.12}
AFTER_DIGIT = {"0": 0.2, ".": 0.5, "\n": 0.2, " -": 0.1}
AFTER_ZERO = {".": 0.6, "\n": 0.3, "0": 0.1}
OTHER = 1e-9  # tokens the toy model does not list


def tokenize(text: str) -> list[str]:
    """Words with their leading space, digits one by one, any other character alone."""
    return re.findall(r" ?[A-Za-z]+| ?\d|\n|[^A-Za-z\d\n]", text)


def next_dist(prefix: list[str]) -> dict[str, float]:
    last = prefix[-1] if prefix else ""
    if last == ":":
        return CUE
    if last == "0":
        return AFTER_ZERO
    if last.strip().isdigit():
        return AFTER_DIGIT
    return {" x": 0.5, " y": 0.5}


def top(dist: dict[str, float], k: int) -> dict[str, float]:
    return {t: math.log(p) for t, p in sorted(dist.items(), key=lambda kv: -kv[1])[:k]}


def completion(body: dict) -> dict:
    toks, k = tokenize(body["prompt"]), body["logprobs"]
    gen = max(next_dist(toks).items(), key=lambda kv: kv[1])[0]
    if not body.get("echo"):
        return {"choices": [{"text": gen, "logprobs": {"tokens": [gen], "token_logprobs": [math.log(next_dist(toks)[gen])],
                                                      "top_logprobs": [top(next_dist(toks), k)]}}]}
    lps = [None] + [math.log(next_dist(toks[:i]).get(toks[i], OTHER)) for i in range(1, len(toks))]
    tops = [None] + [top(next_dist(toks[:i]), k) for i in range(1, len(toks))]
    return {"choices": [{"text": body["prompt"] + gen, "logprobs": {
        "tokens": toks + [gen], "token_logprobs": lps + [math.log(next_dist(toks)[gen])],
        "top_logprobs": tops + [top(next_dist(toks), k)]}}]}


class ToyServer(BaseHTTPRequestHandler):
    refuse_echo = False
    bodies: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ToyServer.bodies.append(body)
        if body.get("echo") and ToyServer.refuse_echo:
            self.send_response(400)
            self.end_headers()
            self.wfile.write(b'{"error": "echo is not supported"}')
            return
        out = json.dumps(completion(body)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    ToyServer.refuse_echo, ToyServer.bodies = False, []
    srv = HTTPServer(("127.0.0.1", 0), ToyServer)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}/v1"
    srv.shutdown()


def letters(order="original"):
    index = (0, 1, 2, 3) if order == "original" else (3, 2, 1, 0)
    return PromptItem("persona_system", order, "DEU", "Q27", "Question: x\nAnswer:", ("A", "B", "C", "D"), index)


def numbers():
    labels = tuple(str(i) for i in range(1, 11))
    return PromptItem("persona_system", "original", "DEU", "Q182", "Question: y\nAnswer:", labels, tuple(range(10)))


def exact_letters():
    return [CUE.get(" " + lbl, 0) + CUE.get(lbl, 0) for lbl in "ABCD"]


def exact_numbers():
    """P(label, then a token that does not extend it), both spacings, from the toy model's tables."""
    def ended(dist):
        return sum(p for t, p in dist.items() if not t[:1].isalnum())

    raw = [CUE.get(f" {k}", OTHER) * ended(AFTER_DIGIT) + OTHER * ended(AFTER_DIGIT) for k in range(1, 10)]
    raw.append(CUE[" 1"] * AFTER_DIGIT["0"] * ended(AFTER_ZERO) + OTHER * AFTER_DIGIT["0"] * ended(AFTER_ZERO))
    return raw


def test_labels_outside_the_top_k_are_read_by_echo(server):
    probe = ServerProbe(server, "toy", concurrency=4, retries=0, top_logprobs=3)  # " C", " D", "A", "B" are not listed
    res = probe.score([letters(), letters("reversed")], progress=False)
    raw = exact_letters()
    r = res[letters().key]
    assert r.mode == "server" and r.mass == pytest.approx(sum(raw), rel=1e-6)
    assert r.probs == pytest.approx([x / sum(raw) for x in raw], rel=1e-6)
    assert res[letters("reversed").key].probs == pytest.approx([x / sum(raw) for x in raw[::-1]], rel=1e-6)
    echoed = {b["prompt"][len("Question: x\nAnswer:"):] for b in ToyServer.bodies if b.get("echo")}
    assert echoed == {" C", " D", "C", "D", "A", "B"}  # exactly the pairs the top-3 did not list


def test_no_echo_when_the_top_k_lists_every_label(server):
    probe = ServerProbe(server, "toy", retries=0, top_logprobs=20)
    res = probe.score([letters()], progress=False)
    assert not any(b.get("echo") for b in ToyServer.bodies)
    # "C" and "D" without a space are not in the toy model at all: the top-20 already bounds them below 1e-6 in total
    assert res[letters().key].mass == pytest.approx(sum(exact_letters()), rel=1e-6)


def test_numeric_labels_are_scored_with_their_end(server):
    probe = ServerProbe(server, "toy", concurrency=4, retries=0, top_logprobs=5)
    r = probe.score([numbers()], progress=False)[numbers().key]
    raw = exact_numbers()
    assert r.mode == "sequence" and r.mass <= 1 + 1e-6
    assert r.mass == pytest.approx(sum(raw), rel=1e-6)
    assert r.probs == pytest.approx([x / sum(raw) for x in raw], rel=1e-6)
    # the old first-token reading gave label 1 all of P(" 1") = 0.08, including the 0.016 of " 10"
    assert r.probs[0] * r.mass == pytest.approx(0.08 * 0.8, rel=1e-6)


def test_a_server_without_echo_flags_the_prompt(server):
    ToyServer.refuse_echo = True
    probe = ServerProbe(server, "toy", retries=0, top_logprobs=3)
    r = probe.score([letters()], progress=False)[letters().key]
    assert r.mode == "incomplete"  # not a silent 0 for C and D
    assert r.mass == pytest.approx(0.30 + 0.15, rel=1e-6)  # what the top-3 lists: " A", " B" (and " The")


def test_a_local_tokenizer_decides_which_labels_need_sequences(tiny_model_dir):
    from transformers import AutoTokenizer

    probe = ServerProbe("http://127.0.0.1:9/v1", "toy", tokenizer=AutoTokenizer.from_pretrained(tiny_model_dir))
    assert not probe._needs_sequence(letters())
    assert probe._needs_sequence(numbers()) and probe.fallback_labels == {"10"}  # the tiny tokenizer splits digits
