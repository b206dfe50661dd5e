import type { EvictionPolicy } from './policy.js';
import { growInt32 } from './policy.js';

/**
 * Random: victim = a tracked slot drawn uniformly (each call draws anew, from the injected
 * random source; Math.random by default), other than `exclude`. Use does not matter.
 *
 * The tracked slots sit in a dense array (`order`, its first `count` cells) with each slot's
 * index in it in a position column (`pos`, -1 = not tracked): insert appends, remove moves
 * the last slot into the hole (swap-remove), a draw is one index into the array. All O(1).
 */
export class RandomPolicy implements EvictionPolicy {
  readonly bytesPerSlot = 8;
  private order: Int32Array;
  private pos: Int32Array;
  private count = 0;

  constructor(
    slots: number,
    /** uniform in [0, 1) */
    private readonly random: () => number = Math.random,
  ) {
    this.order = new Int32Array(slots).fill(-1);
    this.pos = new Int32Array(slots).fill(-1);
  }

  /** Number of tracked slots. */
  get size(): number {
    return this.count;
  }

  resize(slots: number): void {
    this.order = growInt32(this.order, slots);
    this.pos = growInt32(this.pos, slots);
  }

  onInsert(slot: number): void {
    const i = this.count++;
    this.order[i] = slot;
    this.pos[slot] = i;
  }

  onAccess(_slot: number): void {
    // use does not matter
  }

  onRemove(slot: number): void {
    const i = this.pos[slot];
    const last = --this.count;
    const moved = this.order[last];
    this.order[i] = moved;
    this.pos[moved] = i;
    this.order[last] = -1;
    this.pos[slot] = -1;
  }

  victim(exclude: number): number {
    const n = this.count;
    const skip = exclude >= 0 && exclude < this.pos.length ? this.pos[exclude] : -1;
    const choices = skip === -1 ? n : n - 1;
    if (choices <= 0) return -1;
    // draw among the positions other than skip's: those above it shift up by one
    let i = Math.min(choices - 1, Math.floor(this.random() * choices));
    if (skip !== -1 && i >= skip) i++;
    return this.order[i];
  }
}
