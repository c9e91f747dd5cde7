"""updatePolicy: PPO epochs over the step's turn segments, mirroring trainer/update.ts `ppoUpdate`.

A minibatch (`ppo.minibatchSegments` segments) is one optimizer step; its gradient is accumulated over micro-batches
(`ppo.microbatchSegments`, neighbours by length) whose losses carry the whole minibatch's normalisers (losses.py
`aggregation_for_parts`, a sequence = one trajectory), so the step does not depend on how it is split. The critic
(PPO) reads the same forward pass's hidden states, detached: its gradient never reaches the LM or its adapter, and
it sees the features the actor had before this minibatch's step. (The TypeScript critic is a separate model run
after the actor's step; here the value head shares the backbone.) The epochs' shuffle is a torch.Generator seeded
from (seed, step): not the TypeScript Rng's order, but as reproducible.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch

from . import losses as L
from .checkpoint import TrainerState, critic_params
from .model import Heartbeat, device, final_hidden, gather_positions, hash_seed, log_probs_and_entropy, values_at
from .segments import Segment, build_segments, by_length, chunks, segment_batch, to_segments


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def clip_and_step(opt: torch.optim.AdamW, params: Sequence[torch.Tensor], lr: float, max_norm: float) -> float:
    """Global-norm clipping (scale min(1, max/(norm + 1e-6)), as policy/optim.ts), then one AdamW step."""
    norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=False))
    for group in opt.param_groups:
        group["lr"] = lr
    opt.step()
    opt.zero_grad(set_to_none=True)
    return norm


def ppo_update(
    state: TrainerState,
    trajectories: Sequence[dict],
    scores: dict,
    advantages: dict,
    *,
    agent: dict,
    learning_rate: float,
    kl_coef: float,
    temperature: float,
    seed: int,
    step: int,
    heartbeat: Optional[Heartbeat] = None,
) -> dict:
    """Train `state` in place; returns trainer/update.ts UpdateMetrics."""
    ppo, kl = agent["ppo"], agent.get("kl") or {}
    policy = state.policy
    dev = device()
    keep = set(advantages["keep"])
    segments = [s for s in build_segments(trajectories) if s.trajectory in keep]
    use_ref_kl = kl.get("mode") == "loss" and kl_coef > 0 and scores.get("refLogProbs") is not None
    with_critic = policy.value_head is not None and state.critic_optimizer is not None and advantages.get("returns") is not None and scores.get("values") is not None
    size = int(ppo["minibatchSegments"])
    minibatches = -(-len(segments) // size)
    total = int(ppo["epochs"]) * minibatches
    actor_params = list(policy.trainable().values())
    generator = torch.Generator().manual_seed(hash_seed(f"{seed}/update/{step}"))
    torch.manual_seed(hash_seed(f"{seed}/update/{step}/dropout"))  # LoRA dropout, if any: the same on a retry
    history: dict[str, list[float]] = {k: [] for k in ("policyLoss", "clipFraction", "ppoKl", "refKl", "entropy", "grad", "value")}
    trained_tokens, done = 0, 0
    policy.lm.train()
    try:
        for _ in range(int(ppo["epochs"])):
            order = [segments[i] for i in torch.randperm(len(segments), generator=generator).tolist()]
            for m in range(minibatches):
                part = order[m * size : (m + 1) * size]
                for_parts = L.aggregation_for_parts([s.trajectory for s in part], [s.action_length for s in part], ppo.get("normLength"))
                sums = {"policyLoss": 0.0, "clipFraction": 0.0, "ppoKl": 0.0, "refKl": 0.0, "entropy": 0.0, "value": 0.0}
                micro = chunks(by_length(part), int(ppo["microbatchSegments"]))
                for j, piece in enumerate(micro):
                    _micro_step(state, piece, scores, advantages, ppo, kl, kl_coef if use_ref_kl else 0.0, use_ref_kl, with_critic,
                                for_parts([s.trajectory for s in piece]), temperature, dev, sums)
                    if heartbeat and j + 1 < len(micro):  # a big minibatch on CPU can outlast the heartbeat timeout
                        heartbeat({"phase": "update", "done": done, "total": total, "micro": j + 1})
                history["grad"].append(clip_and_step(state.actor_optimizer, actor_params, learning_rate, float(ppo["maxGradNorm"])))
                for key in ("policyLoss", "clipFraction", "ppoKl", "refKl", "entropy"):
                    history[key].append(sums[key])
                if with_critic and state.critic_optimizer is not None:
                    clip_and_step(state.critic_optimizer, list(critic_params(policy).values()), float(ppo["criticLearningRate"]), float(ppo["maxGradNorm"]))
                    history["value"].append(sums["value"])
                trained_tokens += sum(s.action_length for s in part)
                done += 1
                if heartbeat:
                    heartbeat({"phase": "update", "done": done, "total": total})
    finally:
        policy.lm.eval()
    return {
        "policyLoss": _mean(history["policyLoss"]),
        "clipFraction": _mean(history["clipFraction"]),
        "ppoKl": history["ppoKl"][-1] if history["ppoKl"] else 0.0,
        "refKl": _mean(history["refKl"]),
        "entropy": _mean(history["entropy"]),
        "gradNorm": _mean(history["grad"]),
        "valueLoss": _mean(history["value"]),
        "optimizerSteps": done,
        "trainedTokens": trained_tokens,
    }


def _micro_step(state: TrainerState, piece: list[Segment], scores: dict, advantages: dict, ppo: dict, kl: dict, kl_coef: float,
                use_ref_kl: bool, with_critic: bool, options: L.AggregationOptions, temperature: float, dev: torch.device,
                sums: dict[str, float]) -> None:
    """One micro-batch's forward and backward: its loss is its additive share of the minibatch's."""
    policy = state.policy
    batch = segment_batch(piece, dev)
    rows = lambda x: to_segments(x, piece, dev)  # noqa: E731
    hidden = gather_positions(final_hidden(policy.lm, batch.inputs, batch.attention), batch.positions)
    log_probs, entropy = log_probs_and_entropy(policy.lm, hidden, batch.targets, temperature)
    entropy_coef = float(ppo.get("entropyCoef") or 0)
    out = L.actor_loss(
        log_probs, rows(scores["oldLogProbs"]), rows(advantages["advantages"]), batch.mask,
        entropy=entropy if entropy_coef else entropy.detach(),
        ref_log_probs=rows(scores["refLogProbs"]) if use_ref_kl else None,
        entropy_coef=entropy_coef, kl_coef=kl_coef, kl_estimator=kl.get("estimator", "k3"),
        clip_low=float(ppo["clipLow"]), clip_high=float(ppo["clipHigh"]), dual_clip=ppo.get("dualClip"),
        aggregation=ppo["aggregation"], aggregation_options=options,
        behavior_weights=rows(scores["behaviorWeights"]) if scores.get("behaviorWeights") is not None else None,
    )
    out.loss.backward()
    sums["policyLoss"] += float(out.policy_loss.detach())
    sums["clipFraction"] += float(out.clip_fraction.detach())
    sums["ppoKl"] += float(out.ppo_kl.detach())
    sums["refKl"] += float(out.kl.detach())
    sums["entropy"] += float(out.entropy.detach())
    if with_critic and policy.value_head is not None:
        value_loss = L.clipped_value_loss(
            values_at(policy.value_head, hidden.detach()), rows(scores["values"]), rows(advantages["returns"]), batch.mask,
            clip_range=ppo.get("valueClip"), aggregation=ppo["aggregation"], aggregation_options=options,
        ).loss
        value_loss.backward()
        sums["value"] += float(value_loss.detach())
