"""Python half of the LLM section of `npm run bench:policy` (bench/policy-llm.ts): the trainer's speed on synthetic
turn segments through the worker's own code paths, and a torch fp32 matmul peak measured in the same process.

  python -m ratchet_torch.bench_trainer < {"config": RunConfig, "segments": 8, "length": 512, "action": 32,
                                           "reps": 2, "threads": 2, "matmul": 2048}

- score: score.score_trajectories (what scoreBatch runs: no gradients; the reference forward too when the config's
  KL mode asks for one), over `segments` one-turn trajectories whose segment input is `length` tokens, the last
  `action` of them the action;
- update: update.ppo_update (what updatePolicy runs: LoRA forward + backward, clipping, one AdamW step), one epoch,
  all segments one minibatch, micro-batches as the config says, on the scores just computed and random advantages;
- peak: torch.mm of two `matmul` x `matmul` fp32 matrices, best of three rounds, before and after the trainer.

FLOPs (matmuls only), per input token of a length-T segment with A action tokens, N = the decoder blocks' linear
weights, R = the LoRA adapters' weights, D = query heads x head size, L = layers, S = (T + 1) / 2 the mean causal
span, and the LM head (V x C) run on the action positions only (model.gather_positions):
  forward  = 2(N + R) + 4 L D S + 2 V C A / T
  backward = 2(N + R) (activation gradients; the base is frozen, so no weight gradients) + 2 R (adapter gradients)
             + 8 L D S (attention: twice its forward) + 2 V C A / T
Prints one JSON line (the last line of stdout).
"""

from __future__ import annotations

import copy
import json
import sys
import time

import torch


def matmul_peak(n: int, reps: int = 4, rounds: int = 3) -> float:
    """Best fp32 GFLOP/s of n x n x n torch.mm over a few rounds (the machine may be shared)."""
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=gen), torch.randn(n, n, generator=gen)
    c = torch.empty(n, n)
    torch.mm(a, b, out=c)  # warm-up
    best = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b, out=c)
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - started))
    return best / 1e9


def synthetic_trajectories(count: int, length: int, action: int, vocab: int, seed: int) -> list[dict]:
    """`count` one-turn trajectories whose one segment has `length` input tokens, the last `action` the action's."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(count):
        ids = torch.randint(3, vocab, (length + 1,), generator=gen).tolist()
        prompt, act = ids[: length + 1 - action], ids[length + 1 - action :]
        out.append({"group": i, "sample": 0, "reward": float(i % 2), "turns": [{"promptTokens": prompt, "actionTokens": act, "sampleLogProbs": [-1.0] * action}]})
    return out


def flop_counts(policy, length: int, action: int) -> dict:
    """The per-token FLOP terms of the module docstring, from the model's own modules."""
    lm = policy.lm
    cfg = lm.config
    blocks = 0
    for module in lm.model.layers.modules():
        if isinstance(module, torch.nn.Linear):
            blocks += module.weight.numel()
    lora = sum(p.numel() for p in policy.trainable().values()) if policy.peft is not None else 0
    layers = cfg.num_hidden_layers
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    attention_width = cfg.num_attention_heads * head_dim
    span = (length + 1) / 2
    head = 2 * cfg.vocab_size * cfg.hidden_size * action / length
    attention = 4 * layers * attention_width * span
    forward = 2 * (blocks + lora) + attention + head
    backward = 2 * (blocks + lora) + 2 * lora + 2 * attention + head
    return {"blockWeights": blocks, "loraWeights": lora, "layers": layers, "attentionWidth": attention_width, "meanSpan": span,
            "vocab": cfg.vocab_size, "hidden": cfg.hidden_size, "forwardPerToken": forward, "backwardPerToken": backward}


