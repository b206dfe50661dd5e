/**
 * Value compression for the store (COMPRESSION_THRESHOLD). Contract:
 *
 * - `pack(value, binary, bytes)` gives the stored form of a value's bytes (UTF-8 text, or
 *   latin1 when binary; `bytes` is their count), or undefined when compressing would not
 *   save at least 1/8 of them (incompressible data, e.g. random bytes, is kept as it is:
 *   every Get of a compressed value pays its decompression, so a small gain is not worth it).
 * - The stored form is the plain byte count (u32 little-endian) followed by raw deflate.
 * - `unpack(bytes, start, end, binary)` turns the stored form back into the exact string
 *   the value was (decoded as UTF-8, or latin1 when binary): byte for byte the same.
 * - `plainLength(bytes, start)` reads the plain byte count without decompressing.
 * - `deflated` and `writeStored` are pack in two steps, for a caller that writes the stored
 *   form where it keeps it (the store's slab) rather than receive it in a buffer of its own.
 *
 * Pure: no I/O, no state but a scratch buffer (the store is synchronous).
 *
 * Codec: raw deflate level 1, built into Node: 3.9x on 4 KB JSON against brotli-1's 3.7x and lz4's 2.7x (lz4 is 4-5x faster but a native dependency, and memory is the point), ~50 µs to compress and ~14 µs to inflate 4 KB (scripts/bench-compression.ts, docs/benchmarks/2026-12-02-compression.md).
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';

/** Bytes before the deflate stream: the plain byte count. */
export const HEADER_BYTES = 4;
const LEVEL = 1;
/** Shortest output buffer asked of zlib (its own minimum is 64), and the room left past the most bytes wanted. */
const MIN_CHUNK = 64;
const SPARE = 64;

/** The value's plain bytes are encoded here before deflating (grows, never shrinks). */
let scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * The raw deflate body of a value of `bytes` bytes, or undefined if its stored form (HEADER_BYTES
 * more) would save less than 1/8. zlib's own output buffer, not kept here: the store writes the
 * stored form straight into its slab from it (writeStored), with no intermediate copy.
 */
export function deflated(value: string, binary: boolean, bytes: number): Buffer | undefined {
  if (bytes > scratch.length) scratch = Buffer.allocUnsafe(Math.max(bytes, scratch.length * 2));
  scratch.write(value, 0, bytes, binary ? 'latin1' : 'utf8');
  const most = bytes - (bytes >>> 3) - HEADER_BYTES;
  // a window no larger than the value: same output, less zlib state to set up per call; an
  // output chunk just large enough for a body worth keeping (zlib's default, 16 KiB, is more
  // than a small value needs and less than a large one, whose chunks would then be joined)
  const windowBits = Math.min(15, Math.max(9, 32 - Math.clz32(bytes - 1)));
  const body = deflateRawSync(scratch.subarray(0, bytes), { level: LEVEL, windowBits, chunkSize: Math.max(MIN_CHUNK, most + SPARE) });
  return body.length > most ? undefined : body;
}

/** Writes the stored form of a value of `plain` bytes whose deflate body is `body` at dst[at]: HEADER_BYTES + body.length bytes. */
export function writeStored(dst: Buffer, at: number, plain: number, body: Buffer): void {
  dst.writeUInt32LE(plain, at);
  body.copy(dst, at + HEADER_BYTES);
}

/** The stored (compressed) form of a value of `bytes` bytes, or undefined if it saves less than 1/8. */
export function pack(value: string, binary: boolean, bytes: number): Buffer | undefined {
  const body = deflated(value, binary, bytes);
  if (body === undefined) return undefined;
  const out = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  writeStored(out, 0, bytes, body);
  return out;
}

/** The plain byte count of the stored form at `start`. */
export function plainLength(src: Buffer, start: number): number {
  return src.readUInt32LE(start);
}

/** The value the stored form in src[start, end) holds. */
export function unpack(src: Buffer, start: number, end: number, binary: boolean): string {
  const n = src.readUInt32LE(start);
  if (n === 0) return '';
  // room to spare: with exactly n bytes of room zlib's sync loop would ask for a second chunk
  const plain = inflateRawSync(src.subarray(start + HEADER_BYTES, end), { chunkSize: Math.max(MIN_CHUNK, n + SPARE), maxOutputLength: n });
  return plain.toString(binary ? 'latin1' : 'utf8', 0, n);
}
