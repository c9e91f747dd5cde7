"""Format SFT inside initPolicy (`agent.policy.sft`): before RL, the policy learns the task's reply format from the
scripted expert's chats, so the first rollouts are not spent discovering the action syntax.

A demonstration is one whole chat (`tokens`) with the expert's replies marked as spans `[start, length]`
(trainer/llm-demonstrations.ts); everything else is context. The loss is the negative log-likelihood (temperature 1)
of the reply tokens, a token mean over the optimizer step's whole batch: each micro-batch divides by the batch's
reply-token count, so how the batch is split changes no gradient. Only `policy.trainable()` moves (the adapter, or
every weight with `lora: null`), with an AdamW that initPolicy then discards (RL starts from clean moments). Batches
come from epoch-wise shuffles seeded from the run seed, so a retried initPolicy writes the same v0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import torch
from torch import Tensor

from .checkpoint import adamw
from .model import Heartbeat, Policy, device, final_hidden, gather_positions, hash_seed
from .segments import chunks
from .update import clip_and_step

MAX_GRAD_NORM = 1.0
LAST_STEPS = 5  # sftLossLast and sftTokenAccuracy are over the last min(5, steps) steps


@dataclass(frozen=True)
class Demonstration:
    """One chat as model input: `inputs` = the tokens up to the last target's predecessor; input position
    `positions[k]` predicts `targets[k]`."""

    task_id: str
    inputs: list[int]
    positions: list[int]
    targets: list[int]


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def parse_demonstration(index: int, raw: Any) -> Demonstration:
    """One artifact sequence `{taskId, tokens, actions}`, checked (ValueError: retrying cannot fix it)."""
    if isinstance(raw, Demonstration):
        return raw
    if not isinstance(raw, dict) or not isinstance(raw.get("tokens"), list) or not isinstance(raw.get("actions"), list):
        raise ValueError(f"demonstration {index}: expected {{taskId, tokens: int[], actions: [start, length][]}}")
    where = f"demonstration {index} ({raw.get('taskId', '?')})"
    tokens = raw["tokens"]
    if not all(_is_int(t) and t >= 0 for t in tokens):
        raise ValueError(f"{where}: tokens must be non-negative integers")
    spans = raw["actions"]
    if not all(isinstance(s, list) and len(s) == 2 and all(_is_int(x) for x in s) for s in spans):
        raise ValueError(f"{where}: actions must be [start, length] integer pairs")
    positions: list[int] = []
    targets: list[int] = []
    end = 0  # where the last non-empty span ends
    for start, length in sorted(spans):
        if start < 1 or length < 0 or start + length > len(tokens):
            raise ValueError(f"{where}: action span [{start}, {length}] is out of range for {len(tokens)} tokens (needs start >= 1, length >= 0, start + length <= tokens)")
        if length and start < end:
            raise ValueError(f"{where}: action span [{start}, {length}] overlaps the span before it")
        positions.extend(range(start - 1, start + length - 1))  # input position p predicts tokens[p + 1]
        targets.extend(tokens[start : start + length])
        end = start + length if length else end
    inputs = tokens[: positions[-1] + 1] if positions else []  # later tokens cannot reach a target (causal)
    return Demonstration(str(raw.get("taskId", "")), inputs, positions, targets)


def demonstrations(artifact: Any) -> list[Demonstration]:
    """The demonstrations artifact (`{sequences, episodes, expertSuccess}`) as checked Demonstrations."""
    if not isinstance(artifact, dict) or not isinstance(artifact.get("sequences"), list):
        raise ValueError("the demonstrations artifact is not {sequences: [...]}")
    return [parse_demonstration(i, s) for i, s in enumerate(artifact["sequences"])]


def _batch(part: Sequence[Demonstration], dev: torch.device) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Right-padded inputs and attention [B, T]; positions, targets and mask [B, A] (0 on padding)."""
    T = max(len(d.inputs) for d in part)
    A = max(len(d.targets) for d in part)
    fill = lambda xs, n: list(xs) + [0] * (n - len(xs))  # noqa: E731
    as_long = lambda x: torch.tensor(x, dtype=torch.long, device=dev)  # noqa: E731
    inputs = as_long([fill(d.inputs, T) for d in part])  # [B, T]
    attention = as_long([[1] * len(d.inputs) + [0] * (T - len(d.inputs)) for d in part])  # [B, T]
    positions = as_long([fill(d.positions, A) for d in part])  # [B, A]
    targets = as_long([fill(d.targets, A) for d in part])  # [B, A]
    mask = torch.tensor([[1.0] * len(d.targets) + [0.0] * (A - len(d.targets)) for d in part], dtype=torch.float32, device=dev)  # [B, A]
    return inputs, attention, positions, targets, mask


