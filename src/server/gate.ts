/**
 * Admission for client calls: refuses new calls while the node shuts down, applies the
 * rate limit, and counts calls in flight so shutdown can wait for them.
 */
import type { Admission } from '../ratelimit/limiter.js';
import { RATE_LIMITED, SHUTTING_DOWN, type StatusError } from './status.js';

export class RequestGate {
  inFlight = 0;
  closing = false;
  private drainWaiters: (() => void)[] = [];

  constructor(private readonly admission: Admission | undefined) {}

  /** Runs fn now (or when admitted), or answers the call with the refusal status. */
  pass(reply: (err: StatusError) => void, fn: () => void): void {
    if (this.closing) {
      reply(SHUTTING_DOWN);
      return;
    }
    if (this.admission === undefined) {
      fn();
      return;
    }
    this.admission.admit(fn, () => reply(RATE_LIMITED));
  }

  begin(): void {
    this.inFlight++;
  }

  end(): void {
    if (--this.inFlight === 0 && this.drainWaiters.length > 0) {
      for (const w of this.drainWaiters.splice(0)) w();
    }
  }

  /** Stops admitting; resolves when the calls in flight have finished. */
  close(): Promise<void> {
    this.closing = true;
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }
}
