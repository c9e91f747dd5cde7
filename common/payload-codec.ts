/**
 * Optional encryption of Temporal payloads at rest: AES-256-GCM, key from RATCHET_PAYLOAD_KEY (32 bytes, as 64 hex
 * digits or base64). Off (no codec) when the variable is unset.
 *
 * The format is the one of Temporal's encryption samples (TypeScript and Python), so any of them can read it: the
 * whole Payload message (its metadata included) is serialized and encrypted; the stored payload carries
 * `encoding: binary/encrypted`, `encryption-key-id: <id>` and `data = nonce(12) || ciphertext || tag(16)`.
 * The key id is a fingerprint of the key (`sha256:` + 16 hex digits of its sha256), so rotation needs no registry:
 * set the new key in RATCHET_PAYLOAD_KEY and keep the old ones, comma-separated, in RATCHET_PAYLOAD_OLD_KEYS until
 * no history still holds payloads written with them. `workers/torch/ratchet_torch/payload_codec.py` is the same
 * codec in Python.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, ValueError, type Payload, type PayloadCodec } from '@temporalio/common';
import { decode, encode } from '@temporalio/common/lib/encoding';
import { temporal } from '@temporalio/proto';

export const PAYLOAD_KEY_ENV = 'RATCHET_PAYLOAD_KEY';
export const PAYLOAD_OLD_KEYS_ENV = 'RATCHET_PAYLOAD_OLD_KEYS';
export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

interface PayloadKey {
  id: string;
  key: Buffer;
}

/** A key from its text form (64 hex digits, or base64/base64url of 32 bytes); `source` names it in errors. */
export function parsePayloadKey(text: string, source = PAYLOAD_KEY_ENV): PayloadKey {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (key.length !== KEY_BYTES || (!/^[0-9a-fA-F]{64}$/.test(trimmed) && !/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed))) {
    throw new Error(
      `${source} must be a 32-byte AES-256 key as 64 hex digits or base64 (got ${key.length} bytes from ${trimmed.length} characters); ` +
        `make one with: node -e "console.log(require('crypto').randomBytes(32).toString('base64'))"`,
    );
  }
  return { id: keyId(key), key };
}

/** The key's public name in payload metadata: a fingerprint that does not reveal the key. */
export function keyId(key: Buffer): string {
  return `sha256:${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
}

export class AesGcmPayloadCodec implements PayloadCodec {
  private readonly byId: Map<string, Buffer>;

  /** `keys[0]` encrypts; every key decrypts the payloads that name its id. */
  constructor(private readonly keys: PayloadKey[]) {
    if (keys.length === 0) throw new Error('AesGcmPayloadCodec needs at least one key');
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  get keyId(): string {
    return this.keys[0].id;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => ({
      metadata: { [METADATA_ENCODING_KEY]: encode(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: encode(this.keys[0].id) },
      data: encrypt(temporal.api.common.v1.Payload.encode(payload).finish(), this.keys[0].key),
    }));
  }

  /** Payloads that are not `binary/encrypted` pass through, so histories written before the codec stay readable. */
  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
      if (!encoding || decode(encoding) !== ENCRYPTED_ENCODING) return payload;
      const idBytes = payload.metadata?.[KEY_ID_METADATA];
      if (!idBytes) throw new ValueError(`an encrypted payload has no ${KEY_ID_METADATA}`);
      const id = decode(idBytes);
      const key = this.byId.get(id);
      if (!key) {
        throw new ValueError(`payload encrypted with key ${id}, which is neither ${PAYLOAD_KEY_ENV} nor in ${PAYLOAD_OLD_KEYS_ENV} (have ${[...this.byId.keys()].join(', ')})`);
      }
      const plain = decrypt(payload.data ?? new Uint8Array(), key, id);
      return temporal.api.common.v1.Payload.decode(plain) as Payload;
    });
  }
}

function encrypt(plain: Uint8Array, key: Buffer): Uint8Array {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  return Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
}

function decrypt(data: Uint8Array, key: Buffer, id: string): Uint8Array {
  if (data.length < NONCE_BYTES + TAG_BYTES) throw new ValueError(`encrypted payload (key ${id}) is too short: ${data.length} bytes`);
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(bytes.subarray(NONCE_BYTES, bytes.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new ValueError(`encrypted payload (key ${id}) failed authentication: it was altered, or encrypted with another key`);
  }
}

/** The codec the environment asks for, or undefined when RATCHET_PAYLOAD_KEY is unset (a bad key throws). */
export function payloadCodecFromEnv(env: NodeJS.ProcessEnv = process.env): AesGcmPayloadCodec | undefined {
  const current = env[PAYLOAD_KEY_ENV]?.trim();
  if (!current) {
    if (env[PAYLOAD_OLD_KEYS_ENV]?.trim()) throw new Error(`${PAYLOAD_OLD_KEYS_ENV} is set but ${PAYLOAD_KEY_ENV} is not`);
    return undefined;
  }
  const old = (env[PAYLOAD_OLD_KEYS_ENV] ?? '').split(',').filter((s) => s.trim());
  return new AesGcmPayloadCodec([parsePayloadKey(current), ...old.map((k, i) => parsePayloadKey(k, `${PAYLOAD_OLD_KEYS_ENV}[${i}]`))]);
}

/** For `dataConverter: { payloadCodecs }` of every client and worker: empty (identity) when the key is unset. */
export function payloadCodecs(env: NodeJS.ProcessEnv = process.env): PayloadCodec[] {
  const codec = payloadCodecFromEnv(env);
  return codec ? [codec] : [];
}
