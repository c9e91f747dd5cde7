/**
 * bench:chaos: for each fault kind, `--points` seeded-random injection points (step, phase, delay) into short
 * bandit runs on services of its own (test/integration/support/chaos-stack.ts), each compared with one fault-free
 * run: completed, rows lost / duplicated / differing, final checkpoint sha256 equal, recovery time.
 * Prints the table and writes bench/results/chaos.{json,md} (rewritten after every point, so a cut run keeps them).
 *
 *   npm run bench:chaos                                   # 5 points of each kind
 *   npm run bench:chaos -- --points 2 --kinds sigkill-gpu,disk-full
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { ChaosStack } from '../test/integration/support/chaos-stack';
import { CHAOS_KINDS, choosePoints, DEFAULT_CHAOS_SETTINGS, runBaseline, runChaosPoint, type ChaosKind, type ChaosOutcome } from '../test/integration/support/chaos';
import { chaosTable } from './chaos-report';

interface Options {
  points: string;
  kinds: string;
  seed: string;
  steps: string;
  out: string;
  dir: string;
  temporalPort: string;
  postgresPort: string;
  pglitePort: string;
}

const opts = new Command()
  .option('--points <n>', 'injection points per fault kind', '5')
  .option('--kinds <list>', `fault kinds, comma-separated (${CHAOS_KINDS.join(', ')})`, CHAOS_KINDS.join(','))
  .option('--seed <n>', 'seed of the injection points', '1')
  .option('--steps <n>', 'steps per bandit run', String(DEFAULT_CHAOS_SETTINGS.steps))
  .option('--out <dir>', 'results folder', 'bench/results')
  .option('--dir <dir>', 'folder of the chaos services (logs, Temporal SQLite, PGlite data, artifact tmpfs)', '.data/chaos')
  .option('--temporal-port <n>', 'Temporal dev server port (its own, restarted by the faults)', '7648')
  .option('--postgres-port <n>', 'Debian Postgres port', '25834')
  .option('--pglite-port <n>', 'PGlite server port', '55322')
  .parse()
  .opts<Options>();

const kinds = opts.kinds.split(',').map((k) => k.trim()) as ChaosKind[];
const unknown = kinds.find((k) => !CHAOS_KINDS.includes(k));
if (unknown) throw new Error(`--kinds: no fault kind ${unknown}; the kinds are ${CHAOS_KINDS.join(', ')}`);

async function main(): Promise<void> {
  const settings = { ...DEFAULT_CHAOS_SETTINGS, steps: Number(opts.steps) };
  const started = Date.now();
  const stack = await ChaosStack.open({
    dir: opts.dir,
    temporalPort: Number(opts.temporalPort),
    postgresPort: Number(opts.postgresPort),
    pglitePort: Number(opts.pglitePort),
    log: console.log,
  });
  // Ctrl-C (or a timeout's SIGTERM) still stops the services and unmounts the tmpfs.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void stack.close().finally(() => process.exit(130)));
  const outcomes: ChaosOutcome[] = [];
  try {
    const runnable = kinds.filter((k) => k !== 'disk-full' || stack.tmpfs);
    const baseline = await runBaseline(stack, settings);
    console.log(`fault-free run: ${(baseline.wallMs / 1000).toFixed(1)} s, final checkpoint v${baseline.rows.finalCheckpoint?.version} ${baseline.rows.finalCheckpoint?.sha256}`);
    mkdirSync(opts.out, { recursive: true });
    for (const kind of runnable) {
      for (const point of choosePoints(kind, Number(opts.points), Number(opts.seed), settings)) {
        const outcome = await runChaosPoint(stack, baseline, point);
        outcomes.push(outcome);
        console.log(describe(outcome));
        write(outcomes, { settings, baseline: baseline.rows.finalCheckpoint, seconds: (Date.now() - started) / 1000, skipped: kinds.filter((k) => !runnable.includes(k)) });
      }
    }
  } finally {
    await stack.close();
  }
  console.log(`\n${chaosTable(outcomes)}\n\n${outcomes.length} faulted runs in ${((Date.now() - started) / 60_000).toFixed(1)} min; ${join(opts.out, 'chaos.json')}`);
}

function describe(o: ChaosOutcome): string {
  const p = o.point;
  const recovery = o.recoveryMs === undefined ? '' : ` recovery ${(o.recoveryMs / 1000).toFixed(1)} s`;
  const zombie = o.lateCompletionsRefused === undefined ? '' : `, zombie's late completions refused by the server: ${o.lateCompletionsRefused}`;
  const rows = `lost ${o.lost} dup ${o.duplicated} diff ${o.differing + o.extra}`;
  const extra = `${o.leftoverTempFiles ? `, ${o.leftoverTempFiles} partial .tmp files left in the artifact store` : ''}${o.failure ? ` | ${o.failure}` : ''}`;
  return `${p.kind} @ step ${p.step} ${p.phase} +${p.delayMs} ms (landed: ${o.at ?? 'not fired'}): ${o.status}, ${rows}, checkpoint ${o.checkpointEqual ? 'equal' : 'DIFFERENT'}, retries [${o.retries.join(' ')}]${recovery}${zombie}${o.note ? ` (${o.note})` : ''}${extra}`;
}

function write(outcomes: ChaosOutcome[], meta: Record<string, unknown>): void {
  writeFileSync(join(opts.out, 'chaos.json'), JSON.stringify({ ...meta, options: opts, outcomes }, null, 2));
  writeFileSync(join(opts.out, 'chaos.md'), `${chaosTable(outcomes)}\n`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
