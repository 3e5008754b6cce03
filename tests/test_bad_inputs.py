"""Bad and hostile inputs (issue 11, part 4): each ends in one `error: ...` line naming the problem and the fix, exit
code 2 and no traceback, with nothing finished lost; or in the documented safe behaviour (README, "Bad input").

Every case runs the real CLI (`culturelens.cli.main`) on tiny models, the embedded reference cut to 3 countries x 2
questions, tiny CSVs, and local HTTP servers on 127.0.0.1 that stop by themselves.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from culturelens.cli import main
from culturelens.core.runfolder import RunFolder
from culturelens.core.runstaging import RunStaging

COUNTRIES = ["DEU", "IRQ", "MEX"]
QUESTIONS = ["Q27", "Q28"]


# ------------------------------------------------------------------------------------------- helpers


def cli(args: list[str], capsys) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def assert_error(code: int, err: str, *words: str) -> str:
    """Exit code 2, no traceback, exactly one `error:` line, the last thing printed, containing every word."""
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert code == 2 and len(lines) == 1, err
    assert err.strip().splitlines()[-1] == lines[0], err
    for w in words:
        assert w.lower() in lines[0].lower(), (w, lines[0])
    return lines[0]


def eval_yaml(tmp: Path, model: Path | str, **extra) -> Path:
    data = {"experiment": "t", "output_dir": str(tmp / "runs"), "cache_dir": str(tmp / "cache"),
            "model": {"name_or_path": str(model)}, "countries": COUNTRIES, "questions": QUESTIONS, "n_boot": 10,
            "probe": {"templates": ["persona_system"], "batch_size": 8}}
    data.update(extra)
    path = tmp / f"eval-{len(list(tmp.glob('eval-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_model_dir, tiny_model_dir_2):
    """Two finished runs `a` (tiny model) and `b` (other weights) of experiment t; copy them before changing them."""
    tmp = tmp_path_factory.mktemp("bad-input-runs")
    for name, model in (("a", tiny_model_dir), ("b", tiny_model_dir_2)):
        assert main(["eval", "--config", str(eval_yaml(tmp, model)), f"run_name={name}", "--no-progress"]) == 0
    return tmp / "runs" / "t"


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# ------------------------------------------------------------------------------------------- config files and overrides


def _utf16(tmp: Path) -> Path:
    p = tmp / "u16.yaml"
    p.write_text("model: {name_or_path: x}\n", encoding="utf-16")
    return p


def _binary(tmp: Path) -> Path:
    p = tmp / "bin.yaml"
    p.write_bytes(bytes(range(256)) * 4)
    return p


def _bad_yaml(tmp: Path) -> Path:
    p = tmp / "bad.yaml"
    p.write_text("model:\n  name_or_path: x\n questions: [Q27\n")
    return p


CONFIG_CASES = [
    ("config is a folder", lambda tmp: ["eval", "--config", tmp], ["is a folder", "pass a UTF-8 YAML file"]),
    ("config is binary", lambda tmp: ["eval", "--config", _binary(tmp)], ["not text", "UTF-8 YAML"]),
    ("config is UTF-16", lambda tmp: ["eval", "--config", _utf16(tmp)], ["UTF-16", "re-save it as UTF-8"]),
    ("YAML error keeps line and column", lambda tmp: ["eval", "--config", _bad_yaml(tmp)], ["line 3, column 2", "not valid YAML"]),
]


@pytest.mark.parametrize("name, argv, words", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_config_file(tmp_path, capsys, name, argv, words):
    assert_error(*cli(argv(tmp_path), capsys), *words)


def test_unparsable_override(tmp_path, capsys, tiny_model_dir):
    cfg = eval_yaml(tmp_path, tiny_model_dir)
    assert_error(*cli(["eval", "--config", cfg, "countries=[", "--no-progress"], capsys), "override 'countries=['", "countries=[DEU,USA]")


@pytest.mark.parametrize(
    "override, words",
    [
        ("countries=[]", ["countries=[] selects no countries", "leave countries out"]),
        ("questions=[]", ["questions=[] selects no questions", "leave questions out"]),
        ("run_name=../../x", ["run_name", "one plain folder name"]),
        ("run_name=.hidden", ["run_name", "one plain folder name"]),
        ("probe.server_retries=-1", ["probe.server_retries", "greater than or equal to 0"]),
        ("probe.server_timeout_s=0", ["probe.server_timeout_s", "greater than 0"]),
    ],
)
def test_bad_eval_override_after_no_progress(tmp_path, capsys, tiny_model_dir, override, words):
    """Overrides work after --no-progress too (the error proves the override was read); nothing is written."""
    cfg = eval_yaml(tmp_path, tiny_model_dir)
    assert_error(*cli(["eval", "--config", cfg, "--no-progress", override], capsys), *words)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "x").exists()


@pytest.mark.parametrize("override, words", [("teacher.retries=-1", ["teacher.retries", "greater than or equal to 0"]),
                                             ("teacher.timeout_s=0", ["teacher.timeout_s", "greater than 0"]),
                                             ("teacher.seed=-1", ["teacher.seed", "greater than or equal to 0"]),
                                             ("teacher.top_p=2", ["teacher.top_p", "less than or equal to 1"]),
                                             ("teacher.temperature=-0.5", ["teacher.temperature", "greater than or equal to 0"]),
                                             ("teacher.max_new_tokens=0", ["teacher.max_new_tokens", "greater than or equal to 1"]),
                                             ("split.seed=-2", ["split.seed", "greater than or equal to 0"]),
                                             ("filters.max_chars=10", ["filters.max_chars (10) must be above filters.min_chars (15)"]),
                                             ("filters.near_duplicate_jaccard=1.5", ["near_duplicate_jaccard", "less than or equal to 1"])])
def test_bad_teacher_settings(tmp_path, capsys, override, words):
    cfg = tmp_path / "s.yaml"
    cfg.write_text("teacher: {backend: openai, base_url: 'http://127.0.0.1:9/v1', server_model: m}\n")
    assert_error(*cli(["synth", "--config", cfg, override], capsys), *words)


@pytest.mark.parametrize("override, words", [("seed=-1", ["override 'seed=-1'", "greater than or equal to 0"]),
                                             ("n_boot=0", ["override 'n_boot=0'", "greater than or equal to 10"])])
def test_bad_claims_settings(tmp_path, capsys, override, words):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("models: [{label: m, model: {name_or_path: x}, facts: {family: f, params: 1, corpus: english, aligned: false}}]\n"
                   f"output_dir: {tmp_path / 'out'}\n")
    assert_error(*cli(["claims", "--config", cfg, override], capsys), *words)
    assert not (tmp_path / "out").exists()


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    from culturelens import __version__

    assert capsys.readouterr().out.strip() == f"culturelens {__version__}"


# ------------------------------------------------------------------------------------------- output paths (checked first)


def _readonly_dir(tmp: Path) -> Path:
    if os.geteuid() == 0:  # root ignores permission bits; sysfs refuses new folders even to root
        return Path("/sys/culturelens-readonly-test")
    ro = tmp / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    return ro / "runs"


def _under_file(tmp: Path) -> Path:
    (tmp / "a-file").write_text("x")
    return tmp / "a-file" / "runs"


@pytest.mark.parametrize("where", [_readonly_dir, _under_file], ids=["read-only", "under a file"])
def test_eval_output_dir_checked_before_the_model(tmp_path, capsys, where):
    """The model path does not exist either: the output_dir error comes first, before any model loads."""
    cfg = eval_yaml(tmp_path, tmp_path / "no-such-model", output_dir=str(where(tmp_path)))
    assert_error(*cli(["eval", "--config", cfg, "--no-progress"], capsys), "output_dir", "cannot be written", "writable folder")


def test_train_output_dir_checked_before_data_and_model(tmp_path, capsys):
    cfg = tmp_path / "t.yaml"
    cfg.write_text(f"model: {{name_or_path: {tmp_path / 'no-model'}}}\ndataset: {tmp_path / 'no-data'}\n"
                   f"output_dir: {_under_file(tmp_path)}\n")
    assert_error(*cli(["train", "sft", "--config", cfg], capsys), "output_dir", "a file, not a folder")


@pytest.mark.parametrize("command", ["synth", "claims"])
def test_stage_output_dir_under_a_file(tmp_path, capsys, command):
    cfg = tmp_path / "s.yaml"
    body = {"synth": "teacher: {backend: openai, base_url: 'http://127.0.0.1:9/v1', server_model: m}\n",
            "claims": "models: [{label: m, model: {name_or_path: x}, facts: {family: f, params: 1, corpus: english, aligned: false}}]\n"}
    cfg.write_text(body[command] + f"output_dir: {_under_file(tmp_path)}\n")
    assert_error(*cli([command, "--config", cfg], capsys), "output_dir", "cannot be written")


def test_compare_out_under_a_file(runs, tmp_path, capsys):
    out = _under_file(tmp_path)
    assert_error(*cli(["compare", runs / "a", runs / "b", "--out", out, "--n-boot", "10"], capsys), "--out", "cannot be written")


def test_build_reference_out_unwritable(tmp_path, capsys):
    csv = tmp_path / "w.csv"
    csv.write_text("B_COUNTRY_ALPHA,Q27\nDEU,1\n")
    code, err = cli(["data", "build-reference", "--wvs-csv", csv, "--out", _under_file(tmp_path) / "ref.json"], capsys)
    assert_error(code, err, "--out folder", "cannot be written")
    assert_error(*cli(["data", "build-reference", "--wvs-csv", csv, "--out", tmp_path], capsys), "is a folder", "file name")


# ------------------------------------------------------------------------------------------- run folders


def test_rerun_into_a_finished_folder_is_refused_then_overwrite_replaces(runs, tmp_path, capsys, tiny_model_dir):
    """Default policy: refuse (before the model loads when run_name is given); --overwrite replaces it atomically."""
    folder = copy_run(runs / "a", tmp_path / "runs" / "t" / "a")
    before = digest(folder)
    cfg = eval_yaml(tmp_path, tmp_path / "no-such-model")  # refused before the model loads: no model error
    assert_error(*cli(["eval", "--config", cfg, "run_name=a", "--no-progress"], capsys), "already holds a finished run",
                 "--overwrite", "run_name=<new name>")
    assert digest(folder) == before
    cfg = eval_yaml(tmp_path, tiny_model_dir, probe={"templates": ["persona_inline"]})
    assert cli(["eval", "--config", cfg, "run_name=a", "--overwrite", "--no-progress"], capsys)[0] == 0
    assert RunFolder(folder).require_complete().summary().run.templates == ["persona_inline"]
    assert not list(folder.parent.glob(".a.tmp-*")) and not list(folder.parent.glob(".a.old-*"))


def test_two_evals_at_once_into_one_folder(tmp_path, capsys, tiny_model_dir):
    """While one eval writes run folder `a` (its lock is held), a second one stops at once."""
    exp = tmp_path / "runs" / "t"
    first = RunStaging(exp, "a").begin()
    try:
        cfg = eval_yaml(tmp_path, tiny_model_dir)
        assert_error(*cli(["eval", "--config", cfg, "run_name=a", "--no-progress"], capsys), "another eval is writing", "run_name")
    finally:
        first.release()
    assert not (exp / "a").exists()


def test_rerun_killed_midway_keeps_the_old_run_and_resumes(runs, tmp_path, tiny_model_dir):
    """kill -9 during an --overwrite rerun: the finished folder is untouched (compare still accepts it), and the
    next rerun resumes from the probe cache."""
    folder = copy_run(runs / "a", tmp_path / "runs" / "t" / "a")
    before = digest(folder)
    cfg = eval_yaml(tmp_path, tiny_model_dir, probe={"templates": ["persona_inline", "persona_third"], "batch_size": 1})
    env = {**os.environ, "CULTURELENS_DEBUG_BATCH_DELAY": "0.5"}
    proc = subprocess.Popen([sys.executable, "-m", "culturelens", "eval", "--config", str(cfg), "run_name=a", "--overwrite",
                             "--no-progress"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from culturelens.eval.backends.cache import ProbeCache

    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if (tmp_path / "cache" / "probe_cache.sqlite").exists() and ProbeCache(tmp_path / "cache").count() >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert digest(folder) == before and RunFolder(folder).require_complete()
    assert list(folder.parent.glob(".a.tmp-*")), "the killed run's temporary folder"
    from culturelens.core.config import load_config
    from culturelens.eval.config import EvalConfig
    from culturelens.eval.runner import run_eval

    done = run_eval(load_config(EvalConfig, cfg, ["run_name=a"]), progress=False, overwrite=True)
    s = RunFolder(done).require_complete().summary()
    assert 2 <= s.run.n_cached < s.run.n_prompts and s.run.templates == ["persona_inline", "persona_third"]
    assert not list(folder.parent.glob(".a.tmp-*"))


def _no_marker(folder: Path) -> None:
    (folder / "complete.json").unlink()


def _new_config_beside_old_summary(folder: Path) -> None:
    cfg = yaml.safe_load((folder / "config.yaml").read_text())
    cfg["probe"]["templates"] = ["persona_third"]
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))


def _facts_disagree(folder: Path) -> None:
    _new_config_beside_old_summary(folder)
    RunFolder(folder).mark_complete()  # even with a fresh marker, config.yaml and the summary's run facts disagree


def _truncated_summary(folder: Path) -> None:
    (folder / "summary.json").write_text('{"pooled": ')


def _summary_not_a_mapping(folder: Path) -> None:
    (folder / "summary.json").write_text("[1, 2]")


def _summary_binary(folder: Path) -> None:
    (folder / "summary.json").write_bytes(b"\xff\xfe\x00garbage")


@pytest.mark.parametrize(
    "spoil, words",
    [
        (_no_marker, ["not a finished eval run", "complete.json", "--overwrite"]),
        (_new_config_beside_old_summary, ["config.yaml changed after the run finished", "--overwrite"]),
        (_facts_disagree, ["disagree on probe.templates", "--overwrite"]),
        (_truncated_summary, ["summary.json is not valid JSON", "rerun the eval"]),
        (_summary_not_a_mapping, ["summary.json", "rerun the eval"]),
        (_summary_binary, ["summary.json is not valid JSON", "rerun the eval"]),
    ],
    ids=["no completion marker", "killed rerun: new config beside old summary", "config vs run facts",
         "truncated summary", "summary not a mapping", "binary summary"],
)
def test_compare_refuses_incomplete_or_inconsistent_folders(runs, tmp_path, capsys, spoil, words):
    bad = copy_run(runs / "b", tmp_path / "b")
    spoil(bad)
    assert_error(*cli(["compare", runs / "a", bad, "--out", tmp_path / "cmp", "--n-boot", "10"], capsys), str(bad), *words)


def test_claims_refuse_an_incomplete_folder(runs, tmp_path):
    from culturelens.core.errors import DataError
    from culturelens.experiments.claims.context import ModelRun

    bad = copy_run(runs / "b", tmp_path / "b")
    _no_marker(bad)
    with pytest.raises(DataError, match="not a finished eval run"):
        ModelRun.read(None, RunFolder(bad))


def test_compare_same_run_twice(runs, tmp_path, capsys):
    assert_error(*cli(["compare", runs / "a", runs / "a", "--out", tmp_path / "cmp", "--n-boot", "10"], capsys), "given twice", "once")


def test_compare_two_runs_with_the_same_folder_name(runs, tmp_path, capsys):
    """Same name, different experiments: labelled <experiment>/<name>; comparison.json is strict JSON (no bare NaN)."""
    other = copy_run(runs / "b", tmp_path / "other" / "a")
    code, err = cli(["compare", runs / "a", other, "--out", tmp_path / "cmp", "--n-boot", "10"], capsys)
    assert code == 0 and "Traceback" not in err, err

    def no_constants(name):
        raise AssertionError(f"bare {name} in comparison.json")

    result = json.loads((tmp_path / "cmp" / "comparison.json").read_text(), parse_constant=no_constants)
    assert result["runs"] == ["t/a", "other/a"]


@pytest.mark.parametrize("n_boot", ["0", "-5"])
def test_compare_n_boot_too_small(runs, tmp_path, capsys, n_boot):
    assert_error(*cli(["compare", runs / "a", runs / "b", "--out", tmp_path / "cmp", "--n-boot", n_boot], capsys),
                 f"--n-boot {n_boot} is too small", "at least 10")


def test_corrupt_probe_cache_is_moved_aside(tmp_path, capsys, caplog, tiny_model_dir):
    """Safe behaviour: the unreadable cache is renamed <name>.corrupt-<time> with a warning; the run starts a new one."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "probe_cache.sqlite").write_bytes(b"this is not sqlite" * 500)
    code, err = cli(["eval", "--config", eval_yaml(tmp_path, tiny_model_dir), "run_name=c", "--no-progress"], capsys)
    assert code == 0 and "Traceback" not in err, err
    assert "moved it aside" in caplog.text  # a warning: the CLI prints it on stderr
    assert len(list(cache.glob("probe_cache.sqlite.corrupt-*"))) == 1
    assert RunFolder(tmp_path / "runs" / "t" / "c").require_complete()


