/**
 * A tabular softmax policy for the bandit: one row of logits per task, trained by policy gradient.
 * Small enough to checkpoint as JSON, real enough that the reward rises.
 */
import type { Rng } from '../../common/random';

export interface PolicySample {
  taskId: string;
  arm: number;
  /** Weight of this sample's gradient (its advantage). */
  advantage: number;
}

export interface SoftmaxPolicyState {
  arms: number;
  logits: Record<string, number[]>;
}

export class SoftmaxPolicy {
  constructor(readonly arms: number, private readonly logits: Record<string, number[]> = {}) {}

  static fromJSON(text: string): SoftmaxPolicy {
    const state = JSON.parse(text) as SoftmaxPolicyState;
    if (!Number.isInteger(state.arms) || typeof state.logits !== 'object') throw new Error('softmax policy: malformed checkpoint');
    return new SoftmaxPolicy(state.arms, state.logits);
  }

  toJSON(): string {
    const sorted = Object.fromEntries(Object.keys(this.logits).sort().map((id) => [id, this.logits[id]]));
    return JSON.stringify({ arms: this.arms, logits: sorted } satisfies SoftmaxPolicyState);
  }

  private row(taskId: string): number[] {
    return this.logits[taskId] ?? new Array<number>(this.arms).fill(0);
  }

  probs(taskId: string): number[] {
    const row = this.row(taskId);
    const max = Math.max(...row);
    const exps = row.map((x) => Math.exp(x - max));
    const sum = exps.reduce((a, b) => a + b, 0);
    return exps.map((e) => e / sum);
  }

  logProb(taskId: string, arm: number): number {
    return Math.log(this.probs(taskId)[arm]);
  }

  entropy(taskId: string): number {
    return -this.probs(taskId).reduce((sum, p) => sum + (p > 0 ? p * Math.log(p) : 0), 0);
  }

  sample(taskId: string, rng: Rng): number {
    const probs = this.probs(taskId);
    let u = rng.next();
    for (let arm = 0; arm < probs.length; arm++) {
      u -= probs[arm];
      if (u < 0) return arm;
    }
    return probs.length - 1;
  }

  /** One policy-gradient step: logits += lr * mean over samples of advantage * d log pi(arm) / d logits. */
  update(samples: PolicySample[], learningRate: number): SoftmaxPolicy {
    if (samples.length === 0) return new SoftmaxPolicy(this.arms, { ...this.logits });
    const next: Record<string, number[]> = Object.fromEntries(Object.entries(this.logits).map(([id, row]) => [id, row.slice()]));
    const perTask = new Map<string, number>();
    for (const s of samples) perTask.set(s.taskId, (perTask.get(s.taskId) ?? 0) + 1);
    for (const s of samples) {
      const probs = this.probs(s.taskId);
      const row = (next[s.taskId] ??= this.row(s.taskId).slice());
      const scale = (learningRate * s.advantage) / perTask.get(s.taskId)!;
      for (let arm = 0; arm < this.arms; arm++) row[arm] += scale * ((arm === s.arm ? 1 : 0) - probs[arm]);
    }
    return new SoftmaxPolicy(this.arms, next);
  }

  /** KL(this || other) for one task. */
  kl(other: SoftmaxPolicy, taskId: string): number {
    const p = this.probs(taskId);
    const q = other.probs(taskId);
    return p.reduce((sum, pi, i) => sum + (pi > 0 ? pi * Math.log(pi / q[i]) : 0), 0);
  }
}
