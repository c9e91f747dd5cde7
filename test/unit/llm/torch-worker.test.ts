/**
 * The Python torch worker's own unit tests (workers/torch/tests/test_worker_units.py: artifact store, segments,
 * checkpoint bytes, a deterministic LoRA update on the real SmolLM2, score mismatch), run from jest so `npm test`
 * covers them. The integration test test/integration/llm-run.test.ts runs the worker under Temporal.
 */
import { spawnSync } from 'node:child_process';
import { REPO_ROOT } from '../../../infra/paths';
import { venvStatus, workerPythonEnv } from '../../../infra/python';
import { pullModel } from '../../../policy/llm/pull';

const venv = venvStatus();
if (!venv.ready) console.warn(`torch worker units skipped: ${venv.reason}. Run \`npm run setup:python\` to check them.`);

(venv.ready ? test : test.skip)(
  'ratchet_torch worker units (python -m unittest test_worker*.py)',
  async () => {
    await pullModel('smollm2-135m-instruct');
    const r = spawnSync(venv.python, ['-m', 'unittest', 'discover', '-s', 'workers/torch/tests', '-p', 'test_worker*.py', '-v'], {
      cwd: REPO_ROOT,
      env: workerPythonEnv(),
      encoding: 'utf8',
      timeout: 600_000,
    });
    const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    if (r.status !== 0) throw new Error(`python -m unittest test_worker*.py failed (exit ${r.status ?? r.signal ?? r.error?.message}):\n${output.split('\n').slice(-60).join('\n')}`);
    expect(output).toMatch(/\nOK/);
  },
  600_000,
);
