/**
 * evaluationRun: held-out evaluation of one policy version, started by trainingRun as a child workflow every
 * `evaluation.every` steps and at the end. Greedy always; pass@k too when `evaluation.passK` > 0.
 * Each mode is evaluated on the cpu queue, then recorded as one `evaluations` row (an upsert).
 */
import { setCurrentDetails } from '@temporalio/workflow';
import type { ArtifactRef, EvaluationResult, PolicyRef } from '../activities/contract';
import { evaluationModes } from '../trainer/step';
import { runActivities } from './run-activities';
import { validateRunConfig } from './validate';

export interface EvaluationRunInput {
  /** The run's config as trainingRun received it (validated again here: a child is its own workflow). */
  config: unknown;
  /** The stored config, which the activities get instead (absent in older runs' inputs). */
  configRef?: ArtifactRef;
  /** Steps completed when this policy was published. */
  step: number;
  policy: PolicyRef;
}

export interface EvaluationSummary {
  step: number;
  policyVersion: number;
  split: string;
  modes: { mode: string; metrics: EvaluationResult['metrics']; episodes: number }[];
}

export async function evaluationRun({ config: rawConfig, configRef, step, policy }: EvaluationRunInput): Promise<EvaluationSummary> {
  const config = validateRunConfig(rawConfig);
  const { split, tasks } = config.evaluation;
  const { cpu } = runActivities(config, () => configRef);

  const summary: EvaluationSummary = { step, policyVersion: policy.version, split, modes: [] };
  for (const { mode, k, label } of evaluationModes(config)) {
    setCurrentDetails(`evaluating policy v${policy.version} on ${split}: ${label}`);
    const result = await cpu.evaluatePolicy({ runId: config.runId, step, config, policy, split, tasks, mode, k });
    await cpu.recordEvaluation({ runId: config.runId, step, policyVersion: policy.version, split, mode: label, k, result });
    summary.modes.push({ mode: label, metrics: result.metrics, episodes: result.episodes });
  }
  setCurrentDetails(
    `policy v${policy.version} on ${split}: ` + summary.modes.map((m) => `${m.mode} success ${(100 * (m.metrics.passAtK ?? m.metrics.success ?? 0)).toFixed(1)}%`).join(' · '),
  );
  return summary;
}
