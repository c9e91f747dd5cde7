/**
 * The step pipeline (trainer/step-pipeline.ts) over scripted activities: which policy rolls out each step, that
 * draws run ahead while a step updates, and that a resumed or continued pipeline draws exactly what an
 * uninterrupted one did.
 */
import type { ArtifactRef, RecordStepInput, ResumePoint, RolloutShardInput, SelectTasksInput, StepActivities } from '../../../activities/contract';
import { parseRunConfig } from '../../../config/run-config';
import { StepPipeline } from '../../../trainer/step-pipeline';

const ref = (key: string): ArtifactRef => ({ key, sha256: key });
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Activities whose every call takes a few event-loop turns; `events` logs each start and end in order. */
function scripted(opts: { failRolloutOfStep?: number } = {}) {
  const events: string[] = [];
  const calls: { name: string; input: Record<string, unknown> }[] = [];
  const slow = async <T>(name: string, input: { step: number }, result: () => T, turns = 3): Promise<T> => {
    calls.push({ name, input: structuredClone(input) as unknown as Record<string, unknown> });
    events.push(`${name}:${input.step}:start`);
    for (let i = 0; i < turns; i++) await tick();
    events.push(`${name}:${input.step}:end`);
    return result();
  };
  const activities: StepActivities = {
    selectTasks: (input: SelectTasksInput) => slow('selectTasks', input, () => ({ taskIds: [`t${input.step}a`, `t${input.step}b`], sampler: ref(`sampler-${input.step}`) })),
    rolloutBatch: (input: RolloutShardInput) =>
      slow('rolloutBatch', input, () => {
        if (input.step === opts.failRolloutOfStep) throw new Error(`rollout of step ${input.step} failed`);
        return { rollouts: ref(`rollouts-${input.step}-${input.shard}-v${input.policy.version}`), trajectories: 4 };
      }, 6),
    checkRewards: (input) => slow('checkRewards', input, () => ({ rewards: ref(`rewards-${input.step}`), meanReward: 0.5, successRate: 0.5, groups: 2, informativeGroups: 2 })),
    scoreBatch: (input) => slow('scoreBatch', input, () => ({ scores: ref(`scores-${input.step}`), entropy: 1 })),
    computeAdvantages: (input) => slow('computeAdvantages', input, () => ({ advantages: ref(`advantages-${input.step}`), flatGroups: 0, meanKl: 0 })),
    updatePolicy: (input) =>
      slow('updatePolicy', input, () => ({
        checkpoint: { ...ref(`ckpt-${input.policy.version + 1}`), version: input.policy.version + 1, step: input.step + 1 },
        kl: 0.01,
      }), 12),
    syncWeights: (input) => slow('syncWeights', input, () => ({ ...ref(`policy-${input.checkpoint.version}`), version: input.checkpoint.version })),
    recordStep: (input) => slow('recordStep', input, () => undefined),
  };
  const inputsOf = <T>(name: string) => calls.filter((c) => c.name === name).map((c) => c.input as T);
  return { activities, events, calls, inputsOf };
}

const config = (maxStaleness: number, steps = 4) =>
  parseRunConfig({ runId: 'r', env: 'apps', algorithm: 'grpo', steps, tasksPerStep: 2, groupSize: 2, rolloutShards: 1, async: { maxStaleness } });
const start: ResumePoint = { step: 0, policy: { ...ref('policy-0'), version: 0 }, learningRate: 1e-3, klCoef: 0 };

async function run(pipeline: StepPipeline, from: ResumePoint, until: number): Promise<ResumePoint> {
  let point = from;
  while (point.step < until) point = (await pipeline.step(point)).next;
  return point;
}

/** Each step's rollout policy version, by step. */
const rolloutVersions = (inputs: RolloutShardInput[]) => Object.fromEntries(inputs.map((i) => [i.step, i.policy.version]));

