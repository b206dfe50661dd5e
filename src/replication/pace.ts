/**
 * Pacing of rebalance streaming (`REBALANCE_RATE`, keys per second per node): a token bucket
 * in keys. Rules:
 *  1. A rate of 0 never makes anyone wait.
 *  2. The bucket holds at most `burst` keys (a tenth of a second's worth, at least one chunk)
 *     and starts full, so a small move goes at once.
 *  3. `take(n, now)` takes n keys even when the bucket holds fewer (a debt): the answer is how
 *     long the caller waits before sending them, so that over any long stretch no more than
 *     `rate` keys per second leave, however the chunks are sized.
 *  4. Time passed in; a clock that steps back refills nothing.
 */
export class Pacer {
  private tokens: number;
  private readonly burst: number;

  constructor(
    private readonly rate: number,
    private at: number,
    chunk = 1,
  ) {
    this.burst = Math.max(chunk, rate / 10);
    this.tokens = this.burst;
  }

  /** Milliseconds to wait before sending n more keys (0: now); the keys are taken either way. */
  take(n: number, now: number): number {
    if (this.rate <= 0) return 0;
    if (now > this.at) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.rate) / 1000);
      this.at = now;
    }
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.rate);
  }
}
