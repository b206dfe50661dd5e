import { LruPolicy } from './lru.js';

/**
 * First in, first out: insertion order only. The same list as LRU, except that reads do
 * not move an entry, and overwriting an existing key keeps its place (the key was inserted
 * when it first arrived). Victim = the oldest insertion. All O(1).
 */
export class FifoPolicy extends LruPolicy {
  override onAccess(_slot: number): void {
    // insertion order is not affected by use
  }
}
