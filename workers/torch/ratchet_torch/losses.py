"""The trainer's losses in PyTorch: the same definitions as the TypeScript `rl/` (issue 27).

One function per `rl/` function, same formulas, same defaults, same masking. The loss-parity fixture
(`test/fixtures/rl/loss-parity.json`, written from `rl/` by `test/fixtures/rl/loss-parity.ts`) checks every value
and gradient within 1e-6 (`workers/torch/tests/test_losses.py`). Change a definition in both places or in neither.

Batch layout as in `rl/`: tensors [B, T], one row per trajectory or per turn, `mask` 1 on action tokens and 0 on
prompt, tool output and padding. Masked entries are selected away (`torch.where`) *before* any arithmetic, so NaN or
Inf there reaches neither a loss nor a gradient. Any floating dtype works (the fixture checks float64); reductions and
the entropy run in at least float32, per-token terms in the inputs' dtype, so give log-probs in float32 or wider.

Where a function is not differentiable (clips, max/min at ties, |x| at 0) the gradient is tfjs's, so the two
trainers take the same step: a clip passes the gradient on its closed interval (torch.clamp's is 0 at the bounds);
max(a, b) sends it all to `a` when a >= b, min(a, b) to `a` when a <= b (torch.maximum/minimum split a tie);
d|x|/dx is -1 at x = 0 (tfjs's `step(x, -1)`; torch.abs gives 0).

    aggregate_loss       rl/aggregation.ts  aggregateLoss, aggregationForParts
    clipped_policy_loss  rl/policy-loss.ts  clippedPolicyLoss (clip, clip-higher, dual clip)
    actor_loss           rl/policy-loss.ts  ppoActorLoss: pg - c_H*agg(H) + c_KL*agg(KL)
    kl_estimate, kl_loss, apply_kl_penalty   rl/kl.ts (k1, k2, k3, abs)
    clipped_value_loss   rl/value-loss.ts
    entropy_from_logits  rl/entropy.ts
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Literal, Mapping, Optional, Sequence

import torch
from torch import Tensor

AggregationMode = Literal["token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm"]
AGGREGATION_MODES: tuple[str, ...] = ("token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm")
KlEstimator = Literal["k1", "k2", "k3", "abs"]
KL_ESTIMATORS: tuple[str, ...] = ("k1", "k2", "k3", "abs")


# ---------------------------------------------------------------------------------------------- aggregation


@dataclass(frozen=True)
class AggregationOptions:
    """rl/aggregation.ts AggregationOptions: the counts a (micro-)batch is divided by.

    token_count: N_tok (default: the valid tokens of the mask). sequence_count: N_seq (default: rows with a valid
    token; required with sequence_tokens). sequence_tokens: per row, n_s of the sequence the row belongs to (default:
    the row's own count). norm_length: C of seq-mean-token-sum-norm (required by that mode).
    """

    token_count: Optional[float] = None
    sequence_count: Optional[float] = None
    sequence_tokens: Optional[tuple[float, ...]] = None
    norm_length: Optional[float] = None

    _JSON_KEYS = {"tokenCount": "token_count", "sequenceCount": "sequence_count", "sequenceTokens": "sequence_tokens", "normLength": "norm_length"}

    @classmethod
    def from_json(cls, options: Optional[Mapping[str, object]]) -> "AggregationOptions":
        """From the TypeScript contract's camelCase object (unknown keys are an error, not ignored)."""
        options = dict(options or {})
        unknown = set(options) - set(cls._JSON_KEYS)
        if unknown:
            raise ValueError(f"unknown aggregation options: {sorted(unknown)}")
        kwargs = {cls._JSON_KEYS[k]: v for k, v in options.items() if v is not None}
        if "sequence_tokens" in kwargs:
            kwargs["sequence_tokens"] = tuple(kwargs["sequence_tokens"])  # type: ignore[arg-type]
        return cls(**kwargs)  # type: ignore[arg-type]

    def to_json(self) -> dict:
        out: dict = {}
        for key, attr in self._JSON_KEYS.items():
            value = getattr(self, attr)
            if value is not None:
                out[key] = list(value) if attr == "sequence_tokens" else value
        return out


def aggregation_for_parts(
    sequence_ids: Sequence[int], row_tokens: Sequence[float], norm_length: Optional[float] = None
) -> Callable[[Sequence[int]], AggregationOptions]:
    """rl/aggregationForParts: whole-batch counts for a part (micro-batch) given its rows' sequence ids.

    Row r of the batch belongs to sequence `sequence_ids[r]` and has `row_tokens[r]` valid tokens. With these
    options the parts' losses sum to the whole batch's, for every mode and every split.
    """
    if len(sequence_ids) != len(row_tokens):
        raise ValueError(f"{len(sequence_ids)} sequence ids for {len(row_tokens)} rows")
    tokens_of: dict[int, float] = {}
    for sid, n in zip(sequence_ids, row_tokens):
        tokens_of[sid] = tokens_of.get(sid, 0) + n
    token_count = sum(row_tokens)
    sequence_count = sum(1 for n in tokens_of.values() if n > 0)

    def tokens_of_sequence(sid: int) -> float:
        if sid not in tokens_of:
            raise ValueError(f"sequence {sid} is not in the batch")
        return tokens_of[sid]

    def for_part(part_sequence_ids: Sequence[int]) -> AggregationOptions:
        return AggregationOptions(
            token_count=token_count,
            sequence_count=sequence_count,
            sequence_tokens=tuple(tokens_of_sequence(sid) for sid in part_sequence_ids),
            norm_length=norm_length,
        )

    return for_part


def _check_options(mode: str, options: AggregationOptions, rows: int) -> None:
    if mode not in AGGREGATION_MODES:
        raise ValueError(f"unknown aggregation mode {mode!r}")
    if options.sequence_tokens is not None and options.sequence_count is None:
        raise ValueError("sequence_tokens needs sequence_count: rows alone cannot tell how many sequences there are")
    if options.sequence_tokens is not None and len(options.sequence_tokens) != rows:
        raise ValueError(f"{len(options.sequence_tokens)} sequence_tokens for {rows} rows")
    if mode == "seq-mean-token-sum-norm" and not ((options.norm_length or 0) > 0):
        raise ValueError("seq-mean-token-sum-norm needs norm_length (Dr.GRPO's constant C)")


def _valid(mask: Tensor) -> Tensor:
    return mask > 0


def apply_mask(x: Tensor, mask: Tensor) -> Tensor:
    """x with masked entries replaced by 0 (selected, not multiplied, so garbage there cannot leak)."""
    return torch.where(_valid(mask), x, torch.zeros((), dtype=x.dtype, device=x.device))


def _acc_dtype(x: Tensor) -> torch.dtype:
    return torch.promote_types(x.dtype, torch.float32)


def aggregate_loss(
    loss: Tensor, mask: Tensor, mode: AggregationMode = "token-mean", options: Optional[AggregationOptions] = None
) -> Tensor:
    """rl/aggregateLoss: a per-token loss [B, T] to one scalar over the valid tokens.

    token-mean               sum L*m / N_tok
    seq-mean-token-sum       sum L*m / N_seq
    seq-mean-token-mean      (1/N_seq) sum_s (sum_{t in s} L*m / n_s)
    seq-mean-token-sum-norm  sum L*m / (N_seq * C)
    Every count is at least 1.
    """
    options = options or AggregationOptions()
    _check_options(mode, options, loss.shape[0])
    dtype = _acc_dtype(loss)
    valid = _valid(mask)
    m = valid.to(dtype)
    row_sums = apply_mask(loss.to(dtype), valid).sum(1)
    row_tokens = m.sum(1)
    total = row_sums.sum()

    def sequences():
        if options.sequence_count is not None:
            return max(float(options.sequence_count), 1.0)
        return (row_tokens > 0).to(dtype).sum().clamp(min=1)

    if mode == "token-mean":
        n = max(float(options.token_count), 1.0) if options.token_count is not None else m.sum().clamp(min=1)
        return total / n
    if mode == "seq-mean-token-sum":
        return total / sequences()
    if mode == "seq-mean-token-mean":
        if options.sequence_tokens is not None:
            n_s = torch.tensor(options.sequence_tokens, dtype=dtype, device=loss.device)
        else:
            n_s = row_tokens
        return (row_sums / n_s.clamp(min=1)).sum() / sequences()  # rows without tokens give 0
    # seq-mean-token-sum-norm
    return total / (sequences() * float(options.norm_length))  # type: ignore[arg-type]


def _token_rate(x: Tensor, mask: Tensor, options: Optional[AggregationOptions]) -> Tensor:
    """Token mean of a per-token rate over the whole mini-batch's tokens when the options carry them (a metric)."""
    token_count = options.token_count if options is not None else None
    return aggregate_loss(x.detach(), mask, "token-mean", AggregationOptions(token_count=token_count))


def _clip(x: Tensor, low: float, high: float) -> Tensor:
    """clip(x, low, high) with tfjs's gradient: 1 on the closed interval [low, high] (torch.clamp's is 0 at the
    bounds)."""
    return torch.where(x < low, low, torch.where(x > high, high, x))


def _maximum(a: Tensor, b: Tensor) -> Tensor:
    """max(a, b) with tfjs's gradient: all of it to a when a >= b."""
    return torch.where(a >= b, a, b)


def _minimum(a: Tensor, b: Tensor) -> Tensor:
    """min(a, b) with tfjs's gradient: all of it to a when a <= b."""
    return torch.where(a <= b, a, b)


# ---------------------------------------------------------------------------------------------- policy loss


@dataclass
class PolicyLossResult:
    """loss: differentiable. The rest are detached metrics, token means over `token_count` when given:
    clip_fraction (L2 > L1), dual_clip_fraction (A < 0 and Lc > L3), ppo_kl (mean of -log ratio, k1 of
    KL(pi_old || pi_theta))."""

    loss: Tensor
    clip_fraction: Tensor
    dual_clip_fraction: Tensor
    ppo_kl: Tensor


def clipped_policy_loss(
    log_probs: Tensor,
    old_log_probs: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    dual_clip: Optional[float] = 3.0,
    aggregation: AggregationMode = "token-mean",
    aggregation_options: Optional[AggregationOptions] = None,
    behavior_weights: Optional[Tensor] = None,
) -> PolicyLossResult:
    """rl/clippedPolicyLoss. With d = clip(log pi - log pi_old, -20, 20), rho = e^d:

    L1 = -A*rho, L2 = -A*clip(rho, 1 - clip_low, 1 + clip_high), Lc = max(L1, L2),
    L3 = -A*dual_clip, L = min(Lc, L3) where A < 0 else Lc; L = w*L with the stale samples' behaviour weights
    (rl/off-policy.ts, data); loss = agg(L). dual_clip=None turns it off.
    """
    if dual_clip is not None and not dual_clip > 1:
        raise ValueError(f"dual_clip must be > 1, got {dual_clip}")
    log_probs, old_log_probs, advantages = (apply_mask(x, mask) for x in (log_probs, old_log_probs, advantages))
    log_ratio = _clip(log_probs - old_log_probs, -20, 20)
    ratio = torch.exp(log_ratio)
    neg_a = -advantages
    unclipped = neg_a * ratio
    clipped = neg_a * _clip(ratio, 1 - clip_low, 1 + clip_high)
    surrogate = _maximum(unclipped, clipped)
    per_token = surrogate
    dual_clipped = torch.zeros_like(surrogate)
    if dual_clip is not None:
        bound = neg_a * dual_clip
        negative = advantages < 0
        per_token = torch.where(negative, _minimum(surrogate, bound), surrogate)
        dual_clipped = (negative & (surrogate > bound)).to(surrogate.dtype)
    if behavior_weights is not None:
        per_token = per_token * apply_mask(behavior_weights, mask).detach()
    return PolicyLossResult(
        loss=aggregate_loss(per_token, mask, aggregation, aggregation_options),
        clip_fraction=_token_rate((clipped > unclipped).to(surrogate.dtype), mask, aggregation_options),
        dual_clip_fraction=_token_rate(dual_clipped, mask, aggregation_options),
        ppo_kl=_token_rate(-log_ratio, mask, aggregation_options),
    )


@dataclass
class ActorLossResult(PolicyLossResult):
    policy_loss: Tensor
    entropy: Tensor
    kl: Tensor


def actor_loss(
    log_probs: Tensor,
    old_log_probs: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    entropy: Optional[Tensor] = None,
    ref_log_probs: Optional[Tensor] = None,
    entropy_coef: float = 0.0,
    kl_coef: float = 0.0,
    kl_estimator: KlEstimator = "k3",
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    dual_clip: Optional[float] = 3.0,
    aggregation: AggregationMode = "token-mean",
    aggregation_options: Optional[AggregationOptions] = None,
    behavior_weights: Optional[Tensor] = None,
) -> ActorLossResult:
    """rl/ppoActorLoss: loss = pg_loss - c_H*agg(H) + c_KL*agg(KL(pi_theta || pi_ref)), one aggregation for all.

    `entropy` is the per-token entropy [B, T] (entropy_from_logits); `ref_log_probs` log pi_ref of the sampled
    tokens. Each term is computed whenever its input is given (reported even with a zero coefficient).
    """
    if entropy_coef != 0 and entropy is None:
        raise ValueError("entropy_coef set but no entropy given")
    if kl_coef != 0 and ref_log_probs is None:
        raise ValueError("kl_coef set but no ref_log_probs given")
    pg = clipped_policy_loss(
        log_probs,
        old_log_probs,
        advantages,
        mask,
        clip_low=clip_low,
        clip_high=clip_high,
        dual_clip=dual_clip,
        aggregation=aggregation,
        aggregation_options=aggregation_options,
        behavior_weights=behavior_weights,
    )
    zero = torch.zeros((), dtype=pg.loss.dtype, device=pg.loss.device)
    entropy_term = aggregate_loss(entropy, mask, aggregation, aggregation_options) if entropy is not None else zero
    kl_term = (
        kl_loss(log_probs, ref_log_probs, mask, kl_estimator, aggregation, aggregation_options)
        if ref_log_probs is not None
        else zero
    )
    loss = pg.loss - entropy_coef * entropy_term + kl_coef * kl_term
    return ActorLossResult(
        loss=loss,
        clip_fraction=pg.clip_fraction,
        dual_clip_fraction=pg.dual_clip_fraction,
        ppo_kl=pg.ppo_kl,
        policy_loss=pg.loss,
        entropy=entropy_term,
        kl=kl_term,
    )


# ---------------------------------------------------------------------------------------------- KL


def kl_estimate(log_probs: Tensor, ref_log_probs: Tensor, estimator: KlEstimator) -> Tensor:
    """rl/klEstimateTensor, per token, with d = log pi - log pi_ref:

    k1 = d; k2 = d^2/2; k3 = e^x - x - 1 with x = clip(-d, -20, 20), clipped to [-10, 10]; abs = |d|.
    """
    delta = log_probs - ref_log_probs
    if estimator == "k1":
        return delta
    if estimator == "k2":
        return 0.5 * delta.square()
    if estimator == "abs":
        return torch.where(delta > 0, delta, -delta)  # tfjs's gradient: -1 at d = 0
    if estimator == "k3":
        x = _clip(-delta, -20, 20)
        return _clip(torch.exp(x) - x - 1, -10, 10)
    raise ValueError(f"unknown KL estimator {estimator!r}")


def kl_loss(
    log_probs: Tensor,
    ref_log_probs: Tensor,
    mask: Tensor,
    estimator: KlEstimator = "k3",
    aggregation: AggregationMode = "token-mean",
    aggregation_options: Optional[AggregationOptions] = None,
) -> Tensor:
    """rl/klLoss: agg(KL_t) over action tokens; both log-probs are zeroed at masked positions first."""
    per_token = kl_estimate(apply_mask(log_probs, mask), apply_mask(ref_log_probs, mask), estimator)
    return aggregate_loss(per_token, mask, aggregation, aggregation_options)


@dataclass
class KlPenaltyResult:
    """rewards: r_t - beta*KL_t on action tokens, r_t elsewhere. kl: per-token KL on action tokens, 0 elsewhere.
    mean_kl: batch mean of each row's mean KL over its action tokens (rows without any left out), what the adaptive
    controller reads."""

    rewards: Tensor
    kl: Tensor
    mean_kl: float


@torch.no_grad()
def apply_kl_penalty(
    token_rewards: Tensor,
    old_log_probs: Tensor,
    ref_log_probs: Tensor,
    mask: Tensor,
    beta: float,
    estimator: KlEstimator = "k1",
) -> KlPenaltyResult:
    """rl/applyKlPenalty (verl apply_kl_penalty): r_t <- r_t - beta*KL(pi_old, pi_ref)_t * m_t. No gradient."""
    if not (token_rewards.shape == old_log_probs.shape == ref_log_probs.shape == mask.shape):
        raise ValueError(
            f"shapes differ: rewards {tuple(token_rewards.shape)}, old {tuple(old_log_probs.shape)}, "
            f"ref {tuple(ref_log_probs.shape)}, mask {tuple(mask.shape)}"
        )
    valid = _valid(mask)
    kl = apply_mask(kl_estimate(apply_mask(old_log_probs, valid), apply_mask(ref_log_probs, valid), estimator), valid)
    rewards = token_rewards - beta * kl
    counts = valid.sum(1)
    has_tokens = counts > 0
    row_means = kl.sum(1)[has_tokens] / counts[has_tokens].to(kl.dtype)
    mean_kl = float(row_means.sum()) / max(int(has_tokens.sum()), 1)
    return KlPenaltyResult(rewards=rewards, kl=kl, mean_kl=mean_kl)


# ---------------------------------------------------------------------------------------------- value loss


@dataclass
class ValueLossResult:
    """loss: differentiable. clip_fraction: detached, the fraction of action tokens where the clipped error is the
    larger one."""

    loss: Tensor
    clip_fraction: Tensor


def clipped_value_loss(
    values: Tensor,
    old_values: Tensor,
    returns: Tensor,
    mask: Tensor,
    *,
    clip_range: Optional[float] = 0.5,
    aggregation: AggregationMode = "token-mean",
    aggregation_options: Optional[AggregationOptions] = None,
) -> ValueLossResult:
    """rl/clippedValueLoss: v_clip = clip(v, V_old - c, V_old + c); L = 1/2 * agg(max((v - R)^2, (v_clip - R)^2)).

    clip_range=None gives the plain 1/2 * agg((v - R)^2).
    """
    values, old_values, returns = (apply_mask(x, mask) for x in (values, old_values, returns))
    unclipped_error = (values - returns).square()
    per_token = unclipped_error
    clipped_active = torch.zeros_like(unclipped_error)
    if clip_range is not None:
        clipped_values = old_values + _clip(values - old_values, -clip_range, clip_range)
        clipped_error = (clipped_values - returns).square()
        per_token = _maximum(unclipped_error, clipped_error)
        clipped_active = (clipped_error > unclipped_error).to(unclipped_error.dtype)
    return ValueLossResult(
        loss=0.5 * aggregate_loss(per_token, mask, aggregation, aggregation_options),
        clip_fraction=_token_rate(clipped_active, mask, aggregation_options),
    )


# ---------------------------------------------------------------------------------------------- entropy


def entropy_from_logits(logits: Tensor) -> Tensor:
    """rl/entropyFromLogits: logits [..., V] -> H = logsumexp(z) - sum_v softmax(z)_v * z_v, shape [...].

    Computed in at least float32 (bf16 logits are upcast): the two terms are about the size of the top logit and
    cancel, so their rounding error is that size times the dtype's epsilon.
    """
    logits = logits.to(_acc_dtype(logits))
    return torch.logsumexp(logits, -1) - (torch.softmax(logits, -1) * logits).sum(-1)


def off_policy_correction(
    versions: Sequence[int],
    behavior_log_probs: list[list[float]],
    proximal_log_probs: list[list[float]],
    mask: list[list[float]],
    *,
    version: int,
    max_staleness: int,
    cap: float,
    only: Optional[Sequence[int]] = None,
) -> tuple[list[list[float]], dict]:
    """rl/off-policy.ts offPolicyCorrection: AReaL's behaviour weights w = exp(log pi_prox - log pi_behav) for stale
    trajectories (0 where w > cap; 0 for a whole trajectory more than max_staleness versions behind), 1 for fresh
    ones. Returns the row-space weights and the stats {staleness, droppedTrajectories, cappedTokens, meanWeight}."""
    if not cap > 1:
        raise ValueError(f"the importance cap must be > 1, got {cap}")
    keep = set(only) if only is not None else None
    staleness: dict[str, int] = {}
    dropped = capped = weighted = 0
    weight_sum = 0.0
    weights: list[list[float]] = []
    for t, row in enumerate(mask):
        behind = version - int(versions[t])
        if behind < 0:
            raise ValueError(f"trajectory {t} was sampled by version {versions[t]}, newer than the policy being updated ({version})")
        if keep is not None and t not in keep:
            weights.append([float(m) for m in row])
            continue
        staleness[str(behind)] = staleness.get(str(behind), 0) + 1
        if behind == 0:
            weights.append([float(m) for m in row])
        elif behind > max_staleness:
            dropped += 1
            weights.append([0.0 for _ in row])
        else:
            out = []
            for k, m in enumerate(row):
                if m == 0:
                    out.append(0.0)
                    continue
                w = math.exp(min(20.0, max(-20.0, proximal_log_probs[t][k] - behavior_log_probs[t][k])))
                if w > cap:
                    capped += 1
                    out.append(0.0)
                else:
                    weight_sum += w
                    weighted += 1
                    out.append(w)
            weights.append(out)
    stats = {"staleness": staleness, "droppedTrajectories": dropped, "cappedTokens": capped, "meanWeight": weight_sum / weighted if weighted else 1.0}
    return weights, stats
