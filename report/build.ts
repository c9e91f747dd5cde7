/**
 * A run's report from its rows alone (no database, no artifact store): the charts and tables `ratchet report`
 * shows. report/load.ts gathers the rows; report/html.ts draws the page.
 */
import { type Chart, type Page, type Table, withPoints } from './page';

export interface ReportRows {
  run: { runId: string; env: string; algorithm: string; status: string; stepsCompleted: number; error?: string | null };
  steps: { step: number; policyVersion: number; meanReward: number; successRate: number; entropy: number; kl: number; wallMs: number; metrics: unknown }[];
  evaluations: { step: number; split: string; mode: string; policyVersion: number; tasks: number; successRate: number; meanReward: number }[];
  checkpoints: { version: number; step: number; artifactKey: string; sha256: string }[];
  /** Every trajectory row of the run (what per-template success counts). */
  outcomes: Outcome[];
  /** The env's tasks (template and level of each task id); a task missing here counts as template "?". */
  tasks: { taskId: string; template: string; level: number }[];
  samples: SampledTrajectory[];
}

export interface Outcome {
  step: number;
  group: number;
  sample: number;
  taskId: string;
  reward: number;
  success: boolean;
}

export interface SampledTrajectory extends Outcome {
  finishReason: string;
  /** Reward per turn: the outcome reward sits on the last turn (rewards are terminal). */
  turns: { action: string; observation: string; reward: number; advantage: number | null }[];
}

export interface RunReport {
  runId: string;
  page: Page;
}

const OBSERVATION_CHARS = 600;

const metric = (metrics: unknown, name: string): number | null => {
  const v = (metrics as Record<string, unknown> | null)?.[name];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
};
const round = (v: number, digits = 4) => Number(v.toFixed(digits));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/**
 * The trajectories to render turn by turn: of the first and the last step, the first success and the first
 * failure in (group, sample) order (at most four, so the page stays readable).
 */
export function chooseSamples(outcomes: readonly Outcome[]): Outcome[] {
  if (!outcomes.length) return [];
  const steps = [...new Set(outcomes.map((o) => o.step))].sort((a, b) => a - b);
  const order = (a: Outcome, b: Outcome) => a.group - b.group || a.sample - b.sample;
  const chosen: Outcome[] = [];
  for (const step of new Set([steps[0], steps[steps.length - 1]])) {
    const rows = outcomes.filter((o) => o.step === step).sort(order);
    for (const success of [true, false]) {
      const row = rows.find((o) => o.success === success);
      if (row) chosen.push(row);
    }
  }
  return chosen;
}

/** A trajectory row's per-token advantages averaged over each turn's action tokens (null for a turn with none). */
export function turnAdvantages(row: readonly number[] | undefined, actionLengths: readonly number[]): (number | null)[] {
  let offset = 0;
  return actionLengths.map((n) => {
    const slice = row?.slice(offset, offset + n) ?? [];
    offset += n;
    return n > 0 && slice.length === n ? mean(slice) : null;
  });
}

/** Success rate per category over the outcomes, in the categories' order. */
function successBy(outcomes: readonly Outcome[], categoryOf: (o: Outcome) => string, categories: string[]): (number | null)[] {
  return categories.map((c) => {
    const rows = outcomes.filter((o) => categoryOf(o) === c);
    return rows.length ? round(rows.filter((o) => o.success).length / rows.length) : null;
  });
}

function phaseNames(steps: ReportRows['steps']): string[] {
  const names: string[] = [];
  for (const s of steps) for (const name of Object.keys((s.metrics as { phaseMs?: object } | null)?.phaseMs ?? {})) if (!names.includes(name)) names.push(name);
  return names;
}

