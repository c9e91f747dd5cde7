/**
 * The Python torch worker's own unit tests (workers/torch/tests/test_worker_units.py: artifact store, segments,
 * checkpoint bytes, a deterministic LoRA update on the real SmolLM2, score mismatch), run from jest so `npm test`
 * covers them. The integration test test/integration/llm-run.test.ts runs the worker under Temporal.
 */
import { venvStatus } from '../../../infra/python';
import { pullModel } from '../../../policy/llm/pull';
import { runPythonUnittest } from './python-unittest';

const venv = venvStatus();
if (!venv.ready) console.warn(`torch worker units skipped: ${venv.reason}. Run \`npm run setup:python\` to check them.`);

(venv.ready ? test : test.skip)(
  'ratchet_torch worker units (python -m unittest test_worker*.py)',
  async () => {
    await pullModel('smollm2-135m-instruct');
    const output = runPythonUnittest(venv.python, 'test_worker*.py', 600_000);
    expect(output).toMatch(/\nOK/);
  },
  600_000,
);
