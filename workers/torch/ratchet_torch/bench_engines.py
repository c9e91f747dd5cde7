"""Python half of `npm run bench:llm-engines` (bench/llm-engines.ts): the fp32 ONNX export the onnxruntime-node
engine runs, and transformers' fp32 log-probs that both rollout engines are compared against.

  python -m ratchet_torch.bench_engines export-onnx --gguf MODEL.gguf --out model.onnx
  python -m ratchet_torch.bench_engines reference --gguf MODEL.gguf < {"sequences": [{"prompt": [...], "continuation": [...]}]}

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


def reference(gguf: str, request: dict) -> dict:
    """Per-token log-probs of each continuation after its prompt, transformers fp32, one sequence at a time."""
    import torch

    model = load_fp32(gguf)
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
    args = parser.parse_args(argv)
    if args.command == "export-onnx":
        print(json.dumps(export_onnx(args.gguf, args.out)))
    else:
        print(json.dumps(reference(args.gguf, json.load(sys.stdin))))


if __name__ == "__main__":
    main()
