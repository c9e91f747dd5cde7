/**
 * Secrets stay out of workflow histories. A short full bandit run (continue-as-new and evaluation children
 * included) with a distinctive database password in the workers' DATABASE_URL and fake API keys in the
 * environment; then every history of the run, fetched raw (no codec), is scanned for them. A second run with
 * RATCHET_PAYLOAD_KEY set stores every payload as `binary/encrypted`, completes with the same result, and the codec
 * server (and `temporal workflow show --codec-endpoint`, as the README writes it) turns its payloads back into JSON.
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { startCodecServer } from '../../cli/codec-server';
import { payloadCodecFromEnv } from '../../common/payload-codec';
import { openDatabase } from '../../db/client';
import { listSteps } from '../../db/queries';
import { REPO_ROOT } from '../../infra/paths';
import { findTemporalCli } from '../../infra/temporal';
import type { TrainingRunResult } from '../../workflows/training-run';
import { openHarness, runWorkers, testConfig, type Harness } from './support/harness';

type History = temporal.api.history.v1.IHistory;
interface Execution {
  workflowId: string;
  runId: string;
}

const API_KEYS = { OPENAI_API_KEY: `sk-ratchet-fake-${randomUUID()}`, HF_TOKEN: `hf_ratchetfake${randomUUID().replace(/-/g, '')}` };
const PAYLOAD_KEY = randomBytes(32);
const README_SHOW = '.tools/bin/temporal workflow show --workflow-id train-my-run --codec-endpoint http://localhost:8888';

let h: Harness;
let databaseUrl: string;
let dbPassword: string;
const savedEnv = { ...process.env };
beforeAll(async () => {
  h = await openHarness();
  // The test cluster trusts loopback, so it ignores a password; the URL the workers hold still carries one.
  const url = new URL(h.env.databaseUrl);
  if (!url.password) url.password = `pg-secret-${randomUUID()}`;
  databaseUrl = url.toString();
  dbPassword = decodeURIComponent(url.password);
  Object.assign(process.env, API_KEYS, { DATABASE_URL: databaseUrl });
});
afterAll(async () => {
  for (const name of ['DATABASE_URL', 'RATCHET_PAYLOAD_KEY', ...Object.keys(API_KEYS)]) {
    if (savedEnv[name] === undefined) delete process.env[name];
    else process.env[name] = savedEnv[name];
  }
  await h?.close();
});

async function rawHistory(client: Client, execution: Execution): Promise<History> {
  const events: temporal.api.history.v1.IHistoryEvent[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await client.workflowService.getWorkflowExecutionHistory({ namespace: 'default', execution, nextPageToken });
    events.push(...(page.history?.events ?? []));
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
  return { events };
}

/** Every execution of the run: the continue-as-new chain from its first run, and the children each one started. */
async function runHistories(client: Client, first: Execution): Promise<Map<string, History>> {
  const histories = new Map<string, History>();
  const pending = [first];
  while (pending.length) {
    const execution = pending.shift()!;
    const history = await rawHistory(client, execution);
    histories.set(`${execution.workflowId}@${execution.runId}`, history);
    for (const event of history.events ?? []) {
      const next = event.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
      if (next) pending.push({ workflowId: execution.workflowId, runId: next });
      const child = event.childWorkflowExecutionStartedEventAttributes?.workflowExecution;
      if (child?.workflowId && child.runId) pending.push({ workflowId: child.workflowId, runId: child.runId });
    }
  }
  return histories;
}

function scan(histories: Map<string, History>, needles: Record<string, string | Buffer>): { histories: number; bytes: number; hits: string[] } {
  let bytes = 0;
  const hits: string[] = [];
  for (const [id, history] of histories) {
    const raw = Buffer.from(temporal.api.history.v1.History.encode(history).finish());
    bytes += raw.length;
    for (const [name, needle] of Object.entries(needles)) if (raw.includes(needle)) hits.push(`${name} in ${id}`);
  }
  return { histories: histories.size, bytes, hits };
}

/** The payloads of a history, except search attributes (which the server must read to index them). */
function payloadsOf(value: unknown, path = '', out: { path: string; payload: temporal.api.common.v1.IPayload }[] = []) {
  if (!value || typeof value !== 'object' || value instanceof Uint8Array) return out;
  if (path.endsWith('indexedFields')) return out;
  const v = value as Record<string, unknown>;
  if (v.metadata && typeof v.metadata === 'object' && 'data' in v) out.push({ path, payload: v as temporal.api.common.v1.IPayload });
  else for (const [k, child] of Object.entries(v)) payloadsOf(child, `${path}.${k}`, out);
  return out;
}

async function trainOnce(client: Client, runId: string) {
  const config = testConfig({ runId, steps: 4, continueAsNewEvery: 2, evaluation: { every: 2, split: 'dev', tasks: 4, passK: 2 } });
  const database = openDatabase(databaseUrl, 4);
  const workers = await runWorkers({ ...h, database }, config.taskQueues);
  try {
    const handle = await client.workflow.start('trainingRun', { taskQueue: config.taskQueues.control, workflowId: `train-${runId}`, args: [config] });
    const result = (await handle.result()) as TrainingRunResult;
    const rewards = (await listSteps(h.database.db, runId)).map((r) => r.meanReward);
    const histories = await runHistories(client, { workflowId: handle.workflowId, runId: handle.firstExecutionRunId });
    return { config, result, rewards, histories, firstRunId: handle.firstExecutionRunId };
  } finally {
    await workers.stop();
    await database.close();
  }
}

