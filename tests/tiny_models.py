"""Tiny random causal LMs with a locally trained byte-level BPE tokenizer, for tests (no network, < 1 s each).

`make_tiny_model(path, arch="llama"|"gemma3", chat=True, seed=0, hidden=32)` writes a model folder that
`AutoModelForCausalLM.from_pretrained` / `AutoTokenizer.from_pretrained` (and culturelens.core.models.load_model) read.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import torch

BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"
IM_START, IM_END = "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [PAD, BOS, EOS, UNK, IM_START, IM_END]

# A simple ChatML-like template; the BOS comes from the template, so prompts are encoded without special tokens.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_SENTENCES = [
    "How important is family in your life?",
    "How important are friends, leisure time, politics, work and religion in your life?",
    "Please tell me whether you agree or disagree with each of the following statements.",
    "Imagine you are a person from {country}. Answer the survey question as they would.",
    "Which of the following best describes your view? Choose one option.",
    "Is it justifiable to cheat on taxes, accept a bribe, or avoid a fare on public transport?",
    "Men make better political leaders than women do.",
    "When jobs are scarce, employers should give priority to people of this country.",
    "Homosexuality, abortion, divorce and euthanasia: never justifiable or always justifiable?",
    "How much confidence do you have in the government, the police, the courts and the press?",
    "Generally speaking, would you say that most people can be trusted?",
    "On a scale from 1 to 10, where 1 means never and 10 means always, what do you think?",
    "Science and technology are making our lives healthier, easier and more comfortable.",
    "It is important to this person to live in secure surroundings and to be rich.",
    "The answer is the letter of the option you choose.",
    "Reply with a single letter only.",
]
_COUNTRIES = [
    "Germany", "Iraq", "Mexico", "Argentina", "Bangladesh", "Brazil", "China", "Jordan", "Turkey",
    "the United States", "Japan", "Nigeria", "India", "Egypt", "Sweden", "Russia",
]
_OPTIONS = [
    "Very important", "Rather important", "Not very important", "Not at all important",
    "Strongly agree", "Agree", "Neither agree nor disagree", "Disagree", "Strongly disagree",
    "Never justifiable", "Always justifiable", "Most people can be trusted", "Need to be very careful",
    "A great deal", "Quite a lot", "Not very much", "None at all", "Yes", "No", "Don't know",
]
_LETTERS = "ABCDEFGHIJ"


def training_corpus() -> list[str]:
    """A small English corpus with survey-like words, option labels ' A'..' J', 'A.' and digits."""
    lines: list[str] = []
    for i, (sentence, country) in enumerate(zip(itertools.cycle(_SENTENCES), _COUNTRIES * 3)):
        sentence = sentence.format(country=country)
        opts = [_OPTIONS[(i + k) % len(_OPTIONS)] for k in range(4 + i % 7)]
        block = "\n".join(f"{_LETTERS[k]}. {o}" for k, o in enumerate(opts))
        nums = " ".join(f"{k + 1}. {o}" for k, o in enumerate(opts))
        lines.append(f"Question: {sentence}\n{block}\nAnswer: {_LETTERS[i % 10]}")
        lines.append(f"{sentence} {nums} Answer: {(i % 10) + 1}")
    lines += [" ".join(f"{c} {c}." for c in _LETTERS), " ".join(_LETTERS), " ".join(str(d) for d in range(10))]
    lines += [f"Answer: {c}" for c in _LETTERS] + [f"Answer:{c}" for c in _LETTERS]
    return lines * 2


def make_tokenizer(chat: bool = True, vocab_size: int = 500):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    # Digits are split one by one, so "10" is two tokens (exercises the multi-token label fallback).
    tk.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    )
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tk.train_from_iterator(training_corpus(), trainer=trainer)
    bos_id = tk.token_to_id(BOS)
    tk.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK,
        additional_special_tokens=[IM_START, IM_END], model_max_length=2048, clean_up_tokenization_spaces=False,
    )
    if chat:
        tok.chat_template = CHAT_TEMPLATE
    return tok


def make_model(vocab_size: int, arch: str = "llama", seed: int = 0, hidden: int = 32, tok=None):
    ids = {}
    if tok is not None:
        ids = dict(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if arch == "llama":
            from transformers import LlamaConfig, LlamaForCausalLM

            cfg = LlamaConfig(
                vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                tie_word_embeddings=True, **ids,
            )
            model = LlamaForCausalLM(cfg)
        elif arch == "gemma3":
            from transformers import Gemma3ForCausalLM, Gemma3TextConfig

            cfg = Gemma3TextConfig(
                vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, head_dim=hidden // 4, max_position_embeddings=2048,
                sliding_window=64, layer_types=["sliding_attention", "full_attention"],
                query_pre_attn_scalar=hidden // 4, tie_word_embeddings=True, **ids,
            )
            model = Gemma3ForCausalLM(cfg)
        else:
            raise ValueError(f"unknown tiny architecture {arch!r}")
    return model.eval()


def make_tiny_model(path, arch: str = "llama", chat: bool = True, seed: int = 0, hidden: int = 32) -> Path:
    """Write a tiny random model + tokenizer folder at `path` (created) and return it."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tok = make_tokenizer(chat=chat)
    model = make_model(len(tok), arch=arch, seed=seed, hidden=hidden, tok=tok)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


