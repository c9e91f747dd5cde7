"""The LLM policy on the torch side: model references, the cached base, LoRA, the value head, and forward passes.

`config.agent.policy` is `{kind: "llm", model, lora: {rank, alpha, dropout, targetModules} | null, shots}`.

Memory: the pristine base (fp32 on CPU, bf16 on CUDA) is loaded once per model path and never changed. A LoRA
policy is a shallow twin of it: a module tree whose base weights ARE the base's parameters (shared, frozen), with
peft's adapters injected; its frozen reference is the same module with the adapter disabled, never a second copy.
Full fine-tuning (`lora: null`) trains a deep copy, and the pristine base stays behind as the frozen reference (the
one case that holds two copies of the weights).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import torch
from torch import Tensor
from temporalio.exceptions import ApplicationError

from .store import data_dir

# Registered names and the file `ratchet models pull` writes (policy/llm/models.ts MODELS); source.json beside the
# file names it too and wins when present.
REGISTERED_FILES = {"smollm2-135m-instruct": "SmolLM2-135M-Instruct.Q4_1.gguf"}

_models_dir: Optional[Path] = None


def invalid_config(message: str) -> ApplicationError:
    """A run config that retrying cannot fix."""
    return ApplicationError(message, type="InvalidRunConfig", non_retryable=True)


def hash_seed(text: str) -> int:
    """common/random.ts hashSeed: the first 4 bytes of sha256(text), big-endian, as a 31-bit integer."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") & 0x7FFFFFFF


def configure(threads: Optional[int] = None, models_dir: Optional[str] = None) -> None:
    """Process-wide settings: deterministic kernels and a fixed thread count, so a retry gives identical bytes."""
    global _models_dir
    if models_dir:
        _models_dir = Path(models_dir).resolve()
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS determinism; read when CUDA starts
    torch.use_deterministic_algorithms(True)
    n = threads or int(os.environ.get("RATCHET_TORCH_THREADS") or 0) or (os.cpu_count() or 1)
    torch.set_num_threads(n)


def models_dir() -> Path:
    if _models_dir:
        return _models_dir
    env = os.environ.get("RATCHET_MODELS_DIR")
    return Path(env).resolve() if env else data_dir() / "models"


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def backend_name() -> str:
    return "torch-cuda" if device().type == "cuda" else "torch-cpu"


def llm_settings(config: dict) -> dict:
    """config.agent.policy, checked to be an LLM policy."""
    policy = (config.get("agent") or {}).get("policy") or {}
    if policy.get("kind") != "llm":
        raise invalid_config(
            f'the torch worker trains LLM policies only; config.agent.policy.kind is {json.dumps(policy.get("kind"))} '
            '(the built-in transformer trains on the TypeScript gpu queue)'
        )
    if not isinstance(policy.get("model"), str) or not policy["model"]:
        raise invalid_config("config.agent.policy.model is missing")
    return policy


def resolve_model(ref: str) -> Path:
    """A registered name, else a path (relative to the working directory) to a .gguf file or a Hugging Face dir."""
    if ref in REGISTERED_FILES:
        folder = models_dir() / ref
        source = folder / "source.json"
        name = json.loads(source.read_text()).get("file") if source.exists() else REGISTERED_FILES[ref]
        path = folder / name
        if not path.is_file():
            raise invalid_config(f"model {ref} is not pulled ({path}): run `npm run ratchet -- models pull {ref}`")
        return path
    path = Path(ref).resolve()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return path
    if path.is_dir() and (path / "config.json").is_file():
        return path
    if path.exists():
        raise invalid_config(f'model "{ref}": {path} is neither a .gguf file nor a Hugging Face directory (config.json)')
    raise invalid_config(
        f'unknown model "{ref}": not a registered model ({", ".join(REGISTERED_FILES)}) and no file or directory at {path}'
    )


_bases: dict[str, torch.nn.Module] = {}
_lock = threading.Lock()


