/**
 * Delivery of hinted handoff (src/replication/hints.ts keeps the hints): a hint for a member
 * that is alive is written to it, and forgotten once it confirmed; hints for a member that
 * left (or that the membership no longer knows) go to the keys' current replicas instead,
 * where a replica that cannot be reached keeps a hint of its own. At most one batch per
 * target is in flight. Driven by the node (a timer, and a member becoming alive); the
 * transport, member states and placement are passed in.
 */

import type { MemberState } from '../membership/table.js';
import type { EntryRecord } from '../store/store.js';
import type { PeerTransport } from './coordinator.js';
import type { HintStore } from './hints.js';

const BATCH = 512;

export interface HintDeliveryDeps {
  selfId: string;
  hints: HintStore;
  peers: PeerTransport;
  /** A member's state, undefined if unknown. */
  stateOf(node: string): MemberState | undefined;
  /** The key's current replicas. */
  replicas(key: string): readonly string[];
  /** Applies a record to this node's own store. */
  applyLocal(key: string, rec: EntryRecord): void;
}

export class HintDelivery {
  private readonly delivering = new Set<string>();

  constructor(private readonly d: HintDeliveryDeps) {}

  /** One delivery step: a batch to every alive target without one in flight; hints of departed targets rerouted. */
  deliver(): void {
    const { hints, peers } = this.d;
    if (hints.pending === 0) return;
    for (const target of hints.targets()) {
      if (this.delivering.has(target)) continue;
      const state = this.d.stateOf(target);
      if (state === 'left' || state === undefined) {
        this.reroute(target);
        continue;
      }
      if (state !== 'alive') continue;
      const batch = hints.take(target, BATCH);
      this.delivering.add(target);
      let left = batch.length;
      for (const [key, rec] of batch) {
        peers.write(target, key, rec, (err) => {
          if (!err) hints.ack(target, key, rec);
          if (--left === 0) this.delivering.delete(target);
        });
      }
    }
  }

  /** The target left for good: its hints go to the keys' current replicas. */
  reroute(target: string): void {
    for (const [key, rec] of this.d.hints.removeTarget(target)) {
      for (const r of this.d.replicas(key)) {
        if (r === this.d.selfId) this.d.applyLocal(key, rec);
        else
          this.d.peers.write(r, key, rec, (err) => {
            if (err) this.d.hints.add(r, key, rec);
          });
      }
    }
  }

  /** Every target's hints to the current replicas (this node is leaving). */
  rerouteAll(): void {
    for (const target of this.d.hints.targets()) this.reroute(target);
  }
}
