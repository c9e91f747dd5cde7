/** `ratchet codec-server` over real HTTP: Temporal's remote codec convention (/encode, /decode), CORS, errors. */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { startCodecServer } from '../../../cli/codec-server';
import { payloadCodecFromEnv } from '../../../common/payload-codec';
import { REPO_ROOT } from '../../../infra/paths';

const KEY = randomBytes(32).toString('hex');
const codec = payloadCodecFromEnv({ RATCHET_PAYLOAD_KEY: KEY })!;
const UI = 'http://localhost:8233';
const CONFIG = { runId: 'codec-server', steps: 2 };

type JsonPayload = { metadata: Record<string, string>; data: string };
const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  data: Buffer.from(p.data ?? []).toString('base64'),
});
const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data, 'base64'),
});

let server: Server;
let url: string;
beforeAll(async () => {
  ({ server, url } = await startCodecServer({ codec, port: 0, origins: [UI] }));
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Namespace': 'default', Origin: UI, ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

test('/decode turns encrypted payloads (as the UI sends them) back into the original JSON; plain ones pass', async () => {
  const encrypted = await codec.encode([defaultPayloadConverter.toPayload(CONFIG)]);
  const plain = defaultPayloadConverter.toPayload('not encrypted');
  const res = await post('/decode', { payloads: [...encrypted, plain].map(toJson) });
  expect(res.status).toBe(200);
  expect(res.headers.get('access-control-allow-origin')).toBe(UI);
  const { payloads } = (await res.json()) as { payloads: JsonPayload[] };
  expect(Buffer.from(payloads[0].metadata.encoding, 'base64').toString()).toBe('json/plain');
  expect(JSON.parse(Buffer.from(payloads[0].data, 'base64').toString())).toEqual(CONFIG);
  expect(defaultPayloadConverter.fromPayload(fromJson(payloads[1]))).toBe('not encrypted');
});

test('/encode encrypts with the current key, and the result decodes', async () => {
  const res = await post('/encode', { payloads: [toJson(defaultPayloadConverter.toPayload(CONFIG))] });
  expect(res.status).toBe(200);
  const [p] = ((await res.json()) as { payloads: JsonPayload[] }).payloads.map(fromJson);
  expect(Buffer.from(p.metadata!.encoding).toString()).toBe('binary/encrypted');
  expect(Buffer.from(p.metadata!['encryption-key-id']).toString()).toBe(codec.keyId);
  expect(defaultPayloadConverter.fromPayload((await codec.decode([p]))[0])).toEqual(CONFIG);
});

test("CORS: the UI's preflight is answered with X-Namespace allowed; another origin gets no CORS grant", async () => {
  const preflight = await fetch(`${url}/decode`, {
    method: 'OPTIONS',
    headers: { Origin: UI, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type,x-namespace' },
  });
  expect(preflight.status).toBe(204);
  expect(preflight.headers.get('access-control-allow-origin')).toBe(UI);
  expect(preflight.headers.get('access-control-allow-headers')).toMatch(/X-Namespace/i);
  expect(preflight.headers.get('access-control-allow-methods')).toMatch(/POST/);
  const other = await post('/decode', { payloads: [] }, { Origin: 'http://evil.example' });
  expect(other.headers.get('access-control-allow-origin')).toBeNull();
});

test('errors: a tampered payload is 422 with the reason, a bad body 400, another route 404', async () => {
  const [p] = await codec.encode([defaultPayloadConverter.toPayload(CONFIG)]);
  const data = Buffer.from(p.data!);
  data[15] ^= 1;
  const tampered = await post('/decode', { payloads: [toJson({ ...p, data })] });
  expect(tampered.status).toBe(422);
  expect(await tampered.text()).toMatch(/failed authentication/);
  expect((await post('/decode', '{not json')).status).toBe(400);
  expect((await post('/decode', { nope: [] })).status).toBe(400);
  expect((await fetch(`${url}/decode`)).status).toBe(404);
  expect((await post('/other', { payloads: [] })).status).toBe(404);
});

const tsx = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
const main = join(REPO_ROOT, 'cli', 'main.ts');

test('the command refuses to start without a key, or with a key of the wrong length', () => {
  const env = { ...process.env, RATCHET_PAYLOAD_KEY: '' };
  const unset = spawnSync(tsx, [main, 'codec-server'], { env, encoding: 'utf8', timeout: 60_000 });
  expect(unset.status).toBe(1);
  expect(unset.stderr).toMatch(/RATCHET_PAYLOAD_KEY is not set/);
  const short = spawnSync(tsx, [main, 'codec-server'], { env: { ...env, RATCHET_PAYLOAD_KEY: 'abcd' }, encoding: 'utf8', timeout: 60_000 });
  expect(short.status).toBe(1);
  expect(short.stderr).toMatch(/must be a 32-byte AES-256 key/);
});

test('`ratchet codec-server --port 0` serves /decode with the key from the environment', async () => {
  const child = spawn(tsx, [main, 'codec-server', '--port', '0'], { env: { ...process.env, RATCHET_PAYLOAD_KEY: KEY } });
  try {
    const served = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const match = /on (http:\/\/\S+)/.exec(out);
        if (match) resolve(match[1]);
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
    });
    const [p] = await codec.encode([defaultPayloadConverter.toPayload(CONFIG)]);
    const res = await fetch(`${served}/decode`, { method: 'POST', headers: { 'X-Namespace': 'default' }, body: JSON.stringify({ payloads: [toJson(p)] }) });
    const [decoded] = ((await res.json()) as { payloads: JsonPayload[] }).payloads.map(fromJson);
    expect(defaultPayloadConverter.fromPayload(decoded)).toEqual(CONFIG);
  } finally {
    child.kill('SIGTERM');
  }
});
