"""Shared fixtures: tiny random models written once per test session (see tests/tiny_models.py)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tiny_models import make_tiny_model  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random Llama with a byte-level BPE tokenizer and a ChatML-like chat template."""
    return make_tiny_model(tmp_path_factory.mktemp("tiny-llama-chat"), arch="llama", chat=True, seed=0)


@pytest.fixture(scope="session")
def tiny_base_model_dir(tmp_path_factory) -> Path:
    """The same tiny Llama without a chat template (a 'base' model)."""
    return make_tiny_model(tmp_path_factory.mktemp("tiny-llama-base"), arch="llama", chat=False, seed=0)


@pytest.fixture(scope="session")
def tiny_gemma_dir(tmp_path_factory) -> Path:
    """A tiny random Gemma 3 text model (other architecture: sliding-window layers, scaled embeddings)."""
    try:
        from transformers import Gemma3ForCausalLM, Gemma3TextConfig  # noqa: F401
    except ImportError:  # pragma: no cover - old transformers
        pytest.skip("this transformers has no Gemma3ForCausalLM")
    return make_tiny_model(tmp_path_factory.mktemp("tiny-gemma3"), arch="gemma3", chat=True, seed=0)


@pytest.fixture(scope="session")
def tiny_model_dir_2(tmp_path_factory) -> Path:
    """A second tiny chat Llama with other random weights (seed 1): same shapes, different fingerprint."""
    return make_tiny_model(tmp_path_factory.mktemp("tiny-llama-chat-2"), arch="llama", chat=True, seed=1)
