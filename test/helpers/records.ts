import { type EntryRecord, Store, type StoreOptions } from '../../src/store/store.ts';

/** A stored entry for tests: text `value` at version (wall, 0, 'n'), no expiry; `extra` overrides any field. */
export const rec = (wall: number, value = `v${wall}`, extra: Partial<EntryRecord> = {}): EntryRecord => ({
  value,
  binary: false,
  wall,
  logical: 0,
  node: 'n',
  expiresAt: 0,
  tombstone: false,
  ...extra,
});

/** A one-shard LRU store (5 s tombstone grace) on a clock the test moves (`clock.t`, from 1000 ms); `over` overrides any option. */
export function clockedStore(over: Partial<StoreOptions> = {}): { store: Store; clock: { t: number } } {
  const clock = { t: 1_000 };
  const store = new Store({
    shards: 1,
    capacity: 0,
    maxMemoryBytes: 0,
    policy: 'lru',
    tombstoneGraceMs: 5_000,
    now: () => clock.t,
    ...over,
  });
  return { store, clock };
}
