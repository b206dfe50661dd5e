/**
 * A graceful leave, in order, bounded by one deadline:
 *  1. stop accepting replica writes (coordinators then keep them as hints for replicas that
 *     stay, and re-route them once they see this node left);
 *  2. tell every member this node left (at most `announceMs` of the time left);
 *  3. hand every key to its replicas on the ring without this node, and this node's hints
 *     to the keys' current replicas; wait for the hand-off until the deadline.
 * If no other member is left, there is no one to hand anything to: steps 1-3 are skipped.
 * The steps are passed in (membership, rebalancer, hint delivery), and so is time.
 */
import type { HashRing } from '../ring/ring.js';

export interface LeaveSteps {
  stopAcceptingWrites(): void;
  announce(): Promise<void>;
  /** The ring without this node (undefined: no other member). */
  ringWithoutSelf(): HashRing | undefined;
  handoff(ring: HashRing): Promise<{ keys: number; unconfirmed: number }>;
  rerouteHints(): void;
}

export type LeaveOutcome = { kind: 'alone' } | { kind: 'handed-off'; keys: number; unconfirmed: number } | { kind: 'cut-short' };

export async function leave(steps: LeaveSteps, deadline: number, now: () => number = Date.now, announceMs = 2_000): Promise<LeaveOutcome> {
  const ring = steps.ringWithoutSelf();
  if (ring === undefined) return { kind: 'alone' };
  steps.stopAcceptingWrites();
  await within(steps.announce(), Math.min(announceMs, deadline - now()));
  const handoff = steps.handoff(ring);
  steps.rerouteHints();
  const result = await within(handoff, deadline - now());
  return result === undefined ? { kind: 'cut-short' } : { kind: 'handed-off', ...result };
}

/** The promise's value, or undefined if it takes longer than ms (or fails). */
export function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(undefined), Math.max(0, ms));
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      () => {
        clearTimeout(t);
        resolve(undefined);
      },
    );
  });
}
