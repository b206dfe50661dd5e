import type { EntryRecord } from '../../src/store/store.ts';

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
