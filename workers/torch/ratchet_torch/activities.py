"""The gpu-queue activities for LLM policies, under the TypeScript names and JSON contract (activities/contract.ts
`GpuActivities`): initPolicy (with an optional format SFT, sft.py), scoreBatch, updatePolicy, syncWeights. Sync
functions (the worker runs them one at a time in a thread) taking and returning camelCase dicts. Errors a retry cannot
fix are non-retryable ApplicationErrors: `InvalidRunConfig` (config, model), `ArtifactIntegrityError` (a hash
mismatch) and `InvalidInput` (malformed artifacts or settings).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import threading
from collections import OrderedDict
from typing import Any, Callable, Iterator, Optional

from temporalio import activity
from temporalio.exceptions import ApplicationError

from .checkpoint import load_checkpoint, new_state, save_checkpoint
from .model import backend_name, build_policy, hash_seed, init_adapter, llm_settings, loss_temperature
from .score import correct_stale_samples, score_trajectories, trajectories_to_score
from .segments import load_trajectories, with_verified_rewards
from .sft import demonstrations, sft
from .store import ArtifactIntegrityError, LocalArtifactStore, artifact_store_from_env, llm_checkpoint_key, step_key
from .sync import publish
from .update import ppo_update

_store: Optional[LocalArtifactStore] = None


def set_store(store: LocalArtifactStore) -> None:
    global _store
    _store = store


def store() -> LocalArtifactStore:
    global _store
    if _store is None:
        _store = artifact_store_from_env()
    return _store


def _heartbeat(details: dict) -> None:
    """Heartbeat when running as an activity (it delivers cancellation); a no-op when called directly (tests)."""
    if activity.in_activity():
        activity.heartbeat(details)


@contextlib.contextmanager
def _keepalive(phase: str, every: float = 5.0) -> Iterator[None]:
    """Heartbeat from a side thread while one long call runs that cannot heartbeat itself (a model load: ~15 s the
    first time; an ONNX export: ~30 s), so the workflow's heartbeat timeout does not fire on healthy work."""
    if not activity.in_activity():
        yield
        return
    done = threading.Event()
    context = contextvars.copy_context()  # the activity's context: heartbeat() finds its activity through it

    def beat() -> None:
        while not done.wait(every):
            activity.heartbeat({"phase": phase})

    thread = threading.Thread(target=context.run, args=(beat,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _errors(fn: Callable[[dict], dict]) -> Callable[[dict], dict]:
    """Map errors a retry cannot fix to non-retryable ApplicationErrors; leave the rest retryable."""

    @functools.wraps(fn)
    def wrapped(input: dict) -> dict:
        try:
            return fn(_with_config(input))
        except ArtifactIntegrityError as err:
            raise ApplicationError(str(err), type="ArtifactIntegrityError", non_retryable=True) from err
        except ValueError as err:  # malformed artifacts or settings (bad key, wrong checkpoint format)
            raise ApplicationError(str(err), type="InvalidInput", non_retryable=True) from err

    return wrapped


_configs: "OrderedDict[str, dict]" = OrderedDict()


def _with_config(input: dict) -> dict:
    """The workflow passes the run config by reference once it is stored (activities/config-ref.ts): load it by its
    sha256, once per process."""
    ref = input.get("configRef")
    if ref is None or "config" in input:
        return input
    config = _configs.get(ref["sha256"])
    if config is None:
        config = store().get_json(ref)
        _configs[ref["sha256"]] = config
        while len(_configs) > 64:
            _configs.popitem(last=False)
    return {**{k: v for k, v in input.items() if k != "configRef"}, "config": config}


@activity.defn(name="initPolicy")
@_errors
def init_policy(input: dict) -> dict:
    """Base + a fresh seeded adapter (+ a value head for PPO), format-SFT'd on the expert's demonstrations when
    `agent.policy.sft` asks (returned as `sft` metrics) -> checkpoint v0 with fresh optimizer moments -> ONNX v0."""
    run_id, config = input["runId"], input["config"]
    settings, ref = llm_settings(config).get("sft"), input.get("demonstrations")
    if bool(settings) != bool(ref):
        raise ValueError("config.agent.policy.sft asks for a format SFT but initPolicy got no demonstrations" if settings
                         else "initPolicy got demonstrations but config.agent.policy.sft is not set")
    with _keepalive("load"):
        demos = demonstrations(store().get_json(ref)) if ref else None
        policy = build_policy(config, with_critic=config.get("algorithm") == "ppo")
    init_adapter(policy, hash_seed(f"{config['seed']}/lora-init"))
    metrics = None
    if demos is not None:
        metrics = sft(
            policy, demos, steps=int(settings["steps"]), batch_size=int(settings["batchSize"]),
            learning_rate=float(settings["learningRate"]), microbatch=int((config["agent"].get("ppo") or {}).get("microbatchSegments") or 8),
            seed=int(config["seed"]), heartbeat=_heartbeat,
        )
        # The fine-tuned v0, not the pretrained base, is what RL's KL term holds the policy to.
        policy.reference_weights = OrderedDict((n, p.detach().clone()) for n, p in policy.trainable().items())
    # A fresh optimizer state: RL's AdamW starts from zero moments whether or not SFT ran.
    checkpoint = save_checkpoint(store(), llm_checkpoint_key(run_id, 0), new_state(policy), version=0, step=0)
    with _keepalive("export"):
        policy_ref = publish(store(), run_id, 0, policy, checkpoint, config)
    return {**policy_ref, "sft": metrics} if metrics is not None else policy_ref


@activity.defn(name="scoreBatch")
@_errors
def score_batch(input: dict) -> dict:
    run_id, step, config = input["runId"], input["step"], input["config"]
    with _keepalive("load"):
        state, _ = load_checkpoint(store(), _checkpoint_of(input["policy"]), config)
    trajectories = load_trajectories(store(), input["rollouts"])
    if input.get("rewards"):
        trajectories = with_verified_rewards(trajectories, store().get_json(input["rewards"]))
        only = trajectories_to_score(config, trajectories)
    else:
        only = list(range(len(trajectories)))
    agent = config["agent"]
    scores, mismatch = score_trajectories(
        state.policy, trajectories,
        temperature=loss_temperature(config),
        microbatch=int(agent["ppo"].get("microbatchSegments") or 8),
        with_reference=(agent.get("kl") or {}).get("mode", "none") != "none",
        only=only if len(only) < len(trajectories) else None,
        heartbeat=_heartbeat,
        policy_version=int(input["policy"]["version"]),
    )
    asynchronous = config.get("async") or {}
    off_policy = correct_stale_samples(
        trajectories, scores, version=int(input["policy"]["version"]),
        max_staleness=int(asynchronous.get("maxStaleness", 0)), cap=float(asynchronous.get("importanceCap", 5)),
    )
    ref = store().put_json(step_key(run_id, step, "scores.json"), scores)
    result = {"scores": ref, "entropy": scores["entropy"]}
    if mismatch["tokens"]:
        result["mismatch"] = mismatch
    if off_policy is not None:
        result["offPolicy"] = off_policy
    return result


@activity.defn(name="updatePolicy")
@_errors
def update_policy(input: dict) -> dict:
    run_id, step, config = input["runId"], input["step"], input["config"]
    version = int(input["policy"]["version"]) + 1
    # A fresh state from the input checkpoint every time: a retry starts clean and writes identical bytes.
    with _keepalive("load"):
        state, _ = load_checkpoint(store(), _checkpoint_of(input["policy"]), config)
    trajectories = load_trajectories(store(), input["rollouts"])
    metrics = ppo_update(
        state, trajectories, store().get_json(input["scores"]), store().get_json(input["advantages"]),
        agent=config["agent"], learning_rate=float(input["learningRate"]), kl_coef=float(input["klCoef"]),
        temperature=loss_temperature(config), seed=int(config["seed"]), step=step, heartbeat=_heartbeat,
    )
    ref = save_checkpoint(store(), llm_checkpoint_key(run_id, version), state, version=version, step=step + 1)
    return {"checkpoint": {**ref, "version": version, "step": step + 1}, "kl": metrics["ppoKl"], "metrics": {**metrics, "backend": backend_name()}}


@activity.defn(name="syncWeights")
@_errors
def sync_weights(input: dict) -> dict:
    checkpoint = input["checkpoint"]
    with _keepalive("sync"):
        state, _ = load_checkpoint(store(), checkpoint, input["config"])
        return publish(store(), input["runId"], int(checkpoint["version"]), state.policy, checkpoint, input["config"], input.get("evaluating") or ())


def _checkpoint_of(policy_ref: dict) -> dict:
    checkpoint: Any = policy_ref.get("checkpoint")
    if not checkpoint:
        raise ApplicationError(f"policy v{policy_ref.get('version')} names no checkpoint: not an LLM policy", type="InvalidInput", non_retryable=True)
    return checkpoint


ACTIVITIES = [init_policy, score_batch, update_policy, sync_weights]
