/**
 * What an artifact key may look like, with no I/O, so the run config (validated in the workflow sandbox) and the
 * stores (common/artifacts.ts, workers/torch/ratchet_torch/store.py) refuse the same keys: letters, digits, '.',
 * '_', '-' in '/'-separated parts, none of them '.' or '..', so a key never leaves the store's root folder.
 */
const KEY_PATTERN = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

export const ARTIFACT_KEY_RULE = "letters, digits, '.', '_', '-' and '/', with no '.' or '..' part";

export function isArtifactKey(key: string): boolean {
  return KEY_PATTERN.test(key) && !key.split('/').some((part) => part === '..' || part === '.');
}