# ------------------------------------------------------------------------------------------- reference CSVs


@pytest.mark.parametrize(
    "content, encoding, words",
    [
        ("B_COUNTRY_ALPHA,Q27,Q28,Q27\nDEU,1,2,3\nIRQ,2,1,1\n", "utf-8", ["2 columns hold question Q27", "keep one column"]),
        ("B_COUNTRY_ALPHA,Q27\nDEU,1\nXXX,2\n", "utf-8", ["unknown country code", "XXX", "ISO alpha-3"]),
        ("B_COUNTRY_ALPHA,Q27\nDEU,1\n", "utf-16", ["UTF-16", "re-save it as UTF-8"]),
    ],
    ids=["duplicate question column", "unknown country code", "UTF-16 CSV"],
)
def test_bad_wvs_csv_fails_at_build_time(tmp_path, capsys, content, encoding, words):
    csv = tmp_path / "w.csv"
    csv.write_text(content, encoding=encoding)
    assert_error(*cli(["data", "build-reference", "--wvs-csv", csv, "--out", tmp_path / "r.json"], capsys), *words)
    assert not (tmp_path / "r.json").exists()
    cfg = eval_yaml(tmp_path, tmp_path / "no-model", reference=str(csv), countries=None, questions=None)
    assert_error(*cli(["eval", "--config", cfg, "--no-progress"], capsys), *words)  # and in eval, before the model


