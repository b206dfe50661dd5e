/**
 * Builds the Merkle trees anti-entropy compares. Pure: entries and placement in, trees out.
 * The tree a node builds "with peer P" covers exactly the keys both of them replicate
 * (both are in the key's preference list), so the two sides build it over the same key set
 * when their rings agree.
 */
import { MerkleTree } from '../merkle/merkle.js';
import type { EntryVersion } from '../store/store.js';

export type Entries = Iterable<[string, EntryVersion]>;
export type PreferenceList = (key: string) => readonly string[];

function leaf(key: string, rec: EntryVersion) {
  return { key, wall: rec.wall, logical: rec.logical, node: rec.node, tombstone: rec.tombstone };
}

/** The tree of the entries both `self` and `peer` replicate. */
export function sharedTree(entries: Entries, prefs: PreferenceList, self: string, peer: string, depth: number): MerkleTree {
  return addShared(new MerkleTree(depth), entries, prefs, self, peer);
}

/** Adds to `t` the entries both `self` and `peer` replicate (a shared tree built in parts). */
export function addShared(t: MerkleTree, entries: Entries, prefs: PreferenceList, self: string, peer: string): MerkleTree {
  for (const [key, rec] of entries) {
    const replicas = prefs(key);
    if (replicas.includes(self) && replicas.includes(peer)) t.update(key, undefined, leaf(key, rec));
  }
  return t;
}

/** A tree over everything a node holds (its root summarises the node's data). */
export function wholeTree(entries: Entries, depth: number): MerkleTree {
  return addAll(new MerkleTree(depth), entries);
}

/** Adds every entry to `t` (a whole tree built in parts). */
export function addAll(t: MerkleTree, entries: Entries): MerkleTree {
  for (const [key, rec] of entries) t.update(key, undefined, leaf(key, rec));
  return t;
}

/** Entries shared by self and peer that fall in the given leaf buckets. */
export function sharedInBuckets<R extends EntryVersion>(
  entries: Iterable<[string, R]>,
  prefs: PreferenceList,
  self: string,
  peer: string,
  tree: MerkleTree,
  buckets: Set<number>,
): [string, R][] {
  const out: [string, R][] = [];
  for (const [key, rec] of entries) {
    if (!buckets.has(tree.bucketOf(key))) continue;
    const replicas = prefs(key);
    if (replicas.includes(self) && replicas.includes(peer)) out.push([key, rec]);
  }
  return out;
}
