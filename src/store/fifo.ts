import type { EvictionPolicy } from './policy.js';
import { SlotList } from './list.js';

/**
 * First in, first out: insertion order only. Reads do not change it, and overwriting an
 * existing key keeps its place (the key was inserted when it first arrived). Victim = the
 * oldest insertion. All O(1).
 */
export class FifoPolicy implements EvictionPolicy {
  readonly bytesPerSlot = 8;
  private readonly list: SlotList;

  constructor(slots: number) {
    this.list = new SlotList(slots);
  }

  resize(slots: number): void {
    this.list.resize(slots);
  }

  onInsert(slot: number): void {
    this.list.pushFront(slot);
  }

  onAccess(_slot: number): void {
    // insertion order is not affected by use
  }

  onRemove(slot: number): void {
    this.list.unlink(slot);
  }

  victim(exclude: number): number {
    return this.list.back(exclude);
  }
}
