/**
 * Admission for client calls: refuses new calls while the node shuts down, applies the
 * rate limit, and counts calls in flight so shutdown can wait for them.
 */
import type { Admission } from '../ratelimit/limiter.js';
import { DEADLINE_PASSED, RATE_LIMITED, SHUTTING_DOWN, type StatusError } from './status.js';

export class RequestGate {
  inFlight = 0;
  closing = false;
  private drainWaiters: (() => void)[] = [];

  /** While set, calls are refused with UNAVAILABLE and this reason (e.g. not joined yet). */
  notReady: string | undefined;

  constructor(private readonly admission: Admission | undefined) {}

  /**
   * Runs fn now (or when admitted), or answers the call with the refusal status. A call
   * whose absolute client deadline (src/server/deadline.ts) has already passed is not
   * executed at all: it was held up in the network, and running it now could overwrite
   * writes that were acknowledged since.
   */
  pass(reply: (err: StatusError) => void, fn: () => void, deadline?: number): void {
    if (this.closing) {
      reply(SHUTTING_DOWN);
      return;
    }
    if (this.notReady !== undefined) {
      reply({ code: 14, details: this.notReady });
      return;
    }
    if (deadline !== undefined && deadline < Date.now()) {
      reply(DEADLINE_PASSED);
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
