/**
 * The steps of a run in order, synchronous or asynchronous (`async.maxStaleness` = d).
 *
 * Synchronous (d = 0): each step draws its batch with its own policy, then updates it. Asynchronous (d > 0, AReaL's
 * and prime-rl's off-policy pipeline): when step k starts it also starts drawing the batch of step k + d with its
 * policy v_k, so the rollouts of later steps overlap this step's update; step k trains on the batch v_{k-d} drew
 * (v_0 for the first d steps), correcting the stale samples (rl/off-policy.ts). Draws stay in step order because
 * each selects tasks with the curriculum state its predecessor left.
 *
 * Durable: a batch is a few references, carried across continue-as-new (`drawn`); a resumed run has none and draws
 * them again from the resume point's `rolloutPolicies`, with the same seeds, so it trains on the same batches.
 * Imported by the workflow bundle: pure code and activity calls only.
 */
import type { ResumePoint, StepActivities } from '../activities/contract';
import type { RunConfig } from '../config/run-config';
import { drawBatch, type DrawnBatch, rolloutPolicyFor, runStep, type StepResult } from './step';

export class StepPipeline {
  private readonly drawing = new Map<number, Promise<DrawnBatch>>();

  constructor(
    private readonly activities: StepActivities,
    private readonly config: RunConfig,
    /** Batches drawn ahead by an earlier execution of the run (continue-as-new). */
    drawn: readonly DrawnBatch[] = [],
  ) {
    for (const batch of drawn) this.drawing.set(batch.step, Promise.resolve(batch));
  }

  /** Run step `from.step`, and start the draws of the steps up to `from.step + maxStaleness` that are not running yet. */
  async step(from: ResumePoint, onPhase: (phase: string) => void = () => undefined): Promise<StepResult> {
    if (this.config.async.maxStaleness === 0) return runStep(this.activities, this.config, from, onPhase);
    const own = this.take(from.step) ?? this.draw(from, from.step, Promise.resolve(from.curriculum), onPhase);
    let previous = own;
    const last = Math.min(from.step + this.config.async.maxStaleness, this.config.steps - 1);
    for (let step = from.step + 1; step <= last; step++) {
      const after = previous;
      const next = this.drawing.get(step) ?? this.draw(from, step, after.then(curriculumAfter));
      this.drawing.set(step, next);
      previous = next;
    }
    return runStep(this.activities, this.config, from, onPhase, own);
  }

  /** The batches drawn ahead, once every draw has ended (to carry across continue-as-new). */
  async drawn(): Promise<DrawnBatch[]> {
    return Promise.all([...this.drawing.values()]);
  }

  /** Wait for the draws still running, failed or not, so a run that ends leaves no activity behind. */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.drawing.values()]);
  }

  private take(step: number): Promise<DrawnBatch> | undefined {
    const batch = this.drawing.get(step);
    this.drawing.delete(step);
    return batch;
  }

  private draw(from: ResumePoint, step: number, curriculum: Promise<ResumePoint['curriculum']>, onPhase?: (phase: string) => void): Promise<DrawnBatch> {
    const batch = curriculum.then((state) => drawBatch(this.activities, this.config, step, rolloutPolicyFor(from, step), state, onPhase));
    batch.catch(() => undefined); // a failed draw ahead fails the step that needs it, not the one running now
    return batch;
  }
}

/** The curriculum state a batch leaves its successor: its sampler and its verified rewards. */
function curriculumAfter(batch: DrawnBatch): ResumePoint['curriculum'] {
  return batch.sampler ? { sampler: batch.sampler, outcomes: batch.rewards.rewards } : undefined;
}
