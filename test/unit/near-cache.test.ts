/**
 * Near caches, the pure parts: the node's tracking table (src/tracking/table.ts), the client's
 * near-cache state machine (src/client/near.ts: reserve / install / invalidate / sequence gap /
 * lost stream / maxTtlMs), the store's change hook (src/store/changes.ts) and the client's
 * checks of its nearCache option.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { requestDenial, ruleOf } from '../../src/auth/access.ts';
import type { Principal } from '../../src/auth/tokens.ts';
import { NearCache } from '../../src/client/near.ts';
import { Seen } from '../../src/client/watch.ts';
import { CacheClient, CacheClientError } from '../../src/index.ts';
import { CHANGE_DELETE, CHANGE_DROP, CHANGE_EVICT, CHANGE_EXPIRE, CHANGE_FLUSH, CHANGE_SET, changesTo } from '../../src/store/changes.ts';
import { Store } from '../../src/store/store.ts';
import { type TrackedClient, TrackingTable } from '../../src/tracking/table.ts';
import { rec } from '../helpers/records.ts';

function table(max = 3) {
  const pending: string[] = [];
  const t = new TrackingTable(max, (c) => pending.push(c.id));
  return { t, pending };
}

describe('TrackingTable', () => {
  test('writing forgets a key without an invalidation; changes of it then reach no one', () => {
    const { t, pending } = table();
    const c = t.open('c');
    t.track(c, 'k');
    t.writing(c, 'k');
    t.writing(c, 'never tracked');
    t.changed('k');
    assert.deepEqual(pending, []);
    assert.deepEqual(t.take(c), { keys: [], all: false });
    assert.equal(t.stats().trackedKeys, 0);
    t.track(c, 'k');
    t.changed('k');
    assert.deepEqual(t.take(c), { keys: ['k'], all: false }, 'tracked again, told again');
  });

  test("a client's writes of a key in flight together: the last one done answers the newest acknowledged, or null if one failed", () => {
    const { t } = table();
    const c = t.open('c');
    const v = (wall: number, logical = 0) => ({ wall, logical, ttlGiven: false });
    t.writing(c, 'k');
    assert.deepEqual(t.written(c, 'k', v(5)), v(5), 'alone: its own outcome');
    t.writing(c, 'k');
    t.writing(c, 'k');
    t.writing(c, 'k');
    assert.equal(t.written(c, 'k', v(7, 2)), undefined, 'two more in flight');
    assert.equal(t.written(c, 'k', v(9)), undefined, 'one more in flight');
    assert.deepEqual(t.written(c, 'k', v(7, 3)), v(9), 'the newest, whichever finished last');
    t.writing(c, 'k');
    t.writing(c, 'k');
    assert.equal(t.written(c, 'k', undefined), undefined);
    assert.equal(t.written(c, 'k', v(11)), null, 'one of them failed');
    t.writing(c, 'k');
    assert.equal(t.written(c, 'k', undefined), null);
    assert.equal(c.writes.size, 0, 'nothing left once done');
    t.writing(c, 'j');
    t.close(c);
    assert.equal(c.writes.size, 0);
    assert.deepEqual(t.written(c, 'j', v(1)), v(1), 'a write done after its client closed is not counted');
  });

  test('inactive until a client opens; a change of a tracked key queues it once and forgets it', () => {
    const { t, pending } = table();
    assert.equal(t.active, false);
    const a = t.open('a');
    assert.equal(t.active, true);
    t.track(a, 'k');
    t.track(a, 'k');
    assert.equal(t.stats().trackedKeys, 1);
    t.changed('other');
    assert.deepEqual(pending, []);
    t.changed('k');
    t.changed('k');
    assert.deepEqual(pending, ['a']);
    assert.deepEqual(t.take(a), { keys: ['k'], all: false });
    assert.equal(t.stats().trackedKeys, 0);
    assert.deepEqual(t.take(a), { keys: [], all: false });
  });

  test('every client tracking a key is told; onPending fires when an outbox stops being empty', () => {
    const { t, pending } = table();
    const a = t.open('a');
    const b = t.open('b');
    t.track(a, 'k');
    t.track(b, 'k');
    t.track(b, 'j');
    t.changed('k');
    t.changed('j');
    assert.deepEqual(pending, ['a', 'b']);
    assert.deepEqual(t.take(a).keys, ['k']);
    assert.deepEqual(t.take(b).keys, ['k', 'j']);
  });

  test('the per-client bound forgets the least recently tracked key and invalidates it', () => {
    const { t } = table(3);
    const a = t.open('a');
    for (const k of ['k1', 'k2', 'k3']) t.track(a, k);
    t.track(a, 'k1'); // k1 becomes the most recent
    t.track(a, 'k4');
    assert.deepEqual(t.take(a).keys, ['k2']);
    assert.deepEqual([...a.keys], ['k3', 'k1', 'k4']);
    assert.equal(t.stats().boundEvictions, 1);
    t.changed('k2');
    assert.deepEqual(t.take(a).keys, [], 'k2 is no longer tracked');
  });

  test('prefix changes, drop-all and refuse', () => {
    const { t } = table(10);
    const a = t.open('a');
    for (const k of ['user:1', 'user:2', 'item:1']) t.track(a, k);
    t.changedPrefix('user:');
    assert.deepEqual(t.take(a).keys, ['user:1', 'user:2']);
    t.refuse(a, 'elsewhere');
    assert.deepEqual(t.take(a).keys, ['elsewhere']);
    t.track(a, 'x');
    t.invalidateAll();
    t.changed('item:1');
    assert.deepEqual(t.take(a), { keys: [], all: true });
    assert.equal(t.stats().trackedKeys, 0);
    t.track(a, 'y');
    t.changedPrefix('');
    assert.deepEqual(t.take(a).keys, ['y']);
  });

  test('close forgets the client and its keys; the table is inactive again', () => {
    const { t, pending } = table();
    const a = t.open('a');
    const b = t.open('b');
    t.track(a, 'k');
    t.track(b, 'k');
    t.close(a);
    t.close(a);
    t.changed('k');
    assert.deepEqual(pending, ['b']);
    t.close(b);
    assert.equal(t.active, false);
    assert.equal(t.stats().trackedKeys, 0);
    assert.equal(t.client('a'), undefined);
    t.track(a as TrackedClient, 'late');
    assert.equal(t.stats().trackedKeys, 0);
    assert.throws(() => new TrackingTable(0, () => undefined), RangeError);
  });
});

describe('NearCache (client)', () => {
  const opts = { maxEntries: 3, maxTtlMs: 1_000 };

  test('a reserved read installs and is served until maxTtlMs or the value TTL, never after', () => {
    const n = new NearCache<string>(opts);
    assert.equal(n.reserve('k', 'A'), 0, 'no usable stream yet: not cached');
    n.open('A', 'sid');
    assert.equal(n.streamId('A'), 'sid');
    const t = n.reserve('k', 'A');
    assert.ok(t > 0);
    assert.equal(n.lookup('k', 0), undefined, 'a reservation is not a value');
    assert.equal(n.install('k', t, 'v', 1n, 0, 100), true);
    assert.equal(n.install('k', t, 'again', 1n, 0, 100), false);
    assert.equal(n.lookup('k', 1_099), 'v');
    assert.equal(n.lookup('k', 1_100), undefined, 'maxTtlMs passed');
    const t2 = n.reserve('j', 'A');
    n.install('j', t2, 'w', 1n, 50, 0);
    assert.equal(n.lookup('j', 49), 'w');
    assert.equal(n.lookup('j', 50), undefined, 'its own TTL passed');
    const s = n.stats();
    assert.equal(s.hits, 2);
    assert.equal(s.misses, 3);
  });

  test('an invalidation between reserve and install voids the read (it never installs the stale value)', () => {
    const n = new NearCache<string>(opts);
    n.open('A', 'sid');
    const t = n.reserve('k', 'A');
    n.message('A', 2, ['k'], false);
    assert.equal(n.install('k', t, 'stale', 1n, 0, 0), false);
    assert.equal(n.lookup('k', 0), undefined);
    // a reservation through another node voids one through the first
    n.open('B', 'sid-b');
    const t1 = n.reserve('k', 'A');
    const t2 = n.reserve('k', 'B');
    assert.equal(n.install('k', t1, 'via A', 1n, 0, 0), false);
    assert.equal(n.install('k', t2, 'via B', 1n, 0, 0), true);
    n.invalidate('k');
    assert.equal(n.lookup('k', 0), undefined);
    assert.equal(n.stats().invalidations, 2);
  });

  test('calls of a key in flight together share the reservation; the newest version stays; a value held is served meanwhile', () => {
    const n = new NearCache<string>({ maxEntries: 10, maxTtlMs: 1_000 });
    n.open('A', 'sid');
    const t = n.reserve('k', 'A');
    assert.equal(n.reserve('k', 'A'), t, 'shared');
    assert.equal(n.install('k', t, 'v5', 5n, 0, 0), true);
    assert.equal(n.install('k', t, 'v3', 3n, 0, 0), false, 'an older answer does not replace a newer one');
    assert.equal(n.lookup('k', 0), 'v5');
    // this client writes k: the value held is served until the write is answered
    const w = n.reserve('k', 'A');
    assert.equal(w, t);
    assert.equal(n.lookup('k', 0), 'v5');
    n.written('k', w, 'v8', 8n, 0, 0);
    assert.equal(n.lookup('k', 0), 'v8');
    // two writes in flight, answered out of order: the newer stays
    const w2 = n.reserve('k', 'A');
    n.reserve('k', 'A');
    n.written('k', w2, 'v10', 10n, 0, 0);
    n.written('k', w2, 'v9', 9n, 0, 0);
    assert.equal(n.lookup('k', 0), 'v10');
    // a read that found nothing does not free a reservation holding a value
    n.abandon('k', w2);
    assert.equal(n.lookup('k', 0), 'v10');
    const r = n.reserve('r', 'A');
    n.abandon('r', r);
    assert.equal(n.stats().entries, 1, 'an empty reservation is freed');
  });

  test("this client's write answered after an invalidation voided its reservation drops the key, whatever is held", () => {
    const n = new NearCache<string>({ maxEntries: 10, maxTtlMs: 1_000 });
    n.open('A', 'sid');
    const w1 = n.reserve('k', 'A');
    n.message('A', 2, ['k'], false);
    const w2 = n.reserve('k', 'A');
    assert.notEqual(w2, w1, 'a new reservation after the invalidation');
    n.written('k', w2, 'second', 2n, 0, 0);
    assert.equal(n.lookup('k', 0), 'second');
    // the first write may be the newest on the node (which tracks the key again only if it
    // holds the newest of this client's writes): the second must not stay
    n.written('k', w1, 'first', 1n, 0, 0);
    assert.equal(n.lookup('k', 0), undefined);
    assert.equal(n.install('k', w2, 'late', 3n, 0, 0), false, 'the reservation is gone with it');
  });

  test('a sequence gap clears every entry read through that node, and only those', () => {
    const n = new NearCache<string>({ maxEntries: 10, maxTtlMs: 1_000 });
    n.open('A', 'a');
    n.open('B', 'b');
    n.install('a1', n.reserve('a1', 'A'), 'x', 1n, 0, 0);
    n.install('a2', n.reserve('a2', 'A'), 'x', 1n, 0, 0);
    const pending = n.reserve('a3', 'A');
    n.install('b1', n.reserve('b1', 'B'), 'x', 1n, 0, 0);
    n.message('A', 2, [], false);
    assert.equal(n.lookup('a1', 0), 'x', 'seq 2 follows 1: nothing lost');
    n.message('A', 4, [], false); // 3 is missing
    assert.equal(n.lookup('a1', 0), undefined);
    assert.equal(n.lookup('a2', 0), undefined);
    assert.equal(n.install('a3', pending, 'x', 1n, 0, 0), false, 'a read in flight through A is void too');
    assert.equal(n.lookup('b1', 0), 'x');
    assert.equal(n.stats().clears, 1);
    n.install('a1', n.reserve('a1', 'A'), 'y', 1n, 0, 0);
    n.message('A', 5, [], false);
    assert.equal(n.lookup('a1', 0), 'y', 'numbering continues after the gap');
  });

  test('an "all" message, a lost stream and a ring change clear', () => {
    const n = new NearCache<string>({ maxEntries: 10, maxTtlMs: 1_000 });
    n.open('A', 'a');
    n.open('B', 'b');
    n.install('a1', n.reserve('a1', 'A'), 'x', 1n, 0, 0);
    n.install('b1', n.reserve('b1', 'B'), 'x', 1n, 0, 0);
    n.message('A', 2, [], true);
    assert.equal(n.lookup('a1', 0), undefined);
    assert.equal(n.lookup('b1', 0), 'x');
    const t = n.reserve('b2', 'B');
    n.lost('B');
    assert.equal(n.lookup('b1', 0), undefined);
    assert.equal(n.install('b2', t, 'x', 1n, 0, 0), false);
    assert.equal(n.reserve('b3', 'B'), 0, 'no stream: no caching until it is open again');
    assert.equal(n.streamId('B'), undefined);
    n.message('B', 2, ['b1'], false); // a message of a lost stream changes nothing
    n.install('a1', n.reserve('a1', 'A'), 'x', 1n, 0, 0);
    n.clear();
    assert.equal(n.lookup('a1', 0), undefined);
    assert.equal(n.stats().clears, 3);
  });

  test('at most maxEntries keys, the oldest reserved goes first', () => {
    const n = new NearCache<string>(opts);
    n.open('A', 'a');
    for (const k of ['k1', 'k2', 'k3', 'k4']) n.install(k, n.reserve(k, 'A'), k, 1n, 0, 0);
    assert.equal(n.stats().entries, 3);
    assert.equal(n.lookup('k1', 0), undefined);
    assert.equal(n.lookup('k4', 0), 'k4');
    n.abandon('k4', 12345);
    assert.equal(n.lookup('k4', 0), 'k4', 'abandon with another token does nothing');
  });
});

describe('Store observers, as near caches and Watch see them', () => {
  test('set, delete, expire, evict, drop and flush are reported; nothing without a hook', () => {
    let now = 1_000;
    const s = new Store({ shards: 1, capacity: 2, maxMemoryBytes: 0, policy: 'lru', tombstoneGraceMs: 60_000, now: () => now });
    s.apply('quiet', rec(1));
    const seen: [number, string][] = [];
    const stop = s.observe(changesTo((kind, key) => seen.push([kind, key])));
    s.apply('a', rec(2, 'v', { expiresAt: 1_500 }));
    s.apply('a', rec(1, 'old')); // older: not applied, not reported
    s.apply('b', rec(3)); // evicts 'quiet' (capacity 2)
    s.apply('b', rec(4, '', { tombstone: true }));
    now = 2_000;
    s.sweep(10); // 'a' expired
    s.drop('b');
    s.flush([{ prefix: 'p:', wall: 5, logical: 0, node: 'n' }]);
    assert.deepEqual(seen, [
      [CHANGE_SET, 'a'],
      [CHANGE_EVICT, 'quiet'],
      [CHANGE_SET, 'b'],
      [CHANGE_DELETE, 'b'],
      [CHANGE_EXPIRE, 'a'],
      [CHANGE_DROP, 'b'],
      [CHANGE_FLUSH, 'p:'],
    ]);
    stop();
    s.apply('c', rec(9));
    assert.equal(seen.length, 7);
  });
});

describe('CacheClient nearCache option', () => {
  test('invalid maxEntries / maxTtlMs are refused by the constructor, naming the field', () => {
    const bad: unknown[] = [
      null,
      5,
      {},
      { maxEntries: 0, maxTtlMs: 1000 },
      { maxEntries: 1.5, maxTtlMs: 1000 },
      { maxEntries: 10, maxTtlMs: 0 },
      { maxEntries: 10, maxTtlMs: Number.NaN },
      { maxEntries: 10, maxTtlMs: '1s' },
    ];
    for (const nearCache of bad) {
      assert.throws(
        () => new CacheClient({ seeds: '127.0.0.1:1', nearCache } as never),
        (e: unknown) => e instanceof CacheClientError && e.code === 'INVALID_ARGUMENT' && /nearCache/.test(e.message),
        JSON.stringify(nearCache),
      );
    }
    const c = new CacheClient({ seeds: '127.0.0.1:1', nearCache: { maxEntries: 10, maxTtlMs: 1_000 } });
    assert.deepEqual(c.nearCacheStats(), { hits: 0, misses: 0, invalidations: 0, clears: 0, entries: 0 });
    c.close();
    const off = new CacheClient({ seeds: '127.0.0.1:1' });
    assert.equal(off.nearCacheStats(), undefined);
    off.close();
  });
});

describe('Watch', () => {
  test('Seen lets each (key, kind, version) through once, remembering the most recent max', () => {
    const seen = new Seen(2);
    assert.equal(seen.first('k', 1, '5'), true);
    assert.equal(seen.first('k', 1, '5'), false, 'the same event from another replica');
    assert.equal(seen.first('k', 2, '5'), true, 'another kind');
    assert.equal(seen.first('k', 1, '6'), true, 'another version');
    assert.equal(seen.first('k', 1, '5'), true, 'forgotten: only the last 2 are kept');
  });

  test('access: Invalidations and Watch need the read role; a watched prefix must lie within the token prefixes', () => {
    const reader: Principal = { name: 'r', role: 'read', prefixes: ['user:'] };
    const anyKey: Principal = { name: 'a', role: 'read' };
    const watch = ruleOf('/cache.v1.CacheService/Watch');
    assert.equal(watch.need, 'read');
    assert.equal(ruleOf('/cache.v1.CacheService/Invalidations').need, 'read');
    assert.equal(requestDenial(reader, watch, { prefix: 'user:1' }), undefined);
    assert.equal(requestDenial(reader, watch, { prefix: 'admin:' })?.reason, 'prefix');
    assert.equal(requestDenial(reader, watch, { prefix: '' })?.reason, 'prefix', 'every key is outside a limited token');
    assert.equal(requestDenial(anyKey, watch, { prefix: '' }), undefined);
  });
});
