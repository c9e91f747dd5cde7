"""Python half of `npm run bench:llm-engines` (bench/llm-engines.ts): the fp32 ONNX export the onnxruntime-node
engine runs, and transformers' fp32 log-probs that both rollout engines are compared against.

  python -m ratchet_torch.bench_engines export-onnx --gguf MODEL.gguf --out model.onnx
  python -m ratchet_torch.bench_engines reference --gguf MODEL.gguf < {"sequences": [{"prompt": [...], "continuation": [...]}]}

The ONNX graph takes `input_ids`, `attention_mask` (past + new), `position_ids` and one `past.<layer>.key|value`
pair per layer ([batch, kv_heads, past, head_dim]); it returns `logits` and `present.<layer>.key|value`. Built with
torch's TorchScript exporter around transformers' own LlamaForCausalLM (weights dequantized from the GGUF to fp32),
so the rollout side runs the trainer's exact fp32 weights.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def load_fp32(gguf: str):
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    path = os.path.abspath(gguf)
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path), dtype=torch.float32)
    return model.eval()


def export_onnx(gguf: str, out: str) -> dict:
    import torch
    from transformers.cache_utils import DynamicCache

    model = load_fp32(gguf)
    cfg = model.config
    layers, kv_heads = cfg.num_hidden_layers, cfg.num_key_value_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads

    class WithCache(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, position_ids, *past):
            cache = DynamicCache(config=self.inner.config)
            for i in range(layers):
                cache.update(past[2 * i], past[2 * i + 1], i)
            out = self.inner(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, past_key_values=cache, use_cache=True)
            flat = []
            for layer in out.past_key_values.layers[:layers]:
                flat += [layer.keys, layer.values]
            return (out.logits, *flat)

    batch, past_len, new = 2, 3, 4
    ids = torch.randint(0, cfg.vocab_size, (batch, new))
    past = [torch.zeros(batch, kv_heads, past_len, head_dim) for _ in range(2 * layers)]
    mask = torch.ones(batch, past_len + new, dtype=torch.long)
    pos = torch.arange(past_len, past_len + new).unsqueeze(0).expand(batch, new)
    names_in = ["input_ids", "attention_mask", "position_ids"] + [f"past.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    names_out = ["logits"] + [f"present.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    dynamic = {"input_ids": {0: "batch", 1: "new"}, "attention_mask": {0: "batch", 1: "total"}, "position_ids": {0: "batch", 1: "new"}, "logits": {0: "batch", 1: "new"}}
    dynamic.update({n: {0: "batch", 2: "past"} for n in names_in[3:]})
    dynamic.update({n: {0: "batch", 2: "total"} for n in names_out[1:]})
    started = time.time()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(WithCache(model), (ids, mask, pos, *past), out, input_names=names_in, output_names=names_out, dynamic_axes=dynamic, opset_version=17, dynamo=False)
    return {"path": out, "bytes": os.path.getsize(out), "seconds": round(time.time() - started, 1), "layers": layers, "kvHeads": kv_heads, "headDim": head_dim, "vocab": cfg.vocab_size}


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
