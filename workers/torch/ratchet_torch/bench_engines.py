"""Python half of `npm run bench:llm-engines` (bench/llm-engines.ts): the fp32 ONNX export the onnxruntime-node
engine runs, and transformers' fp32 log-probs that both rollout engines are compared against.

  python -m ratchet_torch.bench_engines export-onnx --gguf MODEL.gguf --out model.onnx
  python -m ratchet_torch.bench_engines reference --gguf MODEL.gguf [--adapter PEFT_DIR] < {"sequences": [{"prompt": [...], "continuation": [...]}]}
  python -m ratchet_torch.bench_engines random-adapter --gguf MODEL.gguf --out-dir PEFT_DIR --out-gguf LORA.gguf [--scale 0.01]

The ONNX graph takes `input_ids`, `attention_mask` (past + new), `position_ids` and one `past.<layer>.key|value`
pair per layer ([batch, kv_heads, past, head_dim]); it returns `logits` and `present.<layer>.key|value`. The export
is the trainer's own (ratchet_torch.sync.export_onnx, what syncWeights publishes), here of the GGUF's base weights
dequantized to fp32.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def load_fp32(model_path: str):
    """A GGUF file (dequantized) or a Hugging Face directory, as an fp32 causal LM."""
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    path = os.path.abspath(model_path)
    if os.path.isfile(path):
        model = AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path), dtype=torch.float32)
    else:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    return model.eval()


def export_onnx(gguf: str, out: str) -> dict:
    """The trainer's own export (ratchet_torch.sync), of the GGUF's base weights."""
    from .sync import export_onnx as export_model

    return export_model(load_fp32(gguf), out)


def random_adapter(gguf: str, out_dir: str, out_gguf: str, *, rank: int, alpha: float, seed: int, scale: float) -> dict:
    """A stand-in for a trained version: a LoRA adapter on every projection with A as PEFT initialises it and B drawn
    from N(0, scale²), seeded; written as a PEFT directory and as the llama.cpp LoRA GGUF the torch worker writes."""
    from pathlib import Path

    import torch
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict

    from .gguf_lora import TENSORS, write_gguf_lora

    model = load_fp32(gguf)
    torch.manual_seed(seed)
    peft = get_peft_model(model, LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules=list(TENSORS)))
    with torch.no_grad():
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.normal_(0, scale)
    peft.save_pretrained(out_dir)
    config = model.config
    write_gguf_lora(Path(out_gguf), get_peft_model_state_dict(peft), alpha=alpha, heads=config.num_attention_heads,
                    kv_heads=config.num_key_value_heads, arch=config.model_type)
    return {"peft": out_dir, "gguf": out_gguf}


def reference(gguf: str, request: dict, adapter: str | None = None) -> dict:
    """Per-token log-probs of each continuation after its prompt, transformers fp32 (with a PEFT adapter when given),
    one sequence at a time."""
    import torch

    model = load_fp32(gguf)
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter).eval()
    torch.set_num_threads(int(request.get("threads", torch.get_num_threads())))
    out, tokens, seconds = [], 0, 0.0
    with torch.no_grad():
        for seq in request["sequences"]:
            prompt, cont = seq["prompt"], seq["continuation"]
            ids = torch.tensor([prompt + cont])
            started = time.time()
            logits = model(input_ids=ids).logits[0].double()
            seconds += time.time() - started
            tokens += ids.shape[1]
            logp = torch.log_softmax(logits, dim=-1)
            rows = torch.arange(len(prompt) - 1, len(prompt) + len(cont) - 1)
            out.append(logp[rows, torch.tensor(cont)].tolist())
    return {"logprobs": out, "forwardTokensPerSecond": tokens / seconds if seconds else None, "threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ratchet_torch.bench_engines")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("export-onnx")
    p.add_argument("--gguf", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("reference")
    p.add_argument("--gguf", required=True)
    p.add_argument("--adapter", help="a PEFT adapter directory on top of the model")
    p = sub.add_parser("random-adapter")
    p.add_argument("--gguf", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--out-gguf", required=True)
    p.add_argument("--rank", type=int, default=4)
    p.add_argument("--alpha", type=float, default=8)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--scale", type=float, default=0.01)
    args = parser.parse_args(argv)
    if args.command == "export-onnx":
        print(json.dumps(export_onnx(args.gguf, args.out)))
    elif args.command == "random-adapter":
        print(json.dumps(random_adapter(args.gguf, args.out_dir, args.out_gguf, rank=args.rank, alpha=args.alpha, seed=args.seed, scale=args.scale)))
    else:
        print(json.dumps(reference(args.gguf, json.load(sys.stdin), args.adapter)))


if __name__ == "__main__":
    main()
