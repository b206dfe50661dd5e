/**
 * Topology: the ring this node routes with, the ring before the current change while keys
 * still stream to their new owners, and what the node must do when the membership changes.
 * Pure: membership changes and time are passed in; rings and a list of actions come out
 * (the node carries the actions out: start a rebalance pass, deliver hints, ...).
 *
 * The rules:
 *  1. The ring holds every member that has not left. Suspect and dead members stay on it:
 *     a crash moves no keys (writes for the member become hints); only a leave does.
 *  2. When the set of ring members changes, the ring before the change stays the previous
 *     ring: reads also ask its replicas (which keep their copies until the new owners have
 *     confirmed them) until `transitionMs` (or 3x the last rebalance pass, if longer) have
 *     passed and no rebalance pass is running. A change during a transition keeps the
 *     older previous ring: its replicas may still hold the only copies. A ring of one node
 *     (this node alone before it joined) is never a previous ring: it held no one's data.
 *  3. A member whose incarnation grows by more than `restartJump` restarted (incarnations
 *     are boot times in ms; a refutation adds 1): its store is empty, so its share of the
 *     keys is pushed to it by the rebalance pass.
 *  4. A member that becomes alive gets its hints now; one that comes back (suspect or dead
 *     before) or restarted gets an anti-entropy round soon.
 *  5. A member that left: its hints go to the keys' current replicas; its channel is closed.
 *  6. The first time another member is seen in any state but left, this node has joined.
 *  7. Once this node leaves (leave()), only rules 5 and 8 still apply: the hand-off works with
 *     the ring leave() returned, and nothing else is started.
 *  8. A member that restarted, or comes back alive (from suspect, dead or left): its channel
 *     is reconnected (before the other actions), so that what they send reaches it now. Calls
 *     to it while it was gone (reads of the previous ring, hints, probes) leave the channel
 *     waiting out a reconnection backoff (up to a second), during which every call fails at
 *     once: the push of its share, hints, and a hand-off to it (the next node of a rolling
 *     restart leaving right after it rejoined) would all fail.
 */

import type { MemberChange } from '../membership/table.js';
import { HashRing } from '../ring/ring.js';

export type TopologyAction =
  /** Start a rebalance pass towards `ring`; `restarted` members get their whole share. */
  | { type: 'rebalance'; ring: HashRing; restarted: string[] }
  | { type: 'deliver-hints' }
  | { type: 'reroute-hints'; node: string }
  | { type: 'anti-entropy' }
  | { type: 'close-peer'; node: string }
  /** Rule 8: replace the member's channel if it is waiting out a reconnection backoff. */
  | { type: 'reconnect-peer'; node: string }
  | { type: 'joined' };

export interface TopologyOptions {
  selfId: string;
  vnodes: number;
  replicationFactor: number;
  /** Least time reads also consult the previous ring after a change (default 10 s). */
  transitionMs?: number;
  /** An incarnation growing by more than this is a restart (default 1000 ms). */
  restartJump?: number;
}

export class Topology {
  /** The ring this node routes with. */
  ring: HashRing;
  private previous: HashRing | undefined;
  private transitionUntil = 0;
  private readonly incarnations = new Map<string, number>();
  private joined = false;
  private leaving = false;
  private readonly rf: number;
  private readonly transitionMs: number;
  private readonly restartJump: number;

  constructor(
    private readonly opts: TopologyOptions,
    ringMembers: readonly string[],
  ) {
    this.rf = opts.replicationFactor;
    this.transitionMs = opts.transitionMs ?? 10_000;
    this.restartJump = opts.restartJump ?? 1_000;
    this.ring = this.build(ringMembers);
  }

  /** The key's replicas on the current ring. */
  replicas(key: string): readonly string[] {
    return this.ring.preferenceList(key, this.rf);
  }

  /** Whether `node` is one of the key's replicas on the current ring (allocates nothing: per tracked key of a near cache). */
  isReplica(key: string, node: string): boolean {
    return this.ring.inPreferenceList(key, this.rf, node);
  }

  /**
   * During a transition (rule 2), the key's replicas on the previous ring; undefined
   * otherwise. The transition ends at the first call after its time is up with no rebalance
   * pass running.
   */
  previousReplicas(key: string, now: number, rebalancing: boolean): readonly string[] | undefined {
    const prev = this.previous;
    if (prev === undefined) return undefined;
    if (now > this.transitionUntil && !rebalancing) {
      this.previous = undefined;
      return undefined;
    }
    return prev.preferenceList(key, this.rf);
  }

  /**
   * Membership changed. `ringMembers`: every member not left, after the changes;
   * `lastPassMs`: how long the last rebalance pass took.
   */
  apply(changes: readonly MemberChange[], ringMembers: readonly string[], now: number, lastPassMs = 0): TopologyAction[] {
    const self = this.opts.selfId;
    const actions: TopologyAction[] = [];
    const restarted: string[] = [];
    let wake = false;
    let cameBack = false;
    for (const c of changes) {
      const before = this.incarnations.get(c.id);
      this.incarnations.set(c.id, c.record.incarnation);
      if (c.id === self) continue;
      if (!this.joined && c.to !== 'left') {
        this.joined = true;
        actions.push({ type: 'joined' });
      }
      if (c.to === 'left') {
        if (c.from !== 'left') actions.push({ type: 'reroute-hints', node: c.id }, { type: 'close-peer', node: c.id });
        continue;
      }
      const restart = before !== undefined && c.record.incarnation - before > this.restartJump;
      if (restart || (c.to === 'alive' && c.from !== undefined && c.from !== 'alive')) actions.push({ type: 'reconnect-peer', node: c.id });
      if (restart) restarted.push(c.id);
      if (c.to === 'alive') {
        wake = true;
        if (c.from === 'suspect' || c.from === 'dead') cameBack = true;
      }
    }
    if (this.leaving) return actions;
    const ring = this.build(ringMembers);
    const changed = ring.version !== this.ring.version;
    if (changed) {
      if (this.previous === undefined && this.ring.size > 1) this.previous = this.ring;
      this.transitionUntil = now + Math.max(this.transitionMs, 3 * lastPassMs);
      this.ring = ring;
    }
    if (changed || restarted.length > 0) actions.push({ type: 'rebalance', ring: this.ring, restarted });
    if (wake) actions.push({ type: 'deliver-hints' });
    if (cameBack || restarted.length > 0) actions.push({ type: 'anti-entropy' });
    return actions;
  }

  /**
   * This node leaves: from now on ring changes are not applied. Returns the ring without
   * this node that its keys are handed to, or undefined if no other member is left to take them.
   */
  leave(ringMembers: readonly string[]): HashRing | undefined {
    this.leaving = true;
    const others = ringMembers.filter((id) => id !== this.opts.selfId);
    if (others.length === 0) return undefined;
    this.ring = this.build(others);
    return this.ring;
  }

  private build(ids: readonly string[]): HashRing {
    const ring = new HashRing(this.opts.vnodes);
    for (const id of ids) ring.add(id);
    return ring;
  }
}
