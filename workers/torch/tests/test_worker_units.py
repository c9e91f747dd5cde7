"""Unit tests of the torch worker (issue 27): the artifact store, segments, checkpoints, and score + update on the
real SmolLM2-135M (LoRA rank 2 on two projections, two short hand-made trajectories) through the activity functions.

    PYTHONPATH=workers/torch .tools/venv/bin/python -m unittest discover -s workers/torch/tests -p 'test_worker*.py'

The model tests need the pulled model (`npm run ratchet -- models pull smollm2-135m-instruct`) and are skipped
without it. ~1-2 minutes on 2 cores, most of it the model load. The ONNX export (syncWeights) is slow and writes
650 MB, so its test runs only with RATCHET_TORCH_SLOW_TESTS=1.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # workers/torch: the ratchet_torch package

import torch  # noqa: E402
from temporalio.exceptions import ApplicationError  # noqa: E402

from ratchet_torch import activities as A  # noqa: E402
from ratchet_torch.checkpoint import checkpoint_bytes, load_checkpoint, new_state, read_metadata, save_checkpoint  # noqa: E402
from ratchet_torch.model import build_policy, configure, hash_seed, init_adapter, models_dir  # noqa: E402
from ratchet_torch.segments import build_segments, row_mask, sample_rows  # noqa: E402
from ratchet_torch.sft import accumulate, demonstrations, sft  # noqa: E402
from ratchet_torch.store import ArtifactIntegrityError, LocalArtifactStore, llm_checkpoint_key, policy_key, step_key  # noqa: E402

MODEL = "smollm2-135m-instruct"
HAVE_MODEL = (models_dir() / MODEL / "SmolLM2-135M-Instruct.Q4_1.gguf").is_file()


def turn(prompt: list[int], action: list[int]) -> dict:
    return {"context": "", "promptTokens": prompt, "actionTokens": action, "sampleLogProbs": [-1.0] * len(action),
            "action": "", "observation": "", "error": False, "nextContext": ""}


def trajectory(group: int, sample: int, reward: float, turns: list[dict]) -> dict:
    return {"taskId": f"task-{group}", "group": group, "sample": sample, "seed": 1, "policyVersion": 0, "turns": turns,
            "reward": reward, "success": reward > 0, "finishReason": "done", "envErrors": 0, "metrics": {}}


def config(algorithm: str = "grpo", kl_mode: str = "loss") -> dict:
    return {
        "seed": 11,
        "algorithm": algorithm,
        "agent": {
            "policy": {"kind": "llm", "model": MODEL, "lora": {"rank": 2, "alpha": 4, "dropout": 0, "targetModules": ["q_proj", "v_proj"]}, "shots": 0},
            "stepCredit": "none",
            "sampling": {"temperature": 0.7},
            "ppo": {"epochs": 2, "minibatchSegments": 2, "microbatchSegments": 1, "clipLow": 0.2, "clipHigh": 0.28, "dualClip": 3,
                    "aggregation": "seq-mean-token-mean", "normLength": 1024, "entropyCoef": 0.01, "maxGradNorm": 1.0,
                    "criticLearningRate": 1e-3, "valueClip": 0.5},
            "kl": {"mode": kl_mode, "coef": 0.05, "estimator": "k3"},
        },
    }


class StoreTest(unittest.TestCase):
    def test_round_trip_sidecar_and_integrity(self) -> None:
        with tempfile.TemporaryDirectory() as root:
            store = LocalArtifactStore(root)
            ref = store.put("runs/r1/step-000001/x.bin", b"hello")
            self.assertEqual(ref, {"key": "runs/r1/step-000001/x.bin", "sha256": "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", "bytes": 5})
            self.assertEqual(Path(root, "runs/r1/step-000001/x.bin.sha256").read_text(), ref["sha256"])
            self.assertEqual(store.get(ref["key"], ref["sha256"]), b"hello")
            self.assertEqual(store.get(ref["key"]), b"hello")  # checked against the sidecar
            self.assertEqual([p.name for p in Path(root, "runs/r1/step-000001").iterdir() if p.name.endswith(".tmp")], [])
            with self.assertRaises(ArtifactIntegrityError):
                store.get(ref["key"], "0" * 64)
            Path(root, "runs/r1/step-000001/x.bin").write_bytes(b"tampered")
            with self.assertRaisesRegex(ArtifactIntegrityError, "does not match"):
                store.get(ref["key"])
            for bad in ("../x", "a//b", "a/./b", "/abs", "a b", ""):
                with self.assertRaises(ValueError, msg=bad):
                    store.put(bad, b"")

    def test_keys(self) -> None:
        self.assertEqual(step_key("r", 3, "scores.json"), "runs/r/step-000003/scores.json")
        self.assertEqual(llm_checkpoint_key("r", 2), "runs/r/checkpoints/v000002.safetensors")
        self.assertEqual(policy_key("r", 2), "runs/r/policy/v000002.onnx")
        self.assertEqual(hash_seed("1/update/0"), int.from_bytes(__import__("hashlib").sha256(b"1/update/0").digest()[:4], "big") & 0x7FFFFFFF)

    def test_prune_exports_keeps_the_newest_graphs_and_every_checkpoint(self) -> None:
        from ratchet_torch.sync import keep_exports, prune_exports

        with tempfile.TemporaryDirectory() as root:
            store = LocalArtifactStore(root)
            for v in range(4):
                store.put(policy_key("r", v), b"graph%d" % v)
                store.put(llm_checkpoint_key("r", v), b"ckpt")
            store.put(policy_key("other", 0), b"graph")
            self.assertEqual(prune_exports(store, "r", 3, None), [])
            self.assertEqual(prune_exports(store, "r", 3, 2), [policy_key("r", 0), policy_key("r", 1)])
            self.assertEqual(store.keys_under("runs/r/policy"), [policy_key("r", 2), policy_key("r", 3)])
            self.assertFalse(Path(root, "runs/r/policy/v000000.onnx.sha256").exists())
            self.assertEqual(len(store.keys_under("runs/r/checkpoints")), 4)
            self.assertTrue(store.has(policy_key("other", 0)))
            self.assertEqual(prune_exports(store, "r", 3, 2), [])  # a retried sync finds nothing left to delete
            self.assertEqual(prune_exports(store, "r", 3, 1, evaluating=[2]), [])  # a running evaluation reads v2
            self.assertEqual(prune_exports(store, "r", 3, 1), [policy_key("r", 2)])
            self.assertEqual(keep_exports({"agent": {"policy": {"kind": "llm", "keepExports": 3}}}), 3)
            self.assertIsNone(keep_exports({}))

    def test_integrity_error_is_non_retryable_activity_error(self) -> None:
        with tempfile.TemporaryDirectory() as root:
            A.set_store(LocalArtifactStore(root))
            ref = A.store().put("runs/r/checkpoints/v000000.safetensors", b"x")
            with self.assertRaises(ApplicationError) as caught:
                A.sync_weights({"runId": "r", "step": 0, "config": config(), "checkpoint": {"key": ref["key"], "sha256": "f" * 64, "version": 0, "step": 0}})
            self.assertEqual((caught.exception.type, caught.exception.non_retryable), ("ArtifactIntegrityError", True))


class SegmentsTest(unittest.TestCase):
    def test_hand_example(self) -> None:
        trajectories = [
            trajectory(0, 0, 1.0, [turn([1, 2, 3], [4, 5]), turn([6], []), turn([7, 8], [9])]),
            trajectory(0, 1, 0.0, [turn([1, 2], [3, 4, 5, 6])]),
        ]
        got = [(s.trajectory, s.turn, s.inputs, s.targets, s.action_start, s.action_length, s.row_offset) for s in build_segments(trajectories)]
        self.assertEqual(got, [
            (0, 0, [1, 2, 3, 4], [2, 3, 4, 5], 2, 2, 0),
            (0, 2, [7, 8], [8, 9], 1, 1, 2),
            (1, 0, [1, 2, 3, 4, 5], [2, 3, 4, 5, 6], 1, 4, 0),
        ])
        self.assertEqual(row_mask(trajectories), [[1, 1, 1, 0], [1, 1, 1, 1]])
        self.assertEqual(row_mask([trajectory(0, 0, 0.0, [turn([1], [])])]), [[0]])
        self.assertEqual(sample_rows(trajectories), [[-1, -1, -1, 0], [-1, -1, -1, -1]])


@unittest.skipUnless(HAVE_MODEL, f"model {MODEL} not pulled")
class ModelTest(unittest.TestCase):
    """Score and update through the activity functions on SmolLM2-135M, in a throwaway store."""

    @classmethod
    def setUpClass(cls) -> None:
        configure()
        cls.tmp = tempfile.TemporaryDirectory()
        A.set_store(LocalArtifactStore(cls.tmp.name))
        cls.store = A.store()
        cls.config = config("ppo")
        policy = build_policy(cls.config, with_critic=True)
        init_adapter(policy, 5)
        cls.v0 = save_checkpoint(cls.store, llm_checkpoint_key("r", 0), new_state(policy), 0, 0)
        cls.policy_ref = {"version": 0, "key": policy_key("r", 0), "sha256": "0" * 64, "checkpoint": cls.v0}
        cls.trajectories = [
            trajectory(0, 0, 1.0, [turn([1, 9690, 198, 2683, 359, 253], [5356, 30, 2]), turn([1, 4093, 198, 504], [3575, 282])]),
            trajectory(0, 1, 0.0, [turn([1, 9690, 198, 2683, 359, 253], [4649, 314, 2])]),
        ]

    @classmethod
    def tearDownClass(cls) -> None:
        cls.tmp.cleanup()

    def put_rollouts(self, trajectories: list[dict], name: str) -> tuple[list[dict], dict]:
        shard = self.store.put(step_key("r", 0, f"rollouts/{name}.json"), json.dumps(trajectories).encode())
        rewards = self.store.put_json(step_key("r", 0, f"rewards-{name}.json"), [{"group": t["group"], "sample": t["sample"], "reward": t["reward"], "success": t["success"]} for t in trajectories])
        return [{"key": shard["key"], "sha256": shard["sha256"]}], rewards

    def score(self, trajectories: list[dict], name: str) -> tuple[dict, dict, list[dict]]:
        rollouts, rewards = self.put_rollouts(trajectories, name)
        result = A.score_batch({"runId": "r", "step": 0, "config": self.config, "rollouts": rollouts, "rewards": rewards, "policy": self.policy_ref})
        return result, self.store.get_json(result["scores"]), rollouts

    def test_checkpoint_bytes_identical_for_identical_state(self) -> None:
        state, meta = load_checkpoint(self.store, self.v0, self.config)
        self.assertEqual(checkpoint_bytes(state, 0, 0), self.store.get(self.v0["key"]))
        self.assertEqual((meta["version"], meta["step"], meta["model"], meta["lora"]["rank"]), (0, 0, MODEL, 2))
        again = build_policy(self.config, with_critic=True)
        init_adapter(again, 5)  # the same seed: the same adapter
        self.assertEqual(checkpoint_bytes(new_state(again), 0, 0), self.store.get(self.v0["key"]))
        self.assertEqual(read_metadata(checkpoint_bytes(new_state(again), 3, 4))["step"], 4)

    def test_score_mismatch_is_zero_with_the_trainers_own_log_probs(self) -> None:
        result, scores, _ = self.score(self.trajectories, "own")
        self.assertEqual(result["mismatch"]["tokens"], 8)
        self.assertGreater(result["mismatch"]["mean"], 0.1)  # the placeholder -1s
        self.assertEqual(set(scores), {"oldLogProbs", "refLogProbs", "values", "entropy"})
        self.assertEqual([len(r) for r in scores["oldLogProbs"]], [5, 5])
        self.assertEqual(scores["oldLogProbs"][1][3:], [0.0, 0.0])
        # v0's adapter is the identity (B = 0): the reference's log-probs are the policy's.
        self.assertAlmostEqual(max(abs(a - b) for ra, rb in zip(scores["oldLogProbs"], scores["refLogProbs"]) for a, b in zip(ra, rb)), 0.0, places=5)
        own = json.loads(json.dumps(self.trajectories))
        for t, row in zip(own, scores["oldLogProbs"]):
            offset = 0
            for tr in t["turns"]:
                tr["sampleLogProbs"] = row[offset : offset + len(tr["actionTokens"])]
                offset += len(tr["actionTokens"])
        again, _, _ = self.score(own, "own-again")
        self.assertLess(again["mismatch"]["max"], 1e-5)

    def test_group_estimators_score_informative_groups_only(self) -> None:
        flat = self.trajectories + [trajectory(1, 0, 0.0, [turn([1, 2, 3], [4])]), trajectory(1, 1, 0.0, [turn([1, 2, 3], [5])])]
        rollouts, rewards = self.put_rollouts(flat, "flat")
        cfg = config("grpo", kl_mode="none")
        result = A.score_batch({"runId": "r", "step": 0, "config": cfg, "rollouts": rollouts, "rewards": rewards, "policy": self.policy_ref})
        scores = self.store.get_json(result["scores"])
        self.assertEqual(scores["scored"], [0, 1])
        self.assertNotIn("refLogProbs", scores)
        self.assertEqual(scores["oldLogProbs"][2], [0.0] * 5)

    def test_update_is_reproducible_and_trains_the_adapter(self) -> None:
        _, scores, rollouts = self.score(self.trajectories, "update")
        advantages = self.store.put_json(step_key("r", 0, "advantages.json"), {
            "advantages": [[1.0] * 5, [-1.0, -1.0, -1.0, 0.0, 0.0]],
            "returns": [[1.0] * 5, [0.0] * 5],
            "keep": [0, 1], "flatGroups": 0, "meanKl": 0,
        })
        request = {"runId": "r", "step": 0, "config": self.config, "policy": self.policy_ref, "rollouts": rollouts,
                   "scores": {"key": step_key("r", 0, "scores.json"), "sha256": self.store.put_json(step_key("r", 0, "scores.json"), scores)["sha256"]},
                   "advantages": advantages, "learningRate": 1e-3, "klCoef": 0.05}
        first = A.update_policy(request)
        second = A.update_policy(request)  # a retry: starts from v0 again and writes the same bytes
        self.assertEqual(first, second)
        self.assertEqual((first["checkpoint"]["version"], first["checkpoint"]["step"]), (1, 1))
        metrics = first["metrics"]
        self.assertEqual((metrics["optimizerSteps"], metrics["trainedTokens"], metrics["backend"]), (4, 16, "torch-cpu"))
        self.assertGreater(metrics["gradNorm"], 0)
        self.assertGreater(metrics["valueLoss"], 0)
        self.assertEqual(first["kl"], metrics["ppoKl"])
        # A LoRA state lives in the worker's one cached adapter: copy v0's weights before loading v1 over them.
        before = {n: p.detach().clone() for n, p in load_checkpoint(self.store, self.v0, self.config)[0].policy.trainable().items()}
        v1, meta = load_checkpoint(self.store, first["checkpoint"], self.config)
        self.assertEqual((meta["actorOptimizerStep"], meta["criticOptimizerStep"]), (4, 4))
        after = v1.policy.trainable()
        lora_b = [n for n in before if "lora_B" in n]
        self.assertEqual(len(lora_b), 2 * 30)
        self.assertTrue(all(float(before[n].abs().max()) == 0 for n in lora_b))
        self.assertTrue(all(float(after[n].abs().max()) > 0 for n in lora_b))
        self.assertGreater(float(v1.policy.value_head.weight.abs().max()), 0)
        # The update raised the log-probs of the positive-advantage trajectory's tokens.
        v1_ref = {**self.policy_ref, "version": 1, "checkpoint": {"key": first["checkpoint"]["key"], "sha256": first["checkpoint"]["sha256"]}}
        rollouts, rewards = self.put_rollouts(self.trajectories, "after")
        after_scores = self.store.get_json(A.score_batch({"runId": "r", "step": 1, "config": self.config, "rollouts": rollouts, "rewards": rewards, "policy": v1_ref})["scores"])
        self.assertGreater(sum(after_scores["oldLogProbs"][0]), sum(scores["oldLogProbs"][0]))

    @unittest.skipUnless(os.environ.get("RATCHET_TORCH_SLOW_TESTS") == "1", "set RATCHET_TORCH_SLOW_TESTS=1 to export ONNX")
    def test_sync_exports_onnx_deterministically(self) -> None:
        first = A.sync_weights({"runId": "r", "step": 0, "config": self.config, "checkpoint": {**self.v0, "version": 0, "step": 0}})
        second = A.sync_weights({"runId": "r", "step": 0, "config": self.config, "checkpoint": {**self.v0, "version": 0, "step": 0}})
        self.assertEqual(first, second)
        self.assertEqual(first["key"], policy_key("r", 0))


    def test_server_runs_get_each_versions_adapter_peft_for_vllm_gguf_for_llama_cpp(self) -> None:
        import gguf
        from safetensors.torch import load_file
        from ratchet_torch.gguf_lora import rotary_rows
        from ratchet_torch.sync import adapter_target, write_adapter

        state, _ = load_checkpoint(self.store, self.v0, self.config)
        torch.manual_seed(3)
        with torch.no_grad():  # a trained-looking adapter: v0's B is zero, which would hide a wrong row order
            for name, p in state.policy.peft.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.01)

        def served(protocol: str, path: str) -> dict:
            policy = {**self.config["agent"]["policy"], "rollout": {"engine": "openai", "protocol": protocol, "adapterPath": path}}
            return {**self.config, "agent": {**self.config["agent"], "policy": policy}}

        self.assertIsNone(adapter_target(self.config, "r", 3))
        self.assertIsNone(adapter_target(served("ratchet", "/x/{version}"), "r", 3))
        form, path = adapter_target(served("vllm", os.path.join(self.tmp.name, "adapters", "{run}", "v{version}")), "r", 3)
        self.assertEqual((form, path), ("peft", Path(self.tmp.name, "adapters", "r", "v3")))
        write_adapter(form, path, state.policy)
        write_adapter(form, path, state.policy)  # a retry replaces it whole
        self.assertEqual(json.loads((path / "adapter_config.json").read_text())["r"], 2)
        saved = load_file(str(path / "adapter_model.safetensors"))
        trained = {n for n, _ in state.policy.peft.named_parameters() if "lora_" in n}
        self.assertEqual(len(saved), len(trained))
        self.assertTrue(all("lora_A" in k or "lora_B" in k for k in saved))
        self.assertEqual(sorted(os.listdir(path.parent)), ["v3"])  # no staging directory left behind
        # Publishing for a vLLM server writes the adapter and no ONNX graph: the reference is the checkpoint.
        from ratchet_torch.sync import publish

        ref = publish(self.store, "r", 4, state.policy, self.v0, served("vllm", os.path.join(self.tmp.name, "adapters", "{run}", "v{version}")))
        self.assertEqual(ref, {"version": 4, "key": self.v0["key"], "sha256": self.v0["sha256"], "checkpoint": {"key": self.v0["key"], "sha256": self.v0["sha256"]}})
        self.assertTrue(Path(self.tmp.name, "adapters", "r", "v4", "adapter_model.safetensors").is_file())
        self.assertFalse(self.store.has(policy_key("r", 4)))

        # llama-cpp: the GGUF holds every A and B under llama.cpp's names; q's B rows in its rotary order.
        form, path = adapter_target(served("llama-cpp", os.path.join(self.tmp.name, "gguf", "{run}-v{version}.gguf")), "r", 3)
        self.assertEqual((form, path), ("gguf", Path(self.tmp.name, "gguf", "r-v3.gguf")))
        write_adapter(form, path, state.policy)
        reader = gguf.GGUFReader(str(path))
        self.assertEqual(bytes(reader.fields["adapter.type"].parts[-1]).decode(), "lora")
        self.assertEqual(float(reader.fields["adapter.lora.alpha"].parts[-1][0]), 4.0)
        tensors = {t.name: t for t in reader.tensors}
        self.assertEqual(len(tensors), len(saved))
        q_b = saved["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"]
        heads = state.policy.peft.get_base_model().config.num_attention_heads
        self.assertTrue(torch.equal(torch.from_numpy(tensors["blk.0.attn_q.weight.lora_b"].data.copy()).reshape(q_b.shape), rotary_rows(q_b.float(), heads)))
        v_a = saved["base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight"]
        self.assertTrue(torch.equal(torch.from_numpy(tensors["blk.0.attn_v.weight.lora_a"].data.copy()).reshape(v_a.shape), v_a.float()))


class ConfigErrorsTest(unittest.TestCase):
    def test_builtin_policy_and_unknown_model_are_invalid_run_configs(self) -> None:
        with tempfile.TemporaryDirectory() as root:
            A.set_store(LocalArtifactStore(root))
            builtin = {**config(), "agent": {**config()["agent"], "policy": {"kind": "builtin"}}}
            missing = {**config(), "agent": {**config()["agent"], "policy": {**config()["agent"]["policy"], "model": "/nope/model.gguf"}}}
            for cfg, pattern in ((builtin, "LLM policies only"), (missing, "unknown model")):
                with self.assertRaisesRegex(ApplicationError, pattern) as caught:
                    A.init_policy({"runId": "r", "config": cfg})
                self.assertEqual((caught.exception.type, caught.exception.non_retryable), ("InvalidRunConfig", True))



def demo(task: str, seed: int, length: int, spans: list[list[int]]) -> dict:
    """A demonstration of arbitrary token ids (BOS first) with the given `[start, length]` action spans."""
    rng = random.Random(seed)
    return {"taskId": task, "tokens": [1] + [rng.randrange(200, 8000) for _ in range(length - 1)], "actions": spans}


# 40-80 tokens each; the tokens after the last span are never run (nothing after it is a target).
SFT_DEMOS = [demo("t/0", 1, 40, [[10, 6], [30, 8]]), demo("t/1", 2, 56, [[20, 12]]),
             demo("t/2", 3, 64, [[8, 5], [24, 8]]), demo("t/3", 4, 80, [[30, 10]])]
SFT_KEYS = {"sftSteps", "sftLossFirst", "sftLossLast", "sftTokenAccuracy", "sftTokens", "sftSeconds"}


def with_sft(cfg: dict, steps: int = 2, batch_size: int = 2) -> dict:
    policy = {**cfg["agent"]["policy"], "sft": {"steps": steps, "batchSize": batch_size, "learningRate": 1e-2}}
    return {**cfg, "agent": {**cfg["agent"], "policy": policy}}


class OnnxSizeTest(unittest.TestCase):
    def test_a_graph_whose_weights_spill_into_side_files_is_refused(self) -> None:
        from ratchet_torch import sync

        def fake_export(model, out):  # what torch's exporter does past 2 GiB: weights beside the graph
            Path(out).write_bytes(b"graph")
            Path(out).with_name("model.embed_tokens.weight").write_bytes(b"w" * 1024)
            return {}

        with mock.patch.object(sync, "export_onnx", fake_export):
            with self.assertRaisesRegex(ValueError, "2 GiB single-file limit"):
                sync.onnx_bytes(torch.nn.Linear(1, 1))

        def small_export(model, out):
            Path(out).write_bytes(b"graph")
            return {}

        with mock.patch.object(sync, "export_onnx", small_export):
            self.assertEqual(sync.onnx_bytes(torch.nn.Linear(1, 1)), b"graph")


class SftInputTest(unittest.TestCase):
    """initPolicy's SFT inputs are checked before the model loads: bad ones are non-retryable InvalidInput."""

    def test_sft_and_demonstrations_come_together_and_spans_are_checked(self) -> None:
        with tempfile.TemporaryDirectory() as root:
            A.set_store(LocalArtifactStore(root))
            ref = A.store().put_json("runs/r/demonstrations.json", {"sequences": SFT_DEMOS, "episodes": 4, "expertSuccess": 1.0})
            bad = A.store().put_json("runs/r/bad.json", {"sequences": [demo("t/9", 9, 20, [[15, 6]])], "episodes": 1, "expertSuccess": 1.0})
            cases = (({"config": with_sft(config())}, "got no demonstrations"), ({"config": config(), "demonstrations": ref}, "sft is not set"),
                     ({"config": with_sft(config()), "demonstrations": bad}, r"span \[15, 6\] is out of range"))
            for extra, pattern in cases:
                with self.assertRaisesRegex(ApplicationError, pattern) as caught:
                    A.init_policy({"runId": "r", **extra})
                self.assertEqual((caught.exception.type, caught.exception.non_retryable), ("InvalidInput", True))

    def test_spans_become_shifted_positions(self) -> None:
        (d,) = demonstrations({"sequences": [{"taskId": "t", "tokens": [1, 2, 3, 4, 5, 6, 7, 8], "actions": [[5, 2], [1, 2]]}]})
        self.assertEqual((d.inputs, d.positions, d.targets), ([1, 2, 3, 4, 5, 6], [0, 1, 4, 5], [2, 3, 6, 7]))
        for actions in ([[0, 2]], [[7, 2]], [[3, -1]], [[2, 3], [4, 1]], [[1]], "x"):
            with self.assertRaises(ValueError, msg=str(actions)):
                demonstrations({"sequences": [{"tokens": [1, 2, 3, 4, 5, 6, 7, 8], "actions": actions}]})
        with self.assertRaises(ValueError):
            demonstrations([{"tokens": [1, 2], "actions": [[1, 1]]}])  # not the artifact object


