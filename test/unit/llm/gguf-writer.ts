/** A minimal GGUF v3 writer for tests: a header with metadata and no tensors. */
import { writeFileSync } from 'node:fs';

export type TestValue =
  | { type: 'u8'; value: number }
  | { type: 'u32'; value: number }
  | { type: 'i32'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'u64'; value: bigint }
  | { type: 'f64'; value: number }
  | { type: 'string[]'; value: string[] }
  | { type: 'i32[]'; value: number[] };

function str(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(bytes.length));
  return Buffer.concat([len, bytes]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b;
}

function encode(v: TestValue): Buffer {
  switch (v.type) {
    case 'u8':
      return Buffer.concat([u32(0), Buffer.from([v.value])]);
    case 'u32':
      return Buffer.concat([u32(4), u32(v.value)]);
    case 'i32': {
      const b = Buffer.alloc(4);
      b.writeInt32LE(v.value);
      return Buffer.concat([u32(5), b]);
    }
    case 'f32': {
      const b = Buffer.alloc(4);
      b.writeFloatLE(v.value);
      return Buffer.concat([u32(6), b]);
    }
    case 'bool':
      return Buffer.concat([u32(7), Buffer.from([v.value ? 1 : 0])]);
    case 'string':
      return Buffer.concat([u32(8), str(v.value)]);
    case 'u64':
      return Buffer.concat([u32(10), u64(v.value)]);
    case 'f64': {
      const b = Buffer.alloc(8);
      b.writeDoubleLE(v.value);
      return Buffer.concat([u32(12), b]);
    }
    case 'string[]':
      return Buffer.concat([u32(9), u32(8), u64(BigInt(v.value.length)), ...v.value.map(str)]);
    case 'i32[]':
      return Buffer.concat([
        u32(9),
        u32(5),
        u64(BigInt(v.value.length)),
        ...v.value.map((x) => {
          const b = Buffer.alloc(4);
          b.writeInt32LE(x);
          return b;
        }),
      ]);
  }
}

export function writeTestGguf(path: string, metadata: Record<string, TestValue>, opts: { version?: number; tensorCount?: number } = {}): void {
  const entries = Object.entries(metadata);
  const parts = [Buffer.from('GGUF', 'latin1'), u32(opts.version ?? 3), u64(BigInt(opts.tensorCount ?? 0)), u64(BigInt(entries.length))];
  for (const [key, value] of entries) parts.push(str(key), encode(value));
  writeFileSync(path, Buffer.concat(parts));
}
