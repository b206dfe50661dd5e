import { growInt32 } from './policy.js';

/**
 * Per-shard expiry index: owns the shard's expiresAt column and an indexed binary min-heap
 * of the slots whose expiresAt is non-zero (TTL'd entries and tombstones).
 *
 * Indexed (each slot knows its heap position) rather than lazy: changing or clearing an
 * expiry fixes the heap in place in O(log n), so the heap never holds stale items and never
 * grows beyond the number of slots (its array is sized by the number of expiring slots,
 * not by all slots); the earliest expiry is always at the top in O(1).
 */
export class ExpiryHeap {
  /** expiresAt per slot, absolute ms; 0 = never expires. */
  exp: Float64Array;
  /** heap position per slot; -1 = not in the heap. */
  private pos: Int32Array;
  /** heap of slots, ordered by exp[slot]. */
  private items: Int32Array;
  private len = 0;

  constructor(slots: number) {
    this.exp = new Float64Array(slots);
    this.pos = new Int32Array(slots).fill(-1);
    this.items = new Int32Array(Math.min(slots, 16));
  }

  get size(): number {
    return this.len;
  }

  resize(slots: number): void {
    const e = new Float64Array(slots);
    e.set(this.exp.length <= slots ? this.exp : this.exp.subarray(0, slots));
    this.exp = e;
    this.pos = growInt32(this.pos, slots);
  }

  /** The slot expiring first, or -1 if no slot has an expiry. */
  top(): number {
    return this.len > 0 ? this.items[0] : -1;
  }

  /**
   * The slot expiring first other than `exclude`, or -1: the top, or else the earlier of its
   * two children (the second-earliest expiry is always one of them). O(1).
   */
  topExcept(exclude: number): number {
    const n = this.len;
    if (n === 0) return -1;
    const items = this.items;
    if (items[0] !== exclude) return items[0];
    if (n === 1) return -1;
    if (n === 2) return items[1];
    return this.exp[items[2]] < this.exp[items[1]] ? items[2] : items[1];
  }

  /** Sets a slot's expiry (0 = none) and fixes the heap. */
  set(slot: number, expiresAt: number): void {
    const old = this.exp[slot];
    this.exp[slot] = expiresAt;
    const i = this.pos[slot];
    if (expiresAt === 0) {
      if (i !== -1) this.removeAt(i);
      return;
    }
    if (i === -1) {
      // the heap array grows on its own (by doubling), so stores without TTLs barely pay for it
      if (this.len === this.items.length) this.items = growInt32(this.items, Math.min(this.len * 2, this.pos.length), 0);
      const j = this.len++;
      this.items[j] = slot;
      this.pos[slot] = j;
      this.up(j);
    } else if (expiresAt < old) {
      this.up(i);
    } else if (expiresAt > old) {
      this.down(i);
    }
  }

  /** Forgets a slot (its expiry becomes 0). */
  clear(slot: number): void {
    this.exp[slot] = 0;
    const i = this.pos[slot];
    if (i !== -1) this.removeAt(i);
  }

  private removeAt(i: number): void {
    const items = this.items;
    const pos = this.pos;
    pos[items[i]] = -1;
    const last = --this.len;
    if (i === last) return;
    const moved = items[last];
    items[i] = moved;
    pos[moved] = i;
    // the moved item may need to go either way
    if (i > 0 && this.exp[moved] < this.exp[items[(i - 1) >> 1]]) this.up(i);
    else this.down(i);
  }

  private up(i: number): void {
    const items = this.items;
    const pos = this.pos;
    const exp = this.exp;
    const s = items[i];
    const e = exp[s];
    while (i > 0) {
      const p = (i - 1) >> 1;
      const ps = items[p];
      if (exp[ps] <= e) break;
      items[i] = ps;
      pos[ps] = i;
      i = p;
    }
    items[i] = s;
    pos[s] = i;
  }

  private down(i: number): void {
    const items = this.items;
    const pos = this.pos;
    const exp = this.exp;
    const n = this.len;
    const s = items[i];
    const e = exp[s];
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && exp[items[c + 1]] < exp[items[c]]) c++;
      const cs = items[c];
      if (exp[cs] >= e) break;
      items[i] = cs;
      pos[cs] = i;
      i = c;
    }
    items[i] = s;
    pos[s] = i;
  }
}
