import type { ExpiryHeap } from './heap.js';
import { SlotList } from './list.js';
import type { EvictionPolicy } from './policy.js';

/**
 * Soonest expiry first: victim = the entry whose expiresAt is earliest (ties in arbitrary
 * order). Entries without a TTL (expiresAt 0) go last, oldest first insertion first (as
 * FIFO: reads do not move them, and an overwrite keeps the key's place, even one that
 * removes or adds a TTL). Tombstones count as expiring at the end of their grace period.
 *
 * It keeps no expiry of its own: it reads the shard's ExpiryHeap (heap.ts), which holds
 * exactly the tracked slots with a non-zero expiresAt (the shard sets a slot's expiry
 * before onInsert / onAccess and clears it before onRemove). Its own state is an
 * insertion-order list of all tracked slots, consulted only when no slot other than
 * `exclude` has an expiry, so that every remaining candidate is TTL-less. victim is O(1)
 * (the heap's top or one of its two children); every other operation is O(1) here (the
 * heap's own upkeep, O(log n), is paid by the shard for any policy).
 */
export class TtlPolicy implements EvictionPolicy {
  readonly bytesPerSlot = 8;
  private readonly list: SlotList;

  constructor(
    slots: number,
    private readonly heap: ExpiryHeap,
  ) {
    this.list = new SlotList(slots);
  }

  resize(slots: number): void {
    // the heap's columns are resized by the shard that owns it
    this.list.resize(slots);
  }

  onInsert(slot: number): void {
    this.list.pushFront(slot);
  }

  onAccess(_slot: number): void {
    // neither expiry order (kept by the heap) nor insertion order is affected by use
  }

  onRemove(slot: number): void {
    this.list.unlink(slot);
  }

  victim(exclude: number): number {
    const t = this.heap.topExcept(exclude);
    return t !== -1 ? t : this.list.back(exclude);
  }
}
