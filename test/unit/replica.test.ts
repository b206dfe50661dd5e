/** The replica's operation executor (src/replication/replica.ts): its contract, directly. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OpKind } from '../../src/protos/generated/peer/cache/peer/v1/OpKind.ts';
import { Replica, readAnswer } from '../../src/replication/replica.ts';
import { Store } from '../../src/store/store.ts';
import { rec } from '../helpers/records.ts';

const W = OpKind.OP_KIND_WRITE;
const R = OpKind.OP_KIND_READ;
let now = 1_000_000;
const store = (maxMemoryBytes = 0) =>
  new Store({ shards: 1, capacity: 0, maxMemoryBytes, policy: 'lru', tombstoneGraceMs: 60_000, now: () => now });

test('WRITE applies newer versions and says whether a live value was there', () => {
  const s = store();
  const r = new Replica(s);
  assert.deepEqual(r.execute({ kind: W, key: 'k', rec: rec(10) }), {});
  assert.deepEqual(r.execute({ kind: W, key: 'k', rec: rec(11) }), { existed: true });
  assert.equal(s.peek('k')?.value, 'v11');
  const older = r.execute({ kind: W, key: 'k', rec: rec(5) });
  assert.equal(older.error, undefined, 'an older write is no error');
  assert.deepEqual(
    [older.newer, older.rec?.wall, older.rec?.value],
    [true, 11, ''],
    '... but says which version is newer, without the value',
  );
  assert.equal(s.peek('k')?.value, 'v11', '... and is not applied');
  assert.deepEqual(r.execute({ kind: W, key: 'k', rec: rec(11) }), { existed: true }, 'the same version again is no news');
  r.execute({ kind: W, key: 'k', rec: rec(12, '', { tombstone: true }) });
  assert.deepEqual(r.execute({ kind: W, key: 'k', rec: rec(13) }), {}, 'a tombstone is no live value');
  r.execute({ kind: W, key: 'e', rec: rec(14, 'x', { expiresAt: now + 10 }) });
  now += 20;
  assert.deepEqual(r.execute({ kind: W, key: 'e', rec: rec(15) }), {}, 'an expired value is no live value');
});

test('WRITE covered by a flush: not applied, `newer` carries the flush version', () => {
  const s = store();
  const r = new Replica(s);
  s.flush([{ prefix: 'f:', wall: 20, logical: 3, node: 'n' }]);
  const res = r.execute({ kind: W, key: 'f:1', rec: rec(19) });
  assert.deepEqual([res.newer, res.rec?.wall, res.rec?.logical, res.rec?.node], [true, 20, 3, 'n']);
  assert.equal(s.peek('f:1'), undefined);
  assert.deepEqual(r.execute({ kind: W, key: 'f:1', rec: rec(21) }), {}, 'a write after the flush is applied');
  assert.deepEqual(r.execute({ kind: W, key: 'g:1', rec: rec(1) }), {}, 'other prefixes are not concerned');
});

test('READ answers the entry, tombstones included; `same` instead of the value when versions match', () => {
  const s = store();
  const r = new Replica(s);
  assert.deepEqual(r.execute({ kind: R, key: 'k' }), {});
  s.apply('k', rec(10));
  assert.deepEqual(r.execute({ kind: R, key: 'k' }), { found: true, rec: s.peek('k') });
  assert.deepEqual(r.execute({ kind: R, key: 'k', have: rec(10, '') }), { found: true, same: true });
  assert.deepEqual(r.execute({ kind: R, key: 'k', have: rec(9, '') }).rec?.value, 'v10');
  s.apply('k', rec(11, '', { tombstone: true }));
  assert.equal(r.execute({ kind: R, key: 'k' }).rec?.tombstone, true);
});

test('readAnswer: what the coordinator gets', () => {
  const have = rec(1);
  assert.equal(readAnswer({ found: true, same: true }, have), have);
  assert.equal(readAnswer({ found: true, rec: rec(2) }, have)?.wall, 2);
  assert.equal(readAnswer({}, have), undefined);
});

test('a leaving replica refuses writes (coordinators keep them as hints) but still answers reads', () => {
  const r = new Replica(store());
  r.accepting = false;
  assert.deepEqual(r.execute({ kind: W, key: 'k', rec: rec(1) }), { error: 'node is leaving the cluster' });
  assert.deepEqual(r.execute({ kind: R, key: 'k' }), {});
});

test('a failing operation fails alone; the rest of the batch is applied', () => {
  const s = store(400);
  const results = new Replica(s).executeAll([
    { kind: W, key: 'a', rec: rec(1) },
    { kind: W, key: 'big', rec: rec(2, 'x'.repeat(1_000)) },
    { kind: W, key: 'c' },
    { kind: 99, key: 'd' },
    { kind: W, key: 'e', rec: rec(3) },
  ]);
  assert.deepEqual(results[0], {});
  assert.match(results[1].error ?? '', /exceeds the per-shard memory budget/);
  assert.deepEqual(results[2], { error: 'write without an entry' });
  assert.deepEqual(results[3], { error: 'unknown operation kind 99' });
  assert.deepEqual(results[4], {});
  assert.equal(s.peek('e')?.value, 'v3');
});
