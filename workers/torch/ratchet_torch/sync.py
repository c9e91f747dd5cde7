"""syncWeights (and initPolicy's publish): checkpoint v -> an fp32 ONNX policy with a KV cache at `policy_key(run, v)`.

The adapter is merged into a COPY of the base weights: the live model is never merged and unmerged (unmerging is
not exact, and the reference is that same model with the adapter off). The ONNX graph takes `input_ids`,
`attention_mask` (past + new), `position_ids` and one `past.<layer>.key|value` pair per layer ([batch, kv_heads,
past, head_dim]); it returns `logits` and `present.<layer>.key|value`. Built with torch's TorchScript exporter around
transformers' own LlamaForCausalLM, so the rollouts run the trainer's exact fp32 weights.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Iterable, Optional

import torch

from .model import Policy, load_base
from .store import LocalArtifactStore, policy_key

_PEFT_PREFIX = "base_model.model."


def merged_model(policy: Policy) -> torch.nn.Module:
    """The policy's weights as a plain fp32 CPU causal LM: a copy of the base with W += ΔW_lora per target layer."""
    from peft.tuners.lora import LoraLayer

    if policy.peft is None:
        return copy.deepcopy(policy.lm).to("cpu", torch.float32).eval()
    out = copy.deepcopy(load_base(policy.path)).to("cpu", torch.float32).eval()
    modules = dict(out.named_modules())
    with torch.no_grad():
        for name, layer in policy.peft.named_modules():
            if isinstance(layer, LoraLayer) and "default" in layer.lora_A:
                target = modules[name[len(_PEFT_PREFIX):] if name.startswith(_PEFT_PREFIX) else name]
                target.weight += layer.get_delta_weight("default").to("cpu", torch.float32)
    return out


def export_onnx(model: torch.nn.Module, out: str) -> dict:
    """Export an fp32 causal LM with the KV-cache interface above to `out`; returns sizes and timing."""
    from transformers.cache_utils import DynamicCache

    cfg = model.config
    layers, kv_heads = cfg.num_hidden_layers, cfg.num_key_value_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads

    class WithCache(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, position_ids, *past):
            cache = DynamicCache(config=self.inner.config)
            for i in range(layers):
                cache.update(past[2 * i], past[2 * i + 1], i)
            result = self.inner(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, past_key_values=cache, use_cache=True)
            flat = []
            for layer in result.past_key_values.layers[:layers]:
                flat += [layer.keys, layer.values]
            return (result.logits, *flat)

    # Example inputs only shape the trace; fixed values keep the export free of randomness.
    batch, past_len, new = 2, 3, 4
    ids = (torch.arange(batch * new).reshape(batch, new) * 7919) % cfg.vocab_size
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
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's warnings about Python-side control flow: expected here
        torch.onnx.export(WithCache(model), (ids, mask, pos, *past), out, input_names=names_in, output_names=names_out, dynamic_axes=dynamic, opset_version=17, dynamo=False)
    return {"path": out, "bytes": os.path.getsize(out), "seconds": round(time.time() - started, 1), "layers": layers, "kvHeads": kv_heads, "headDim": head_dim, "vocab": cfg.vocab_size}


def onnx_bytes(model: torch.nn.Module) -> bytes:
    """The graph as one file's bytes. A graph over protobuf's 2 GiB limit gets its weights written to side files,
    which one artifact cannot carry: refused (ValueError: a retry cannot fix it) rather than published without weights."""
    with tempfile.TemporaryDirectory(prefix="ratchet-onnx-") as tmp:
        out = os.path.join(tmp, "policy.onnx")
        export_onnx(model, out)
        side = [f for f in os.listdir(tmp) if f != "policy.onnx"]
        if side:
            size = sum(os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp))
            raise ValueError(
                f"the fp32 ONNX policy is {size / 2**30:.2f} GiB, over ONNX's 2 GiB single-file limit (weights written to {len(side)} side files): "
                "rollouts of models this size need external-data graphs, which are not supported yet (SmolLM2-135M exports 0.65 GB)"
            )
        with open(out, "rb") as f:
            return f.read()


def _policy_settings(config: dict) -> dict:
    """The run config's `agent.policy` section ({} when absent)."""
    return (config.get("agent") or {}).get("policy") or {}


