import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ActivityExecuteInput } from '@temporalio/worker';
import { ConfigLoader, ConfigRefInbound, storeConfig } from '../../../activities/config-ref';
import { ArtifactIntegrityError, LocalArtifactStore } from '../../../common/artifacts';
import { parseRunConfig } from '../../../config/run-config';

const config = parseRunConfig({ runId: 'ref', env: 'bandit', steps: 2 });

describe('the run config by reference', () => {
  const store = new LocalArtifactStore(mkdtempSync(join(tmpdir(), 'config-ref-')));

  it('is stored under its run and content hash, idempotently; another config gets another key', async () => {
    const ref = await storeConfig(store, config);
    expect(ref.key).toBe(`runs/ref/config/${ref.sha256.slice(0, 16)}.json`);
    expect(await storeConfig(store, config)).toEqual(ref);
    expect((await storeConfig(store, { ...config, steps: 3 })).key).not.toBe(ref.key);
  });

  it('the interceptor swaps configRef for the config before the activity runs, and leaves other inputs alone', async () => {
    const ref = await storeConfig(store, config);
    const seen: unknown[] = [];
    const next = async (input: ActivityExecuteInput) => seen.push(input.args[0]);
    const inbound = new ConfigRefInbound(new ConfigLoader(store));
    await inbound.execute({ args: [{ runId: 'ref', step: 1, configRef: ref }], headers: {} }, next);
    await inbound.execute({ args: [{ runId: 'ref', step: 1, config }], headers: {} }, next);
    await inbound.execute({ args: [{ step: 2 }], headers: {} }, next);
    expect(seen).toEqual([{ runId: 'ref', step: 1, config }, { runId: 'ref', step: 1, config }, { step: 2 }]);
  });

  it('refuses a config whose bytes do not match the reference, and does not cache the failure', async () => {
    const ref = await storeConfig(store, config);
    const loader = new ConfigLoader(store);
    await expect(loader.load({ ...ref, sha256: '0'.repeat(64) })).rejects.toBeInstanceOf(ArtifactIntegrityError);
    await expect(loader.load(ref)).resolves.toEqual(config);
  });
});
