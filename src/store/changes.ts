/**
 * What happened to the keys of a store: its observers (Store.observe; persistence while
 * DATA_DIR is set, client near caches and Watch streams while one is open) are told of every
 * change of an entry it holds or is handed:
 *  - applied: a write or delete stored, from any coordinator, a hint, read repair,
 *    anti-entropy or rebalancing (never a refused one), with the version it replaced (live
 *    or tombstone; not a dead one), which keeps anti-entropy's Merkle trees up to date
 *    (src/antientropy/live.ts);
 *  - removed: an entry gone without a write: an expired value reclaimed (EXPIRE; a tombstone
 *    whose grace ended is reported as an EXPIRE with `tombstone` true), an entry evicted,
 *    one dropped after a hand-off (with the version it had);
 *  - flushed: flush marks that covered something new (every key starting with a mark's
 *    prefix is gone).
 * No observer = nothing is computed (no key decoded), so it costs nothing while nobody listens.
 * A node observes its store for anti-entropy's kept trees while ANTI_ENTROPY_INTERVAL > 0, for
 * persistence with DATA_DIR, and for near caches and Watch while one of their streams is open.
 * Observers must not touch the store (they run inside its operations).
 */
import type { FlushMark } from './flushes.js';
import type { EntryRecord, EntryVersion } from './store.js';

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

/** One change as near caches and Watch see it; `wall` and `logical`: the version of the entry that changed (of the write, tombstone, expired or evicted entry, or flush mark; for a flush `key` is its prefix). */
export type ChangeHook = (kind: ChangeKind, key: string, wall: number, logical: number) => void;

export type RemovalKind = typeof CHANGE_EXPIRE | typeof CHANGE_EVICT | typeof CHANGE_DROP;

export interface StoreObserver {
  /**
   * rec was stored for key (a tombstone for a delete; with no tombstone grace, a tombstone
   * removes what it replaces and is not kept); `prev`, when given, is the entry it replaced
   * (not a dead one; maybe one a flush covers). Both objects are the caller's: copy what you keep.
   * `position` is keyPosition(key), the key's ring position, which the store keeps (an
   * observer that needs it need not hash the key again).
   */
  applied(key: string, rec: EntryRecord, prev: EntryVersion | undefined, position: number): void;
  /** key's entry (of version wall.logical.node, a tombstone or not) expired, was evicted or was dropped; `position` as for applied */
  removed(kind: RemovalKind, key: string, wall: number, logical: number, node: string, tombstone: boolean, position: number): void;
  /** flush marks that covered something new were merged */
  flushed(marks: readonly FlushMark[]): void;
}

/** The observer that hands every change to hook as (kind, key, version). */
export function changesTo(hook: ChangeHook): StoreObserver {
  return {
    applied: (key, rec) => hook(rec.tombstone ? CHANGE_DELETE : CHANGE_SET, key, rec.wall, rec.logical),
    removed: (kind, key, wall, logical, _node, tombstone) => {
      // a tombstone's grace ending is no change of what clients can read
      if (kind !== CHANGE_EXPIRE || !tombstone) hook(kind, key, wall, logical);
    },
    flushed: (marks) => {
      for (const m of marks) hook(CHANGE_FLUSH, m.prefix, m.wall, m.logical);
    },
  };
}