def accumulate(policy: Policy, part: Sequence[Demonstration], microbatch: int, heartbeat: Optional[Heartbeat] = None,
               details: Optional[dict] = None) -> tuple[float, int, int]:
    """Forward and backward of one optimizer step's batch in micro-batches of neighbours by length; the gradients
    add up to those of the batch's token-mean NLL. Returns (loss, greedy hits, action tokens)."""
    dev = device()
    tokens = sum(len(d.targets) for d in part)
    micro = chunks(sorted(part, key=lambda d: len(d.inputs)), max(1, microbatch))
    loss_sum, hits = 0.0, 0
    for j, piece in enumerate(micro):
        inputs, attention, positions, targets, mask = _batch(piece, dev)
        hidden = gather_positions(final_hidden(policy.lm, inputs, attention), positions)  # [B, A, H]
        logits = policy.lm.lm_head(hidden).float()  # [B, A, V]: the LM head at target positions only; temperature 1
        log_probs = torch.log_softmax(logits, -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # [B, A]
        loss = -(log_probs * mask).sum() / tokens  # this micro-batch's share of the batch's token mean
        loss.backward()
        loss_sum += float(loss.detach())
        hits += int(((logits.detach().argmax(-1) == targets).float() * mask).sum())
        if heartbeat:
            heartbeat({"phase": "sft", **(details or {}), "micro": j + 1, "micros": len(micro)})
    return loss_sum, hits, tokens


def sft(
    policy: Policy,
    sequences: Sequence[Union[dict, Demonstration]],
    *,
    steps: int,
    batch_size: int,
    learning_rate: float,
    microbatch: int,
    seed: int,
    heartbeat: Optional[Heartbeat] = None,
) -> dict:
    """Train `policy.trainable()` in place for `steps` AdamW steps of `batch_size` demonstrations; returns metrics."""
    started = time.time()
    if steps < 1 or batch_size < 1:
        raise ValueError(f"sft needs steps >= 1 and batchSize >= 1 (got {steps}, {batch_size})")
    demos = [d for d in (parse_demonstration(i, s) for i, s in enumerate(sequences)) if d.targets]
    if not demos:
        raise ValueError("the demonstrations hold no action tokens to fine-tune on")
    vocab = policy.lm.get_input_embeddings().num_embeddings
    top = max(max(d.inputs + d.targets) for d in demos)
    if top >= vocab:
        raise ValueError(f"a demonstration holds token id {top}, outside the model's vocabulary of {vocab}: tokenized for another model?")
    named = policy.trainable()
    params = list(named.values())
    optimizer = adamw(named)
    generator = torch.Generator().manual_seed(hash_seed(f"{seed}/sft"))
    torch.manual_seed(hash_seed(f"{seed}/sft/dropout"))  # LoRA dropout, if any: the same on a retry
    order: list[int] = []  # the rest of the current epoch's shuffle
    losses: list[float] = []
    last_hits, last_tokens, seen = 0, 0, 0
    policy.lm.train()
    try:
        for k in range(steps):
            while len(order) < batch_size:  # a batch may straddle two epochs' shuffles
                order += torch.randperm(len(demos), generator=generator).tolist()
            part = [demos[i] for i in order[:batch_size]]
            del order[:batch_size]
            loss, hits, tokens = accumulate(policy, part, microbatch, heartbeat, {"done": k, "total": steps})
            clip_and_step(optimizer, params, learning_rate, MAX_GRAD_NORM)
            losses.append(loss)
            seen += tokens
            if k >= steps - LAST_STEPS:
                last_hits += hits
                last_tokens += tokens
    finally:
        optimizer.zero_grad(set_to_none=True)
        policy.lm.eval()
    last = losses[-LAST_STEPS:]
    return {
        "sftSteps": steps,
        "sftLossFirst": losses[0],
        "sftLossLast": sum(last) / len(last),
        "sftTokenAccuracy": last_hits / last_tokens,
        "sftTokens": seen,
        "sftSeconds": round(time.time() - started, 3),
    }
