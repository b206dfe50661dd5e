import { SlotList } from './list.js';
import type { EvictionPolicy } from './policy.js';

/**
 * Least recently used: a recency list, most recent at the front. Inserting, reading (get)
 * and overwriting a key all count as a use. Victim = the back of the list. All O(1).
 */
export class LruPolicy implements EvictionPolicy {
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

  onAccess(slot: number): void {
    this.list.moveToFront(slot);
  }

  onRemove(slot: number): void {
    this.list.unlink(slot);
  }

  victim(exclude: number): number {
    return this.list.back(exclude);
  }
}
