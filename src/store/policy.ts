/**
 * Eviction policies work on slot indices of one shard (never on keys or objects), so
 * their bookkeeping lives in typed arrays sized like the shard's other columns.
 *
 * Contract (the shard drives it):
 * - `resize(n)` is called before any slot >= the previous size is used; it keeps the state
 *   of slots below the old size.
 * - `onInsert(s)` when slot s gets a new key; `onRemove(s)` when its key leaves (evicted,
 *   expired, dropped); `onAccess(s)` on a read hit or on an overwrite of the same key.
 * - `victim(exclude)` names the slot to evict next without removing it (the shard then calls
 *   onRemove); it never returns `exclude` and returns -1 when no other slot is tracked.
 *   Deterministic for every policy but `random`, which draws anew on each call.
 *
 * Policies: lru.ts, lfu.ts, fifo.ts, ttl.ts (soonest expiry, reads the shard's ExpiryHeap),
 * random.ts; each states its order on its class.
 */
export interface EvictionPolicy {
  /** Bytes of typed-array state per slot (documentation / memory accounting). */
  readonly bytesPerSlot: number;
  resize(slots: number): void;
  onInsert(slot: number): void;
  onAccess(slot: number): void;
  onRemove(slot: number): void;
  victim(exclude: number): number;
}

/** Growable copy of an Int32Array, new tail filled with `fill`. */
export function growInt32(a: Int32Array, n: number, fill = -1): Int32Array {
  const b = new Int32Array(n);
  b.set(a.length <= n ? a : a.subarray(0, n));
  if (fill !== 0 && n > a.length) b.fill(fill, a.length);
  return b;
}
