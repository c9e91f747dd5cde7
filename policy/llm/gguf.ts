/**
 * GGUF header reader: the metadata key/value section of a GGUF file (format versions 2 and 3), without the
 * tensors. Enough to validate a model reference (`general.architecture`) and to read what travels in the header
 * (the tokenizer's vocabulary and merges, the chat template, the layer counts).
 *
 * Layout (little-endian): "GGUF", u32 version, u64 tensor count, u64 key/value count, then per key a GGUF string
 * (u64 byte length + UTF-8), a u32 value type and the value; an array is a u32 element type, a u64 count and the
 * elements. Reads through a small window with positioned reads, so a 100 MB model costs a few MB of I/O.
 */
import { closeSync, openSync, readSync } from 'node:fs';

export type GgufValue = number | bigint | boolean | string | GgufValue[];

export interface GgufHeader {
  version: number;
  tensorCount: number;
  metadata: Map<string, GgufValue>;
}

const TYPE = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

/** Refuse absurd lengths from a corrupt or non-GGUF file before allocating anything. */
const MAX_STRING_BYTES = 64 << 20;
const MAX_ARRAY_LENGTH = 1 << 26;
const MAX_KEYS = 1 << 16;

class Reader {
  private buffer = Buffer.alloc(1 << 20);
  private start = 0; // file offset of buffer[0]
  private end = 0; // valid bytes in the buffer
  private pos = 0; // file offset of the next read

  constructor(
    private readonly fd: number,
    private readonly path: string,
  ) {}

  private ensure(n: number): number {
    const at = this.pos - this.start;
    if (at + n <= this.end) return at;
    if (n > this.buffer.length) this.buffer = Buffer.alloc(Math.max(n, this.buffer.length * 2));
    this.start = this.pos;
    this.end = readSync(this.fd, this.buffer, 0, this.buffer.length, this.pos);
    if (n > this.end) throw new Error(`${this.path}: truncated GGUF header (wanted ${n} bytes at offset ${this.pos})`);
    return 0;
  }

  u8(): number {
    const at = this.ensure(1);
    this.pos += 1;
    return this.buffer.readUInt8(at);
  }
  u32(): number {
    const at = this.ensure(4);
    this.pos += 4;
    return this.buffer.readUInt32LE(at);
  }
  u64(): bigint {
    const at = this.ensure(8);
    this.pos += 8;
    return this.buffer.readBigUInt64LE(at);
  }
  /** A u64 that must fit a safe integer (counts and lengths). */
  count(what: string, max: number): number {
    const v = this.u64();
    if (v > BigInt(max)) throw new Error(`${this.path}: GGUF ${what} ${v} is out of range (corrupt file?)`);
    return Number(v);
  }
  string(): string {
    const n = this.count('string length', MAX_STRING_BYTES);
    const at = this.ensure(n);
    this.pos += n;
    return this.buffer.toString('utf8', at, at + n);
  }
  value(type: number): GgufValue {
    let at: number;
    switch (type) {
      case TYPE.UINT8:
        return this.u8();
      case TYPE.INT8:
        at = this.ensure(1);
        this.pos += 1;
        return this.buffer.readInt8(at);
      case TYPE.UINT16:
        at = this.ensure(2);
        this.pos += 2;
        return this.buffer.readUInt16LE(at);
      case TYPE.INT16:
        at = this.ensure(2);
        this.pos += 2;
        return this.buffer.readInt16LE(at);
      case TYPE.UINT32:
        return this.u32();
      case TYPE.INT32:
        at = this.ensure(4);
        this.pos += 4;
        return this.buffer.readInt32LE(at);
      case TYPE.FLOAT32:
        at = this.ensure(4);
        this.pos += 4;
        return this.buffer.readFloatLE(at);
      case TYPE.BOOL:
        return this.u8() !== 0;
      case TYPE.STRING:
        return this.string();
      case TYPE.UINT64:
        return this.u64();
      case TYPE.INT64:
        at = this.ensure(8);
        this.pos += 8;
        return this.buffer.readBigInt64LE(at);
      case TYPE.FLOAT64:
        at = this.ensure(8);
        this.pos += 8;
        return this.buffer.readDoubleLE(at);
      case TYPE.ARRAY: {
        const elementType = this.u32();
        const n = this.count('array length', MAX_ARRAY_LENGTH);
        const out: GgufValue[] = new Array(n);
        for (let i = 0; i < n; i++) out[i] = this.value(elementType);
        return out;
      }
      default:
        throw new Error(`${this.path}: unknown GGUF value type ${type} at offset ${this.pos - 4} (corrupt file?)`);
    }
  }
}

/** Whether the file starts with the GGUF magic (false for a missing or short file). */
export function isGguf(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const magic = Buffer.alloc(4);
    return readSync(fd, magic, 0, 4, 0) === 4 && magic.toString('latin1') === 'GGUF';
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * The header of a GGUF file. `keys`, when given, stops reading as soon as all of them were seen (the
 * architecture is the first key of every llama.cpp-written file, so validation reads a few bytes).
 */
export function readGgufHeader(path: string, opts: { keys?: readonly string[] } = {}): GgufHeader {
  const fd = openSync(path, 'r');
  try {
    const r = new Reader(fd, path);
    const magic = [r.u8(), r.u8(), r.u8(), r.u8()];
    if (String.fromCharCode(...magic) !== 'GGUF') throw new Error(`${path} is not a GGUF file (no GGUF magic)`);
    const version = r.u32();
    if (version !== 2 && version !== 3) throw new Error(`${path}: GGUF version ${version} is not supported (2 or 3)`);
    const tensorCount = r.count('tensor count', Number.MAX_SAFE_INTEGER);
    const kvCount = r.count('key count', MAX_KEYS);
    const metadata = new Map<string, GgufValue>();
    const wanted = opts.keys ? new Set(opts.keys) : undefined;
    for (let i = 0; i < kvCount; i++) {
      const key = r.string();
      metadata.set(key, r.value(r.u32()));
      if (wanted && [...wanted].every((k) => metadata.has(k))) break;
    }
    return { version, tensorCount, metadata };
  } finally {
    closeSync(fd);
  }
}

/** A string-valued metadata key, or undefined when absent or not a string. */
export function ggufString(header: GgufHeader, key: string): string | undefined {
  const v = header.metadata.get(key);
  return typeof v === 'string' ? v : undefined;
}
