/**
 * Absolute client deadlines. gRPC sends a deadline as a timeout relative to when the
 * request arrives, so a request held up in the network (a partition, retransmissions)
 * gets a fresh deadline on arrival and would be executed late, with a new timestamp that
 * can override writes acknowledged in the meantime. Clients that also send the absolute
 * deadline (epoch ms) in this header — the client library and cachectl do — have such
 * late requests refused with DEADLINE_EXCEEDED instead.
 */
import type * as grpc from '@grpc/grpc-js';

export const DEADLINE_HEADER = 'x-cache-deadline';

/** Clock skew between client and node that is tolerated before a request counts as late. */
const DEADLINE_SKEW_MS = 500;

/** The call's absolute deadline in epoch ms, if the client sent one. */
export function absoluteDeadline(call: { metadata: grpc.Metadata }): number | undefined {
  const v = call.metadata.get(DEADLINE_HEADER);
  if (v.length === 0) return undefined;
  const n = Number(v[0]);
  return Number.isFinite(n) ? n + DEADLINE_SKEW_MS : undefined;
}
