/**
 * Flush marks: the facts "every entry whose key starts with `prefix` and whose version is at or
 * before (wall, logical, node) is gone". A cluster-wide flush is one such mark, made by the node
 * that served ClusterService.Flush and spread to every node (directly, then by gossip); it is
 * never a broadcast of deletes. Pure: no clock, no I/O.
 *
 * The contract:
 *  - covers(key, version) is true when some mark's prefix starts `key` and the version is not
 *    newer than that mark's (versions compare as everywhere: wall, logical, then node id). An
 *    entry it covers is gone on this node: the store neither returns nor accepts it, so a
 *    replica that missed the flush, a hint or anti-entropy cannot bring it back.
 *  - merge() is last-write-wins per prefix and commutative, associative and idempotent: nodes
 *    that have merged the same marks in any order cover exactly the same entries.
 *  - A mark that another mark makes redundant (a shorter or equal prefix, an equal or newer
 *    version) is not kept, so a whole-cluster flush replaces every prefix flush before it.
 *  - Marks are never dropped otherwise: an old entry can come back from a node that was cut off
 *    for an hour, and the mark is what refuses it. Their number is bounded by the distinct
 *    prefixes operators flush (the node refuses a new prefix past MAX_FLUSH_MARKS).
 */
import { compareVersions } from '../hlc/hlc.js';

export interface FlushMark {
  prefix: string;
  wall: number;
  logical: number;
  node: string;
}

/** Distinct prefixes a cluster keeps flush marks for (each costs every read a prefix test). */
export const MAX_FLUSH_MARKS = 256;

const before = (a: FlushMark, b: FlushMark) => compareVersions(a.wall, a.logical, a.node, b.wall, b.logical, b.node) <= 0;

export class FlushMarks {
  private marks: FlushMark[] = [];
  /** The mark of the empty prefix, if any (checked without a string test). */
  private all: FlushMark | undefined;

  get size(): number {
    return this.marks.length;
  }

  /** Every mark held: a snapshot (merge() replaces the array, it never changes one it handed out). */
  list(): readonly Readonly<FlushMark>[] {
    return this.marks;
  }

  /** The newest mark (the version of the latest flush this node knows), if any. */
  newest(): FlushMark | undefined {
    let n: FlushMark | undefined;
    for (const m of this.marks) if (!n || before(n, m)) n = m;
    return n;
  }

  /** Whether a new mark for `prefix` would need a slot of its own (for the MAX_FLUSH_MARKS check). */
  wouldGrow(prefix: string): boolean {
    return !this.marks.some((m) => prefix.startsWith(m.prefix));
  }

  /** Adds a mark; true if it changed what is covered. Malformed marks are ignored. */
  merge(mark: FlushMark): boolean {
    if (typeof mark.prefix !== 'string' || !Number.isSafeInteger(mark.wall) || mark.wall <= 0) return false;
    if (!Number.isInteger(mark.logical) || mark.logical < 0 || typeof mark.node !== 'string') return false;
    for (const m of this.marks) if (mark.prefix.startsWith(m.prefix) && before(mark, m)) return false;
    const copy: FlushMark = { prefix: mark.prefix, wall: mark.wall, logical: mark.logical, node: mark.node };
    this.marks = this.marks.filter((m) => !(m.prefix.startsWith(copy.prefix) && before(m, copy)));
    this.marks.push(copy);
    this.all = this.marks.find((m) => m.prefix === '');
    return true;
  }

  /** Merges several marks; true if any changed what is covered. */
  mergeAll(marks: readonly FlushMark[]): boolean {
    let changed = false;
    for (const m of marks) if (this.merge(m)) changed = true;
    return changed;
  }

  /** A mark covers every key (the empty prefix), so covers() needs no key when no other mark is held. */
  get coversAllKeys(): boolean {
    return this.all !== undefined && this.marks.length === 1;
  }

  /** The newest mark whose prefix starts `key`, if any. */
  newestFor(key: string): FlushMark | undefined {
    let n: FlushMark | undefined;
    for (const m of this.marks) if (key.startsWith(m.prefix) && (!n || before(n, m))) n = m;
    return n;
  }

  covers(key: string, wall: number, logical: number, node: string): boolean {
    const all = this.all;
    if (all && compareVersions(wall, logical, node, all.wall, all.logical, all.node) <= 0) return true;
    for (const m of this.marks) {
      if (m !== all && key.startsWith(m.prefix) && compareVersions(wall, logical, node, m.wall, m.logical, m.node) <= 0) return true;
    }
    return false;
  }
}
