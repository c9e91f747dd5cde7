"""Tiny random causal LMs in Hugging Face format, for tests of the LLM path on architectures without a pulled model.

  python -m ratchet_torch.tiny_model qwen2 --out DIR [--tokenizer DIR] [--untied] [--seed N] [--gguf FILE]
  python -m ratchet_torch.tiny_model llama --out DIR [--tokenizer DIR] [--tied] [--seed N]

Writes config.json, model.safetensors and generation_config.json (`save_pretrained`), plus the tokenizer files of
`--tokenizer` (default: the registered SmolLM2's export, .data/models/smollm2-135m-instruct/tokenizer/, whose 49,152
tokens set the vocabulary). 2 layers, width 64, 4 query / 2 KV heads, MLP 128: ~3 M parameters, most of them the
embedding. qwen2 ties its embeddings by default (as Qwen2.5-0.5B to 3B do), llama unties them (the other case).

The weights are drawn from one seeded generator, wider than transformers' init (std 0.15, the embedding and LM head
0.6, instead of 0.02) so the next-token distribution is far from uniform, and every bias (qwen2's q/k/v) is drawn too
(transformers zeroes them): a log-prob comparison then notices a dropped or misplaced bias. Prints one JSON line: the
directory and its facts.

`--gguf FILE` (qwen2) also writes the same weights as an F32 GGUF laid out as llama.cpp's convert_hf_to_gguf.py lays
out a Qwen2 (gguf-py's tensor names, no Q/K permutation, no output.weight when tied; the `qwen2.*` hyperparameters;
the vocabulary as `tokenizer.ggml.*` with model gpt2 and pre-tokenizer `qwen2`), so the GGUF path (header facts,
tokenizer export, transformers' GGUF loader) runs on a qwen2 file too. It is not a llama.cpp conversion: a real
Qwen2.5 GGUF's tokenizer metadata is Qwen's, not SmolLM2's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")
VOCAB = 49_152  # SmolLM2's tokenizer
ARCHITECTURES = ("qwen2", "llama")


def tiny_config(architecture: str, tied: bool):
    common = dict(
        vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=4096, rms_norm_eps=1e-6, tie_word_embeddings=tied,
        bos_token_id=1, eos_token_id=2, initializer_range=0.15,
    )
    if architecture == "qwen2":
        from transformers import Qwen2Config

        # Qwen2.5's RoPE base; no sliding window (Qwen2.5 ships use_sliding_window false).
        return Qwen2Config(**common, rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0}, use_sliding_window=False)
    if architecture == "llama":
        from transformers import LlamaConfig

        return LlamaConfig(**common, rope_parameters={"rope_type": "default", "rope_theta": 100_000.0})
    raise SystemExit(f"unknown architecture {architecture!r} (tiny models: {', '.join(ARCHITECTURES)})")


def build(architecture: str, out: str, *, tied: bool, seed: int = 0, tokenizer: str | None = None) -> dict:
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    config = tiny_config(architecture, tied)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():  # tied weights are one parameter, listed once
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=generator))
            elif name.endswith(".bias"):
                p.copy_(0.5 * torch.randn(p.shape, generator=generator))
            elif name in ("model.embed_tokens.weight", "lm_head.weight"):  # logits of std ~5: a peaked distribution
                p.copy_(0.6 * torch.randn(p.shape, generator=generator))
            else:
                p.copy_(0.15 * torch.randn(p.shape, generator=generator))
    os.makedirs(out, exist_ok=True)
    model.to(torch.bfloat16).save_pretrained(out, safe_serialization=True)  # as Hub checkpoints are stored
    _as_published(os.path.join(out, "config.json"), architecture)
    source = tokenizer or os.path.join(os.environ.get("RATCHET_MODELS_DIR") or _default_models_dir(), "smollm2-135m-instruct", "tokenizer")
    for name in TOKENIZER_FILES:
        path = os.path.join(source, name)
        if not os.path.isfile(path):
            raise SystemExit(f"{source} has no {name}: export SmolLM2's tokenizer first, or pass --tokenizer DIR")
        shutil.copyfile(path, os.path.join(out, name))
    biases = sorted({n.split(".")[-2] for n, _ in model.named_parameters() if n.endswith(".bias")})
    return {
        "path": os.path.abspath(out), "architecture": config.model_type, "tied": tied, "parameters": sum(p.numel() for p in model.parameters()),
        "layers": config.num_hidden_layers, "kvHeads": config.num_key_value_heads, "headDim": config.hidden_size // config.num_attention_heads,
        "vocab": config.vocab_size, "biases": biases,
    }


def write_gguf(model_dir: str, out: str) -> None:
    """The Hugging Face qwen2 directory `model_dir` as an F32 GGUF (see the module docstring)."""
    import gguf
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    c = model.config
    if c.model_type != "qwen2":
        raise SystemExit(f"--gguf writes qwen2 models only (llama's GGUF permutes Q/K), not {c.model_type}")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    w = gguf.GGUFWriter(out, "qwen2")
    w.add_name(f"tiny random qwen2 ({os.path.basename(os.path.abspath(model_dir))})")
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size)
    w.add_block_count(c.num_hidden_layers)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads)
    w.add_head_count_kv(c.num_key_value_heads)
    w.add_rope_freq_base(c.rope_parameters["rope_theta"])
    w.add_layer_norm_rms_eps(c.rms_norm_eps)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    with open(os.path.join(model_dir, "tokenizer.json")) as f:
        tj = json.load(f)
    ids = {**tj["model"]["vocab"], **{t["content"]: t["id"] for t in tj["added_tokens"]}}
    tokens = [""] * (max(ids.values()) + 1)
    for token, i in ids.items():
        tokens[i] = token
    added = {t["id"]: t["special"] for t in tj["added_tokens"]}
    kinds = [gguf.TokenType.NORMAL if i not in added else gguf.TokenType.CONTROL if added[i] else gguf.TokenType.USER_DEFINED for i in range(len(tokens))]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(kinds)
    w.add_token_merges([" ".join(m) if isinstance(m, list) else m for m in tj["model"]["merges"]])
    with open(os.path.join(model_dir, "tokenizer_config.json")) as f:
        tc = json.load(f)
    w.add_eos_token_id(ids[tc["eos_token"]])
    w.add_add_bos_token(False)  # Qwen2.5 adds none
    w.add_chat_template(open(os.path.join(model_dir, "chat_template.jinja")).read())
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN2, c.num_hidden_layers)
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight" and c.tie_word_embeddings:
            continue
        gguf_name = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise SystemExit(f"no GGUF name for {name}")
        w.add_tensor(gguf_name, tensor.numpy().astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def _as_published(path: str, architecture: str) -> None:
    """config.json in the form the Hub's Qwen2.5 / Llama checkpoints have it (written by transformers 4.x): a
    top-level `rope_theta`, `torch_dtype`, and for qwen2 a `sliding_window` that `use_sliding_window: false` turns
    off, so loading goes through transformers' conversion of such files."""
    with open(path) as f:
        config = json.load(f)
    rope = config.pop("rope_parameters", None) or {}
    config.pop("layer_types", None)
    config.pop("dtype", None)
    config["rope_theta"] = rope.get("rope_theta", 10_000.0)
    config["torch_dtype"] = "bfloat16"
    if architecture == "qwen2":
        config.update(sliding_window=4096, use_sliding_window=False, max_window_layers=1)
    with open(path, "w") as f:
        json.dump(dict(sorted(config.items())), f, indent=2)
        f.write("\n")


def _default_models_dir() -> str:
    from .store import data_dir

    return str(data_dir() / "models")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ratchet_torch.tiny_model")
    parser.add_argument("architecture", choices=ARCHITECTURES)
    parser.add_argument("--out", required=True)
    parser.add_argument("--tokenizer", default=None, help="a directory with tokenizer.json, tokenizer_config.json, chat_template.jinja")
    parser.add_argument("--seed", type=int, default=0)
    tie = parser.add_mutually_exclusive_group()
    tie.add_argument("--tied", dest="tied", action="store_true", default=None, help="tie the LM head to the embedding")
    tie.add_argument("--untied", dest="tied", action="store_false", help="a separate LM head")
    parser.add_argument("--gguf", default=None, help="also write the model as an F32 GGUF file here (qwen2)")
    args = parser.parse_args(argv)
    tied = args.tied if args.tied is not None else args.architecture == "qwen2"
    facts = build(args.architecture, args.out, tied=tied, seed=args.seed, tokenizer=args.tokenizer)
    if args.gguf:
        write_gguf(args.out, args.gguf)
        facts["gguf"] = os.path.abspath(args.gguf)
    print(json.dumps(facts))


if __name__ == "__main__":
    main()
