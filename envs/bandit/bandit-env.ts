/**
 * A seeded contextual bandit behind the `Environment` interface: the pipeline's fast test fixture.
 *
 * Each task is one context with `arms` arms; one arm pays off with probability 0.9, the others with 0.05-0.4.
 * An episode is a single turn: the agent answers `pull <arm>`; the verifier draws the payoff from the
 * episode's seed (reward 0/1) and counts the episode a success when the best arm was pulled.
 */
import { Rng } from '../../common/random';
import type { Agent, Environment, Episode, FinishReason, Score, StepResult, TaskInfo, Turn } from '../types';

export interface BanditOptions {
  arms: number;
  tasksPerSplit: number;
  worldSeed: number;
}

export const BANDIT_SPLITS = ['train', 'dev', 'test'] as const;
const ACTION = /^\s*pull\s+(\d+)\s*$/i;

export interface BanditTask extends TaskInfo {
  payoffs: number[];
  bestArm: number;
}

export class BanditEnvironment implements Environment {
  readonly name = 'bandit';
  readonly maxTurns = 1;
  readonly actionStops = ['\n'];
  private readonly bySplit = new Map<string, BanditTask[]>();

  constructor(readonly options: BanditOptions) {
    if (!Number.isInteger(options.arms) || options.arms < 2) throw new Error(`bandit: arms must be an integer >= 2, got ${options.arms}`);
    if (!Number.isInteger(options.tasksPerSplit) || options.tasksPerSplit < 1) {
      throw new Error(`bandit: tasksPerSplit must be an integer >= 1, got ${options.tasksPerSplit}`);
    }
    for (const split of BANDIT_SPLITS) this.bySplit.set(split, this.generate(split));
  }

  private generate(split: string): BanditTask[] {
    const rng = new Rng(this.options.worldSeed).fork(`bandit/${split}`);
    return Array.from({ length: this.options.tasksPerSplit }, (_, index) => {
      const bestArm = rng.int(0, this.options.arms - 1);
      const payoffs = Array.from({ length: this.options.arms }, (_, arm) => (arm === bestArm ? 0.9 : 0.05 + 0.35 * rng.next()));
      const id = `bandit/${split}/${String(index).padStart(4, '0')}`;
      return {
        id,
        split,
        template: 'pull-best-arm',
        level: 1,
        scenario: id,
        instruction: `Choose one of ${this.options.arms} arms (0-${this.options.arms - 1}); answer "pull <arm>".`,
        payoffs,
        bestArm,
      };
    });
  }

  splits(): string[] {
    return [...BANDIT_SPLITS];
  }

  tasks(split: string): BanditTask[] {
    const tasks = this.bySplit.get(split);
    if (!tasks) throw new Error(`bandit: unknown split ${JSON.stringify(split)}; expected one of ${BANDIT_SPLITS.join(', ')}`);
    return tasks;
  }

  task(taskId: string): BanditTask {
    const split = taskId.split('/')[1] ?? '';
    const task = this.tasks(split).find((t) => t.id === taskId);
    if (!task) throw new Error(`bandit: unknown task ${JSON.stringify(taskId)}`);
    return task;
  }

  createEpisode(taskId: string, seed: number): Episode {
    return new BanditEpisode(this.task(taskId), seed);
  }

  expert(taskId: string): Agent {
    const best = this.task(taskId).bestArm;
    return { act: () => `pull ${best}` };
  }
}

class BanditEpisode implements Episode {
  readonly initialObservation: string;
  readonly turns: Turn[] = [];
  private pulled: number | null = null;

  constructor(readonly task: BanditTask, private readonly seed: number) {
    this.initialObservation = task.instruction;
  }

  get done(): boolean {
    return this.turns.length >= 1;
  }

  get finishReason(): FinishReason {
    return this.done ? 'completed' : 'running';
  }

  step(action: string): StepResult {
    if (this.done) return { observation: 'episode is over', done: true, error: true };
    const match = ACTION.exec(action);
    const arm = match ? Number(match[1]) : NaN;
    const valid = Number.isInteger(arm) && arm >= 0 && arm < this.task.payoffs.length;
    const observation = valid ? `pulled arm ${arm}` : `error: expected "pull <arm>" with arm in 0-${this.task.payoffs.length - 1}`;
    if (valid) this.pulled = arm;
    this.turns.push({ action, observation, error: !valid });
    return { observation, done: true, error: !valid };
  }

  score(): Score {
    if (this.pulled === null) return { reward: 0, success: false, metrics: { pulledBest: 0 } };
    const paid = new Rng(this.seed).fork('payoff').next() < this.task.payoffs[this.pulled];
    const pulledBest = this.pulled === this.task.bestArm;
    return { reward: paid ? 1 : 0, success: pulledBest, metrics: { pulledBest: pulledBest ? 1 : 0 } };
  }

  context(): string {
    return this.initialObservation;
  }
}
