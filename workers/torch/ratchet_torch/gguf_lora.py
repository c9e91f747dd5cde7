"""A PEFT LoRA adapter as a llama.cpp LoRA GGUF: what llama.cpp and llama-cpp-python load with `lora_path` on top
of the base GGUF (protocol `llama-cpp`'s versions after 0).

The layout is llama.cpp's convert_lora_to_gguf.py's: `general.type` adapter, `adapter.type` lora, `adapter.lora.alpha`,
and per target `blk.<i>.<tensor>.weight.lora_a` (A: [rank, in]) and `.lora_b` (B: [out, rank]), in f32. For the llama
architecture, llama.cpp stores q and k rows in its own rotary order, so B of q_proj and k_proj gets the same row
permutation the base weights got when the GGUF was made (transformers undid it when it loaded the GGUF).

  python -m ratchet_torch.gguf_lora ADAPTER_DIR OUT.gguf --heads 9 --kv-heads 3 [--arch llama]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
from pathlib import Path

import torch

TENSORS = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
           "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"}
_NAME = re.compile(r"^(?:base_model\.model\.)?model\.layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_([AB])(?:\.default)?\.weight$")


def rotary_rows(w: torch.Tensor, heads: int) -> torch.Tensor:
    """llama.cpp's row order of a q or k projection (convert_hf_to_gguf.py's LlamaModel.permute)."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_lora_tensors(adapter: dict[str, torch.Tensor], *, heads: int, kv_heads: int, arch: str = "llama") -> dict[str, torch.Tensor]:
    """PEFT's adapter tensors by their GGUF names (B of q and k in llama.cpp's rotary row order for llama)."""
    out: dict[str, torch.Tensor] = {}
    for name, tensor in adapter.items():
        m = _NAME.match(name)
        if not m or m.group(2) not in TENSORS:
            raise ValueError(f"{name}: not a LoRA tensor of {', '.join(TENSORS)} (llama.cpp adapters of other modules are not supported)")
        layer, module, half = int(m.group(1)), m.group(2), m.group(3)
        t = tensor.detach().to("cpu", torch.float32)
        if arch == "llama" and half == "B" and module in ("q_proj", "k_proj"):
            t = rotary_rows(t, heads if module == "q_proj" else kv_heads)
        out[f"blk.{layer}.{TENSORS[module]}.weight.lora_{half.lower()}"] = t.contiguous()
    return out


def write_gguf_lora(path: Path, adapter: dict[str, torch.Tensor], *, alpha: float, heads: int, kv_heads: int, arch: str = "llama") -> None:
    """Write the adapter as a LoRA GGUF at `path`, beside it first and renamed into place (a retry rewrites it whole)."""
    import gguf

    tensors = gguf_lora_tensors(adapter, heads=heads, kv_heads=kv_heads, arch=arch)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    writer = gguf.GGUFWriter(staging, arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    for name in sorted(tensors):
        writer.add_tensor(name, tensors[name].numpy())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.chmod(staging, 0o644)  # mkstemp's 0600 would keep a server running as another user out
    os.replace(staging, path)


def main(argv: list[str] | None = None) -> None:
    from safetensors.torch import load_file

    parser = argparse.ArgumentParser(prog="python -m ratchet_torch.gguf_lora", description="a PEFT LoRA adapter directory as a llama.cpp LoRA GGUF")
    parser.add_argument("adapter", type=Path, help="PEFT adapter directory (adapter_config.json, adapter_model.safetensors)")
    parser.add_argument("out", type=Path)
    parser.add_argument("--heads", type=int, required=True, help="attention heads of the base model")
    parser.add_argument("--kv-heads", type=int, required=True, help="key/value heads of the base model")
    parser.add_argument("--arch", default="llama", choices=["llama", "qwen2"])
    args = parser.parse_args(argv)
    settings = json.loads((args.adapter / "adapter_config.json").read_text())
    adapter = load_file(str(args.adapter / "adapter_model.safetensors"))
    write_gguf_lora(args.out, adapter, alpha=float(settings["lora_alpha"]), heads=args.heads, kv_heads=args.kv_heads, arch=args.arch)
    print(json.dumps({"out": str(args.out), "tensors": len(adapter)}))


if __name__ == "__main__":
    main()
