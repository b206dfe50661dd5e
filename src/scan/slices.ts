/** Long scans of the store, cut into slices so that requests keep being served. Edge: uses the event loop. */

/**
 * Whole-store scans (anti-entropy's Merkle trees and bucket lookups, rebalancing's key list)
 * take this many entries at a time and then let the event loop run: a whole scan of a large
 * store would otherwise hold up every request for as long as it takes (figures in
 * docs/benchmarks/2026-11-23.md). Small, since a cluster call waits for a turn on every node
 * it crosses: at 10,000 entries (5-10 ms a slice with a Merkle tree's work) a 3-node cluster
 * under anti-entropy answered 8x fewer QUORUM calls (docs/benchmarks/2026-12-02-scale.md). The store's iterators tolerate writes between slices, so a scan sees each key
 * that stays in the store, with its version at the time it is reached; users of a scan
 * must accept that (a tree may miss a write made meanwhile: the next round catches it).
 */
export const SCAN_SLICE = 1_000;

/** Resolves on the next event-loop turn, after pending I/O: long work in slices yields with it. */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Yields an iterable's items in arrays of up to SCAN_SLICE, letting the event loop run between them. */
export async function* inSlices<T>(it: Iterable<T>): AsyncGenerator<T[]> {
  let part: T[] = [];
  for (const x of it) {
    part.push(x);
    if (part.length === SCAN_SLICE) {
      yield part;
      part = [];
      await nextTurn();
    }
  }
  if (part.length > 0) yield part;
}
