/** No run id the config accepts, and no key the store accepts, reaches outside the store's root folder. */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { artifactKeys } from '../../../common/artifact-keys';
import { isArtifactKey } from '../../../common/artifact-key';
import { LocalArtifactStore } from '../../../common/artifacts';
import { InvalidRunConfigError, parseRunConfig } from '../../../config/run-config';

const ESCAPES = ['..', '.', '../x', '../../etc/passwd', 'a/../../b', 'runs/../x', 'runs/r/..', './a', 'a/.', '/etc/passwd', 'a//b', 'a/', 'a\\..\\b', '%2e%2e%2f', '\u2025', 'x\n', 'a/b\u0000', ''];

let parent: string;
let store: LocalArtifactStore;
beforeEach(() => {
  parent = mkdtempSync(join(tmpdir(), 'ratchet-keys-'));
  store = new LocalArtifactStore(join(parent, 'store'));
});
afterEach(() => rmSync(parent, { recursive: true, force: true }));

test.each(ESCAPES)('the store refuses key %j for every operation and writes nothing', async (key) => {
  expect(isArtifactKey(key)).toBe(false);
  await expect(store.put(key, new Uint8Array([1]))).rejects.toThrow(/invalid artifact key/);
  await expect(store.get(key)).rejects.toThrow(/invalid artifact key/);
  await expect(store.has(key)).rejects.toThrow(/invalid artifact key/);
  expect(readdirSync(parent)).toEqual([]); // not even the root folder
});

test.each(ESCAPES.filter((id) => id !== ''))('run id %j is refused by the config, and the keys built from it by the store', async (runId) => {
  expect(() => parseRunConfig({ runId, env: 'bandit', steps: 1 })).toThrow(InvalidRunConfigError);
  expect(() => parseRunConfig({ runId, env: 'bandit', steps: 1 })).toThrow(/runId: /);
  for (const key of [artifactKeys.step(runId, 0, 'x.json'), artifactKeys.checkpoint(runId, 0), artifactKeys.policy(runId, 1), artifactKeys.demonstrations(runId)]) {
    await expect(store.put(key, new Uint8Array([1]))).rejects.toThrow(/invalid artifact key/); // the store's own check, behind the config's
  }
  expect(readdirSync(parent)).toEqual([]);
});

test('a good key stays under the root', async () => {
  const ref = await store.put(artifactKeys.step('r-1', 2, 'rollouts/shard-000.json'), new Uint8Array([1, 2]));
  expect(existsSync(join(store.root, 'runs', 'r-1', 'step-000002', 'rollouts', 'shard-000.json'))).toBe(true);
  expect(await store.get(ref.key, ref.sha256)).toEqual(new Uint8Array([1, 2]));
});
