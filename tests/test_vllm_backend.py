"""vLLM / OpenAI-compatible probe backend: request building, response parsing, a fake local server."""
import json
import math
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from culturelens.core.errors import ModelLoadError
from culturelens.core.prompts import PromptItem
from culturelens.eval.backends.vllm_backend import ServerProbe, build_request, parse_response


def item(order="original"):
    index = (0, 1, 2, 3) if order == "original" else (3, 2, 1, 0)
    return PromptItem("persona_system", order, "DEU", "Q27", "<s>prompt text Answer:", ("A", "B", "C", "D"), index)


def payload(top):
    return {"choices": [{"text": " A", "logprobs": {"tokens": [" A"], "top_logprobs": [top]}}]}


def test_request_asks_for_one_token_with_logprobs():
    req = build_request(item(), "my/model", top_logprobs=20)
    assert req["max_tokens"] == 1 and req["logprobs"] == 20 and req["temperature"] == 0.0
    assert req["prompt"] == "<s>prompt text Answer:" and req["model"] == "my/model"
    assert req["add_special_tokens"] is False


def test_parse_sums_space_variants_and_renormalises():
    top = {" A": math.log(0.4), "A": math.log(0.1), " B": math.log(0.2), " C": math.log(0.1), " The": math.log(0.15)}
    res = parse_response(item(), payload(top))
    assert res.mass == pytest.approx(0.8)
    assert res.probs == pytest.approx([0.5 / 0.8, 0.2 / 0.8, 0.1 / 0.8, 0.0])
    rev = parse_response(item("reversed"), payload(top))
    assert rev.probs == pytest.approx([0.0, 0.1 / 0.8, 0.2 / 0.8, 0.5 / 0.8])


def test_parse_rejects_response_without_logprobs():
    with pytest.raises(ModelLoadError, match="max-logprobs"):
        parse_response(item(), {"choices": [{"text": "A"}]})


def send_json(handler: BaseHTTPRequestHandler, body: dict) -> None:
    out = json.dumps(body).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(out)))
    handler.end_headers()
    handler.wfile.write(out)


class Handler(BaseHTTPRequestHandler):
    calls = 0
    bodies: list = []

    def do_POST(self):  # noqa: N802
        Handler.calls += 1
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Handler.bodies.append(body)
        if Handler.calls == 1:  # first request fails: the client must retry
            self.send_response(503)
            self.end_headers()
            return
        send_json(self, payload({" A": math.log(0.6), " B": math.log(0.3)}))

    def log_message(self, *args):
        pass


def test_server_probe_against_local_fake_server():
    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        probe = ServerProbe(f"http://127.0.0.1:{server.server_port}/v1", "fake", concurrency=2, retries=2)
        items = [item(), item("reversed")]
        seen = []
        res = probe.score(items, on_batch=seen.append)
        assert len(res) == 2 and len(seen) == 1
        assert res[items[0].key].probs[0] == pytest.approx(2 / 3)
        first = [b for b in Handler.bodies if not b["echo"]]
        assert len(first) == 3  # one 503 retried
        # C and D (and bare "A", "B") are not in the top-2: 6 echo requests per prompt; this server does not echo
        # prompt log-probs, so the prompts are flagged instead of counting C and D as 0
        assert Handler.calls == 3 + 2 * 6 and all(r.mode == "incomplete" for r in res.values())
        assert all(b["model"] == "fake" for b in Handler.bodies)
    finally:
        server.shutdown()


def test_server_down_is_a_clear_error():
    probe = ServerProbe("http://127.0.0.1:9/v1", "fake", retries=0, timeout_s=2)
    with pytest.raises(ModelLoadError, match="did not answer"):
        probe.score([item()])


# ----------------------------------------------------------------------------------- fingerprint


def models_server(root: str, created: list[int]):
    """A fake server whose GET /v1/models answers like vLLM: a card per request, `created` = the next value."""

    class Models(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            card = {"id": "fake", "object": "model", "created": created.pop(0), "owned_by": "vllm", "root": root,
                    "parent": None, "max_model_len": 2048, "permission": [{"id": f"modelperm-{len(created)}"}]}
            send_json(self, {"object": "list", "data": [card]})

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Models)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def fingerprint_of(server, **kw) -> str:
    return ServerProbe(f"http://127.0.0.1:{server.server_port}/v1", "fake", retries=0, **kw).fingerprint


def test_server_fingerprint_follows_what_the_server_reports():
    first = models_server("/weights/v1", [100, 101])
    try:
        a, b = fingerprint_of(first), fingerprint_of(first)
        pinned = fingerprint_of(first, fingerprint="my-pin")
    finally:
        first.shutdown()
    assert a == b  # vLLM stamps `created` (and permission ids) per request: they must not change the key
    assert pinned == "my-pin"
    restarted = models_server("/weights/v2", [500, 501])  # same served name, other weights
    try:
        c = fingerprint_of(restarted)
        assert fingerprint_of(restarted, fingerprint="my-pin") == "my-pin"  # a pin is used as is
    finally:
        restarted.shutdown()
    assert c != a
    assert len(a) == len(c) == 16


def test_server_fingerprint_names_a_model_the_server_does_not_serve():
    server = models_server("/weights/v1", [1])
    try:
        with pytest.raises(ModelLoadError, match="serves fake, not 'other'"):
            _ = ServerProbe(f"http://127.0.0.1:{server.server_port}/v1", "other", retries=0).fingerprint
    finally:
        server.shutdown()


def test_eval_config_pins_the_server_fingerprint(tmp_path, tiny_model_dir):
    from culturelens.eval.backends import make_backend
    from culturelens.eval.config import EvalConfig

    cfg = EvalConfig.model_validate({"model": {"name_or_path": str(tiny_model_dir)},
                                     "probe": {"backend": "vllm", "server_url": "http://127.0.0.1:9/v1", "fingerprint": "pin-1"}})
    backend = make_backend(cfg)
    assert backend.fingerprint == "pin-1" and backend.tokenizer is not None and backend.name == str(tiny_model_dir)


def test_a_pin_is_refused_for_the_hf_backend(tiny_model_dir):
    from culturelens.core.errors import ConfigError
    from culturelens.eval.backends import make_backend
    from culturelens.eval.config import EvalConfig

    cfg = EvalConfig.model_validate({"model": {"name_or_path": str(tiny_model_dir)}, "probe": {"fingerprint": "pin-1"}})
    with pytest.raises(ConfigError, match="hashes the weights"):
        make_backend(cfg)
