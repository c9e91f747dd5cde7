/**
 * The training numbers as Prometheus metrics (prom-client): gauges of the last recorded step and counters to take
 * rates of, labelled by run, env and algorithm. Series of at most `maxRuns` runs are kept per process; the oldest
 * run's are removed when another starts, so a long-lived worker's cardinality stays bounded.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export interface RunLabels {
  run: string;
  env: string;
  algorithm: string;
}

/** What a recorded step row says, as far as metrics go. */
export interface StepObservation {
  step: number;
  policyVersion: number;
  meanReward: number;
  successRate: number;
  tokens: number;
  trajectories: number;
  wallMs: number;
  /** Milliseconds per phase (selectTasks ... syncWeights). */
  phaseMs: Record<string, number>;
}

const RUN = ['run', 'env', 'algorithm'] as const;
const RUN_PHASE = [...RUN, 'phase'] as const;

export class TrainingMetrics {
  readonly registry = new Registry();
  private readonly step = this.gauge('ratchet_step', 'Last recorded step (0-based)');
  private readonly stepsRecorded = this.counter('ratchet_steps_recorded_total', 'Steps recorded by this worker');
  private readonly meanReward = this.gauge('ratchet_mean_reward', 'Mean reward of the last recorded step');
  private readonly successRate = this.gauge('ratchet_success_rate', 'Success rate of the last recorded step');
  private readonly policyVersion = this.gauge('ratchet_policy_version', 'Latest policy version (published by updatePolicy, or of the last recorded step)');
  private readonly tokens = this.counter('ratchet_tokens_total', 'Tokens of the recorded trajectories');
  private readonly trajectories = this.counter('ratchet_trajectories_total', 'Trajectories recorded');
  private readonly tokensPerSecond = this.gauge('ratchet_tokens_per_second', "Last step's tokens over its wall time");
  private readonly stepWallSeconds = this.gauge('ratchet_step_wall_seconds', "Last step's wall time, selectTasks to syncWeights");
  private readonly phaseSeconds = new Gauge({ name: 'ratchet_phase_seconds', help: "Last step's seconds in each phase", labelNames: RUN_PHASE, registers: [this.registry] });
  private readonly phaseSecondsTotal = new Counter({ name: 'ratchet_phase_seconds_total', help: 'Seconds spent in each phase over the recorded steps', labelNames: RUN_PHASE, registers: [this.registry] });
  /** Per run (oldest first): its labels, the phases seen, and the highest step counted. */
  private readonly runs = new Map<string, { labels: RunLabels; phases: Set<string>; counted: number }>();

  constructor(private readonly maxRuns = 16, defaultMetrics = true) {
    if (defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** A step row was written. Gauges follow every write; counters count each step once (a retried write is not new). */
  recordStep(labels: RunLabels, s: StepObservation): void {
    const run = this.track(labels);
    this.step.set({ ...labels }, s.step);
    this.meanReward.set({ ...labels }, s.meanReward);
    this.successRate.set({ ...labels }, s.successRate);
    this.policyVersion.set({ ...labels }, s.policyVersion);
    const wallSeconds = s.wallMs / 1000;
    this.stepWallSeconds.set({ ...labels }, wallSeconds);
    this.tokensPerSecond.set({ ...labels }, wallSeconds > 0 ? s.tokens / wallSeconds : 0);
    for (const [phase, ms] of Object.entries(s.phaseMs)) {
      run.phases.add(phase);
      this.phaseSeconds.set({ ...labels, phase }, ms / 1000);
    }
    if (s.step <= run.counted) return;
    run.counted = s.step;
    this.stepsRecorded.inc({ ...labels });
    this.tokens.inc({ ...labels }, s.tokens);
    this.trajectories.inc({ ...labels }, s.trajectories);
    for (const [phase, ms] of Object.entries(s.phaseMs)) this.phaseSecondsTotal.inc({ ...labels, phase }, ms / 1000);
  }

  /** updatePolicy published a new version. */
  recordPolicyVersion(labels: RunLabels, version: number): void {
    this.track(labels);
    this.policyVersion.set({ ...labels }, version);
  }

  /** Every metric name this module registers (the Grafana dashboard may use only these). */
  async names(): Promise<string[]> {
    return (await this.registry.getMetricsAsJSON()).map((m) => m.name);
  }

  private track(labels: RunLabels) {
    let run = this.runs.get(labels.run);
    if (run) {
      this.runs.delete(labels.run); // re-inserted last: the map stays in least-recently-used order
    } else {
      run = { labels, phases: new Set(), counted: -1 };
      while (this.runs.size >= this.maxRuns) this.forget(this.runs.keys().next().value!);
    }
    this.runs.set(labels.run, run);
    return run;
  }

  private forget(runId: string): void {
    const { labels, phases } = this.runs.get(runId)!;
    this.runs.delete(runId);
    for (const metric of [this.step, this.stepsRecorded, this.meanReward, this.successRate, this.policyVersion, this.tokens, this.trajectories, this.tokensPerSecond, this.stepWallSeconds]) {
      metric.remove({ ...labels });
    }
    for (const phase of phases) {
      this.phaseSeconds.remove({ ...labels, phase });
      this.phaseSecondsTotal.remove({ ...labels, phase });
    }
  }

  private gauge(name: string, help: string) {
    return new Gauge({ name, help, labelNames: RUN, registers: [this.registry] });
  }

  private counter(name: string, help: string) {
    return new Counter({ name, help, labelNames: RUN, registers: [this.registry] });
  }
}

/** The process's metrics, shared by every worker it runs. */
export const trainingMetrics = new TrainingMetrics();
