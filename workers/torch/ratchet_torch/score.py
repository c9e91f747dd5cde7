"""scoreBatch: the log-probs the update's ratio starts from, recomputed by the trainer (trainer/score.ts).

With no gradients: log π_T of each sampled action token (T = the rollouts' temperature), π_T's entropy, the
reference's log-probs (adapter disabled) when a KL term may use them, and the value head's values for PPO, all in
row space. Also how far the rollout engine's recorded `sampleLogProbs` are from the trainer's (engine mismatch).
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch

from .model import Heartbeat, Policy, device, final_hidden, gather_positions, log_probs_and_entropy, values_at
from .losses import off_policy_correction
from .segments import Matrix, build_segments, by_length, chunks, row_mask, sample_rows, segment_batch, write_rows, zeros_like

GROUP_ESTIMATORS = ("grpo", "drgrpo", "rloo", "loop")


def trajectories_to_score(config: dict, trajectories: Sequence[dict]) -> list[int]:
    """trainer/advantages.ts trajectoriesToScore, with one simplification: with GiGPO every trajectory is scored
    (a superset of the flat-group ones its step term keeps; scoring more than needed changes no number)."""
    agent = config.get("agent") or {}
    if config.get("algorithm") not in GROUP_ESTIMATORS or agent.get("stepCredit") == "gigpo":
        return list(range(len(trajectories)))
    rewards: dict[int, list[float]] = {}
    for t in trajectories:
        rewards.setdefault(t["group"], []).append(float(t["reward"]))
    informative = {g for g, r in rewards.items() if max(r) - min(r) > 0}
    return [i for i, t in enumerate(trajectories) if t["group"] in informative]


def score_trajectories(
    policy: Policy,
    trajectories: Sequence[dict],
    *,
    temperature: float,
    microbatch: int,
    with_reference: bool,
    only: Optional[Sequence[int]] = None,
    heartbeat: Optional[Heartbeat] = None,
    policy_version: Optional[int] = None,
) -> tuple[dict, dict]:
    """The `Scores` JSON (trainer/score.ts) and the engine mismatch `{mean, max, tokens}` over the scored tokens
    of the trajectories `policy_version` sampled (stale ones differ by more than the engine: asynchronous training)."""
    keep = set(only) if only is not None else None
    segments = by_length([s for s in build_segments(trajectories) if keep is None or s.trajectory in keep])
    mask = row_mask(trajectories)
    old, ref = zeros_like(mask), (zeros_like(mask) if with_reference else None)
    values = zeros_like(mask) if policy.value_head is not None else None
    entropy_sum, tokens = 0.0, 0
    policy.lm.eval()
    batches = chunks(segments, max(1, microbatch))
    with torch.no_grad():
        for done, part in enumerate(batches, 1):
            batch = segment_batch(part, device())
            hidden = gather_positions(final_hidden(policy.lm, batch.inputs, batch.attention), batch.positions)
            logp, entropy = log_probs_and_entropy(policy.lm, hidden, batch.targets, temperature)
            write_rows(old, part, logp)
            entropy_sum += float((entropy * batch.mask).sum())
            tokens += batch.tokens
            if values is not None and policy.value_head is not None:
                write_rows(values, part, values_at(policy.value_head, hidden))
            if ref is not None:
                with policy.reference() as reference:
                    ref_hidden = gather_positions(final_hidden(reference, batch.inputs, batch.attention), batch.positions)
                    write_rows(ref, part, log_probs_and_entropy(reference, ref_hidden, batch.targets, temperature)[0])
            if heartbeat:
                heartbeat({"phase": "score", "done": done, "total": len(batches)})
    scores: dict = {"oldLogProbs": old}
    if ref is not None:
        scores["refLogProbs"] = ref
    if values is not None:
        scores["values"] = values
    scores["entropy"] = entropy_sum / tokens if tokens else 0.0
    if only is not None:
        scores["scored"] = list(only)
    fresh = [s for s in segments if policy_version is None or int(trajectories[s.trajectory].get("policyVersion", policy_version)) == policy_version]
    return scores, engine_mismatch(old, sample_rows(trajectories), fresh)


def correct_stale_samples(trajectories: Sequence[dict], scores: dict, *, version: int, max_staleness: int, cap: float) -> Optional[dict]:
    """trainer/score.ts correctStaleSamples: with samples an older version drew, adds their behaviour weights to
    `scores` (in place) and returns the off-policy stats; None when every sample is fresh."""
    versions = [int(t["policyVersion"]) for t in trajectories]
    if all(v == version for v in versions):
        return None
    weights, stats = off_policy_correction(
        versions, sample_rows(trajectories), scores["oldLogProbs"], row_mask(trajectories),
        version=version, max_staleness=max_staleness, cap=cap, only=scores.get("scored"),
    )
    scores["behaviorWeights"] = weights
    return stats


def engine_mismatch(trainer: Matrix, sampler: Matrix, segments: Sequence) -> dict:
    """Mean and max |log π_trainer - log π_sampler| in nats over the scored action tokens (0 when none)."""
    diffs = [abs(trainer[s.trajectory][k] - sampler[s.trajectory][k]) for s in segments for k in range(s.row_offset, s.row_offset + s.action_length)]
    return {"mean": sum(diffs) / len(diffs) if diffs else 0.0, "max": max(diffs, default=0.0), "tokens": len(diffs)}

