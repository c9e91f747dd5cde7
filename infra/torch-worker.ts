/**
 * How to start the Python worker that trains LLM policies (workers/torch, `python -m ratchet_torch.worker`): the
 * venv's interpreter, `ratchet_torch` on PYTHONPATH, and the same Temporal address, artifact store and models
 * folder as the TypeScript workers.
 */
import { DEFAULT_TASK_QUEUES } from '../config/run-config';
import { modelsDir } from '../policy/llm/models';
import { requireVenv, workerPythonEnv } from './python';
import { artifactsDir, REPO_ROOT } from './paths';

export interface TorchWorkerOptions {
  /** Default: RATCHET_TORCH_QUEUE, else `ratchet-torch` (an llm run's default gpu queue). */
  taskQueue?: string;
  /** Torch threads; default: the worker's own (every core). Fixed per run so a retried update repeats its bytes. */
  threads?: number;
}

export function torchWorkerCommand(env: NodeJS.ProcessEnv = process.env, opts: TorchWorkerOptions = {}): { command: string; args: string[]; env: NodeJS.ProcessEnv; cwd: string } {
  const python = requireVenv('the torch worker (LLM policies)');
  const taskQueue = opts.taskQueue ?? env.RATCHET_TORCH_QUEUE ?? DEFAULT_TASK_QUEUES.torch;
  const args = ['-m', 'ratchet_torch.worker', '--task-queue', taskQueue];
  if (opts.threads) args.push('--threads', String(opts.threads));
  return {
    command: python,
    args,
    cwd: REPO_ROOT,
    env: workerPythonEnv({
      ...env,
      TEMPORAL_ADDRESS: env.TEMPORAL_ADDRESS || '127.0.0.1:7233',
      RATCHET_ARTIFACTS_DIR: env.RATCHET_ARTIFACTS_DIR || artifactsDir(),
      RATCHET_MODELS_DIR: env.RATCHET_MODELS_DIR || modelsDir(),
    }),
  };
}
