/** The one place where errors become gRPC statuses. */
import * as grpc from '@grpc/grpc-js';
import { CacheError, type ErrorKind } from '../errors/errors.js';
import { EntryTooLargeError } from '../store/store.js';

const CODES: Record<ErrorKind, grpc.status> = {
  invalid: grpc.status.INVALID_ARGUMENT,
  not_found: grpc.status.NOT_FOUND,
  unavailable: grpc.status.UNAVAILABLE,
  deadline: grpc.status.DEADLINE_EXCEEDED,
  rate_limited: grpc.status.RESOURCE_EXHAUSTED,
  internal: grpc.status.INTERNAL,
};

export interface StatusError { code: grpc.status; details: string }

export function toStatus(err: unknown): StatusError {
  if (err instanceof CacheError) return { code: CODES[err.kind], details: err.message };
  if (err instanceof EntryTooLargeError) return { code: grpc.status.INVALID_ARGUMENT, details: err.message };
  return { code: grpc.status.INTERNAL, details: `internal error: ${err instanceof Error ? err.message : String(err)}` };
}

export const SHUTTING_DOWN: StatusError = { code: grpc.status.UNAVAILABLE, details: 'node is shutting down; retry on another node' };
export const DEADLINE_PASSED: StatusError = { code: grpc.status.DEADLINE_EXCEEDED, details: 'the call arrived after its deadline; not executed' };
export const RATE_LIMITED: StatusError = { code: grpc.status.RESOURCE_EXHAUSTED, details: 'rate limit exceeded (RATE_LIMIT); retry later' };
export const notFound = (key: string): StatusError => ({ code: grpc.status.NOT_FOUND, details: `key not found: ${JSON.stringify(key)}` });
