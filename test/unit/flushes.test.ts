/** Flush marks (src/store/flushes.ts) and the store's behaviour under them, directly. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requestDenial, ruleOf } from '../../src/auth/access.ts';
import { type FlushMark, FlushMarks } from '../../src/store/flushes.ts';
import { Store } from '../../src/store/store.ts';
import { rec } from '../helpers/records.ts';

const mark = (prefix: string, wall: number, logical = 0, node = 'a'): FlushMark => ({ prefix, wall, logical, node });

test('covers: the prefix must start the key and the version must not be newer (wall, logical, then node)', () => {
  const m = new FlushMarks();
  assert.equal(m.covers('x', 1, 0, 'a'), false, 'no marks, nothing covered');
  assert.ok(m.merge(mark('user:', 100, 5, 'b')));
  assert.ok(m.covers('user:1', 99, 9, 'z'));
  assert.ok(m.covers('user:1', 100, 5, 'b'), 'the mark version itself is covered');
  assert.ok(m.covers('user:1', 100, 5, 'a'), 'same timestamp, smaller node id');
  assert.ok(!m.covers('user:1', 100, 5, 'c'), 'same timestamp, larger node id');
  assert.ok(!m.covers('user:1', 100, 6, 'a'));
  assert.ok(!m.covers('order:1', 1, 0, 'a'), 'other prefix');
  assert.ok(!m.covers('user', 1, 0, 'a'), 'a key shorter than the prefix');
});

test('merge is last-write-wins per prefix, idempotent, and drops marks another one makes redundant', () => {
  const m = new FlushMarks();
  assert.ok(m.merge(mark('a:', 10)));
  assert.equal(m.merge(mark('a:', 10)), false, 'the same mark again changes nothing');
  assert.equal(m.merge(mark('a:', 5)), false, 'an older mark of the same prefix changes nothing');
  assert.equal(m.merge(mark('a:b', 8)), false, 'a longer prefix at an older version is already covered');
  assert.ok(m.merge(mark('a:b', 20)), 'a longer prefix at a newer version adds coverage');
  assert.ok(m.merge(mark('b:', 3)));
  assert.equal(m.size, 3);
  assert.ok(m.merge(mark('', 15)), 'everything at 15');
  assert.deepEqual(
    m
      .list()
      .map((x) => `${x.prefix}@${x.wall}`)
      .sort(),
    ['@15', 'a:b@20'],
    "the whole-cluster mark replaces the prefix marks it covers, not a newer one's",
  );
  assert.ok(m.covers('a:bc', 19, 0, 'n') && !m.covers('a:x', 16, 0, 'n') && m.covers('zzz', 15, 0, 'a'));
  assert.equal(m.newest()?.wall, 20);
  assert.equal(m.merge({ prefix: 'x', wall: Number.NaN, logical: 0, node: 'a' }), false, 'malformed marks are ignored');
});

test('merge order does not matter: two nodes that merged the same marks cover the same entries', () => {
  const marks = [mark('a', 10), mark('ab', 12), mark('', 11), mark('b', 9), mark('abc', 30, 1, 'z'), mark('a', 13)];
  const x = new FlushMarks();
  const y = new FlushMarks();
  x.mergeAll(marks);
  y.mergeAll([...marks].reverse());
  const show = (m: FlushMarks) =>
    m
      .list()
      .map((k) => JSON.stringify(k))
      .sort();
  assert.deepEqual(show(x), show(y));
  for (const key of ['a', 'ab', 'abc', 'b', 'c', ''])
    for (let wall = 8; wall <= 31; wall++) assert.equal(x.covers(key, wall, 0, 'n'), y.covers(key, wall, 0, 'n'), `${key}@${wall}`);
});

test('wouldGrow: only a prefix no held mark already starts needs a new slot', () => {
  const m = new FlushMarks();
  assert.ok(m.wouldGrow('a'));
  m.merge(mark('a', 1));
  assert.ok(!m.wouldGrow('a') && !m.wouldGrow('ab') && m.wouldGrow('b') && m.wouldGrow(''));
});

function store(shards = 4) {
  const clock = { t: 1_000 };
  return { s: new Store({ shards, capacity: 0, maxMemoryBytes: 0, policy: 'lru', tombstoneGraceMs: 60_000, now: () => clock.t }), clock };
}

test('a flushed entry is gone at once for get, peek and iteration; newer writes stay; older writes are refused', () => {
  const { s } = store();
  for (let i = 0; i < 100; i++) s.apply(`f:${i}`, rec(10));
  s.apply('f:new', rec(30));
  s.apply('g:1', rec(10));
  s.apply('f:tomb', rec(10, undefined, { tombstone: true }));
  assert.ok(s.flush([mark('f:', 20)]));
  assert.equal(s.flush([mark('f:', 20)]), false, 'nothing new');
  assert.equal(s.get('f:1'), undefined);
  assert.equal(s.peek('f:2'), undefined);
  assert.equal(s.peek('f:tomb'), undefined, 'tombstones are flushed too');
  assert.equal(s.get('f:new')?.value, 'v30');
  assert.equal(s.get('g:1')?.value, 'v10');
  assert.deepEqual([...s.keys()].sort(), ['f:new', 'g:1']);
  assert.deepEqual([...s.versions()].map(([k]) => k).sort(), ['f:new', 'g:1'], 'Merkle trees are built without them');
  assert.equal(s.apply('f:3', rec(19)), false, 'a write from before the flush (a hint, anti-entropy) is refused');
  assert.equal(s.peek('f:3'), undefined);
  assert.ok(s.apply('f:4', rec(21)), 'a write after the flush is stored over the flushed entry');
  assert.equal(s.get('f:4')?.value, 'v21');
  assert.ok(s.isFlushed('f:9', rec(19)) && !s.isFlushed('f:9', rec(21)) && !s.isFlushed('g:9', rec(1)));
});

test('reclaimFlushed frees the flushed entries in slices and then stops; stats count them', () => {
  const { s } = store();
  for (let i = 0; i < 1000; i++) s.apply(`k${i}`, rec(i < 600 ? 10 : 50));
  assert.equal(s.stats().items, 1000);
  s.flush([mark('', 20)]);
  assert.ok(s.reclaiming);
  let removed = 0;
  let calls = 0;
  while (s.reclaiming) {
    removed += s.reclaimFlushed(100);
    calls++;
  }
  assert.ok(calls >= 10, `the pass runs in slices of the budget (${calls} calls)`);
  assert.equal(removed, 600);
  assert.equal(s.stats().items, 400);
  assert.equal(s.stats().flushed, 600);
  assert.equal(s.reclaimFlushed(100), 0, 'nothing left to do');
  // a get that touches a flushed entry before the pass reaches it frees it too
  s.apply('late', rec(60));
  s.flush([mark('late', 70)]);
  assert.equal(s.get('late'), undefined);
  assert.equal(s.stats().flushed, 601);
});

test('Flush needs admin, and a token limited to prefixes may flush only inside them', () => {
  const rule = ruleOf('/cache.v1.ClusterService/Flush');
  const scoped = { name: 'ops', role: 'admin' as const, prefixes: ['team:'] };
  assert.equal(requestDenial(scoped, rule, { prefix: 'team:cart' }), undefined);
  assert.equal(requestDenial(scoped, rule, { prefix: '' })?.reason, 'prefix', 'the empty prefix is every key');
  assert.equal(requestDenial(scoped, rule, { prefix: 'other:' })?.reason, 'prefix');
  assert.equal(requestDenial({ name: 'w', role: 'write' }, rule, { prefix: 'x' })?.reason, 'role');
  assert.equal(requestDenial({ name: 'root', role: 'admin' }, rule, { prefix: '' }), undefined);
  assert.equal(ruleOf('/cache.peer.v1.PeerService/Flush').need, 'peer');
});