def test_reference_json_with_unknown_country(tmp_path, capsys):
    from culturelens.core.reference import default_reference

    ref = default_reference().subset(countries=["DEU", "IRQ"], qids=["Q27"])
    ref.df.loc[ref.df["country"] == "IRQ", "country"] = "XXX"
    path = ref.save(tmp_path / "ref.json")
    cfg = eval_yaml(tmp_path, tmp_path / "no-model", reference=str(path), countries=None, questions=None)
    assert_error(*cli(["eval", "--config", cfg, "--no-progress"], capsys), "XXX", "countries_file")


# ------------------------------------------------------------------------------------------- servers (teacher and vLLM)


class _Server:
    """A local server on 127.0.0.1 that answers every request with `reply(sock)`; stops when closed (at the latest
    after `life_s`)."""

    def __init__(self, reply, life_s: float = 20):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.reply, self.stop_at, self.conns = reply, time.time() + life_s, []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while time.time() < self.stop_at:
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.conns.append(conn)
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()
        self.close()

    def _answer(self, conn):
        try:
            conn.recv(65536)
            self.reply(conn, self.stop_at)
        except OSError:
            pass

    def close(self):
        self.stop_at = 0
        for s in [self.sock, *self.conns]:
            try:
                s.close()
            except OSError:
                pass