export function buildRunReport(rows: ReportRows): RunReport {
  const { run, steps } = rows;
  const x = steps.map((s) => s.step);
  const line = (id: string, title: string, yLabel: string, series: Chart['series'], unit = false): Chart => ({ id, title, kind: 'line', xLabel: 'step', yLabel, x, series, ...(unit ? { unit } : {}) });

  const training = withPoints([
    line('reward-success', 'Training reward and success per step', 'mean', [
      { name: 'mean reward', values: steps.map((s) => s.meanReward) },
      { name: 'success rate', values: steps.map((s) => s.successRate) },
    ], true),
  ]);

  const evalSteps = [...new Set(rows.evaluations.map((e) => e.step))].sort((a, b) => a - b);
  const evalKinds = [...new Set(rows.evaluations.map((e) => `${e.split} ${e.mode}`))];
  const evaluation = withPoints([
    {
      id: 'evaluations',
      title: 'Held-out success over steps',
      kind: 'line',
      xLabel: 'step',
      yLabel: 'success rate',
      unit: true,
      x: evalSteps,
      series: evalKinds.map((kind) => ({
        name: kind,
        values: evalSteps.map((step) => rows.evaluations.find((e) => e.step === step && `${e.split} ${e.mode}` === kind)?.successRate ?? null),
      })),
    },
  ]);

  const optimisation = withPoints([
    line('kl', 'KL to the reference', 'KL', [{ name: 'kl', values: steps.map((s) => s.kl) }]),
    line('entropy', 'Policy entropy', 'nats', [{ name: 'entropy', values: steps.map((s) => s.entropy) }]),
    line('clip-fraction', 'PPO clip fraction', 'fraction', [{ name: 'clip fraction', values: steps.map((s) => metric(s.metrics, 'clipFraction')) }], true),
    line('grad-norm', 'Gradient norm', 'norm', [{ name: 'grad norm', values: steps.map((s) => metric(s.metrics, 'gradNorm')) }]),
  ]);

  const phases = phaseNames(steps);
  const phaseMs = (s: ReportRows['steps'][number], name: string) => metric((s.metrics as { phaseMs?: unknown } | null)?.phaseMs, name);
  const timing = withPoints([line('phase-ms', 'Time per phase', 'ms', phases.map((name) => ({ name, values: steps.map((s) => phaseMs(s, name)) })))]);
  const totalMs = steps.reduce((n, s) => n + s.wallMs, 0);
  const phaseTable: Table = {
    title: 'Mean time per step by phase',
    columns: ['phase', 'mean ms', 'share of step wall time'],
    rows: phases.map((name) => {
      const values = steps.map((s) => phaseMs(s, name) ?? 0);
      const sum = values.reduce((a, b) => a + b, 0);
      return [name, Math.round(mean(values)), totalMs > 0 ? `${((100 * sum) / totalMs).toFixed(1)}%` : '-'];
    }),
  };

  const taskInfo = new Map(rows.tasks.map((t) => [t.taskId, t]));
  const templateOf = (o: Outcome) => taskInfo.get(o.taskId)?.template ?? '?';
  const levelOf = (o: Outcome) => `level ${taskInfo.get(o.taskId)?.level ?? '?'}`;
  const lastStep = Math.max(...rows.outcomes.map((o) => o.step));
  const lastOutcomes = rows.outcomes.filter((o) => o.step === lastStep);
  const bars = (id: string, title: string, categoryOf: (o: Outcome) => string): Chart => {
    const categories = [...new Set(rows.outcomes.map(categoryOf))].sort();
    return {
      id,
      title,
      kind: 'bar',
      xLabel: id.endsWith('level') ? 'level' : 'template',
      yLabel: 'success rate',
      unit: true,
      x: categories,
      series: [
        { name: 'all steps', values: successBy(rows.outcomes, categoryOf, categories) },
        { name: `step ${lastStep}`, values: successBy(lastOutcomes, categoryOf, categories) },
      ],
    };
  };
  const perTask = withPoints([bars('success-by-template', 'Training success per task template', templateOf), bars('success-by-level', 'Training success per level', levelOf)]);

  const versions: Table = {
    title: 'Policy versions',
    columns: ['version', 'published after step', 'checkpoint sha256', 'artifact key'],
    rows: rows.checkpoints.map((c) => [c.version, c.step, c.sha256, c.artifactKey]),
  };

  const trajectoryTables: Table[] = rows.samples.map((t) => ({
    title: `step ${t.step} · group ${t.group} sample ${t.sample} · ${t.taskId} · reward ${round(t.reward, 3)} · ${t.success ? 'success' : 'failure'} (${t.finishReason})`,
    columns: ['turn', 'action', 'observation', 'reward', 'advantage'],
    rows: t.turns.map((turn, i) => [
      i + 1,
      turn.action,
      turn.observation.length > OBSERVATION_CHARS ? `${turn.observation.slice(0, OBSERVATION_CHARS)} …` : turn.observation,
      round(turn.reward, 3),
      turn.advantage === null ? '-' : round(turn.advantage, 4),
    ]),
  }));

  const page: Page = {
    title: `Ratchet run ${run.runId}`,
    summary: [
      ['run', run.runId],
      ['environment / algorithm', `${run.env} / ${run.algorithm}`],
      ['status', run.error ? `${run.status}: ${run.error}` : run.status],
      ['steps completed', String(run.stepsCompleted)],
      ['trajectories', String(rows.outcomes.length)],
      ['last policy version', String(Math.max(-1, ...rows.checkpoints.map((c) => c.version)))],
    ],
    sections: [
      { title: 'Training', charts: training },
      { title: 'Held-out evaluations', charts: evaluation, note: evaluation.length ? undefined : 'no evaluation recorded' },
      { title: 'Optimisation', charts: optimisation, note: 'charts only for the metrics this run recorded' },
      { title: 'Time per phase', charts: timing, tables: phases.length ? [phaseTable] : [] },
      { title: 'Success per task template and level', charts: perTask },
      { title: 'Policy versions', tables: [versions] },
      { title: 'Sampled trajectories', tables: trajectoryTables, note: 'the first success and failure of the first and last step; advantage = mean over the turn\'s action tokens' },
    ],
  };
  return { runId: run.runId, page };
}
