/** Run workers/torch/tests' Python unittest files matching `pattern` in the venv; throws with the output's tail on failure. */
import { spawnSync } from 'node:child_process';
import { REPO_ROOT } from '../../../infra/paths';
import { workerPythonEnv } from '../../../infra/python';

export function runPythonUnittest(python: string, pattern: string, timeoutMs: number): string {
  const r = spawnSync(python, ['-m', 'unittest', 'discover', '-s', 'workers/torch/tests', '-p', pattern, '-v'], {
    cwd: REPO_ROOT,
    env: workerPythonEnv(),
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.status !== 0) throw new Error(`python -m unittest ${pattern} failed (exit ${r.status ?? r.signal ?? r.error?.message}):\n${output.split('\n').slice(-60).join('\n')}`);
  return output;
}