def _drip(conn, stop_at):
    """200 with a long body, one byte every 0.25 s: never trips a per-read timeout."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
    while time.time() < stop_at:
        conn.sendall(b" ")
        time.sleep(0.25)


def _black_hole(conn, stop_at):
    """Accepts and reads the request, never answers."""
    while time.time() < stop_at:
        time.sleep(0.1)


def _body(payload: bytes):
    def reply(conn, stop_at):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                     % (len(payload), payload))
    return reply


SERVERS = {
    "drip": (_drip, ["did not answer after 2 tries", "no complete answer within 1 s"]),
    "black hole": (_black_hole, ["did not answer after 2 tries"]),
    "200 non-JSON": (_body(b"<html>not json</html>"), ["not with a JSON object", "OpenAI-compatible"]),
    "200 empty choices": (_body(b'{"choices": []}'), ["without choices"]),
}


@pytest.mark.parametrize("kind", list(SERVERS))
def test_teacher_server(tmp_path, capsys, caplog, kind):
    reply, words = SERVERS[kind]
    server = _Server(reply)
    cfg = tmp_path / "s.yaml"
    cfg.write_text(yaml.safe_dump({
        "output_dir": str(tmp_path / "synth"), "questions": ["Q27"], "countries": ["DEU"],
        "teacher": {"backend": "openai", "base_url": server.url, "server_model": "m", "timeout_s": 1, "retries": 1},
        "variants": {"paraphrases": 1, "scenarios": 0}, "split": {"heldout_fraction": 0}}))
    t0 = time.time()
    try:
        code, err = cli(["synth", "--config", cfg, "--no-progress"], capsys)
    finally:
        server.close()
    assert time.time() - t0 < 15
    assert_error(code, err, "teacher server", *words)
    if kind in ("drip", "black hole"):
        assert "retry 1 of 1" in caplog.text  # retries are visible: warnings, printed on stderr by the CLI


@pytest.mark.parametrize("kind", list(SERVERS))
def test_vllm_server(tmp_path, capsys, tiny_model_dir, kind):
    reply, words = SERVERS[kind]
    server = _Server(reply)
    cfg = eval_yaml(tmp_path, tiny_model_dir, probe={"backend": "vllm", "server_url": server.url, "fingerprint": f"test-{kind}",
                                                     "server_timeout_s": 1, "server_retries": 1, "templates": ["persona_system"]})
    t0 = time.time()
    try:
        code, err = cli(["eval", "--config", cfg, "run_name=v", "--no-progress"], capsys)
    finally:
        server.close()
    assert time.time() - t0 < 15
    assert_error(code, err, *words)
    assert not (tmp_path / "runs" / "t" / "v").exists()  # nothing half-finished in place


def test_vllm_with_an_embedded_model_name_fails_fast(tmp_path, capsys):
    cfg = eval_yaml(tmp_path, "smollm2-135m-instruct", probe={"backend": "vllm"})
    t0 = time.time()
    assert_error(*cli(["eval", "--config", cfg, "--no-progress"], capsys), "embedded culturelens model",
                 "model.name_or_path=HuggingFaceTB/SmolLM2-135M-Instruct", "probe.backend=hf")
    assert time.time() - t0 < 5


# ------------------------------------------------------------------------------------------- training data


def _malformed_jsonl(tmp: Path) -> Path:
    p = tmp / "d.jsonl"
    p.write_text('{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}\n{"messages": [\n')
    return p


def _empty_folder(tmp: Path) -> Path:
    (tmp / "empty").mkdir()
    return tmp / "empty"


def _messages_string(tmp: Path) -> Path:
    p = tmp / "d.jsonl"
    p.write_text('{"messages": "user: hi, assistant: hello"}\n')
    return p


@pytest.mark.parametrize(
    "make, words",
    [(_malformed_jsonl, ["line 2 is not valid JSON", "culturelens synth"]),
     (_empty_folder, ["is not a saved dataset", "culturelens synth"]),
     (_messages_string, ["row 0", "`messages` must be a list", "got str"])],
    ids=["malformed JSONL", "empty dataset folder", "messages as a string"],
)
def test_train_on_bad_data(tmp_path, capsys, tiny_model_dir, make, words):
    cfg = tmp_path / "t.yaml"
    cfg.write_text(f"model: {{name_or_path: {tiny_model_dir}}}\ndataset: {make(tmp_path)}\noutput_dir: {tmp_path / 'out'}\n")
    assert_error(*cli(["train", "sft", "--config", cfg], capsys), *words)


# ------------------------------------------------------------------------------------------- training (issue 17)


def _blank_lines(tmp: Path) -> Path:
    p = tmp / "blank.jsonl"
    p.write_text("\n\n   \n\n")
    return p


def _conversation(messages) -> dict:
    return {"messages": messages}


def _saved(tmp: Path, splits: dict[str, list[dict]]) -> Path:
    from datasets import Dataset, DatasetDict

    DatasetDict({k: Dataset.from_list(v) if v else Dataset.from_dict({"messages": []}) for k, v in splits.items()}).save_to_disk(str(tmp / "dd"))
    return tmp / "dd"


GOOD_SFT = [{"role": "user", "content": "q?"}, {"role": "assistant", "content": "Answer: A"}]


def _jsonl(tmp: Path, rows: list[dict]) -> Path:
    p = tmp / "rows.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p


TRAIN_DATA_CASES = [
    ("dataset of blank lines", "sft", _blank_lines, [], ["no rows", "blank lines"]),
    ("DatasetDict without train", "sft", lambda tmp: _saved(tmp, {"test": [_conversation(GOOD_SFT)]}), [],
     ["split(s) test", "no `train` split", "save the training rows as the `train` split"]),
    ("train split with 0 rows", "sft", lambda tmp: _saved(tmp, {"train": []}), [], ["no training rows", "train split is empty"]),
    ("one assistant turn", "sft", lambda tmp: _jsonl(tmp, [_conversation([{"role": "assistant", "content": "Answer: A"}])]), [],
     ["row 0", "no user or system turn"]),
    ("role robot", "sft", lambda tmp: _jsonl(tmp, [_conversation(GOOD_SFT), _conversation([{"role": "robot", "content": "q?"}] + GOOD_SFT[1:])]),
     [], ["row 1", "role 'robot'", "system, user, assistant"]),
    ("empty last answer", "sft", lambda tmp: _jsonl(tmp, [_conversation(GOOD_SFT[:1] + [{"role": "assistant", "content": " "}])]), [],
     ["row 0", "last assistant turn is empty"]),
    ("DPO empty prompt/chosen/rejected", "dpo", lambda tmp: _jsonl(tmp, [{"prompt": "", "chosen": "", "rejected": ""}]), [],
     ["row 0", "`prompt` is empty", "two different non-empty answers"]),
    ("DPO chosen == rejected", "dpo", lambda tmp: _jsonl(tmp, [{"prompt": "q?", "chosen": "Answer: A", "rejected": "Answer: A"}]), [],
     ["row 0", "are the same answer"]),
    ("train.max_steps=0", "sft", lambda tmp: _jsonl(tmp, [_conversation(GOOD_SFT)]), ["train.max_steps=0"],
     ["train.max_steps=0 would train nothing", "positive number of steps"]),
    ("unknown TRL key", "sft", lambda tmp: _jsonl(tmp, [_conversation(GOOD_SFT)]), ["train.lr_scheduler=cosine"],
     ["unknown key 'train.lr_scheduler'", "did you mean 'lr_scheduler_type'", "trl.SFTConfig"]),
    ("unknown DPO key", "dpo", lambda tmp: _jsonl(tmp, [{"prompt": "q", "chosen": "a", "rejected": "b"}]), ["train.betta=0.2"],
     ["unknown key 'train.betta'", "did you mean 'beta'", "trl.DPOConfig"]),
    ("TRL field culturelens owns", "sft", lambda tmp: _jsonl(tmp, [_conversation(GOOD_SFT)]), ["train.output_dir=x"],
     ["train.output_dir is set by culturelens", "output_dir (top level"]),
    ("padding_free with max_length", "sft", lambda tmp: _jsonl(tmp, [_conversation(GOOD_SFT)]), ["train.padding_free=true"],
     ["train.padding_free without train.packing", "train.max_length=null"]),
    ("eval_split not a split", "sft", lambda tmp: _saved(tmp, {"train": [_conversation(GOOD_SFT)]}), ["eval_split=validation"],
     ["eval_split 'validation' is not a split", "it has: train"]),
    ("eval_split leaves no rows", "sft", lambda tmp: _jsonl(tmp, [_conversation(GOOD_SFT)] * 3), ["eval_split=0.1"],
     ["leaves 0 eval rows", "at least one row on each side"]),
    # TRL's value ranges, checked with the config (before: numpy / torch / DataLoader tracebacks after the model loaded)
    ("train.seed=-1", "sft", lambda tmp: _jsonl(tmp, [_conversation(GOOD_SFT)]), ["train.seed=-1"], ["train.seed must be >= 0"]),
    ("train.learning_rate=-1", "sft", lambda tmp: _jsonl(tmp, [_conversation(GOOD_SFT)]), ["train.learning_rate=-1"],
     ["train.learning_rate must be > 0"]),
    ("train.per_device_train_batch_size=0", "sft", lambda tmp: _jsonl(tmp, [_conversation(GOOD_SFT)]),
     ["train.per_device_train_batch_size=0"], ["train.per_device_train_batch_size must be >= 1"]),
    ("train.gradient_accumulation_steps=0", "sft", lambda tmp: _jsonl(tmp, [_conversation(GOOD_SFT)]),
     ["train.gradient_accumulation_steps=0"], ["train.gradient_accumulation_steps must be >= 1"]),
    ("train.max_length=0", "sft", lambda tmp: _jsonl(tmp, [_conversation(GOOD_SFT)]), ["train.max_length=0"],
     ["train.max_length must be >= 1"]),
    ("DPO train.beta=0", "dpo", lambda tmp: _jsonl(tmp, [{"prompt": "q", "chosen": "a", "rejected": "b"}]), ["train.beta=0"],
     ["train.beta must be > 0"]),
    ("hub dataset id unreachable", "sft", lambda tmp: "no-such-owner/no-such-dataset", [],
     ["'no-such-owner/no-such-dataset' is not a local path", "hub", "culturelens synth"]),
]


@pytest.mark.parametrize("name, stage, make, overrides, words", TRAIN_DATA_CASES, ids=[c[0] for c in TRAIN_DATA_CASES])
def test_train_bad_input(tmp_path, capsys, tiny_model_dir, monkeypatch, name, stage, make, overrides, words):
    """Each bad training input ends in one error line before the model loads; no adapter is written."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the hub case must not wait for the network
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    cfg = tmp_path / "t.yaml"
    cfg.write_text(yaml.safe_dump({"model": {"name_or_path": str(tiny_model_dir)}, "dataset": str(make(tmp_path)),
                                   "output_dir": str(tmp_path / "out"), "train": {"max_steps": 1}}))
    assert_error(*cli(["train", stage, "--config", cfg, *overrides], capsys), *words)
    assert not (tmp_path / "out" / "adapter").exists()
    assert not (tmp_path / "out" / ".culturelens-train.lock").exists()  # the lock is released and removed on errors too


