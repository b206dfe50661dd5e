import type { EvictionPolicy } from './policy.js';
import { growInt32 } from './policy.js';

const MAX_FREQ = 0xffffffff;

/**
 * Least frequently used, ties broken by least recently used. O(1) per operation.
 *
 * All tracked slots sit in ONE doubly linked list ordered by (frequency ascending, then
 * last use ascending), so the victim is simply the head. Each distinct frequency f present
 * forms a contiguous run of the list; `groupLast` maps f to the run's last (most recently
 * used) slot. Bumping a slot from f to f+1 moves it to just after the last slot of run f+1,
 * or, if no slot has f+1, to just after the last slot of run f (it then starts run f+1,
 * which sorts before every higher run). A new slot has frequency 1 and goes to the end of
 * run 1, or to the front of the list if there is none. Every step touches a constant number
 * of list links and map entries.
 *
 * Frequencies saturate at 2^32-1 (an access then only refreshes recency within the run).
 * Note that, as in any pure LFU, new keys start at the bottom: they are the first candidates
 * for eviction until they have been read.
 */
export class LfuPolicy implements EvictionPolicy {
  readonly bytesPerSlot = 12;
  private prev: Int32Array;
  private next: Int32Array;
  private freq: Uint32Array;
  private head = -1;
  /** frequency -> last slot of that frequency's run */
  private readonly groupLast = new Map<number, number>();

  constructor(slots: number) {
    this.prev = new Int32Array(slots).fill(-1);
    this.next = new Int32Array(slots).fill(-1);
    this.freq = new Uint32Array(slots);
  }

  resize(slots: number): void {
    this.prev = growInt32(this.prev, slots);
    this.next = growInt32(this.next, slots);
    const f = new Uint32Array(slots);
    f.set(this.freq.length <= slots ? this.freq : this.freq.subarray(0, slots));
    this.freq = f;
  }

  /** Frequency of a tracked slot (for tests / introspection). */
  frequency(slot: number): number {
    return this.freq[slot];
  }

  onInsert(slot: number): void {
    this.freq[slot] = 1;
    const anchor = this.groupLast.get(1);
    if (anchor !== undefined) this.insertAfter(anchor, slot);
    else this.insertFront(slot);
    this.groupLast.set(1, slot);
  }

  onAccess(slot: number): void {
    const f = this.freq[slot];
    const nf = f === MAX_FREQ ? f : f + 1;
    let anchor = this.groupLast.get(nf);
    if (anchor === undefined) anchor = this.groupLast.get(f) as number;
    this.leaveGroup(slot, f);
    this.freq[slot] = nf;
    if (anchor !== slot) {
      this.unlink(slot);
      this.insertAfter(anchor, slot);
    }
    this.groupLast.set(nf, slot);
  }

  onRemove(slot: number): void {
    this.leaveGroup(slot, this.freq[slot]);
    this.unlink(slot);
    this.freq[slot] = 0;
  }

  victim(exclude: number): number {
    const h = this.head;
    if (h === -1) return -1;
    return h !== exclude ? h : this.next[h];
  }

  /** If slot ends run f, the run now ends at its predecessor (or the run is gone). */
  private leaveGroup(slot: number, f: number): void {
    if (this.groupLast.get(f) !== slot) return;
    const p = this.prev[slot];
    if (p !== -1 && this.freq[p] === f) this.groupLast.set(f, p);
    else this.groupLast.delete(f);
  }

  private insertFront(s: number): void {
    const h = this.head;
    this.prev[s] = -1;
    this.next[s] = h;
    if (h !== -1) this.prev[h] = s;
    this.head = s;
  }

  private insertAfter(a: number, s: number): void {
    const n = this.next[a];
    this.prev[s] = a;
    this.next[s] = n;
    this.next[a] = s;
    if (n !== -1) this.prev[n] = s;
  }

  private unlink(s: number): void {
    const p = this.prev[s];
    const n = this.next[s];
    if (p !== -1) this.next[p] = n;
    else this.head = n;
    if (n !== -1) this.prev[n] = p;
    this.prev[s] = -1;
    this.next[s] = -1;
  }
}
