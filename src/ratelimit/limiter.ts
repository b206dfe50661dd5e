/**
 * Request admission with bottleneck: a token bucket of RATE_LIMIT tokens/s holding at most
 * RATE_LIMIT_BURST tokens. A request that finds no token is refused at once (bottleneck's
 * OVERFLOW strategy with a zero-length queue), never queued.
 */
import Bottleneck from 'bottleneck';

export interface Admission {
  /** Runs fn if `weight` tokens (default 1: a batch call takes one per key) are available; otherwise calls refused() synchronously or soon after. */
  admit(fn: () => void, refused: () => void, weight?: number): void;
  stop(): Promise<void>;
}

export function createAdmission(ratePerSec: number, burst: number): Admission | undefined {
  if (ratePerSec <= 0) return undefined;
  // Refill in small steps so the rate is smooth: every `interval` ms add `amount` tokens.
  const interval = Math.max(10, Math.ceil(1000 / ratePerSec));
  const amount = Math.max(1, Math.round((ratePerSec * interval) / 1000));
  const limiter = new Bottleneck({
    reservoir: burst,
    reservoirIncreaseAmount: amount,
    reservoirIncreaseInterval: interval,
    reservoirIncreaseMaximum: burst,
    highWater: 0,
    strategy: Bottleneck.strategy.OVERFLOW,
  });
  const ready = () => Promise.resolve();
  return {
    admit(fn, refused, weight = 1) {
      (weight === 1 ? limiter.schedule(ready) : limiter.schedule({ weight }, ready)).then(fn, refused);
    },
    async stop() {
      await limiter.stop({ dropWaitingJobs: true }).catch(() => undefined);
      await limiter.disconnect();
    },
  };
}
