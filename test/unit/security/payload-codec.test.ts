/** The AES-256-GCM payload codec: round trip, tamper and wrong-key detection, key parsing, off when unset. */
import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter, METADATA_ENCODING_KEY, type Payload } from '@temporalio/common';
import { decode } from '@temporalio/common/lib/encoding';
import { AesGcmPayloadCodec, keyId, parsePayloadKey, payloadCodecFromEnv, payloadCodecs } from '../../../common/payload-codec';

const KEY_HEX = 'ab'.repeat(32);
const env = (extra: Record<string, string> = {}) => ({ RATCHET_PAYLOAD_KEY: KEY_HEX, ...extra }) as NodeJS.ProcessEnv;
const json = (value: unknown): Payload => defaultPayloadConverter.toPayload(value);
const CONFIG = { runId: 'secret-run', env: 'bandit', note: 'a config nobody may read at rest' };

test('round trip: encrypted payloads carry binary/encrypted and the key id, and decode to the original', async () => {
  const codec = payloadCodecFromEnv(env())!;
  const originals = [json(CONFIG), json('plain text'), json(null), { metadata: {}, data: new Uint8Array() }];
  const encoded = await codec.encode(originals);
  expect(encoded).toHaveLength(4);
  for (const p of encoded) {
    expect(decode(p.metadata![METADATA_ENCODING_KEY])).toBe('binary/encrypted');
    expect(decode(p.metadata!['encryption-key-id'])).toBe(keyId(Buffer.from(KEY_HEX, 'hex')));
    expect(Buffer.from(p.data!).toString('latin1')).not.toContain('secret-run');
  }
  // A fresh nonce each time: the same payload never encrypts to the same bytes.
  const [again] = await codec.encode([originals[0]]);
  expect(Buffer.from(again.data!).equals(Buffer.from(encoded[0].data!))).toBe(false);
  const decoded = await codec.decode(encoded);
  expect(defaultPayloadConverter.fromPayload(decoded[0])).toEqual(CONFIG);
  expect(defaultPayloadConverter.fromPayload(decoded[1])).toBe('plain text');
  expect(defaultPayloadConverter.fromPayload(decoded[2])).toBeNull();
  expect(Buffer.from(decoded[3].data ?? []).length).toBe(0);
});

test('payloads written without the codec pass through decode unchanged', async () => {
  const codec = payloadCodecFromEnv(env())!;
  const plain = json(CONFIG);
  expect(await codec.decode([plain])).toEqual([plain]);
});

test('a tampered payload fails with a clear error, not garbage', async () => {
  const codec = payloadCodecFromEnv(env())!;
  const [p] = await codec.encode([json(CONFIG)]);
  for (const index of [0, 20, p.data!.length - 1]) {
    const data = Buffer.from(p.data!);
    data[index] ^= 1;
    await expect(codec.decode([{ ...p, data }])).rejects.toThrow(/failed authentication: it was altered/);
  }
  await expect(codec.decode([{ ...p, data: p.data!.subarray(0, 10) }])).rejects.toThrow(/too short/);
});

test('another key: a payload naming an unknown key id, or a forged id, is refused', async () => {
  const writer = new AesGcmPayloadCodec([parsePayloadKey(randomBytes(32).toString('base64'))]);
  const reader = payloadCodecFromEnv(env())!;
  const [p] = await writer.encode([json(CONFIG)]);
  await expect(reader.decode([p])).rejects.toThrow(/encrypted with key sha256:[0-9a-f]{16}, which is neither RATCHET_PAYLOAD_KEY nor in RATCHET_PAYLOAD_OLD_KEYS/);
  const forged = { ...p, metadata: { ...p.metadata, 'encryption-key-id': Buffer.from(reader.keyId) } };
  await expect(reader.decode([forged])).rejects.toThrow(/failed authentication/);
});

test('rotation: the new key encrypts, old keys still decrypt', async () => {
  const oldKey = randomBytes(32).toString('base64');
  const [old] = await payloadCodecFromEnv({ RATCHET_PAYLOAD_KEY: oldKey })!.encode([json(CONFIG)]);
  const rotated = payloadCodecFromEnv(env({ RATCHET_PAYLOAD_OLD_KEYS: `${oldKey}` }))!;
  expect(defaultPayloadConverter.fromPayload((await rotated.decode([old]))[0])).toEqual(CONFIG);
  const [fresh] = await rotated.encode([json(CONFIG)]);
  expect(decode(fresh.metadata!['encryption-key-id'])).toBe(rotated.keyId);
  expect(rotated.keyId).not.toBe(keyId(Buffer.from(oldKey, 'base64')));
});

test('keys: hex, base64 and base64url of 32 bytes are accepted; any other length or alphabet is a startup error', () => {
  const key = randomBytes(32);
  for (const text of [key.toString('hex'), key.toString('base64'), key.toString('base64url')]) expect(parsePayloadKey(text).key.equals(key)).toBe(true);
  expect(() => payloadCodecFromEnv({ RATCHET_PAYLOAD_KEY: randomBytes(16).toString('base64') })).toThrow(/RATCHET_PAYLOAD_KEY must be a 32-byte AES-256 key .*got 16 bytes/);
  expect(() => payloadCodecFromEnv({ RATCHET_PAYLOAD_KEY: 'not a key!' })).toThrow(/must be a 32-byte/);
  expect(() => payloadCodecFromEnv({ RATCHET_PAYLOAD_KEY: 'ab'.repeat(31) })).toThrow(/must be a 32-byte/);
  expect(() => payloadCodecFromEnv(env({ RATCHET_PAYLOAD_OLD_KEYS: 'short' }))).toThrow(/RATCHET_PAYLOAD_OLD_KEYS\[0\] must be/);
  expect(() => payloadCodecFromEnv({ RATCHET_PAYLOAD_OLD_KEYS: KEY_HEX })).toThrow(/RATCHET_PAYLOAD_OLD_KEYS is set but RATCHET_PAYLOAD_KEY is not/);
});

test('unset (or blank): no codec, so clients and workers keep the default identity encoding', () => {
  expect(payloadCodecFromEnv({})).toBeUndefined();
  expect(payloadCodecFromEnv({ RATCHET_PAYLOAD_KEY: '  ' })).toBeUndefined();
  expect(payloadCodecs({})).toEqual([]);
  expect(payloadCodecs(env())).toHaveLength(1);
});
