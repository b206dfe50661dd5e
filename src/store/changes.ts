/**
 * The store's one change hook: what happened to a key on this node. The store calls it, when
 * one is set (Store.setChangeHook), for every change of an entry it holds or is handed: a write
 * or delete applied (from any coordinator, a hint, read repair, anti-entropy), an expired value
 * reclaimed, an entry evicted, dropped after a hand-off, and for each flush that covers
 * something new (then `key` is the flushed prefix: every key starting with it is gone). No
 * hook set = nothing is computed (no key decoded), so it costs nothing while nobody listens.
 * The hook must not touch the store (it runs inside the store's operations).
 */

export const CHANGE_SET = 1;
export const CHANGE_DELETE = 2;
export const CHANGE_EXPIRE = 3;
export const CHANGE_EVICT = 4;
/** `key` is a prefix: every key starting with it was flushed. */
export const CHANGE_FLUSH = 5;
export const CHANGE_DROP = 6;

export type ChangeKind =
  | typeof CHANGE_SET
  | typeof CHANGE_DELETE
  | typeof CHANGE_EXPIRE
  | typeof CHANGE_EVICT
  | typeof CHANGE_FLUSH
  | typeof CHANGE_DROP;

/** `wall` and `logical`: the version of the entry that changed (of the write, tombstone, expired or evicted entry, or flush mark). */
export type ChangeHook = (kind: ChangeKind, key: string, wall: number, logical: number) => void;