def bench(request: dict) -> dict:
    from .checkpoint import new_state
    from .model import build_policy, configure, init_adapter, loss_temperature
    from .score import score_trajectories
    from .update import ppo_update

    configure(threads=int(request.get("threads") or 0) or None)  # the worker's settings: deterministic kernels, threads
    config = request["config"]
    agent = copy.deepcopy(config["agent"])
    count, length, action = int(request.get("segments", 8)), int(request.get("length", 512)), int(request.get("action", 32))
    reps = max(1, int(request.get("reps", 2)))
    agent["ppo"]["epochs"] = 1
    agent["ppo"]["minibatchSegments"] = count  # one optimizer step per update
    microbatch = int(agent["ppo"].get("microbatchSegments") or 8)
    kl = agent.get("kl") or {}
    with_reference = kl.get("mode", "none") != "none"
    temperature = loss_temperature(config)

    peak_before = matmul_peak(int(request.get("matmul", 2048)))
    started = time.perf_counter()
    policy = build_policy(config, with_critic=config.get("algorithm") == "ppo")
    init_adapter(policy, 1)
    state = new_state(policy)
    load_seconds = time.perf_counter() - started
    vocab = policy.lm.config.vocab_size
    trajectories = synthetic_trajectories(count, length, action, vocab, seed=1)
    gen = torch.Generator().manual_seed(2)
    advantages = {"keep": list(range(count)), "advantages": [[float(x) for x in torch.randn(action, generator=gen).tolist()] for _ in range(count)]}
    if config.get("algorithm") == "ppo":
        advantages["returns"] = [[0.0] * action for _ in range(count)]

    def score() -> dict:
        return score_trajectories(policy, trajectories, temperature=temperature, microbatch=microbatch, with_reference=with_reference)[0]

    def update(step: int, scores: dict) -> dict:
        return ppo_update(state, trajectories, scores, advantages, agent=agent, learning_rate=1e-5, kl_coef=float(kl.get("coef", 0) or 0),
                          temperature=temperature, seed=1, step=step)

    # Warm-up on two short segments: lazy initialisation (kernels, allocator, AdamW state) stays out of the timings.
    warm = synthetic_trajectories(2, 64, min(action, 16), vocab, seed=3)
    score_trajectories(policy, warm, temperature=temperature, microbatch=microbatch, with_reference=with_reference)
    ppo_update(state, warm, score_trajectories(policy, warm, temperature=temperature, microbatch=microbatch, with_reference=with_reference)[0],
               {"keep": [0, 1], "advantages": [[1.0] * min(action, 16), [-1.0] * min(action, 16)], **({"returns": [[0.0] * min(action, 16)] * 2} if "returns" in advantages else {})},
               agent=agent, learning_rate=1e-5, kl_coef=0.0, temperature=temperature, seed=1, step=0)

    score_seconds, update_seconds, metrics = [], [], {}
    for rep in range(reps):
        started = time.perf_counter()
        scores = score()
        score_seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
        metrics = update(rep + 1, scores)
        update_seconds.append(time.perf_counter() - started)
    peak_after = matmul_peak(int(request.get("matmul", 2048)))

    tokens = count * length
    flops = flop_counts(policy, length, action)
    passes = 2 if with_reference else 1
    best_score, best_update = min(score_seconds), min(update_seconds)
    score_gflops = passes * flops["forwardPerToken"] * tokens / best_score / 1e9
    update_gflops = (flops["forwardPerToken"] + flops["backwardPerToken"]) * tokens / best_update / 1e9
    peak = max(peak_before, peak_after)
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "segments": count, "length": length, "action": action, "microbatch": microbatch, "reps": reps,
        "lora": policy.lora, "referenceForward": with_reference, "algorithm": config.get("algorithm"),
        "loadSeconds": load_seconds,
        "matmulSize": int(request.get("matmul", 2048)),
        "matmulPeakGflops": {"before": peak_before, "after": peak_after},
        "scoreSeconds": score_seconds, "updateSeconds": update_seconds,
        "scoreTokensPerSecond": tokens / best_score,
        "forwardTokensPerSecond": passes * tokens / best_score,
        "updateTokensPerSecond": tokens / best_update,
        "flops": flops,
        "scoreGflops": score_gflops, "updateGflops": update_gflops,
        "scoreShareOfPeak": score_gflops / peak, "updateShareOfPeak": update_gflops / peak,
        "updateMetrics": {k: metrics.get(k) for k in ("optimizerSteps", "trainedTokens", "gradNorm")},
    }


def main() -> None:
    print(json.dumps(bench(json.load(sys.stdin))))


if __name__ == "__main__":
    main()