def test_second_training_into_the_same_folder_stops_at_once(tmp_path, capsys, tiny_model_dir):
    """A training holds a lock on its output folder (in another process here): a second one into it is refused at once."""
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from culturelens.core.folderlock import FolderLock; "
                               f"held = FolderLock({str(out / '.culturelens-train.lock')!r}, 'busy').acquire(); print('held', flush=True); "
                               "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        cfg = tmp_path / "t.yaml"
        cfg.write_text(yaml.safe_dump({"model": {"name_or_path": str(tiny_model_dir)}, "dataset": str(_jsonl(tmp_path, [_conversation(GOOD_SFT)])),
                                       "output_dir": str(out), "train": {"max_steps": 1}}))
        t0 = time.time()
        assert_error(*cli(["train", "sft", "--config", cfg], capsys), "another training is writing to", "another folder")
        assert time.time() - t0 < 60 and not (out / "adapter").exists()  # at once: before any model loads
    finally:
        holder.kill()
        holder.wait()


def test_resume_skips_a_half_written_checkpoint(tmp_path, tiny_model_dir, caplog):
    """What kill -9 during a save leaves (truncated adapter_model.safetensors, no trainer_state.json) in the newest
    checkpoint: the rerun resumes from the last complete one instead of failing."""
    from culturelens.train.common import last_checkpoint

    rows = _jsonl(tmp_path, [_conversation([{"role": "user", "content": f"q{i}?"}, {"role": "assistant", "content": "Answer: A"}])
                             for i in range(8)])
    cfg = tmp_path / "t.yaml"
    base = {"model": {"name_or_path": str(tiny_model_dir)}, "dataset": str(rows), "output_dir": str(tmp_path / "out"),
            "train": {"max_steps": 2, "save_steps": 1, "per_device_train_batch_size": 4, "logging_steps": 1}}
    cfg.write_text(yaml.safe_dump(base))
    assert main(["train", "sft", "--config", str(cfg)]) == 0
    ckpt = tmp_path / "out" / "checkpoint-2"
    weights = ckpt / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    (ckpt / "trainer_state.json").unlink()
    assert last_checkpoint(tmp_path / "out", True).endswith("checkpoint-1")
    assert main(["train", "sft", "--config", str(cfg), "train.max_steps=3"]) == 0
    facts = json.loads((tmp_path / "out" / "culturelens_train.json").read_text())
    assert facts["resumed_from"].endswith("checkpoint-1") and facts["global_step"] == 3
    assert "skipping incomplete checkpoint" in caplog.text


