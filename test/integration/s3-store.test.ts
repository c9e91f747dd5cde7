/**
 * The S3 artifact store against a real S3-compatible server (SeaweedFS, started here): round trip, the server's
 * sha256 checksum check, tamper detection on read, and a bandit run whose cpu and gpu workers share no disk:
 * each has its own S3 store instance and no local artifact folder.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Worker } from '@temporalio/worker';
import { ArtifactIntegrityError, sha256 } from '../../common/artifacts';
import { artifactStoreFromEnv, s3ClientFromEnv } from '../../common/artifact-store-factory';
import { S3ArtifactStore } from '../../common/s3-artifact-store';
import { listSteps } from '../../db/queries';
import { createControlWorker } from '../../workers/control';
import { createCpuWorker } from '../../workers/cpu';
import { createGpuWorker } from '../../workers/gpu';
import type { TrainingRunResult } from '../../workflows/training-run';
import { openHarness, testConfig, type Harness } from './support/harness';
import { startSeaweedS3, weedAvailable, WEED_BUILD, type S3Server } from './support/seaweedfs';
import { venvStatus, workerPythonEnv } from '../../infra/python';
import { runPythonUnittest } from '../unit/llm/python-unittest';

const BUCKET = 'ratchet-test';

if (!weedAvailable()) {
  // Not a silent pass: the skip says what is missing and how to build it (.ci/run does).
  console.warn(`s3-store.test.ts SKIPPED: no SeaweedFS binary. Build it with:\n  ${WEED_BUILD}`);
}
const describeWithServer = weedAvailable() ? describe : describe.skip;

describeWithServer('S3 artifact store on SeaweedFS', () => {
  let server: S3Server;
  let env: Record<string, string>;
  let raw: S3Client;

  beforeAll(async () => {
    server = await startSeaweedS3();
    await server.createBucket(BUCKET);
    env = { ...server.env, RATCHET_ARTIFACTS: `s3://${BUCKET}/ratchet` };
    raw = s3ClientFromEnv(env);
  }, 90_000);

  afterAll(async () => {
    raw?.destroy();
    await server?.stop();
  });

  test('put, get, has and list round trip under the prefix, with the sha256 checksum and metadata on the object', async () => {
    const store = artifactStoreFromEnv(env);
    expect(store).toBeInstanceOf(S3ArtifactStore);
    const data = new TextEncoder().encode('{"hello":"s3"}');
    const ref = await store.put('runs/r1/step-000000/a.json', data);
    expect(ref).toEqual({ key: 'runs/r1/step-000000/a.json', sha256: sha256(data), bytes: data.byteLength });
    await store.put('runs/r1/step-000001/b.bin', new Uint8Array(300_000).fill(7));
    await store.put('runs/r2/c.bin', new Uint8Array([1, 2, 3]));

    expect(Buffer.from(await store.get(ref.key, ref.sha256)).toString()).toBe('{"hello":"s3"}');
    expect((await store.get('runs/r1/step-000001/b.bin')).byteLength).toBe(300_000);
    expect(await store.has(ref.key)).toBe(true);
    expect(await store.has('runs/r1/missing.json')).toBe(false);
    expect(await store.list('runs/r1/')).toEqual(['runs/r1/step-000000/a.json', 'runs/r1/step-000001/b.bin']);
    // A second store instance (another worker) sees the same objects: nothing is cached locally.
    expect(await artifactStoreFromEnv(env).list('runs/')).toHaveLength(3);

    const head = await raw.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `ratchet/${ref.key}`, ChecksumMode: 'ENABLED' }));
    expect(head.Metadata?.sha256).toBe(ref.sha256);
    expect(head.ChecksumSHA256).toBe(Buffer.from(ref.sha256, 'hex').toString('base64'));
  });

  test('the server refuses a put whose bytes do not match the sha256 checksum sent with it', async () => {
    const wrong = Buffer.from(sha256('other bytes'), 'hex').toString('base64');
    await expect(
      raw.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'ratchet/runs/r3/x.bin', Body: new Uint8Array([1, 2, 3]), ChecksumSHA256: wrong })),
    ).rejects.toThrow();
    expect(await artifactStoreFromEnv(env).has('runs/r3/x.bin')).toBe(false);
  });

  test('a read of tampered bytes is refused, against the reference and against the stored sha256', async () => {
    const store = artifactStoreFromEnv(env);
    const ref = await store.put('runs/r4/policy.bin', new TextEncoder().encode('the real policy'));
    // Someone overwrites the object behind the store's back, keeping the old metadata.
    await raw.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: `ratchet/${ref.key}`, Body: new TextEncoder().encode('a tampered policy'), Metadata: { sha256: ref.sha256 } }),
    );
    await expect(store.get(ref.key, ref.sha256)).rejects.toBeInstanceOf(ArtifactIntegrityError);
    await expect(store.get(ref.key)).rejects.toThrow(/does not match the expected/);
    const stored = await raw.send(new GetObjectCommand({ Bucket: BUCKET, Key: `ratchet/${ref.key}` }));
    expect(await stored.Body?.transformToString()).toBe('a tampered policy');
  });

  const venv = venvStatus();
  (venv.ready ? test : test.skip)('the Python worker\'s store (boto3) reads what TypeScript wrote and the other way round', async () => {
    const store = artifactStoreFromEnv(env);
    const ref = await store.put('runs/x1/from-ts.json', new TextEncoder().encode('{"from":"ts"}'));
    const script = [
      'import json, sys',
      'from ratchet_torch.store import artifact_store_from_env',
      'store = artifact_store_from_env()',
      'ref = json.loads(sys.argv[1])',
      'assert store.get_json(ref) == {"from": "ts"}',
      'print(json.dumps(store.put_json("runs/x1/from-py.json", {"from": "py"})))',
    ].join('\n');
    const r = spawnSync(venv.python, ['-c', script, JSON.stringify(ref)], { env: workerPythonEnv({ ...process.env, ...env }), encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    const fromPython = JSON.parse(r.stdout) as { key: string; sha256: string };
    expect(JSON.parse(Buffer.from(await store.get(fromPython.key, fromPython.sha256)).toString())).toEqual({ from: 'py' });
    const head = await raw.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `ratchet/${fromPython.key}`, ChecksumMode: 'ENABLED' }));
    expect(head.Metadata?.sha256).toBe(fromPython.sha256);
    expect(head.ChecksumSHA256).toBe(Buffer.from(fromPython.sha256, 'hex').toString('base64'));
  });

  (venv.ready ? test : test.skip)('the Python S3 store\'s own tests (workers/torch/tests/test_s3_store.py, on their own server)', () => {
    expect(runPythonUnittest(venv.python, 'test_s3_store.py', 180_000)).toMatch(/\nOK/);
  }, 200_000);

  describe('a bandit run with workers that share no disk', () => {
    let h: Harness;
    beforeAll(async () => {
      h = await openHarness();
    });
    afterAll(async () => {
      await h?.close();
    });

    test('completes, with every artifact in the bucket and none in the local artifact folder', async () => {
      const config = testConfig({ steps: 3 });
      const runEnv = { ...server.env, RATCHET_ARTIFACTS: `s3://${BUCKET}/shared-nothing` };
      // Each pool gets its own store instance (its own client), as separate machines would.
      const cpuStore = artifactStoreFromEnv(runEnv);
      const gpuStore = artifactStoreFromEnv(runEnv);
      const workers: Worker[] = [
        await createControlWorker({ connection: h.nativeConnection, taskQueue: config.taskQueues.control, workflowBundle: { codePath: h.env.workflowBundle } }),
        await createCpuWorker({ connection: h.nativeConnection, deps: { db: h.database.db, store: cpuStore }, taskQueue: config.taskQueues.cpu }),
        await createGpuWorker({ connection: h.nativeConnection, deps: { db: h.database.db, store: gpuStore }, taskQueue: config.taskQueues.gpu }),
      ];
      const running = workers.map((w) => w.run());
      try {
        const handle = await h.client.workflow.start('trainingRun', { taskQueue: config.taskQueues.control, workflowId: `s3-${config.runId}`, args: [config] });
        const result = (await handle.result()) as TrainingRunResult;
        expect(result).toMatchObject({ status: 'completed', steps: 3, policyVersion: 3 });
        expect((await listSteps(h.database.db, config.runId)).map((r) => r.step)).toEqual([0, 1, 2]);
      } finally {
        for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
        await Promise.all(running);
      }
      const keys = await cpuStore.list(`runs/${config.runId}/`);
      expect(keys.length).toBeGreaterThan(0);
      expect(existsSync(join(h.env.artifactsDir, 'runs', config.runId))).toBe(false);
    });
  });
});
