/**
 * Which peers share a key with this node, looked up from the key's position without
 * allocating. Pure.
 *
 * Contract: for a ring, a replication factor rf and this node `self`, peersAt(p) lists (as
 * indexes into `peers`) exactly the nodes P != self such that the preference list of rf
 * nodes at position p contains both self and P; it is empty where self is not a replica.
 * This is the rule of sharedTree (src/antientropy/trees.ts), so a tree kept by this table
 * holds the same items as one built by scanning with ring.preferenceList.
 *
 * Built once per ring from ring.ranges(rf): the arcs' starts in a sorted Uint32Array and
 * each arc's peer indexes; a lookup is one binary search over the arcs (a few hundred to a
 * few thousand of them) and allocates nothing (HashRing.preferenceList copies its cached
 * list for every key; both take about 100-150 ns with the key's hash, scripts/bench-merkle.ts).
 */
import type { HashRing } from '../ring/ring.js';

const NONE: readonly number[] = [];

export class SharedPlacement {
  /** Every node that shares at least one arc with self, sorted. */
  readonly peers: readonly string[];
  /** starts[i]: first position of arc i; ascending (the last arc may wrap past 2^32 to 0). */
  private readonly starts: Uint32Array;
  /** shared[i]: indexes into `peers` of the nodes sharing arc i with self. */
  private readonly shared: (readonly number[])[];

  constructor(ring: HashRing, rf: number, self: string) {
    const ranges = ring.ranges(rf);
    const peers = new Set<string>();
    for (const r of ranges) if (r.replicas.includes(self)) for (const n of r.replicas) if (n !== self) peers.add(n);
    this.peers = [...peers].sort();
    const index = new Map(this.peers.map((p, i) => [p, i]));
    this.starts = new Uint32Array(ranges.length);
    this.shared = new Array(ranges.length);
    for (let i = 0; i < ranges.length; i++) {
      const r = ranges[i]!;
      this.starts[i] = r.start;
      this.shared[i] = r.replicas.includes(self) ? r.replicas.filter((n) => n !== self).map((n) => index.get(n)!) : NONE;
    }
  }

  /** Indexes into `peers` of the nodes sharing position p with self (see the contract). Not to be modified. */
  peersAt(position: number): readonly number[] {
    const starts = this.starts;
    const n = starts.length;
    if (n === 0) return NONE;
    // the last arc whose start is <= position; below the first start, the wrapping last arc
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid]! <= position) lo = mid + 1;
      else hi = mid;
    }
    return this.shared[lo === 0 ? n - 1 : lo - 1]!;
  }

  /** Index of peer in `peers`, or -1. */
  indexOf(peer: string): number {
    return this.peers.indexOf(peer);
  }
}
