/** Validation of what client calls carry (keys, consistency, values, TTLs), shared by single-key and batch calls. */
import { invalid } from '../errors/errors.js';

export interface RequestLimits {
  maxKeyBytes: number;
  maxValueBytes: number;
  maxTtlMs: number;
}

const CONSISTENCY_HELP = 'one of CONSISTENCY_UNSPECIFIED (0), CONSISTENCY_ONE (1), CONSISTENCY_QUORUM (2), CONSISTENCY_ALL (3)';

export function checkKey(key: string, maxKeyBytes: number): string {
  if (!key) throw invalid('key must not be empty');
  // Cheap bound first: a UTF-16 code unit is at most 3 UTF-8 bytes.
  if (key.length * 3 > maxKeyBytes) {
    const bytes = Buffer.byteLength(key, 'utf8');
    if (bytes > maxKeyBytes) throw invalid(`key is ${bytes} bytes; the limit is ${maxKeyBytes} (MAX_KEY_SIZE)`);
  }
  return key;
}

export function checkConsistency(c: number): number {
  if (c === 0 || c === 1 || c === 2 || c === 3) return c;
  throw invalid(`consistency ${c} is not ${CONSISTENCY_HELP}`);
}

/**
 * A value given as bytes (`data`) or text (`value`), within the size limit: the stored form
 * (bytes as latin1) and whether it is binary. A copy: the request buffer is not retained.
 */
export function checkValue(data: Buffer | undefined, text: string | undefined, limits: RequestLimits): { value: string; binary: boolean } {
  let bytes: number;
  let value: string;
  if (data !== undefined) {
    bytes = data.length;
    value = bytes > limits.maxValueBytes ? '' : data.toString('latin1');
  } else {
    value = text ?? '';
    bytes = value.length * 3 > limits.maxValueBytes ? Buffer.byteLength(value, 'utf8') : value.length;
  }
  if (bytes > limits.maxValueBytes) {
    throw invalid(
      `value is ${bytes} bytes; the limit is ${limits.maxValueBytes} bytes (MAX_RECV_MSG_SIZE/MAX_SEND_MSG_SIZE less key and framing)`,
    );
  }
  return { value, binary: data !== undefined };
}

export function checkTtl(ttlMs: number, limits: RequestLimits): number {
  if (ttlMs > limits.maxTtlMs) throw invalid(`ttl_ms ${ttlMs} is too large; the limit is ${limits.maxTtlMs}`);
  return ttlMs;
}

/** Default and largest lease of GetOrLease (ms). */
const DEFAULT_LEASE_MS = 10_000;
const MAX_LEASE_MS = 600_000;

/** GetOrLease's lease_ms (a uint64 as decimal text from the generic codec): 0 = DEFAULT_LEASE_MS. */
export function checkLeaseMs(leaseMs: string | number): number {
  const n = Number(leaseMs);
  if (n === 0) return DEFAULT_LEASE_MS;
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_LEASE_MS)
    throw invalid(`lease_ms ${leaseMs} is out of range: 0 (${DEFAULT_LEASE_MS}) to ${MAX_LEASE_MS}`);
  return n;
}