# ------------------------------------------------------------------------------------------- issue 17: eval config values
# Every config value is checked before a model loads (the model path below does not even exist: a check that ran after
# loading would report the model instead); an error from a command-line override names the override, not the file.

EVAL_VALUE_CASES = [
    ("probe.templates=[]", ["override 'probe.templates=[]'", "is empty"]),
    ("probe.orders=[reversed,reversed]", ["override 'probe.orders=[reversed,reversed]'", "reversed more than once"]),
    ("probe.templates=[persona_system,persona_system]", ["persona_system more than once"]),
    ("probe.templates=[no_persona]", ["no_persona alone asks no country", "persona_system"]),
    ("probe.language=native", ["probe.language=native needs probe.translations_file"]),
    ("probe.batch_size=0", ["override 'probe.batch_size=0'", "greater than or equal to 1"]),
    ("n_boot=abc", ["override 'n_boot=abc'", "valid integer"]),
    ("wandb.mode=weird", ["override 'wandb.mode=weird'", "online", "offline"]),
    ("wandb.init_timeout_s=0", ["wandb.init_timeout_s", "greater than 0"]),
    ("model.dtype=float8", ["override 'model.dtype=float8'", "float32"]),
    ("seed=-3", ["override 'seed=-3'", "greater than or equal to 0"]),  # numpy's ValueError after the probe before
    ("seed=4294967296", ["override 'seed=4294967296'", "less than or equal to 4294967295"]),
]


@pytest.mark.parametrize("override, words", EVAL_VALUE_CASES, ids=[c[0] for c in EVAL_VALUE_CASES])
def test_eval_config_values_checked_before_the_model(tmp_path, capsys, override, words):
    cfg = eval_yaml(tmp_path, tmp_path / "no-such-model")
    line = assert_error(*cli(["eval", "--config", cfg, override, "--no-progress"], capsys), *words)
    assert str(cfg) not in line  # the override is named, not the file that did not cause it
    assert not (tmp_path / "runs").exists()


def test_config_file_error_still_names_the_file(tmp_path, capsys):
    cfg = eval_yaml(tmp_path, tmp_path / "m", probe={"templates": []})
    assert_error(*cli(["eval", "--config", cfg], capsys), str(cfg), "probe.templates", "is empty")


def _split_missing(tmp: Path) -> tuple[list[str], list[str]]:
    return ["split.file=" + str(tmp / "nope.json")], ["split.file", "does not exist"]


def _split_not_json(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "s.json").write_text("{oops")
    return ["split.file=" + str(tmp / "s.json")], ["split.file", "cannot be read as JSON"]


def _split_wrong_shape(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "s.json").write_text('{"train": "Q27"}')
    return ["split.file=" + str(tmp / "s.json")], ["'train' must be a list of question ids"]


def _translations_missing(tmp: Path) -> tuple[list[str], list[str]]:
    return ["probe.language=native", "probe.translations_file=" + str(tmp / "t.json")], ["translations file", "does not exist"]


def _cache_dir_under_a_file(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "f").write_text("x")
    return ["cache_dir=" + str(tmp / "f" / "cache")], ["cache_dir", "cannot be written"]


PATH_CASES = [_split_missing, _split_not_json, _split_wrong_shape, _translations_missing, _cache_dir_under_a_file]


@pytest.mark.parametrize("case", PATH_CASES, ids=[c.__name__[1:] for c in PATH_CASES])
def test_eval_paths_checked_before_the_model_loads(tmp_path, capsys, tiny_model_dir, monkeypatch, case):
    import culturelens.eval.runner as runner

    def never(*a, **k):
        raise AssertionError("the model was loaded before the paths were checked")

    monkeypatch.setattr(runner, "make_backend", never)
    overrides, words = case(tmp_path)
    assert_error(*cli(["eval", "--config", eval_yaml(tmp_path, tiny_model_dir), *overrides, "--no-progress"], capsys), *words)


@pytest.mark.parametrize("model", ["embedded", "folder"])
def test_culturelens_cache_in_an_unwritable_place(tmp_path, capsys, tiny_model_dir, monkeypatch, model):
    """CULTURELENS_CACHE=/proc/culturelens: one line naming the cache, for an embedded model (pulled into it) and for
    a model folder (its probe cache is there)."""
    monkeypatch.setenv("CULTURELENS_CACHE", "/proc/culturelens")
    name = "smollm2-135m-instruct" if model == "embedded" else str(tiny_model_dir)
    cfg = eval_yaml(tmp_path, name)
    data = yaml.safe_load(cfg.read_text())
    del data["cache_dir"]
    cfg.write_text(yaml.safe_dump(data))
    assert_error(*cli(["eval", "--config", cfg, "--no-progress"], capsys), "/proc/culturelens", "cannot be written")


# ------------------------------------------------------------------------------------------- issue 17: compare


@pytest.fixture(scope="module")
def other_sets(runs, tiny_model_dir):
    """Runs of experiment t on fewer countries (c), other questions (d) and one option order (e)."""
    tmp = runs.parent.parent
    for name, extra in (("c", {"countries": ["DEU", "IRQ"]}), ("d", {"questions": ["Q27", "Q29"]}),
                        ("e", {"probe": {"templates": ["persona_system"], "orders": ["reversed"], "batch_size": 8}})):
        assert main(["eval", "--config", str(eval_yaml(tmp, tiny_model_dir, **extra)), f"run_name={name}", "--no-progress"]) == 0
    return runs


def test_compare_states_every_config_difference(runs, tmp_path, capsys):
    code, err = cli(["compare", runs / "a", runs / "b", "--out", tmp_path / "cmp", "--n-boot", "10"], capsys)
    assert code == 0, err
    result = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    keys = {d["key"] for d in result["config_differences"]}
    assert keys == {"model.name_or_path", "run_name"}
    assert "## Config differences" in (tmp_path / "cmp" / "comparison.md").read_text()


