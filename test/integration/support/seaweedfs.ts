/**
 * A real S3-compatible server for the tests: SeaweedFS (`weed server -s3`: master, volume, filer and S3 gateway in
 * one process) on free ports, with one access key, in a throwaway folder. The binary is built by .ci/run; see
 * WEED_BUILD for the command.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { CreateBucketCommand, ListBucketsCommand } from '@aws-sdk/client-s3';
import { s3ClientFromEnv } from '../../../common/artifact-store-factory';
import { REPO_ROOT, TOOLS_BIN } from '../../../infra/paths';

export const WEED = join(TOOLS_BIN, 'weed');
export const SEAWEEDFS_VERSION = 'v0.0.0-20261109003541-7506e5f91cd6';
export const WEED_BUILD = `go mod download github.com/seaweedfs/seaweedfs@${SEAWEEDFS_VERSION} && (cd "$(go env GOMODCACHE)/github.com/seaweedfs/seaweedfs@${SEAWEEDFS_VERSION}" && CGO_ENABLED=0 go build -o ${WEED} ./weed)`;

export interface S3Server {
  /** The variables a process needs to use the server: RATCHET_S3_ENDPOINT and the AWS keys. */
  env: Record<string, string>;
  /** Create a bucket (idempotent enough for a fresh server). */
  createBucket(name: string): Promise<void>;
  stop(): Promise<void>;
}

export const weedAvailable = (): boolean => existsSync(WEED);

export async function startSeaweedS3(): Promise<S3Server> {
  const testDir = resolve(process.env.RATCHET_TEST_DIR || join(REPO_ROOT, '.data', 'test'));
  mkdirSync(testDir, { recursive: true });
  const dir = mkdtempSync(join(testDir, 'seaweedfs-'));
  const [master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3, s3Grpc] = await freePorts(8);
  const keys = { accessKey: 'ratchet-test', secretKey: 'ratchet-test-secret' };
  const s3Config = join(dir, 's3.json');
  writeFileSync(
    s3Config,
    JSON.stringify({ identities: [{ name: 'ratchet', credentials: [keys], actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'] }] }),
  );
  const logFile = join(dir, 'weed.log');
  const log = openSync(logFile, 'a');
  const args = [
    'server',
    `-dir=${dir}`,
    '-ip=127.0.0.1',
    '-ip.bind=127.0.0.1',
    '-master.telemetry=false',
    '-master.volumeSizeLimitMB=64',
    `-master.port=${master}`,
    `-master.port.grpc=${masterGrpc}`,
    `-volume.port=${volume}`,
    `-volume.port.grpc=${volumeGrpc}`,
    `-filer.port=${filer}`,
    `-filer.port.grpc=${filerGrpc}`,
    '-s3',
    `-s3.port=${s3}`,
    `-s3.port.grpc=${s3Grpc}`,
    '-s3.port.iceberg=0',
    '-s3.port.lance=0',
    `-s3.config=${s3Config}`,
  ];
  const child = spawn(WEED, args, { cwd: dir, stdio: ['ignore', log, log] });
  closeSync(log);
  const env = {
    RATCHET_S3_ENDPOINT: `http://127.0.0.1:${s3}`,
    AWS_ACCESS_KEY_ID: keys.accessKey,
    AWS_SECRET_ACCESS_KEY: keys.secretKey,
    AWS_REGION: 'us-east-1',
  };
  const client = s3ClientFromEnv(env);
  const server: S3Server = {
    env,
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    async stop() {
      client.destroy();
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`weed exited with ${child.exitCode}; see ${logFile}`);
      await client.send(new ListBucketsCommand({}));
    }, 60_000);
  } catch (error) {
    // Keep the folder: its weed.log says why the server did not come up.
    client.destroy();
    await stopChild(child);
    throw error;
  }
  return server;
}

async function waitFor(attempt: () => Promise<void>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline || /weed exited/.test(String(error))) throw error;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(kill);
      done();
    });
    child.kill('SIGTERM');
  });
}

/** Ports the OS hands out now, held together so none repeats. */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((ok, fail) => {
      const server = createServer();
      server.once('error', fail);
      server.listen(0, '127.0.0.1', () => ok(server));
    })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}
