/**
 * Anti-entropy decisions. Pure: entries, trees and time in; what to move out.
 *
 * A round between this node and a peer compares the Merkle trees both build over the keys
 * they both replicate (src/antientropy/trees.ts), finds the leaf buckets whose hashes differ
 * (diffBuckets in src/merkle/merkle.ts), fetches the peer's entries in those buckets and then, per key:
 *  - the peer's version is newer, or only the peer has the key: take it (apply locally);
 *  - ours is newer, or only we have it: give it (write it to the peer);
 *  - same version: nothing.
 * Tombstones are entries like any other, so a delete wins over an older value either way.
 */
import { compareVersions } from '../hlc/hlc.js';
import type { MerkleTree } from '../merkle/merkle.js';
import type { EntryRecord } from '../store/store.js';

export interface Reconciliation {
  /** Entries to apply locally (the peer's newer versions). */
  take: [string, EntryRecord][];
  /** Entries to write to the peer (our newer versions). */
  give: [string, EntryRecord][];
}

export function reconcile(ours: ReadonlyMap<string, EntryRecord>, theirs: ReadonlyMap<string, EntryRecord>): Reconciliation {
  const take: [string, EntryRecord][] = [];
  const give: [string, EntryRecord][] = [];
  for (const [key, rec] of theirs) {
    const mine = ours.get(key);
    if (!mine || newer(rec, mine)) take.push([key, rec]);
  }
  for (const [key, mine] of ours) {
    const t = theirs.get(key);
    if (!t || newer(mine, t)) give.push([key, mine]);
  }
  return { take, give };
}

function newer(a: EntryRecord, b: EntryRecord): boolean {
  return compareVersions(a.wall, a.logical, a.node, b.wall, b.logical, b.node) > 0;
}

/**
 * The trees this node built to answer peers' rounds. A round asks for the root (level 0),
 * then for deeper levels, then for bucket entries: the tree built for its first request
 * serves the rest, as long as it is younger than `ttlMs` and the ring has not changed.
 * A request for level 0 starts a new round (a fresh tree).
 */
export class ServedTrees {
  private readonly trees = new Map<string, { tree: MerkleTree; at: number; ring: string }>();

  constructor(private readonly ttlMs: number) {}

  /** The tree for `requester`'s round, if it can still serve a request at `level`. */
  get(requester: string, level: number, ringVersion: string, now: number): MerkleTree | undefined {
    const s = this.trees.get(requester);
    if (level === 0 || !s || now - s.at > this.ttlMs || s.ring !== ringVersion) return undefined;
    return s.tree;
  }

  put(requester: string, tree: MerkleTree, ringVersion: string, now: number): void {
    this.trees.set(requester, { tree, at: now, ring: ringVersion });
  }

  /** The round's last request (bucket entries) takes its tree out. */
  take(requester: string): MerkleTree | undefined {
    const s = this.trees.get(requester);
    this.trees.delete(requester);
    return s?.tree;
  }
}