const summary = (r: TrainingRunResult) => ({ status: r.status, steps: r.steps, policyVersion: r.policyVersion, meanReward: r.last?.meanReward });

test('no database password, API key or payload key in any history of a full run; with the codec on, payloads are encrypted and the codec server reads them', async () => {
  delete process.env.RATCHET_PAYLOAD_KEY;
  const plain = await trainOnce(new Client({ connection: h.client.connection }), `sec-${randomUUID().slice(0, 8)}`);
  expect(plain.result).toMatchObject({ status: 'completed', steps: 4 });
  const needles = {
    databasePassword: dbPassword,
    ...API_KEYS,
    payloadKeyBase64: PAYLOAD_KEY.toString('base64'),
    payloadKeyHex: PAYLOAD_KEY.toString('hex'),
    payloadKeyRaw: PAYLOAD_KEY,
  };
  const plainScan = scan(plain.histories, needles);
  console.log(`secrets scan, codec off: ${plainScan.histories} histories, ${plainScan.bytes} bytes, hits: ${JSON.stringify(plainScan.hits)}`);
  // The chain continued as new at least once, and the evaluation children are in the scan.
  const ids = [...plain.histories.keys()];
  expect(ids.filter((id) => id.startsWith(`train-${plain.config.runId}@`)).length).toBeGreaterThan(1);
  expect(ids.filter((id) => id.includes('/eval/')).length).toBeGreaterThanOrEqual(2);
  expect(plainScan.hits).toEqual([]);
  // The scan can see payload content: the config's JSON is readable in a history written without the codec.
  expect(scan(plain.histories, { configJson: '"worldSeed"' }).hits.length).toBeGreaterThan(0);

  // The same run with the codec on: workers and client read RATCHET_PAYLOAD_KEY when they are created.
  process.env.RATCHET_PAYLOAD_KEY = PAYLOAD_KEY.toString('base64');
  const codec = payloadCodecFromEnv()!;
  const client = new Client({ connection: h.client.connection, dataConverter: { payloadCodecs: [codec] } });
  const encrypted = await trainOnce(client, `sec-${randomUUID().slice(0, 8)}`);
  expect(summary(encrypted.result)).toEqual(summary(plain.result));
  expect(encrypted.rewards).toEqual(plain.rewards);

  const encryptedScan = scan(encrypted.histories, { ...needles, configJson: '"worldSeed"' });
  console.log(`secrets scan, codec on: ${encryptedScan.histories} histories, ${encryptedScan.bytes} bytes, hits: ${JSON.stringify(encryptedScan.hits)}`);
  expect(encryptedScan.hits).toEqual([]);
  const payloads = [...encrypted.histories.values()].flatMap((history) => payloadsOf(history));
  expect(payloads.length).toBeGreaterThan(20);
  const encodings = new Set(payloads.map(({ payload }) => Buffer.from(payload.metadata!.encoding ?? []).toString()));
  expect([...encodings]).toEqual(['binary/encrypted']);

  // The codec server decodes the run's input, as stored, back into the config the run was started with.
  const [started] = (await rawHistory(h.client, { workflowId: `train-${encrypted.config.runId}`, runId: encrypted.firstRunId })).events!;
  const input = started.workflowExecutionStartedEventAttributes!.input!.payloads![0];
  const { server, url } = await startCodecServer({ codec, port: 0, origins: ['http://localhost:8233'] });
  try {
    const res = await fetch(`${url}/decode`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Namespace': 'default' },
      body: JSON.stringify({
        payloads: [{ metadata: Object.fromEntries(Object.entries(input.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')])), data: Buffer.from(input.data!).toString('base64') }],
      }),
    });
    expect(res.status).toBe(200);
    const [decoded] = ((await res.json()) as { payloads: { data: string }[] }).payloads;
    expect(JSON.parse(Buffer.from(decoded.data, 'base64').toString())).toEqual(encrypted.config);

    // The README's command, with this run's workflow id and the server's port: the CLI shows the decoded input.
    expect(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8')).toContain(README_SHOW);
    const line = README_SHOW.replace(/^\.tools\/bin\/temporal/, JSON.stringify(findTemporalCli()!))
      .replace('train-my-run', `train-${encrypted.config.runId} --run-id ${encrypted.firstRunId} --output json`)
      .replace('http://localhost:8888', url);
    const shown = await new Promise<string>((resolve, reject) =>
      execFile('bash', ['-c', line], { cwd: REPO_ROOT, env: { ...process.env, TEMPORAL_ADDRESS: h.env.temporalAddress }, timeout: 30_000, maxBuffer: 1 << 26 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
      ),
    );
    const shownInput = (JSON.parse(shown) as { events: { workflowExecutionStartedEventAttributes?: { input: { payloads: { data: string }[] } } }[] }).events[0]
      .workflowExecutionStartedEventAttributes!.input.payloads[0];
    expect(JSON.parse(Buffer.from(shownInput.data, 'base64').toString())).toEqual(encrypted.config);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
