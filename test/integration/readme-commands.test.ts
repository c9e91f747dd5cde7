/**
 * The README's Temporal CLI commands, run exactly as written (the built `temporal` binary, against the test
 * server through TEMPORAL_ADDRESS) on the bandit example: start from --input-file, pause, query progress,
 * change hyperparameters, resume, and find the run by search attribute. Each line must appear in README.md.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deleteRun } from '../../db/queries';
import { REPO_ROOT } from '../../infra/paths';
import { findTemporalCli } from '../../infra/temporal';
import { parseRunConfig } from '../../config/run-config';
import type { TrainingRunResult } from '../../workflows/training-run';
import { eventually, openHarness, runWorkers, type Harness } from './support/harness';

const README = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
const COMMANDS = {
  start:
    '.tools/bin/temporal workflow start --type trainingRun --task-queue ratchet-control \\\n  --workflow-id train-bandit-example --input-file examples/bandit.json',
  pause: '.tools/bin/temporal workflow signal --workflow-id train-bandit-example --name pause',
  progress: '.tools/bin/temporal workflow query --workflow-id train-bandit-example --name progress',
  hyperparameters: `.tools/bin/temporal workflow update execute --workflow-id train-bandit-example --name setHyperparameters \\\n  --input '{"learningRate": 0.5, "klCoef": 0.02}'`,
  resume: '.tools/bin/temporal workflow signal --workflow-id train-bandit-example --name resume',
  list: `.tools/bin/temporal workflow list --query 'RatchetEnv="bandit" AND RatchetStep > 10'`,
  listRun: `.tools/bin/temporal workflow list --query 'RatchetRunId="bandit-example"'`,
};

/** Run one README line in bash, from the repository root, against the test server. */
function sh(line: string): Promise<{ code: number; out: string }> {
  // Where the binary is on PATH instead of .tools/bin (a developer machine), use that one.
  const cli = findTemporalCli()!;
  const script = line.replace(/^\.tools\/bin\/temporal/, JSON.stringify(cli));
  return new Promise((resolve) => {
    execFile('bash', ['-c', script], { cwd: REPO_ROOT, env: { ...process.env, TEMPORAL_ADDRESS: process.env.RATCHET_TEST_TEMPORAL_ADDRESS }, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}${stderr}` }),
    );
  });
}

let h: Harness;
beforeAll(async () => {
  h = await openHarness();
});
afterAll(async () => {
  await h?.close();
});

test('every command is in the README', () => {
  for (const [name, line] of Object.entries(COMMANDS)) expect({ name, inReadme: README.includes(line) }).toEqual({ name, inReadme: true });
});

test('the README commands start, pause, query, tune, resume and find a bandit run', async () => {
  const config = parseRunConfig(JSON.parse(readFileSync(join(REPO_ROOT, 'examples', 'bandit.json'), 'utf8')));
  // The run id is the example's: free it from an earlier session on the same database (else the run refuses it).
  await deleteRun(h.database.db, config.runId);
  const workers = await runWorkers(h, config.taskQueues);
  try {
    const started = await sh(COMMANDS.start);
    expect(started).toMatchObject({ code: 0 });
    const runStarted = /RunId\s+(\S+)/.exec(started.out)?.[1];
    expect(runStarted).toBeDefined();
    expect(await sh(COMMANDS.pause)).toMatchObject({ code: 0 });

    const paused = await eventually('the query to show the pause', async () => {
      const { code, out } = await sh(COMMANDS.progress);
      return code === 0 && /"phase":\s*"paused"/.test(out) ? out : undefined;
    });
    expect(paused).toMatch(/"totalSteps":\s*24/);
    const updated = await sh(COMMANDS.hyperparameters);
    expect(updated).toMatchObject({ code: 0 });
    // The CLI prints the update's result as a Go map.
    expect(updated.out).toMatch(/current:map\[klCoef:0\.02 learningRate:0\.5\]/);
    expect(await sh(COMMANDS.resume)).toMatchObject({ code: 0 });

    const handle = h.client.workflow.getHandle('train-bandit-example', runStarted);
    expect((await handle.result()) as TrainingRunResult).toMatchObject({ status: 'completed', steps: 24, policyVersion: 24 });
    const done = await sh(COMMANDS.progress);
    expect(done.out).toMatch(/"learningRate":\s*0\.5/);

    // The run continued-as-new on the way (the test server suggests it early); its latest execution, completed,
    // carries the final step. Visibility is eventually consistent: poll until the list shows it.
    for (const line of [COMMANDS.list, COMMANDS.listRun]) {
      const listed = await eventually(`${line} to list the completed run`, async () => {
        const { code, out } = await sh(line);
        return code === 0 && /Completed\s+train-bandit-example\s+trainingRun/.test(out) ? out : undefined;
      });
      // The run id also finds the run's evaluation children; env and step find training runs only.
      expect(/evaluationRun/.test(listed)).toBe(line === COMMANDS.listRun);
    }
  } finally {
    await workers.stop();
  }
});
