/**
 * Picks the TensorFlow.js backend once per process: tfjs-node-gpu, then tfjs-node, then wasm, then cpu.
 * The two native packages are optional dependencies (their install downloads libtensorflow and fails where
 * downloads are blocked), so they are loaded with a guarded require and skipped when absent.
 * `RATCHET_TF_BACKEND=wasm` (or cpu, tensorflow) forces one.
 */
import * as tf from '@tensorflow/tfjs';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

interface Candidate {
  backend: BackendName;
  label: string;
  /** Registers the backend with tfjs; throws when the package is missing or broken. */
  load: () => void;
}

const CANDIDATES: Candidate[] = [
  // Both native packages register a backend named 'tensorflow'.
  { backend: 'tensorflow', label: '@tensorflow/tfjs-node-gpu', load: () => require('@tensorflow/tfjs-node-gpu') },
  { backend: 'tensorflow', label: '@tensorflow/tfjs-node', load: () => require('@tensorflow/tfjs-node') },
  { backend: 'wasm', label: '@tensorflow/tfjs-backend-wasm', load: () => require('@tensorflow/tfjs-backend-wasm') },
  { backend: 'cpu', label: '@tensorflow/tfjs (cpu)', load: () => undefined },
];

let chosen: { backend: BackendName; label: string } | undefined;

/**
 * Initialise the best available backend (idempotent) and return its name. `order` restricts or reorders the
 * candidates, e.g. `['cpu']` in a parity test. Logs the choice once unless `quiet`.
 */
export async function initBackend(opts: { order?: BackendName[]; quiet?: boolean } = {}): Promise<BackendName> {
  const forced = process.env.RATCHET_TF_BACKEND as BackendName | undefined;
  const order = opts.order ?? (forced ? [forced] : undefined);
  if (chosen && (!order || order.includes(chosen.backend)) && tf.getBackend() === chosen.backend) return chosen.backend;
  const failures: string[] = [];
  for (const candidate of CANDIDATES) {
    if (order && !order.includes(candidate.backend)) continue;
    try {
      candidate.load();
      if (!(await tf.setBackend(candidate.backend))) throw new Error('setBackend returned false');
      await tf.ready();
      chosen = { backend: candidate.backend, label: candidate.label };
      if (!opts.quiet) {
        const skipped = failures.length ? ` (unavailable: ${failures.join(', ')})` : '';
        console.log(`[policy] tfjs backend: ${candidate.backend} from ${candidate.label}${skipped}`);
      }
      return candidate.backend;
    } catch (err) {
      failures.push(candidate.label);
    }
  }
  throw new Error(`no tfjs backend could be initialised (tried ${failures.join(', ')})`);
}

/** The backend in use and the package it came from, for logs and step records. */
export function backendInfo(): { backend: string; label: string } {
  return chosen ?? { backend: tf.getBackend(), label: 'unknown' };
}