@pytest.mark.parametrize("run, words", [("c", ["different countries", "only in a: MEX", "--common"]),
                                        ("d", ["different questions", "only in a: Q28", "only in d: Q29", "--common"]),
                                        ("e", ["different orders", "probe.orders"])])
def test_compare_refuses_runs_on_different_sets(other_sets, tmp_path, capsys, run, words):
    assert_error(*cli(["compare", other_sets / "a", other_sets / run, "--out", tmp_path / "cmp", "--n-boot", "10"], capsys), *words)
    assert not (tmp_path / "cmp" / "comparison.json").exists()


def test_compare_common_pairs_on_shared_units_and_says_so(other_sets, tmp_path, capsys):
    code, err = cli(["compare", other_sets / "a", other_sets / "d", "--common", "--out", tmp_path / "cmp", "--n-boot", "10"], capsys)
    assert code == 0, err
    result = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert any("different questions" in n for n in result["notes"])
    assert next(d for d in result["diffs"] if d["what"] == "mean per-question r")["n"] == 1  # only Q27 is shared
    assert "Note: different questions" in (tmp_path / "cmp" / "comparison.md").read_text()


def test_compare_common_computes_the_differences_on_the_shared_set_only(tmp_path, tiny_model_dir, tiny_model_dir_2, capsys):
    """--common: each run's per-question r is recomputed over the shared countries and its per-country r over the shared
    questions (not taken from each run's own set), and the output names that set."""
    import pandas as pd

    from culturelens.core.inputs import load_question_bank
    from culturelens.core.reference import default_reference
    from culturelens.eval.statistics import metrics

    wide_cfg = eval_yaml(tmp_path, tiny_model_dir, countries=["DEU", "IRQ", "MEX", "USA"], questions=["Q27", "Q28", "Q29", "Q30"])
    narrow_cfg = eval_yaml(tmp_path, tiny_model_dir_2, countries=["DEU", "IRQ", "MEX"], questions=["Q27", "Q28", "Q29"])
    assert main(["eval", "--config", str(wide_cfg), "run_name=wide", "--no-progress"]) == 0
    assert main(["eval", "--config", str(narrow_cfg), "run_name=narrow", "--no-progress"]) == 0
    wide, narrow = tmp_path / "runs" / "t" / "wide", tmp_path / "runs" / "t" / "narrow"
    assert main([str(a) for a in ["compare", wide, narrow, "--common", "--out", tmp_path / "cmp", "--n-boot", "10"]]) == 0
    assert "paired on the shared set only: 3 countries x 3 questions" in capsys.readouterr().out
    result = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert result["paired_on"] == {"set": "shared", "countries": ["DEU", "IRQ", "MEX"], "questions": ["Q27", "Q28", "Q29"]}
    human = default_reference().df
    per_prompt = RunFolder(wide).per_prompt()
    shared = metrics.aggregate(per_prompt[per_prompt["country"].isin(["DEU", "IRQ", "MEX"]) & per_prompt["qid"].isin(["Q27", "Q28", "Q29"])],
                       load_question_bank(None))
    q_shared, c_shared = metrics.per_question(shared, human)["r"].mean(), metrics.per_country(shared, human)["r"].mean()
    own = json.loads((wide / "summary.json").read_text())
    q_own = pd.Series({q["qid"]: q["r"] for q in own["per_question"]}).loc[["Q27", "Q28", "Q29"]].mean()
    assert abs(q_shared - q_own) > 1e-6  # the wide run's own r (over 4 countries) is not what is paired
    by = {d["what"]: d for d in result["diffs"]}
    assert by["mean per-question r"]["n"] == 3 and abs(by["mean per-question r"]["mean_b"] - q_shared) < 1e-12
    assert by["mean per-country r"]["n"] == 3 and abs(by["mean per-country r"]["mean_b"] - c_shared) < 1e-12
    narrow_own = json.loads((narrow / "summary.json").read_text())  # the narrow run's set is the shared set
    assert abs(by["mean per-question r"]["mean_a"] - narrow_own["mean_question_r"]) < 1e-9
    md = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "on the shared set: 3 countries x 3 questions" in md and "paired on the shared set only" in md


def test_compare_follows_evals_overwrite_policy(runs, tmp_path, capsys):
    args = ["compare", runs / "a", runs / "b", "--out", tmp_path / "cmp", "--n-boot", "10"]
    assert cli(args, capsys)[0] == 0
    before = digest(tmp_path / "cmp")
    assert_error(*cli(args, capsys), "already holds a comparison", "--overwrite")
    assert digest(tmp_path / "cmp") == before
    assert cli([*args, "--overwrite"], capsys)[0] == 0


def test_compare_refuses_a_run_that_measured_no_country(runs, tmp_path, capsys):
    """A no_persona-only run (written before such configs were refused) is one line, not a KeyError."""
    bad = copy_run(runs / "b", tmp_path / "b")
    s = json.loads((bad / "summary.json").read_text())
    s["per_country"] = []
    (bad / "summary.json").write_text(json.dumps(s))
    RunFolder(bad).mark_complete()
    assert_error(*cli(["compare", runs / "a", bad, "--out", tmp_path / "cmp", "--n-boot", "10"], capsys),
                 "measured nothing per country", "persona_system")


def test_claims_figure_when_no_claim_has_numbers(tmp_path):
    """5 or 14 countries on Q27 + Q177, two baseline models: every r is undefined; the figure says 'no data', no TypeError."""
    from culturelens.experiments.claims.report import claims_figure

    claims = {"1_norms": {"table": [{"model": "a", "norms": None, "systems": None}, {"model": "b", "norms": None, "systems": None}]},
              "2_western_bias": {"gaps": {"a": {"raw": {"western_r": None, "non_western_r": None}}}, "nearest": {}}}
    path = claims_figure(claims, tmp_path / "claims.png")
    assert path.stat().st_size > 1000


# ------------------------------------------------------------------------------------------- issue 17: lm-eval import
# Every field of an imported samples file is checked: one line naming the file, the line and the field.


def _edit_first(field_path: tuple, value):
    def edit(rows: list[dict]) -> list[dict]:
        node = rows[0]
        for key in field_path[:-1]:
            node = node[key]
        if value is _DELETE:
            del node[field_path[-1]]
        else:
            node[field_path[-1]] = value
        return rows
    return edit


_DELETE = object()


def _duplicate_with_other_answers(rows: list[dict]) -> list[dict]:
    twin = json.loads(json.dumps(rows[0]))
    twin["filtered_resps"] = [["-0.5", "False"] for _ in twin["filtered_resps"]]
    return [*rows, twin]


