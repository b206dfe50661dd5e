/**
 * Domain errors of the cache. The core raises these; each kind becomes one gRPC status code
 * in src/errors/status.ts, the only place where that mapping is written.
 */
export type ErrorKind =
  | 'invalid' // bad input from the caller                        -> INVALID_ARGUMENT
  | 'not_found' // key missing, deleted or expired                  -> NOT_FOUND
  | 'unavailable' // no quorum, not joined yet, shutting down, peer down -> UNAVAILABLE
  | 'deadline' // the call arrived after its client's deadline     -> DEADLINE_EXCEEDED
  | 'exhausted' // over RATE_LIMIT, or request metadata too large  -> RESOURCE_EXHAUSTED
  | 'unauthenticated' // no token, an unknown or expired one; no peer proof -> UNAUTHENTICATED
  | 'denied' // a known caller whose role or prefixes do not allow the call -> PERMISSION_DENIED
  | 'precondition'; // a Set with a lease token that is no longer valid (expired, superseded) -> FAILED_PRECONDITION

export class CacheError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'CacheError';
  }
}

export const invalid = (message: string) => new CacheError('invalid', message);
