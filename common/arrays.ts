/** Typed arrays of one kind laid end to end in a new one (`alloc` makes it, e.g. `(n) => new Float32Array(n)`). */
export function concatTyped<T extends Float32Array | Uint8Array>(parts: readonly T[], alloc: (length: number) => T): T {
  const out = alloc(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
