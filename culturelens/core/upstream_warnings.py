"""Warnings from the libraries culturelens drives that the user cannot act on, silenced by their message only."""
from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def upstream_deprecations_silenced() -> Iterator[None]:
    """peft 0.21 and TRL read ``model.is_gradient_checkpointing``, which transformers 5 deprecates: a FutureWarning
    whenever a LoRA adapter is attached, loaded or trained, that the user cannot act on (culturelens already sets
    ``activation_checkpointing``). Silenced while peft wraps the model and while the trainer trains."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        yield
