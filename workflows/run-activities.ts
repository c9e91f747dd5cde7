/**
 * The activity stubs a run's workflows call: each activity on its queue, with its kind's timeouts and retries, and
 * the run config passed by reference once recordRun has stored it (activities/config-ref.ts), and a summary
 * line naming its step, shard and policy version for the UI (activity-summary.ts).
 */
import { proxyActivities } from '@temporalio/workflow';
import type { ArtifactRef, CpuActivities, GpuActivities, StepActivities } from '../activities/contract';
import type { RunConfig } from '../config/run-config';
import type { ActivityName } from '../config/timeouts';
import { activityOptions } from './activity-options';
import { activitySummary } from './activity-summary';

/** `configRef()` is the stored config's reference, or undefined while it is not stored yet (the first recordRun). */
export function runActivities(config: RunConfig, configRef: () => ArtifactRef | undefined) {
  const cpu = stubs<CpuActivities>(config, config.taskQueues.cpu, configRef, [
    'recordRun', 'writeDemonstrations', 'selectTasks', 'rolloutBatch', 'checkRewards', 'computeAdvantages', 'recordStep', 'evaluatePolicy', 'recordEvaluation',
  ]);
  // The gpu pool scores, updates and exports; the cpu pool does the rest.
  const gpu = stubs<GpuActivities>(config, config.taskQueues.gpu, configRef, ['initPolicy', 'scoreBatch', 'updatePolicy', 'syncWeights']);
  const step: StepActivities = {
    selectTasks: cpu.selectTasks,
    rolloutBatch: cpu.rolloutBatch,
    checkRewards: cpu.checkRewards,
    scoreBatch: gpu.scoreBatch,
    computeAdvantages: cpu.computeAdvantages,
    updatePolicy: gpu.updatePolicy,
    syncWeights: gpu.syncWeights,
    recordStep: cpu.recordStep,
  };
  return { cpu, gpu, step };
}

function stubs<T>(config: RunConfig, taskQueue: string, configRef: () => ArtifactRef | undefined, names: (keyof T & ActivityName)[]): T {
  const entries = names.map((name) => {
    const options = { ...activityOptions(config, name), taskQueue };
    // A proxy per call (proxies are cheap) to give each call its own summary; user metadata is not part of
    // the command's identity, so histories recorded without summaries still replay.
    const call = (input: object) =>
      proxyActivities<Record<string, (input: object) => Promise<unknown>>>({ ...options, summary: activitySummary(name, input, config) })[name](input);
    return [name, (input: object) => call(byReference(input, configRef()))];
  });
  return Object.fromEntries(entries) as T;
}

/** The input with its `config` replaced by the stored config's reference (unchanged until there is one). */
function byReference(input: object, ref: ArtifactRef | undefined): object {
  if (!ref || !('config' in input)) return input;
  const { config: _config, ...rest } = input as { config: unknown };
  return { ...rest, configRef: ref };
}
