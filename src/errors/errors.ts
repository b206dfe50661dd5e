/**
 * Domain errors of the cache. The core raises these; the gRPC edge maps each kind to a
 * status code in one place (src/server/status.ts).
 */
export type ErrorKind =
  | 'invalid'        // bad input from the caller
  | 'not_found'      // key missing, deleted or expired
  | 'unavailable'    // a quorum could not be had, or the node is shutting down
  | 'deadline'       // a quorum did not answer in time
  | 'rate_limited'   // over RATE_LIMIT
  | 'internal';

export class CacheError extends Error {
  constructor(readonly kind: ErrorKind, message: string) {
    super(message);
    this.name = 'CacheError';
  }
}

export const invalid = (message: string) => new CacheError('invalid', message);
export const unavailable = (message: string) => new CacheError('unavailable', message);
