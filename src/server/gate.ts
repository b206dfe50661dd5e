/**
 * Admission for client calls: refuses new calls until the node has joined its cluster and
 * while it shuts down, refuses calls that arrive after their client's deadline, applies the
 * rate limit, and counts calls in flight so shutdown can wait for them.
 */

import { CacheError } from '../errors/errors.js';
import { type StatusError, toStatus } from '../errors/status.js';
import type { Admission } from '../ratelimit/limiter.js';

const SHUTTING_DOWN = toStatus(new CacheError('unavailable', 'node is shutting down; retry on another node'));
const DEADLINE_PASSED = toStatus(new CacheError('deadline', 'the call arrived after its deadline; not executed'));
const RATE_LIMITED = toStatus(new CacheError('exhausted', 'rate limit exceeded (RATE_LIMIT); retry later'));

export class RequestGate {
  inFlight = 0;
  private closing = false;
  private drainWaiters: (() => void)[] = [];
  private notReady: StatusError | undefined;

  /** Until ready(), calls are refused with UNAVAILABLE and `heldBecause` (e.g. not joined yet). */
  constructor(
    private readonly admission: Admission | undefined,
    heldBecause: string,
  ) {
    this.notReady = toStatus(new CacheError('unavailable', heldBecause));
  }

  /** Lets calls through from now on; true the first time (when they were held until now). */
  ready(): boolean {
    if (this.notReady === undefined) return false;
    this.notReady = undefined;
    return true;
  }

  /**
   * Runs fn now (or when admitted), or answers the call with the refusal. A call whose
   * absolute client deadline (src/server/deadline.ts) has already passed is not executed at
   * all: it was held up in the network, and running it now could overwrite writes that were
   * acknowledged since. `weight`: rate-limit tokens the call takes (a batch: its number of keys).
   */
  pass(refuse: (s: StatusError) => void, fn: () => void, deadline?: number, weight = 1): void {
    if (this.closing) {
      refuse(SHUTTING_DOWN);
      return;
    }
    if (this.notReady !== undefined) {
      refuse(this.notReady);
      return;
    }
    if (deadline !== undefined && deadline < Date.now()) {
      refuse(DEADLINE_PASSED);
      return;
    }
    if (this.admission === undefined) {
      fn();
      return;
    }
    this.admission.admit(fn, () => refuse(RATE_LIMITED), weight);
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
