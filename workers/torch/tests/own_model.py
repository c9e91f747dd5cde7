"""The Python half of test/unit/llm/own-model.test.ts: a model the user brings (a HF directory or a GGUF) through the
torch worker's own activities, with a local artifact store.

  python workers/torch/tests/own_model.py publish --model DIR_OR_GGUF --artifacts ROOT
      initPolicy (v0: the base, LoRA on the 7 default projections) -> then v1: v0's checkpoint with every LoRA B
      drawn at random (a trained-like adapter: W + BA differs from W), saved and published by syncWeights.
      Prints {"v0": PolicyRef, "v1": PolicyRef}.
  python workers/torch/tests/own_model.py check --model DIR_OR_GGUF --artifacts ROOT < {"sequences", "trajectories", "policy"}
      transformers fp32 log-probs of the pristine model on each sequence {prompt, continuation} (bench_engines
      reference), and scoreBatch of the trajectories under `policy` (the trainer's log-probs
      and its engine mismatch against the sampler's sampleLogProbs). Prints {"reference", "mismatch", "oldLogProbs"}.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # workers/torch: the ratchet_torch package

import torch  # noqa: E402

from ratchet_torch import activities as A, bench_engines  # noqa: E402
from ratchet_torch.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from ratchet_torch.model import configure  # noqa: E402
from ratchet_torch.store import LocalArtifactStore, llm_checkpoint_key  # noqa: E402

RUN = "own-model"


def config(model: str) -> dict:
    return {
        "seed": 7,
        "algorithm": "grpo",
        "agent": {
            "policy": {"kind": "llm", "model": model, "lora": {"rank": 4, "alpha": 8, "dropout": 0}, "shots": 0},
            "stepCredit": "none",
            "sampling": {"temperature": 0.7},
            "ppo": {"microbatchSegments": 4},
            "kl": {"mode": "none"},
        },
    }


def publish(model: str) -> dict:
    cfg = config(model)
    v0 = A.init_policy({"runId": RUN, "config": cfg})
    state, _ = load_checkpoint(A.store(), v0["checkpoint"], cfg)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in state.policy.trainable().items():
            if "lora_B" in name:
                p.copy_(0.2 * torch.randn(p.shape, generator=generator))
    checkpoint = save_checkpoint(A.store(), llm_checkpoint_key(RUN, 1), state, version=1, step=1)
    v1 = A.sync_weights({"runId": RUN, "config": cfg, "checkpoint": {**checkpoint, "version": 1, "step": 1}})
    return {"v0": v0, "v1": v1}


def check(model: str, request: dict) -> dict:
    rollouts = A.store().put_json(f"runs/{RUN}/step-000000/rollouts-0.json", request["trajectories"])
    result = A.score_batch({"runId": RUN, "step": 0, "config": config(model), "rollouts": [{"key": rollouts["key"], "sha256": rollouts["sha256"]}], "policy": request["policy"]})
    scores = A.store().get_json(result["scores"])
    reference = bench_engines.reference(model, {"sequences": request["sequences"]})["logprobs"]
    return {"reference": reference, "mismatch": result["mismatch"], "oldLogProbs": scores["oldLogProbs"]}


def main() -> None:
    parser = argparse.ArgumentParser(prog="own_model.py")
    parser.add_argument("command", choices=["publish", "check"])
    parser.add_argument("--model", required=True)
    parser.add_argument("--artifacts", required=True)
    args = parser.parse_args()
    configure(2)
    A.set_store(LocalArtifactStore(args.artifacts))
    out = publish(args.model) if args.command == "publish" else check(args.model, json.load(sys.stdin))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
