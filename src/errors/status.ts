/**
 * The one status table: every CacheError kind becomes one gRPC status code here, and every
 * error a node answers with (client calls, cluster and peer calls) goes through toStatus().
 * Anything that is not a CacheError is a bug of ours: INTERNAL.
 */
import { status } from '@grpc/grpc-js';
import { CacheError, type ErrorKind } from './errors.js';

const CODES: Readonly<Record<ErrorKind, status>> = {
  invalid: status.INVALID_ARGUMENT,
  not_found: status.NOT_FOUND,
  unavailable: status.UNAVAILABLE,
  deadline: status.DEADLINE_EXCEEDED,
  exhausted: status.RESOURCE_EXHAUSTED,
  unauthenticated: status.UNAUTHENTICATED,
  denied: status.PERMISSION_DENIED,
  precondition: status.FAILED_PRECONDITION,
};

export interface StatusError {
  code: status;
  details: string;
}

/** The status of an error kind without building an Error (a Get's NOT_FOUND is not worth a stack trace). */
export function statusOf(kind: ErrorKind, details: string): StatusError {
  return { code: CODES[kind], details };
}

export function toStatus(err: unknown): StatusError {
  if (err instanceof CacheError) return statusOf(err.kind, err.message);
  return { code: status.INTERNAL, details: `internal error: ${err instanceof Error ? err.message : String(err)}` };
}

/** The name of a status code number ('UNAVAILABLE'), 'UNKNOWN' for a number gRPC does not define. */
export function statusName(code: number): keyof typeof status {
  const name: unknown = status[code];
  return isStatusName(name) ? name : 'UNKNOWN';
}

function isStatusName(name: unknown): name is keyof typeof status {
  return typeof name === 'string' && Object.hasOwn(status, name);
}
