/**
 * trainingRun: one durable workflow per training run (DESIGN section 2).
 *
 * The loop around the steps: signals, the progress query, pause, evaluation children, continue-as-new. Each
 * step's phases (select tasks ... record) are trainer/step.ts, shared with the in-process trainer and run here
 * as activities. Only references and small numbers pass through here.
 * Deterministic: no I/O, time or randomness of its own; everything else happens in activities.
 */
import {
  allHandlersFinished,
  condition,
  ContinueAsNew,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  isCancellation,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { ArtifactRef, PolicyRef, ResumePoint, StepMetrics } from '../activities/contract';
import type { DrawnBatch } from '../trainer/step';
import { StepPipeline } from '../trainer/step-pipeline';
import { evaluationRun, type EvaluationSummary } from './evaluation-run';
import { describeFailure } from './failure';
import { learningWarnings, nextFlatSteps } from './learning-warnings';
import { runActivities } from './run-activities';
import * as sa from './search-attributes';
import { validateRunConfig } from './validate';

// --- Messages ---

export interface Progress {
  runId: string;
  /** Steps completed so far (the next step's index). */
  step: number;
  totalSteps: number;
  policyVersion: number;
  learningRate: number;
  /** The KL coefficient the next step uses (set by `setHyperparameters`, adapted each step with kl.targetKl). */
  klCoef: number;
  paused: boolean;
  stopRequested: boolean;
  phase: string;
  last?: StepMetrics & { step: number };
  lastEvaluation?: EvaluationSummary;
  /** Why the run may not be learning, e.g. "all groups flat for 3 steps: ..." (empty while it has a signal). */
  warnings: string[];
}

/** Hyperparameters that may change between steps; each field is optional (absent = unchanged). */
export interface Hyperparameters {
  learningRate?: number;
  klCoef?: number;
}

export const progressQuery = defineQuery<Progress>('progress');
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
export const stopAfterStepSignal = defineSignal('stopAfterStep');
/** Kept so recorded histories that used it still replay; `setHyperparameters` is the general form. */
export const setLearningRateUpdate = defineUpdate<{ previous: number; learningRate: number }, [number]>('setLearningRate');
export const setHyperparametersUpdate = defineUpdate<{ previous: Required<Hyperparameters>; current: Required<Hyperparameters> }, [Hyperparameters]>(
  'setHyperparameters',
);

/** The small state carried across continue-as-new, and (rebuilt from Postgres by `ratchet resume`) into a resumed run. */
export interface LoopState {
  step: number;
  policy: PolicyRef;
  learningRate: number;
  /** Absent in states carried by older executions: then config.agent.kl.coef. */
  klCoef?: number;
  /** The curriculum's state and last outcomes (absent in older executions' states: selectTasks replays the history). */
  curriculum?: ResumePoint['curriculum'];
  paused: boolean;
  stopRequested: boolean;
  last?: Progress['last'];
  lastEvaluation?: EvaluationSummary;
  /** The step whose policy was last sent to evaluation (so a run never evaluates one step twice). */
  evaluatedStep?: number;
  /** Set by `ratchet resume`: the run row goes back to `running` before the next step. */
  resumed?: boolean;
  /** The stored config (recordRun's result): activities get this reference, not the config (absent in older states). */
  configRef?: ArtifactRef;
  /** Consecutive steps in which no group's rewards differed (learning-warnings.ts). */
  flatSteps?: number;
  /** Asynchronous training: the policies the next steps roll out with (ResumePoint.rolloutPolicies). */
  rolloutPolicies?: ResumePoint['rolloutPolicies'];
  /** Asynchronous training: the batches already drawn for the next steps (references only). */
  drawn?: DrawnBatch[];
}

export interface TrainingRunResult {
  runId: string;
  status: 'completed' | 'stopped';
  steps: number;
  policyVersion: number;
  last?: Progress['last'];
  warnings?: string[];
}

export async function trainingRun(rawConfig: unknown, carried?: LoopState): Promise<TrainingRunResult> {
  const config = validateRunConfig(rawConfig);
  const { workflowId, firstExecutionRunId: execution } = workflowInfo();

  let phase = 'starting';
  const state: LoopState = carried ?? {
    step: 0,
    policy: { version: 0, key: '', sha256: '' },
    learningRate: config.learningRate,
    paused: false,
    stopRequested: false,
  };
  state.klCoef ??= config.agent.kl.coef;
  if (carried?.resumed) state.configRef = undefined; // a resumed run may bring a changed config: store it again
  const { cpu, gpu, step: stepActivities } = runActivities(config, () => state.configRef);
  // A resumed run brings no drawn batches: it draws them again from rolloutPolicies, with the same seeds.
  const steps = new StepPipeline(stepActivities, config, carried?.resumed ? [] : (carried?.drawn ?? []));
  state.drawn = undefined;
  // Evaluations run beside the next steps; this execution waits for them before it continues-as-new or ends.
  const evaluations: Promise<unknown>[] = [];
  // The policy versions those evaluations read: each sync keeps their graphs, whatever agent.policy.keepExports says.
  const evaluating = new Set<number>();

  setHandler(progressQuery, () => ({
    runId: config.runId,
    step: state.step,
    totalSteps: config.steps,
    policyVersion: state.policy.version,
    learningRate: state.learningRate,
    klCoef: state.klCoef!,
    paused: state.paused,
    stopRequested: state.stopRequested,
    phase,
    last: state.last,
    lastEvaluation: state.lastEvaluation,
    warnings: warnings(),
  }));
  setHandler(pauseSignal, () => void (state.paused = true));
  setHandler(resumeSignal, () => void (state.paused = false));
  setHandler(stopAfterStepSignal, () => void (state.stopRequested = true));
  setHandler(
    setLearningRateUpdate,
    (learningRate) => {
      const previous = state.learningRate;
      state.learningRate = learningRate;
      return { previous, learningRate };
    },
    { validator: (learningRate) => checkHyperparameters({ learningRate }) },
  );
  setHandler(
    setHyperparametersUpdate,
    (change) => {
      const previous = { learningRate: state.learningRate, klCoef: state.klCoef! };
      if (change.learningRate !== undefined) state.learningRate = change.learningRate;
      if (change.klCoef !== undefined) state.klCoef = change.klCoef;
      return { previous, current: { learningRate: state.learningRate, klCoef: state.klCoef! } };
    },
    { validator: (change) => checkHyperparameters(change) },
  );

  upsertSearchAttributes([
    { key: sa.RatchetRunId, value: config.runId },
    { key: sa.RatchetEnv, value: config.env },
    { key: sa.RatchetAlgorithm, value: config.algorithm },
    { key: sa.RatchetStep, value: state.step },
    { key: sa.RatchetPolicyVersion, value: state.policy.version },
    { key: sa.RatchetPaused, value: state.paused },
  ]);

  if (!carried) {
    // Claims the run id for this workflow chain; a run id used by another chain fails the run here (RunIdInUse).
    state.configRef = await cpu.recordRun({ runId: config.runId, workflowId, config, status: 'running', stepsCompleted: 0, execution, claim: true });
    phase = 'initPolicy';
    // An LLM's format SFT trains on the expert's chats, which the TypeScript side renders and tokenizes.
    const demonstrations = config.agent.policy.kind === 'llm' && config.agent.policy.sft ? await cpu.writeDemonstrations({ runId: config.runId, config }) : undefined;
    state.policy = await gpu.initPolicy({ runId: config.runId, config, demonstrations });
  } else if (carried.resumed) {
    state.configRef = await cpu.recordRun({ runId: config.runId, workflowId, config, status: 'running', stepsCompleted: state.step, execution });
    state.resumed = false;
  }

  try {
    return await loop();
  } catch (err) {
    // A failing run says so, and why, in Postgres (a terminated one cannot: `ratchet resume` handles both).
    if (!(err instanceof ContinueAsNew) && !isCancellation(err)) {
      await cpu.recordRun({ runId: config.runId, workflowId, config, status: 'failed', stepsCompleted: state.step, error: describeFailure(err) });
    }
    throw err;
  }

  async function loop(): Promise<TrainingRunResult> {
    let stepsThisExecution = 0;
    while (state.step < config.steps && !state.stopRequested) {
      if (stepsThisExecution >= config.continueAsNewEvery || workflowInfo().continueAsNewSuggested) {
        phase = 'continuing-as-new';
        state.drawn = await steps.drawn();
        await Promise.all(evaluations);
        await condition(allHandlersFinished);
        return await continueAsNew<typeof trainingRun>(config, state);
      }
      if (state.paused) {
        phase = 'paused';
        upsertSearchAttributes([{ key: sa.RatchetPaused, value: true }]);
        setCurrentDetails(`paused before step ${state.step + 1}/${config.steps}`);
        await condition(() => !state.paused || state.stopRequested);
        upsertSearchAttributes([{ key: sa.RatchetPaused, value: false }]);
        if (state.stopRequested) break;
      }

      const from = resumePoint(state, evaluating);
      const { metrics, next } = await steps.step(from, (name) => (phase = name));

      state.step = next.step;
      state.policy = next.policy;
      state.curriculum = next.curriculum;
      state.rolloutPolicies = next.rolloutPolicies;
      // A `setHyperparameters` update received during the step wins over the adaptive controller's change.
      if (state.klCoef === from.klCoef) state.klCoef = next.klCoef;
      state.last = { step: state.step, ...metrics };
      state.flatSteps = nextFlatSteps(state.flatSteps, metrics);
      stepsThisExecution++;
      upsertSearchAttributes([
        { key: sa.RatchetStep, value: state.step },
        { key: sa.RatchetPolicyVersion, value: state.policy.version },
        { key: sa.RatchetMeanReward, value: metrics.meanReward },
        { key: sa.RatchetSuccessRate, value: metrics.successRate },
      ]);
      setCurrentDetails(
        `step ${state.step}/${config.steps} · policy v${state.policy.version} · reward ${metrics.meanReward.toFixed(3)} · ` +
          `success ${(100 * metrics.successRate).toFixed(1)}% · lr ${state.learningRate}` +
          warnings().map((warning) => `\n\n**warning:** ${warning}`).join(''),
      );
      if (config.evaluation.every > 0 && state.step % config.evaluation.every === 0 && state.step < config.steps && !state.stopRequested) {
        await evaluate();
      }
    }

    phase = 'evaluating';
    await steps.settle(); // draws started ahead of a stop end before the run does
    if (state.evaluatedStep !== state.step) await evaluate();
    await Promise.all(evaluations);
    phase = 'finished';
    const status = state.step >= config.steps ? 'completed' : 'stopped';
    await cpu.recordRun({ runId: config.runId, workflowId, config, status, stepsCompleted: state.step });
    await condition(allHandlersFinished);
    return { runId: config.runId, status, steps: state.step, policyVersion: state.policy.version, last: state.last, warnings: warnings() };
  }

  function warnings(): string[] {
    return learningWarnings(state.flatSteps ?? 0, config.steps, state.last);
  }

  /** Start the held-out evaluation of the current policy as a child workflow (id: one per run and step). */
  async function evaluate(): Promise<void> {
    state.evaluatedStep = state.step;
    const version = state.policy.version;
    evaluating.add(version);
    const child = await startChild(evaluationRun, {
      workflowId: `${workflowId}/eval/step-${state.step}`,
      args: [{ config, configRef: state.configRef, step: state.step, policy: state.policy }],
      // Found with its run by RatchetRunId; it carries no env/step so run queries list training runs only.
      typedSearchAttributes: [{ key: sa.RatchetRunId, value: config.runId }],
    });
    evaluations.push(
      child
        .result()
        .then((summary) => {
          if (!state.lastEvaluation || summary.step >= state.lastEvaluation.step) state.lastEvaluation = summary;
        })
        .finally(() => evaluating.delete(version)),
    );
  }
}

/** The bounds the config schema puts on these values, checked before an update is accepted. */
function checkHyperparameters(change: unknown): void {
  if (typeof change !== 'object' || change === null || Array.isArray(change)) throw new Error('expected an object { learningRate?, klCoef? }');
  const { learningRate, klCoef, ...rest } = change as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length) throw new Error(`unknown hyperparameter(s) ${unknown.join(', ')}; expected learningRate, klCoef`);
  if (learningRate === undefined && klCoef === undefined) throw new Error('nothing to change: give learningRate and/or klCoef');
  if (learningRate !== undefined && (typeof learningRate !== 'number' || !Number.isFinite(learningRate) || learningRate <= 0 || learningRate > 100)) {
    throw new Error(`learningRate must be a number in (0, 100], got ${JSON.stringify(learningRate)}`);
  }
  if (klCoef !== undefined && (typeof klCoef !== 'number' || !Number.isFinite(klCoef) || klCoef < 0 || klCoef > 10)) {
    throw new Error(`klCoef must be a number in [0, 10], got ${JSON.stringify(klCoef)}`);
  }
}

/** The loop state's part that one step hands the next. */
function resumePoint({ step, policy, learningRate, klCoef, curriculum, rolloutPolicies }: LoopState, evaluating: ReadonlySet<number>): ResumePoint {
  return {
    step,
    policy,
    learningRate,
    klCoef: klCoef!,
    ...(curriculum ? { curriculum } : {}),
    ...(rolloutPolicies ? { rolloutPolicies } : {}),
    ...(evaluating.size ? { evaluating: [...evaluating].sort((a, b) => a - b) } : {}),
  };
}
