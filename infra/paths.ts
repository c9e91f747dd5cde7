/** Where things live on disk: the repository root, the git-ignored data folder and tools folder. */
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(__dirname, '..');

/** `.data/` (temporal sqlite, pglite, artifacts, logs); RATCHET_DATA_DIR overrides it. */
export function dataDir(): string {
  return resolve(process.env.RATCHET_DATA_DIR || join(REPO_ROOT, '.data'));
}

export const TOOLS_BIN = join(REPO_ROOT, '.tools', 'bin');

export function artifactsDir(): string {
  return process.env.RATCHET_ARTIFACTS_DIR ? resolve(process.env.RATCHET_ARTIFACTS_DIR) : join(dataDir(), 'artifacts');
}
