/** The one error type the client library throws. */
import { status } from '@grpc/grpc-js';
import { statusName } from '../errors/status.js';

/** Name of a gRPC status code, e.g. 'UNAVAILABLE'. */
export type CacheErrorCode = keyof typeof status;

export interface CacheClientErrorInit {
  /** RPC method (Get, Set, Delete, Members, Stats) or the client operation that failed. */
  method?: string;
  /** Node address of the last attempt. */
  address?: string;
  /** Attempts made (1 = no retry). */
  attempts?: number;
  cause?: unknown;
}

/**
 * A failed call: `code` is the gRPC status name ('UNAVAILABLE', 'INVALID_ARGUMENT', ...),
 * `grpcCode` its number, `details` the server's (or the transport's) explanation.
 * Bad arguments detected before sending are INVALID_ARGUMENT with attempts = 0; calls on a
 * closed client are CANCELLED.
 */
export class CacheClientError extends Error {
  override readonly name = 'CacheClientError';
  readonly code: CacheErrorCode;
  readonly grpcCode: number;
  readonly details: string;
  readonly method: string | undefined;
  readonly address: string | undefined;
  readonly attempts: number;

  constructor(code: CacheErrorCode | number, details: string, init: CacheClientErrorInit = {}) {
    const name = typeof code === 'number' ? statusName(code) : code;
    const where = init.method ? `${init.method}${init.address ? ` on ${init.address}` : ''}: ` : '';
    super(`${where}${name}: ${details}`, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = name;
    this.grpcCode = typeof code === 'number' ? code : status[code];
    this.details = details;
    this.method = init.method;
    this.address = init.address;
    this.attempts = init.attempts ?? 0;
  }
}

/** An argument error raised by the client itself, before anything is sent. */
export function invalidArgument(details: string, method?: string): CacheClientError {
  return new CacheClientError('INVALID_ARGUMENT', details, { method, attempts: 0 });
}
