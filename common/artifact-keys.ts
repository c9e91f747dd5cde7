/**
 * Every artifact key a run writes, in one place. Keys are deterministic (run, step, version, name), so a retried
 * activity overwrites the same object with the same bytes instead of adding one.
 */
const pad = (n: number) => String(n).padStart(6, '0');

/** `runs/r1/step-000003/rewards.json`: one step's artifact. */
export function stepKey(runId: string, step: number, name: string): string {
  return `runs/${runId}/step-${pad(step)}/${name}`;
}

export const artifactKeys = {
  step: stepKey,
  /** One rollout shard's trajectories. */
  rolloutShard: (runId: string, step: number, shard: number) => stepKey(runId, step, `rollouts/shard-${String(shard).padStart(3, '0')}.json`),
  /** Text agents: trainer state (weights + optimizer) of policy version v. */
  checkpoint: (runId: string, version: number) => `runs/${runId}/checkpoints/v${pad(version)}.ckpt`,
  /** LLM policies: adapter (or full weights) + optimizer state of version v, written by the Python worker (workers/torch). */
  llmCheckpoint: (runId: string, version: number) => `runs/${runId}/checkpoints/v${pad(version)}.safetensors`,
  /** Text agents: the ONNX export the rollout workers load for version v. */
  policy: (runId: string, version: number) => `runs/${runId}/policy/v${pad(version)}.onnx`,
  /** The bandit's JSON policy and checkpoint of version v. */
  banditVersion: (runId: string, kind: 'policy' | 'checkpoints', version: number) => `runs/${runId}/${kind}/v${pad(version)}.json`,
  /** Held-out evaluation details of one (step, split, mode). */
  evaluation: (runId: string, step: number, split: string, mode: string) => `runs/${runId}/eval/step-${pad(step)}/${split.replace('/', '-')}-${mode.replace('@', '-at-')}.json`,
  /** LLM policies: the expert's chats, tokenized, that initPolicy fine-tunes on (`agent.policy.sft`). */
  demonstrations: (runId: string) => `runs/${runId}/demonstrations.json`,
  /** The run's validated config, named by its content hash (a resumed run with another config gets another key). */
  config: (runId: string, sha256: string) => `runs/${runId}/config/${sha256.slice(0, 16)}.json`,
  /** The base policy's SFT summary (text agents that built their own base). */
  baseSft: (runId: string) => `runs/${runId}/base-sft.json`,
};