LM_EVAL_CASES = [
    ("loglikelihood is text", lambda rows: [{**rows[0], "filtered_resps": [["abc", "False"]] * len(rows[0]["filtered_resps"])}, *rows[1:]],
     [":1", "no number as its log-likelihood"]),
    ("loglikelihood positive", lambda rows: [{**rows[0], "filtered_resps": [["3.5", "False"]] * len(rows[0]["filtered_resps"])}, *rows[1:]],
     ["not a log-probability"]),
    ("document without labels", _edit_first(("doc", "labels"), _DELETE), [":1", "labels", "export the task again"]),
    ("choice_option out of range", _edit_first(("doc", "choice_option", 0), 9), ["choice_option 9 is not an option index"]),
    ("mode weird", _edit_first(("doc", "mode"), "weird"), ["mode", "'token' or 'sequence'"]),
    ("order sideways", _edit_first(("doc", "order"), "sideways"), ["order"]),
    ("option_index not an order", _edit_first(("doc", "option_index"), [0, 0, 1, 2]), ["option_index", "not an order"]),
    ("one document twice", _duplicate_with_other_answers, ["already scored on line 1", "one lm_eval run"]),
]


@pytest.mark.parametrize("name, spoil, words", LM_EVAL_CASES, ids=[c[0] for c in LM_EVAL_CASES])
def test_lm_eval_import_checks_every_field(tmp_path, capsys, name, spoil, words):
    from culturelens.eval.interop.lm_eval_task import TASK

    doc = {"doc_key": "k1", "qid": "Q27", "country": "DEU", "template": "persona_system", "order": "original", "language": "en",
           "labels": ["A", "B", "C", "D"], "option_index": [0, 1, 2, 3], "prompt": "p Answer:", "choices": ["A", "B", "C", "D"],
           "choice_option": [0, 1, 2, 3], "mode": "token", "target": [0]}
    rows = [{"doc_id": 0, "doc": doc, "filtered_resps": [["-1.0", "False"]] * 4},
            {"doc_id": 1, "doc": {**doc, "doc_key": "k2"}, "filtered_resps": [["-1.0", "False"]] * 4}]
    folder = tmp_path / "out" / "m"
    folder.mkdir(parents=True)
    samples = folder / f"samples_{TASK}_2026.jsonl"
    samples.write_text("\n".join(json.dumps(r) for r in spoil(rows)) + "\n")
    cfg = eval_yaml(tmp_path, "unused")
    assert_error(*cli(["import", "lm-eval", samples, "--config", cfg], capsys), str(samples), *words)
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------------------------------------- issue 17: small selections


def test_two_countries_say_why_r_is_missing(tmp_path, capsys, tiny_model_dir):
    """countries=[DEU,TUR] questions=[Q27]: the paper's metric cannot be computed; the console, report.md and figure say why."""
    cfg = eval_yaml(tmp_path, tiny_model_dir, countries=["DEU", "TUR"], questions=["Q27"])
    code, _ = cli(["eval", "--config", cfg, "--no-progress", "run_name=small"], capsys)
    assert code == 0
    report = (tmp_path / "runs" / "t" / "small" / "report.md").read_text()
    assert "needs at least 3 countries; this run has 2" in report


def test_thin_cis_carry_a_warning(tmp_path, capsys, tiny_model_dir):
    """5 countries x 2 questions: the model - null CI of the paper's metric rests on 2 questions: a warning says so."""
    from culturelens.eval.reporting.caveats import caveats

    cfg = eval_yaml(tmp_path, tiny_model_dir, countries=["DEU", "TUR", "MEX", "IRQ", "CHN"], questions=["Q27", "Q28"])
    assert cli(["eval", "--config", cfg, "--no-progress", "run_name=thin"], capsys)[0] == 0
    s = RunFolder(tmp_path / "runs" / "t" / "thin").summary()
    notes = caveats(s)
    assert any("mean per-question r - null rests on 2" in n and "unreliable" in n for n in notes), notes
    assert "unreliable" in (tmp_path / "runs" / "t" / "thin" / "report.md").read_text()


def test_compare_warns_about_thin_difference_cis(runs, tmp_path, capsys):
    assert cli(["compare", runs / "a", runs / "b", "--out", tmp_path / "cmp", "--n-boot", "10"], capsys)[0] == 0
    result = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert any("mean per-question r (n=2)" in w and "fewer than 5" in w for w in result["warnings"]), result["warnings"]


def test_data_export_into_a_non_empty_folder(tmp_path, capsys):
    """An old data/mine.parquet must not stay beside a new export: a non-empty --out is refused; --overwrite replaces an
    earlier export (and only an export)."""
    out = tmp_path / "ds"
    (out / "data").mkdir(parents=True)
    (out / "data" / "mine.parquet").write_text("old")
    assert_error(*cli(["data", "export", "--out", out], capsys), "is not empty", "--overwrite")
    assert_error(*cli(["data", "export", "--out", out, "--overwrite"], capsys), "holds no earlier export")
    assert (out / "data" / "mine.parquet").exists()
    fresh = tmp_path / "ds2"
    assert cli(["data", "export", "--out", fresh], capsys)[0] == 0
    (fresh / "data" / "mine.parquet").write_text("old")
    assert cli(["data", "export", "--out", fresh, "--overwrite"], capsys)[0] == 0
    assert not (fresh / "data" / "mine.parquet").exists() and (fresh / "dataset_dict.json").exists()


@pytest.mark.parametrize("content", [b"null", b'"ok"'], ids=["content null", "content ok"])
def test_teacher_that_contributes_nothing(tmp_path, capsys, content):
    """A teacher answering `content: null` or "ok" to every request: one line saying so, not a dataset of seed rows."""
    server = _Server(_body(b'{"choices": [{"message": {"content": %s}}]}' % content))
    cfg = tmp_path / "s.yaml"
    cfg.write_text(yaml.safe_dump({
        "output_dir": str(tmp_path / "synth"), "questions": ["Q27", "Q28"], "countries": ["DEU"],
        "teacher": {"backend": "openai", "base_url": server.url, "server_model": "m", "timeout_s": 5, "retries": 0},
        "variants": {"paraphrases": 1, "scenarios": 0}, "split": {"heldout_fraction": 0}}))
    try:
        code, err = cli(["synth", "--config", cfg, "--no-progress"], capsys)
    finally:
        server.close()
    assert_error(code, err, "the teacher contributed nothing", "raw.jsonl")
    assert not (tmp_path / "synth" / "sft.jsonl").exists()