def adapter_target(config: dict, run_id: str, version: int) -> Optional[tuple[str, Path]]:
    """Where a server reads version v's adapter, and in which form: `peft` (protocol vllm: a PEFT directory) or `gguf`
    (protocol llama-cpp: a llama.cpp LoRA GGUF); `adapterPath` with {run} and {version} filled in. None without one."""
    rollout = _policy_settings(config).get("rollout") or {}
    forms = {"vllm": "peft", "llama-cpp": "gguf"}
    if rollout.get("engine") != "openai" or rollout.get("protocol") not in forms or not rollout.get("adapterPath"):
        return None
    return forms[rollout["protocol"]], Path(rollout["adapterPath"].replace("{run}", run_id).replace("{version}", str(version)))


def write_adapter(form: str, path: Path, policy: Policy) -> None:
    """The policy's LoRA adapter at `path`: a PEFT directory (adapter_config.json, adapter_model.safetensors) or a
    llama.cpp LoRA GGUF. Written beside it and renamed into place, so a server never reads half of one and a retry
    rewrites it whole."""
    if policy.peft is None:
        raise ValueError("a server adapter needs a LoRA policy (lora: null trains every weight)")
    if form == "gguf":
        from peft import get_peft_model_state_dict

        from .gguf_lora import write_gguf_lora

        settings, lm = policy.peft.peft_config["default"], policy.peft.get_base_model().config
        write_gguf_lora(path, get_peft_model_state_dict(policy.peft), alpha=settings.lora_alpha, heads=lm.num_attention_heads,
                        kv_heads=lm.num_key_value_heads, arch=lm.model_type)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    policy.peft.save_pretrained(str(staging))
    # mkdtemp's 0700 (and safetensors' 0600) would keep a server running as another user out.
    staging.chmod(0o755)
    for file in staging.iterdir():
        file.chmod(0o644)
    if path.exists():
        shutil.rmtree(path)
    os.replace(staging, path)


def keep_exports(config: dict) -> Optional[int]:
    """`agent.policy.keepExports`: how many ONNX graphs a run keeps, the newest included; None keeps every one."""
    return _policy_settings(config).get("keepExports")


def prune_exports(store: LocalArtifactStore, run_id: str, version: int, keep: Optional[int], evaluating: Iterable[int] = ()) -> list[str]:
    """Delete the run's ONNX graphs `keep` or more versions behind `version` (0.65 GB each for SmolLM2-135M), but
    those of versions a running evaluation reads. Their checkpoints stay: a graph is derived from one. No rollout
    still needs them: a step's rollouts use a version at most async.maxStaleness behind, and the config asks
    keepExports > maxStaleness. Returns the deleted keys."""
    if keep is None:
        return []
    prefix = policy_key(run_id, 0).rsplit("/", 1)[0]
    spared = set(evaluating)
    versions = {key: _graph_version(key) for key in store.keys_under(prefix)}
    stale = [key for key, v in versions.items() if v is not None and v <= version - keep and v not in spared]
    for key in stale:
        store.delete(key)
    return stale


def _graph_version(key: str) -> Optional[int]:
    name = key.rsplit("/", 1)[-1]
    return int(name[1:-5]) if name.startswith("v") and name.endswith(".onnx") and name[1:-5].isdigit() else None


def needs_graph(config: dict) -> bool:
    """Whether anything reads a version's ONNX graph: in-process rollouts, and `ratchet serve` (protocol ratchet, and
    the gateway's upstream). vLLM and llama.cpp servers read the adapter instead, so their runs export no graph and
    are not held to ONNX's 2 GiB limit: models over ~0.5B parameters train through them."""
    rollout = _policy_settings(config).get("rollout") or {}
    return not (rollout.get("engine") == "openai" and rollout.get("protocol") in ("vllm", "llama-cpp"))


def publish(store: LocalArtifactStore, run_id: str, version: int, policy: Policy, checkpoint: dict, config: Optional[dict] = None,
            evaluating: Iterable[int] = ()) -> dict:
    """Publish version v: the server's adapter where one is configured, and the ONNX graph where one is read; returns
    the PolicyRef. With no graph the reference is the checkpoint itself (the version's weights)."""
    config = config or {}
    adapter = adapter_target(config, run_id, version)
    if adapter is not None:
        write_adapter(*adapter, policy)
    weights = {"key": checkpoint["key"], "sha256": checkpoint["sha256"]}
    if not needs_graph(config):
        return {"version": version, **weights, "checkpoint": weights}
    model = merged_model(policy)
    ref = store.put(policy_key(run_id, version), onnx_bytes(model))
    del model
    prune_exports(store, run_id, version, keep_exports(config), evaluating)
    return {"version": version, "key": ref["key"], "sha256": ref["sha256"], "checkpoint": weights}
