/**
 * Two versions (0, 1) of a tiny built-in policy published to a fresh local artifact store, and `ratchet serve`
 * (serve/server.ts) over them on a real port: the upstream the gateway and the openai engine tests talk to. The
 * loaded versions are returned too, so a test can compare a served reply with the in-process engine's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { artifactKeys } from '../../../common/artifact-keys';
import { LocalArtifactStore } from '../../../common/artifacts';
import { initBackend } from '../../../policy/backend';
import { modelFromWeights } from '../../../policy/model';
import { Tokenizer } from '../../../policy/tokenizer';
import { ServedModels } from '../../../serve/models';
import { PolicyStore } from '../../../serve/policy-store';
import { startServer, type RunningServer } from '../../../serve/server';
import { PolicyCache, publishPolicy, type LoadedPolicy } from '../../../trainer/policy-bundle';
import { randomWeights, TINY } from '../policy/helpers';

export const tokenizer = Tokenizer.build(['GET /users/7 HTTP ok done\nPOST /orders {"id": 12}']);
export const config = { ...TINY, vocabSize: tokenizer.vocabSize, contextLength: 48 };

export interface TinyServe {
  /** The artifact store's directory (a test may write its own files there). */
  dir: string;
  server: RunningServer;
  /** Versions 0 and 1, loaded in process. */
  versions: LoadedPolicy[];
  close(): Promise<void>;
}

export async function serveTinyVersions(run: string, port = 0): Promise<TinyServe> {
  await initBackend({ quiet: true });
  const dir = mkdtempSync(join(tmpdir(), `${run}-`));
  const store = new LocalArtifactStore(dir);
  const cache = new PolicyCache(store);
  const versions: LoadedPolicy[] = [];
  for (const version of [0, 1]) {
    const ref = await publishPolicy(store, artifactKeys.policy(run, version), modelFromWeights(config, 'policy', randomWeights(config, 21 + version)), tokenizer);
    versions.push(await cache.get(ref));
  }
  const policies = new PolicyStore(store);
  const server = await startServer({ models: new ServedModels(policies, run), policies }, { port });
  return {
    dir,
    server,
    versions,
    close: async () => {
      await server.close();
      await cache.clear();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