def load_base(path: Path) -> torch.nn.Module:
    """The pristine base model of a path, loaded once per process (~15 s for SmolLM2-135M from its GGUF)."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    key = str(path)
    with _lock:
        if key not in _bases:
            hf_logging.disable_progress_bar()
            dtype = torch.bfloat16 if device().type == "cuda" else torch.float32
            if path.is_file():  # GGUF: transformers dequantizes it to `dtype`
                model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=dtype)
            else:
                model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype)
            model.to(device()).eval()
            for p in model.parameters():
                p.requires_grad_(False)
            _bases[key] = model
        return _bases[key]


def lora_settings(policy: dict) -> Optional[dict]:
    """Normalised LoRA settings (None = full fine-tuning), as stored in checkpoints and compared on load."""
    lora = policy.get("lora")
    if lora is None:
        return None
    return {
        "rank": int(lora.get("rank", 16)),
        "alpha": float(lora.get("alpha", 32)),
        "dropout": float(lora.get("dropout", 0)),
        "targetModules": list(lora.get("targetModules") or ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),
    }


def _shallow_twin(base: torch.nn.Module) -> torch.nn.Module:
    """A copy of the module tree that shares every parameter and buffer with `base` (no weight memory)."""
    memo: dict[int, Any] = {id(t): t for t in list(base.parameters()) + list(base.buffers())}
    return copy.deepcopy(base, memo)


_lora_models: "OrderedDict[str, Any]" = OrderedDict()


def _lora_model(path: Path, lora: dict) -> Any:
    """The base with peft's adapter injected, cached per (path, LoRA settings); its weights are loaded per use."""
    from peft import LoraConfig, get_peft_model

    key = json.dumps([str(path), lora], sort_keys=True)
    with _lock:
        if key in _lora_models:
            _lora_models.move_to_end(key)
            return _lora_models[key]
    base = load_base(path)
    config = LoraConfig(r=lora["rank"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"], target_modules=lora["targetModules"])
    try:
        peft_model = get_peft_model(_shallow_twin(base), config)
    except ValueError as err:  # e.g. a target module the architecture does not have
        raise invalid_config(f"config.agent.policy.lora: {err}") from err
    with _lock:
        _lora_models[key] = peft_model
        while len(_lora_models) > 2:  # one run at a time in practice; keep a little slack
            _lora_models.popitem(last=False)
    return peft_model


@dataclass
class Policy:
    """What score, update and sync work on: the causal LM being trained, its reference, and the value head."""

    model_ref: str
    path: Path
    lora: Optional[dict]
    lm: torch.nn.Module  # the causal LM that runs the trained weights (peft-injected for LoRA)
    peft: Any  # the PeftModel (LoRA) or None
    value_head: Optional[torch.nn.Linear]
    # After a format SFT the reference is version 0, the fine-tuned weights, not the pretrained base: their values,
    # by trainable() name, swapped in while the reference runs (no second model copy).
    reference_weights: Optional["OrderedDict[str, Tensor]"] = None

    def trainable(self) -> "OrderedDict[str, Tensor]":
        """Trainable parameters by name, in module order (tied weights once)."""
        owner = self.peft if self.peft is not None else self.lm
        if self.peft is not None:
            return OrderedDict((n, p) for n, p in owner.named_parameters() if "lora_" in n)
        return OrderedDict(owner.named_parameters())

    @contextlib.contextmanager
    def reference(self) -> Iterator[torch.nn.Module]:
        """The frozen reference: version 0's weights swapped in after a format SFT; else the adapter disabled (LoRA)
        or the pristine base (full fine-tuning)."""
        if self.reference_weights is not None:
            trained = self.trainable()
            saved = {n: p.detach().clone() for n, p in trained.items()}
            with torch.no_grad():
                for n, p in trained.items():
                    p.copy_(self.reference_weights[n])
            try:
                yield self.lm
            finally:
                with torch.no_grad():
                    for n, p in trained.items():
                        p.copy_(saved[n])
        elif self.peft is not None:
            with self.peft.disable_adapter():
                yield self.lm
        else:
            yield load_base(self.path)


def new_value_head(hidden: int) -> torch.nn.Linear:
    """PPO's critic head on the backbone's final hidden state, fp32, zero-initialised (V = 0 at first)."""
    head = torch.nn.Linear(hidden, 1, dtype=torch.float32, device=device())
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    return head


def build_policy(config: dict, *, with_critic: bool) -> Policy:
    """The policy's modules with the weights of the cached base (adapters untouched: load or init them next)."""
    policy = llm_settings(config)
    path = resolve_model(policy["model"])
    lora = lora_settings(policy)
    base = load_base(path)
    if lora is None:
        lm = copy.deepcopy(base)  # full fine-tuning trains a copy; the pristine base is the reference
        for p in lm.parameters():
            p.requires_grad_(True)
        peft_model = None
    else:
        peft_model = _lora_model(path, lora)
        lm = peft_model.get_base_model()
    head = new_value_head(base.config.hidden_size) if with_critic else None
    return Policy(policy["model"], path, lora, lm, peft_model, head)


def init_adapter(policy: Policy, seed: int) -> None:
    """A fresh LoRA adapter (A: kaiming-uniform, B: 0, so v0 = the base), seeded, in module order: reproducible."""
    from peft.tuners.lora import LoraLayer

    if policy.peft is None:
        return
    torch.manual_seed(seed)
    with torch.no_grad():
        for module in policy.peft.modules():
            if isinstance(module, LoraLayer):
                module.reset_lora_parameters("default", True)


# ------------------------------------------------------------------------------------------------ forward passes


def final_hidden(lm: torch.nn.Module, inputs: Tensor, attention: Tensor) -> Tensor:
    """The backbone's last hidden state [B, T, H] (after the final norm), right padding masked out."""
    return lm.model(input_ids=inputs, attention_mask=attention, use_cache=False).last_hidden_state


def gather_positions(hidden: Tensor, positions: Tensor) -> Tensor:
    """hidden [B, T, H] at positions [B, A] -> [B, A, H]: the LM head then runs on A positions instead of T."""
    return hidden.gather(1, positions.unsqueeze(-1).expand(-1, -1, hidden.shape[-1]))


def log_probs_and_entropy(lm: torch.nn.Module, hidden_at: Tensor, targets: Tensor, temperature: float) -> tuple[Tensor, Tensor]:
    """log π_T(target) and the entropy of π_T, both [B, A] fp32, with π_T = softmax(logits / T)."""
    from .losses import entropy_from_logits

    logits = lm.lm_head(hidden_at).float() / temperature
    log_probs = torch.log_softmax(logits, -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return log_probs, entropy_from_logits(logits)


def values_at(head: torch.nn.Linear, hidden_at: Tensor) -> Tensor:
    """V at each action position [B, A]; the caller detaches `hidden_at` so no critic gradient enters the LM."""
    return head(hidden_at.float()).squeeze(-1)


def loss_temperature(config: dict) -> float:
    """policy/temperature.ts lossTemperature: the rollouts' temperature, or 1 for greedy rollouts."""
    t = float(((config.get("agent") or {}).get("sampling") or {}).get("temperature") or 0)
    return t if t > 0 else 1.0


Heartbeat = Callable[[dict], None]
