"""LLM checkpoints: ONE safetensors file per policy version with everything an update resumes from.

Tensors: `actor.weight/<name>` (the adapter's, or every weight with `lora: null`), `critic.weight/<weight|bias>`
(PPO's value head), `reference.weight/<name>` (after a format SFT: version 0's, the KL reference), and AdamW's
`exp_avg/<name>` and `exp_avg_sq/<name>` for both (`actor.` / `critic.` prefixes).
Metadata: ONE key, `ratchet`, holding sorted JSON (format, version, step, model, lora, optimizer step counts):
safetensors serialises its metadata map in a per-process random order, so several keys would make identical state
give different bytes.
"""

from __future__ import annotations

import json
import struct
from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor
from safetensors.torch import load as st_load, save as st_save

from .model import Policy, build_policy, invalid_config, llm_settings, lora_settings
from .store import LocalArtifactStore

FORMAT = "ratchet-llm-checkpoint/1"
# policy/optim.ts DEFAULT_ADAMW: decoupled weight decay on rank >= 2 weights only.
ADAMW = {"betas": (0.9, 0.95), "eps": 1e-8, "weight_decay": 0.1}


@dataclass
class TrainerState:
    policy: Policy
    actor_optimizer: torch.optim.AdamW
    critic_optimizer: Optional[torch.optim.AdamW]


def adamw(named: dict[str, Tensor]) -> torch.optim.AdamW:
    """AdamW over named params (the learning rate is set per step); no decay on vectors, as policy/optim.ts."""
    params = list(named.values())
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": ADAMW["weight_decay"]},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=0.0, betas=ADAMW["betas"], eps=ADAMW["eps"])


def critic_params(policy: Policy) -> dict[str, Tensor]:
    assert policy.value_head is not None
    return dict(policy.value_head.named_parameters())


def new_state(policy: Policy) -> TrainerState:
    critic = adamw(critic_params(policy)) if policy.value_head is not None else None
    return TrainerState(policy, adamw(policy.trainable()), critic)


def _optimizer_step(opt: torch.optim.AdamW) -> int:
    steps = {int(s["step"]) for s in opt.state.values() if "step" in s}
    return steps.pop() if steps else 0


def _put_moments(out: dict[str, Tensor], prefix: str, named: dict[str, Tensor], opt: torch.optim.AdamW) -> None:
    for name, p in named.items():
        state = opt.state.get(p, {})
        for moment in ("exp_avg", "exp_avg_sq"):
            value = state.get(moment)
            out[f"{prefix}.{moment}/{name}"] = (value if value is not None else torch.zeros_like(p)).detach().cpu().contiguous()


def checkpoint_bytes(state: TrainerState, version: int, step: int) -> bytes:
    """The state as safetensors bytes: identical state gives identical bytes."""
    policy = state.policy
    tensors: dict[str, Tensor] = {}
    actor = policy.trainable()
    for name, p in actor.items():
        tensors[f"actor.weight/{name}"] = p.detach().cpu().contiguous()
    _put_moments(tensors, "actor", actor, state.actor_optimizer)
    if policy.reference_weights is not None:
        for name, value in policy.reference_weights.items():
            tensors[f"reference.weight/{name}"] = value.detach().cpu().contiguous()
    meta = {"format": FORMAT, "version": version, "step": step, "model": policy.model_ref, "lora": policy.lora,
            "actorOptimizerStep": _optimizer_step(state.actor_optimizer), "criticOptimizerStep": 0}
    if policy.value_head is not None and state.critic_optimizer is not None:
        critic = critic_params(policy)
        for name, p in critic.items():
            tensors[f"critic.weight/{name}"] = p.detach().cpu().contiguous()
        _put_moments(tensors, "critic", critic, state.critic_optimizer)
        meta["criticOptimizerStep"] = _optimizer_step(state.critic_optimizer)
    return st_save(tensors, metadata={"ratchet": json.dumps(meta, sort_keys=True, separators=(",", ":"))})


def save_checkpoint(store: LocalArtifactStore, key: str, state: TrainerState, version: int, step: int) -> dict:
    ref = store.put(key, checkpoint_bytes(state, version, step))
    return {"key": ref["key"], "sha256": ref["sha256"]}


def read_metadata(data: bytes) -> dict:
    """The `ratchet` metadata from a safetensors header (8-byte little-endian length, then JSON)."""
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    meta = json.loads((header.get("__metadata__") or {}).get("ratchet") or "{}")
    if meta.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} checkpoint (format {meta.get('format')!r})")
    return meta


def _restore_moments(tensors: dict[str, Tensor], prefix: str, named: dict[str, Tensor], opt: torch.optim.AdamW, step: int) -> None:
    if step == 0:
        return  # a fresh optimizer: torch creates zero moments on its first step
    for name, p in named.items():
        opt.state[p] = {
            "step": torch.tensor(float(step)),
            "exp_avg": tensors[f"{prefix}.exp_avg/{name}"].to(p.device, p.dtype).clone(),
            "exp_avg_sq": tensors[f"{prefix}.exp_avg_sq/{name}"].to(p.device, p.dtype).clone(),
        }


def load_checkpoint(store: LocalArtifactStore, ref: dict, config: dict) -> tuple[TrainerState, dict]:
    """A fresh trainer state from checkpoint bytes (verified by sha256); returns it and the checkpoint's metadata.

    With LoRA the weights are copied into the worker's one cached adapter of these settings, so a state is valid until
    the next load (the worker runs one activity at a time, and every activity loads the checkpoint it names)."""
    data = store.get(ref["key"], ref["sha256"])
    meta = read_metadata(data)
    policy_cfg = llm_settings(config)
    if meta["model"] != policy_cfg["model"] or meta["lora"] != lora_settings(policy_cfg):
        raise invalid_config(
            f"checkpoint {ref['key']} was trained for model {meta['model']!r} with lora {meta['lora']}, "
            f"but the config names {policy_cfg['model']!r} with lora {lora_settings(policy_cfg)}"
        )
    tensors = st_load(data)
    policy = build_policy(config, with_critic="critic.weight/weight" in tensors)
    with torch.no_grad():
        actor = policy.trainable()
        missing = [n for n in actor if f"actor.weight/{n}" not in tensors]
        if missing:
            raise ValueError(f"checkpoint {ref['key']} lacks {len(missing)} trainable weights, e.g. {missing[0]}")
        for name, p in actor.items():
            p.copy_(tensors[f"actor.weight/{name}"])
        if policy.value_head is not None:
            for name, p in critic_params(policy).items():
                p.copy_(tensors[f"critic.weight/{name}"])
    if any(k.startswith("reference.weight/") for k in tensors):
        policy.reference_weights = OrderedDict((n, tensors[f"reference.weight/{n}"].to(p.device, p.dtype)) for n, p in policy.trainable().items())
    state = new_state(policy)
    _restore_moments(tensors, "actor", policy.trainable(), state.actor_optimizer, int(meta["actorOptimizerStep"]))
    if state.critic_optimizer is not None:
        _restore_moments(tensors, "critic", critic_params(policy), state.critic_optimizer, int(meta["criticOptimizerStep"]))
    return state, meta