describe('StepPipeline', () => {
  it('synchronous: each step rolls out with its own policy, after the previous step ended', async () => {
    const { activities, events, inputsOf } = scripted();
    await run(new StepPipeline(activities, config(0)), start, 4);
    expect(rolloutVersions(inputsOf<RolloutShardInput>('rolloutBatch'))).toEqual({ 0: 0, 1: 1, 2: 2, 3: 3 });
    for (let step = 1; step < 4; step++) {
      expect(events.indexOf(`rolloutBatch:${step}:start`)).toBeGreaterThan(events.indexOf(`recordStep:${step - 1}:end`));
    }
  });

  it('one step off: step k rolls out with v(k-1), drawn while step k-1 updates, and records that version', async () => {
    const { activities, events, inputsOf } = scripted();
    const end = await run(new StepPipeline(activities, config(1)), start, 4);
    expect(rolloutVersions(inputsOf<RolloutShardInput>('rolloutBatch'))).toEqual({ 0: 0, 1: 0, 2: 1, 3: 2 });
    expect(inputsOf<{ step: number; policy: { version: number } }>('updatePolicy').map((i) => i.policy.version)).toEqual([0, 1, 2, 3]);
    expect(inputsOf<RecordStepInput>('recordStep').map((i) => i.policyVersion)).toEqual([0, 0, 1, 2]);
    for (let step = 1; step < 4; step++) {
      // The draw of step k starts when step k-1 starts its update, and runs while it updates.
      expect(events.indexOf(`rolloutBatch:${step}:start`)).toBeLessThan(events.indexOf(`updatePolicy:${step - 1}:end`));
    }
    // Each draw selects with the state its predecessor left: that step's sampler and rewards.
    const selections = inputsOf<SelectTasksInput>('selectTasks');
    expect(selections.map((s) => [s.step, s.sampler?.key, s.outcomes?.key])).toEqual([
      [0, undefined, undefined],
      [1, 'sampler-0', 'rewards-0'],
      [2, 'sampler-1', 'rewards-1'],
      [3, 'sampler-2', 'rewards-2'],
    ]);
    expect(end.rolloutPolicies?.map((p) => p.version)).toEqual([3]);
    expect(inputsOf('rolloutBatch')).toHaveLength(4); // nothing drawn past the last step
  });

  it('two steps off: step k rolls out with v(k-2)', async () => {
    const { activities, inputsOf } = scripted();
    const end = await run(new StepPipeline(activities, config(2, 5)), start, 5);
    expect(rolloutVersions(inputsOf<RolloutShardInput>('rolloutBatch'))).toEqual({ 0: 0, 1: 0, 2: 0, 3: 1, 4: 2 });
    expect(end.rolloutPolicies?.map((p) => p.version)).toEqual([3, 4]); // steps 5 and 6 would roll out with v3 and v4
  });

  it('a run resumed from a step row draws and trains exactly what the uninterrupted run did', async () => {
    const whole = scripted();
    await run(new StepPipeline(whole.activities, config(1)), start, 4);

    const first = scripted();
    await run(new StepPipeline(first.activities, config(1)), start, 2);
    const saved = first.inputsOf<RecordStepInput>('recordStep')[1].resume; // what `ratchet resume` reads
    const second = scripted();
    await run(new StepPipeline(second.activities, config(1)), saved, 4);

    // Every input of steps 2 and 3 but the clock readings.
    const laterSteps = (calls: { name: string; input: Record<string, unknown> }[]) =>
      calls.filter((c) => (c.input.step as number) >= 2).map((c) => JSON.parse(JSON.stringify(c), (key, value) => (key === 'wallMs' || key === 'phaseMs' ? undefined : value)));
    expect(laterSteps(second.calls).sort(byNameAndStep)).toEqual(laterSteps(whole.calls).sort(byNameAndStep));
  });

  it('continue-as-new carries the drawn batches, and the next execution does not draw them again', async () => {
    const whole = scripted();
    await run(new StepPipeline(whole.activities, config(1)), start, 4);

    const first = scripted();
    const pipeline = new StepPipeline(first.activities, config(1));
    const point = await run(pipeline, start, 2);
    const drawn = await pipeline.drawn();
    expect(drawn.map((b) => [b.step, b.policy.version])).toEqual([[2, 1]]);
    const second = scripted();
    await run(new StepPipeline(second.activities, config(1), JSON.parse(JSON.stringify(drawn))), point, 4);
    expect(second.inputsOf<RolloutShardInput>('rolloutBatch').map((i) => i.step)).toEqual([3]);
    const trained = (calls: { name: string; input: Record<string, unknown> }[]) => calls.filter((c) => c.name === 'updatePolicy' && (c.input.step as number) >= 2);
    expect(trained(second.calls)).toEqual(trained(whole.calls));
  });

  it('a failed draw ahead fails the step that needs it, not the step running beside it', async () => {
    const { activities, inputsOf } = scripted({ failRolloutOfStep: 2 });
    const pipeline = new StepPipeline(activities, config(1));
    const point = await run(pipeline, start, 2); // step 1 runs while step 2's draw fails
    expect(inputsOf<RecordStepInput>('recordStep').map((i) => i.step)).toEqual([0, 1]);
    await expect(pipeline.step(point)).rejects.toThrow('rollout of step 2 failed');
  });
});

function byNameAndStep(a: { name: string; input: Record<string, unknown> }, b: { name: string; input: Record<string, unknown> }): number {
  return a.name.localeCompare(b.name) || (a.input.step as number) - (b.input.step as number) || JSON.stringify(a.input).localeCompare(JSON.stringify(b.input));
}