_LLAMA_GGUF_NAMES = {
    "input_layernorm.weight": "attn_norm", "post_attention_layernorm.weight": "ffn_norm",
    "self_attn.q_proj.weight": "attn_q", "self_attn.k_proj.weight": "attn_k", "self_attn.v_proj.weight": "attn_v",
    "self_attn.o_proj.weight": "attn_output", "mlp.gate_proj.weight": "ffn_gate", "mlp.up_proj.weight": "ffn_up",
    "mlp.down_proj.weight": "ffn_down",
}


def make_tiny_gguf(model_dir, out_path) -> Path:
    """Write the tiny Llama folder `model_dir` as an F32 GGUF file (llama.cpp layout, tokenizer included)."""
    import json

    import gguf
    import numpy as np
    from safetensors.torch import load_file

    model_dir, out_path = Path(model_dir), Path(out_path)
    cfg = json.loads((model_dir / "config.json").read_text())
    tj = json.loads((model_dir / "tokenizer.json").read_text())
    n_head, n_kv, hidden = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["hidden_size"]

    w = gguf.GGUFWriter(str(out_path), "llama")
    w.add_name("tiny")
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(hidden)
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_rope_dimension_count(hidden // n_head)
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_rope_freq_base(float((cfg.get("rope_parameters") or {}).get("rope_theta") or cfg.get("rope_theta") or 10000.0))
    w.add_file_type(gguf.LlamaFileType.ALL_F32)

    tokens: list[str] = [""] * (max(tj["model"]["vocab"].values()) + 1)
    for tok, i in tj["model"]["vocab"].items():
        tokens[i] = tok
    special = {a["id"] for a in tj["added_tokens"] if a.get("special")}
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL for i in range(len(tokens))])
    w.add_token_merges([" ".join(m) if isinstance(m, list) else m for m in tj["model"]["merges"]])
    w.add_bos_token_id(cfg["bos_token_id"])
    w.add_eos_token_id(cfg["eos_token_id"])
    w.add_pad_token_id(cfg["pad_token_id"])
    w.add_add_bos_token(True)
    if (model_dir / "chat_template.jinja").is_file():
        w.add_chat_template((model_dir / "chat_template.jinja").read_text())

    def permute(x, heads):  # llama.cpp's rotary layout for q/k (transformers undoes it when loading)
        return x.reshape(heads, 2, x.shape[0] // heads // 2, *x.shape[1:]).swapaxes(1, 2).reshape(x.shape)

    for key, tensor in load_file(str(model_dir / "model.safetensors")).items():
        arr = tensor.float().numpy()
        if key == "model.embed_tokens.weight":
            name = "token_embd.weight"
        elif key == "model.norm.weight":
            name = "output_norm.weight"
        elif key == "lm_head.weight":
            name = "output.weight"
        else:
            _, _, layer, rest = key.split(".", 3)
            short = _LLAMA_GGUF_NAMES[rest]
            if short == "attn_q":
                arr = permute(arr, n_head)
            elif short == "attn_k":
                arr = permute(arr, n_kv)
            name = f"blk.{layer}.{short}.weight"
        w.add_tensor(name, np.ascontiguousarray(arr))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out_path