@unittest.skipUnless(HAVE_MODEL, f"model {MODEL} not pulled")
class SftTest(unittest.TestCase):
    """Format SFT on SmolLM2-135M (LoRA rank 2 on q/v) with four tiny demonstrations; ~1 minute on 2 cores."""

    @classmethod
    def setUpClass(cls) -> None:
        configure()
        cls.config = config("grpo")
        cls.policy = build_policy(cls.config, with_critic=False)

    def run_sft(self, steps: int, batch_size: int = 4, microbatch: int = 4) -> tuple[dict, bytes]:
        init_adapter(self.policy, 5)
        metrics = sft(self.policy, SFT_DEMOS, steps=steps, batch_size=batch_size, learning_rate=1e-2, microbatch=microbatch, seed=11)
        return metrics, checkpoint_bytes(new_state(self.policy), 0, 0)

    def test_loss_decreases_on_a_repeated_set(self) -> None:
        metrics, _ = self.run_sft(6)
        self.assertEqual(set(metrics), SFT_KEYS)
        self.assertEqual((metrics["sftSteps"], metrics["sftTokens"]), (6, 6 * 49))
        self.assertLess(metrics["sftLossLast"], metrics["sftLossFirst"] - 0.5)
        self.assertTrue(0 <= metrics["sftTokenAccuracy"] <= 1)
        self.assertFalse(self.policy.lm.training)
        self.assertTrue(all(p.grad is None for p in self.policy.trainable().values()))

    def test_same_seed_gives_identical_adapter_bytes(self) -> None:
        first, second = self.run_sft(3, batch_size=3), self.run_sft(3, batch_size=3)  # 9 picks of 4: straddles epochs
        self.assertEqual(first[1], second[1])
        self.assertEqual({**first[0], "sftSeconds": 0}, {**second[0], "sftSeconds": 0})
        init_adapter(self.policy, 5)
        self.assertNotEqual(checkpoint_bytes(new_state(self.policy), 0, 0), first[1])

    def test_micro_batches_do_not_change_loss_or_gradient(self) -> None:
        init_adapter(self.policy, 5)
        generator = torch.Generator().manual_seed(3)
        named = self.policy.trainable()
        for name, p in named.items():  # B != 0, so A gets a gradient too
            if "lora_B" in name:
                p.data.copy_(torch.randn(p.shape, generator=generator) * 0.01)
        parts = demonstrations({"sequences": SFT_DEMOS})
        runs = []
        for microbatch in (4, 1):
            loss, hits, tokens = accumulate(self.policy, parts, microbatch)
            runs.append((loss, hits, tokens, {n: p.grad.detach().clone() for n, p in named.items()}))
            for p in named.values():
                p.grad = None
        (loss4, hits4, tokens4, grads4), (loss1, hits1, tokens1, grads1) = runs
        self.assertEqual((tokens4, tokens1, hits4), (49, 49, hits1))
        self.assertAlmostEqual(loss4, loss1, delta=1e-5)
        scale = max(float(g.abs().max()) for g in grads4.values())
        self.assertGreater(min(float(grads4[n].abs().max()) for n in grads4 if "lora_A" in n), 0)
        self.assertLess(max(float((grads4[n] - grads1[n]).abs().max()) for n in grads4), 1e-5 * max(1.0, scale))

    def test_bad_demonstrations_raise_value_errors(self) -> None:
        for sequences in ([demo("t/9", 9, 20, [[15, 6]])], [demo("t/9", 9, 20, [[0, 3]])], [{"tokens": [1, 10**6, 2], "actions": [[1, 2]]}],
                          [demo("t/9", 9, 20, [])]):
            with self.assertRaises(ValueError, msg=str(sequences)[:80]):
                sft(self.policy, sequences, steps=1, batch_size=1, learning_rate=1e-2, microbatch=1, seed=11)

    def test_init_policy_saves_the_fine_tuned_adapter_with_fresh_moments(self) -> None:
        with tempfile.TemporaryDirectory() as root:
            A.set_store(LocalArtifactStore(root))
            ref = A.store().put_json("runs/r/demonstrations.json", {"sequences": SFT_DEMOS, "episodes": 4, "expertSuccess": 1.0})
            cfg = with_sft(self.config)
            stub = lambda store, run_id, version, policy, checkpoint, config=None: {"version": version, "key": policy_key(run_id, version), "sha256": "0" * 64, "checkpoint": checkpoint}  # noqa: E731
            with mock.patch.object(A, "publish", stub):  # the ONNX export is the slow test's business
                result = A.init_policy({"runId": "r", "config": cfg, "demonstrations": ref})
            self.assertEqual(set(result), {"version", "key", "sha256", "checkpoint", "sft"})
            self.assertEqual((result["version"], set(result["sft"]), result["sft"]["sftSteps"]), (0, SFT_KEYS, 2))
            state, meta = load_checkpoint(A.store(), result["checkpoint"], cfg)
            self.assertEqual((meta["version"], meta["step"], meta["actorOptimizerStep"]), (0, 0, 0))
            self.assertTrue(all(float(p.detach().abs().max()) > 0 for n, p in state.policy.trainable().items() if "lora_B" in n))

            # The KL reference is v0, the fine-tuned adapter, not the pretrained base: after the adapter moves (an
            # update), reference() runs v0's weights, then puts the moved ones back.
            policy = state.policy
            inputs = torch.tensor([SFT_DEMOS[0]["tokens"][:24]])
            attention = torch.ones_like(inputs)
            logits = lambda lm: lm(input_ids=inputs, attention_mask=attention).logits  # noqa: E731
            with torch.no_grad():
                v0 = logits(policy.lm)
                with policy.peft.disable_adapter():
                    pretrained = logits(policy.lm)
                self.assertGreater(float((v0 - pretrained).abs().max()), 1e-4)
                for p in policy.trainable().values():
                    p.add_(0.01)
                moved = logits(policy.lm)
                with policy.reference() as reference:
                    self.assertTrue(torch.equal(logits(reference), v0))
                self.assertTrue(torch.equal(logits(policy.lm), moved))


if __name__ == "__main__":
    unittest.main()
