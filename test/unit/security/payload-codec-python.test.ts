/**
 * The TypeScript and Python codecs agree: bytes encrypted by one decrypt in the other, both ways, and a tampered
 * payload is refused by Python too; plus the Python codec's own unit tests (workers/torch/tests/test_payload_codec.py). Needs the project venv (`npm run setup:python`); skipped, saying so, without it.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { payloadCodecFromEnv } from '../../../common/payload-codec';
import { venvStatus, workerPythonEnv } from '../../../infra/python';
import { runPythonUnittest } from '../llm/python-unittest';

const KEY = randomBytes(32).toString('base64');
const VALUES = [{ runId: 'cross-language', steps: 3, nested: { text: 'é ✓ 💡' } }, 'a string', 42, null];

const toJson = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  data: Buffer.from(p.data ?? []).toString('base64'),
});
const fromJson = (p: { metadata: Record<string, string>; data: string }): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data, 'base64'),
});

function python(command: 'encode' | 'decode', payloads: Payload[]): { status: number | null; payloads: Payload[]; stderr: string } {
  const r = spawnSync(venv.python, ['-m', 'ratchet_torch.payload_codec', command], {
    input: JSON.stringify({ payloads: payloads.map(toJson) }),
    env: workerPythonEnv({ ...process.env, RATCHET_PAYLOAD_KEY: KEY, RATCHET_PAYLOAD_OLD_KEYS: '' }),
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stderr: r.stderr, payloads: r.status === 0 ? (JSON.parse(r.stdout).payloads as never[]).map(fromJson) : [] };
}

const venv = venvStatus();
if (!venv.ready) console.warn(`skipping the cross-language codec tests: no Python venv (${venv.reason}); run \`npm run setup:python\``);

(venv.ready ? describe : describe.skip)('payload codec, TypeScript <-> Python', () => {
  const codec = payloadCodecFromEnv({ RATCHET_PAYLOAD_KEY: KEY })!;

  test('TypeScript encrypts, Python decrypts', async () => {
    const encrypted = await codec.encode(VALUES.map((v) => defaultPayloadConverter.toPayload(v)));
    const out = python('decode', encrypted);
    expect(out.stderr).toBe('');
    expect(out.payloads.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual(VALUES);
  });

  test('Python encrypts (same key id), TypeScript decrypts', async () => {
    const out = python('encode', VALUES.map((v) => defaultPayloadConverter.toPayload(v)));
    expect(out.status).toBe(0);
    for (const p of out.payloads) {
      expect(Buffer.from(p.metadata!.encoding).toString()).toBe('binary/encrypted');
      expect(Buffer.from(p.metadata!['encryption-key-id']).toString()).toBe(codec.keyId);
    }
    const decoded = await codec.decode(out.payloads);
    expect(decoded.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual(VALUES);
  });

  test("the Python codec's unit tests", () => {
    expect(runPythonUnittest(venv.python, 'test_payload_codec.py', 60_000)).toMatch(/Ran 6 tests[\s\S]*OK/);
  });

  test('Python refuses a payload TypeScript encrypted and someone altered', async () => {
    const [p] = await codec.encode([defaultPayloadConverter.toPayload(VALUES[0])]);
    const data = Buffer.from(p.data!);
    data[data.length - 3] ^= 0x40;
    const out = python('decode', [{ ...p, data }]);
    expect(out.status).not.toBe(0);
    expect(out.stderr).toMatch(/failed authentication: it was altered, or encrypted with another key/);
  });
});
