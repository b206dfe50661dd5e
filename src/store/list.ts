import { growInt32 } from './policy.js';

/**
 * Intrusive doubly linked list over slot indices: prev/next columns in Int32Arrays, -1 = none.
 * `head` is the front (most recently inserted/used), `tail` the back.
 * Shared by the LRU, FIFO and TTL policies.
 */
export class SlotList {
  prev: Int32Array;
  next: Int32Array;
  head = -1;
  tail = -1;

  constructor(slots: number) {
    this.prev = new Int32Array(slots).fill(-1);
    this.next = new Int32Array(slots).fill(-1);
  }

  resize(slots: number): void {
    this.prev = growInt32(this.prev, slots);
    this.next = growInt32(this.next, slots);
  }

  pushFront(s: number): void {
    const h = this.head;
    this.prev[s] = -1;
    this.next[s] = h;
    if (h !== -1) this.prev[h] = s;
    else this.tail = s;
    this.head = s;
  }

  unlink(s: number): void {
    const p = this.prev[s];
    const n = this.next[s];
    if (p !== -1) this.next[p] = n;
    else this.head = n;
    if (n !== -1) this.prev[n] = p;
    else this.tail = p;
    this.prev[s] = -1;
    this.next[s] = -1;
  }

  moveToFront(s: number): void {
    if (this.head === s) return;
    this.unlink(s);
    this.pushFront(s);
  }

  /** The back of the list, skipping `exclude`; -1 if none. */
  back(exclude: number): number {
    const t = this.tail;
    if (t === -1) return -1;
    return t !== exclude ? t : this.prev[t];
  }
}
