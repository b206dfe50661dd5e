/** Retry policy and backoff schedule (pure). */
import { status } from '@grpc/grpc-js';
import type { BackoffOptions } from './options.js';

/**
 * Whether a failed attempt is tried again (on another replica or seed when there is one).
 * UNAVAILABLE always (node down, shutting down, or a quorum not reached); DEADLINE_EXCEEDED
 * only for reads, since a write that timed out may still have been applied. Nothing else:
 * INVALID_ARGUMENT, NOT_FOUND and RESOURCE_EXHAUSTED in particular are answers, not faults.
 */
export function isRetryable(code: number, read: boolean): boolean {
  return code === status.UNAVAILABLE || (read && code === status.DEADLINE_EXCEEDED);
}

/**
 * Delay before retry number `retry` (0 = the first retry):
 *   base = min(maxMs, initialMs * multiplier^retry)
 *   delay = base * (1 - jitter) + base * jitter * random()
 * so with jitter 0.5 each delay is uniform in [base/2, base).
 */
export function backoffDelay(retry: number, b: Required<BackoffOptions>, random: () => number = Math.random): number {
  const base = Math.min(b.maxMs, b.initialMs * b.multiplier ** Math.max(0, retry));
  return base * (1 - b.jitter) + base * b.jitter * random();
}

/** [min, max) of each delay for `retries` retries: the schedule without the randomness. */
export function backoffBounds(retries: number, b: Required<BackoffOptions>): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < retries; i++) out.push([backoffDelay(i, b, () => 0), backoffDelay(i, b, () => 1)]);
  return out;
}
