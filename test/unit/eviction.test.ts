import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FifoPolicy } from '../../src/store/fifo.ts';
import { ExpiryHeap } from '../../src/store/heap.ts';
import { LfuPolicy } from '../../src/store/lfu.ts';
import { LruPolicy } from '../../src/store/lru.ts';
import type { EvictionPolicy } from '../../src/store/policy.ts';
import { RandomPolicy } from '../../src/store/random.ts';
import { TtlPolicy } from '../../src/store/ttl.ts';
import { seeded } from '../helpers/random.ts';

/** The lowest slot below `slots` not in `used`; `slots` itself when all are (the caller grows), or -1 past 64 slots. */
function freeSlot(used: { has(slot: number): boolean }, slots: number): number {
  for (let c = 0; c < slots; c++) if (!used.has(c)) return c;
  return slots >= 64 ? -1 : slots;
}

/** Evicts everything, returning the victims in order. */
function drain(p: EvictionPolicy): number[] {
  const out: number[] = [];
  for (let v = p.victim(-1); v !== -1; v = p.victim(-1)) {
    if (out.length > 1000) throw new Error(`drain does not end: ${out.slice(0, 20).join(',')}`);
    out.push(v);
    p.onRemove(v);
  }
  return out;
}

test('LRU evicts the least recently used; access and re-access move a slot to the front', () => {
  const p = new LruPolicy(8);
  for (const s of [0, 1, 2, 3]) p.onInsert(s);
  p.onAccess(0);
  p.onAccess(2);
  p.onAccess(0);
  assert.deepEqual(drain(p), [1, 3, 2, 0]);
});

test('an empty policy has no victim', () => {
  for (const p of [new LruPolicy(4), new LfuPolicy(4), new FifoPolicy(4), new TtlPolicy(4, new ExpiryHeap(4)), new RandomPolicy(4)]) {
    assert.equal(p.victim(-1), -1);
    assert.equal(p.victim(0), -1);
    p.onInsert(2);
    p.onRemove(2);
    assert.equal(p.victim(-1), -1);
  }
});

test('LRU victim(exclude) skips the excluded slot', () => {
  const p = new LruPolicy(4);
  p.onInsert(0);
  p.onInsert(1);
  assert.equal(p.victim(-1), 0);
  assert.equal(p.victim(0), 1);
  p.onRemove(1);
  assert.equal(p.victim(0), -1);
});

test('FIFO evicts in insertion order; access does not change it; remove from the middle', () => {
  const p = new FifoPolicy(8);
  for (const s of [4, 2, 7, 1]) p.onInsert(s);
  p.onAccess(4);
  p.onAccess(4);
  p.onAccess(2);
  p.onRemove(7);
  p.onInsert(7);
  assert.deepEqual(drain(p), [4, 2, 1, 7]);
});

test('LFU evicts the least frequently used, ties by least recently used', () => {
  const p = new LfuPolicy(8);
  for (const s of [0, 1, 2, 3, 4]) p.onInsert(s);
  p.onAccess(0);
  p.onAccess(0); // 0: freq 3
  p.onAccess(3); // 3: freq 2
  p.onAccess(1); // 1: freq 2, used after 3
  // freq 1: 2 (inserted before 4), 4; freq 2: 3, 1; freq 3: 0
  assert.equal(p.frequency(0), 3);
  assert.deepEqual(drain(p), [2, 4, 3, 1, 0]);
});

test('LFU: a new key goes after older keys of frequency 1, before more used ones', () => {
  const p = new LfuPolicy(8);
  p.onInsert(0);
  p.onAccess(0);
  p.onInsert(1);
  p.onInsert(2);
  assert.equal(p.victim(-1), 1);
  assert.equal(p.victim(1), 2);
  p.onAccess(1); // 1 joins 0 at frequency 2, after it
  assert.deepEqual(drain(p), [2, 0, 1]);
});

/** Naive O(n) reference: victim by scanning. */
class Model {
  private tick = 0;
  readonly inserted = new Map<number, number>();
  readonly used = new Map<number, number>();
  readonly freq = new Map<number, number>();
  constructor(private readonly kind: 'lru' | 'lfu' | 'fifo') {}
  insert(s: number) {
    this.tick++;
    this.inserted.set(s, this.tick);
    this.used.set(s, this.tick);
    this.freq.set(s, 1);
  }
  access(s: number) {
    this.tick++;
    this.used.set(s, this.tick);
    this.freq.set(s, this.freq.get(s)! + 1);
  }
  remove(s: number) {
    this.inserted.delete(s);
    this.used.delete(s);
    this.freq.delete(s);
  }
  victim(exclude: number): number {
    let best = -1;
    let bestKey: [number, number] = [Infinity, Infinity];
    for (const s of this.inserted.keys()) {
      if (s === exclude) continue;
      const k: [number, number] =
        this.kind === 'fifo'
          ? [this.inserted.get(s)!, 0]
          : this.kind === 'lru'
            ? [this.used.get(s)!, 0]
            : [this.freq.get(s)!, this.used.get(s)!];
      if (k[0] < bestKey[0] || (k[0] === bestKey[0] && k[1] < bestKey[1])) {
        best = s;
        bestKey = k;
      }
    }
    return best;
  }
}

for (const kind of ['lru', 'lfu', 'fifo'] as const) {
  test(`${kind}: random operations match a naive reference model (incl. resize and exclude)`, () => {
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    let slots = 4;
    const p: EvictionPolicy = kind === 'lru' ? new LruPolicy(slots) : kind === 'lfu' ? new LfuPolicy(slots) : new FifoPolicy(slots);
    const m = new Model(kind);
    const present: number[] = [];
    for (let i = 0; i < 20_000; i++) {
      const op = rnd(10);
      if (op < 3 || present.length === 0) {
        // insert a free slot, growing when full
        let s = -1;
        for (let c = 0; c < slots; c++)
          if (!m.inserted.has(c)) {
            s = c;
            break;
          }
        if (s === -1) {
          if (slots >= 64) continue;
          s = slots;
          slots *= 2;
          p.resize(slots);
        }
        p.onInsert(s);
        m.insert(s);
        present.push(s);
      } else if (op < 8) {
        const s = present[rnd(present.length)];
        p.onAccess(s);
        m.access(s);
      } else if (op < 9) {
        const idx = rnd(present.length);
        const s = present[idx];
        present.splice(idx, 1);
        p.onRemove(s);
        m.remove(s);
      } else {
        const v = m.victim(-1);
        assert.equal(p.victim(-1), v, `victim at step ${i}`);
        const ex = present[rnd(present.length)];
        assert.equal(p.victim(ex), m.victim(ex), `victim(exclude) at step ${i}`);
        p.onRemove(v);
        m.remove(v);
        present.splice(present.indexOf(v), 1);
      }
    }
  });
}

/** A TTL policy with its heap, kept in sync the way the shard does (expiry set before onInsert, cleared before onRemove). */
function ttlPair(slots: number) {
  const heap = new ExpiryHeap(slots);
  const p = new TtlPolicy(slots, heap);
  return {
    heap,
    p,
    insert(s: number, exp: number) {
      heap.set(s, exp);
      p.onInsert(s);
    },
    drain(): number[] {
      const out: number[] = [];
      for (let v = p.victim(-1); v !== -1; v = p.victim(-1)) {
        if (out.length > 1000) throw new Error('drain does not end');
        out.push(v);
        heap.clear(v);
        p.onRemove(v);
      }
      return out;
    },
  };
}

test('TTL evicts the soonest expiry first, then entries without TTL in first-insertion order', () => {
  const t = ttlPair(16);
  t.insert(0, 0);
  t.insert(1, 500);
  t.insert(2, 0);
  t.insert(3, 100);
  t.insert(4, 300);
  t.insert(5, 0);
  t.p.onAccess(0); // use does not matter
  // an overwrite changes the expiry (the shard sets it, then calls onAccess)
  t.heap.set(4, 50);
  t.p.onAccess(4);
  // and one that drops the TTL keeps the key's first-insertion place among TTL-less entries
  t.heap.set(1, 0);
  t.p.onAccess(1);
  assert.deepEqual(t.drain(), [4, 3, 0, 1, 2, 5]);
});

test('TTL victim(exclude): the next expiry, or the oldest TTL-less entry', () => {
  const t = ttlPair(8);
  t.insert(0, 0);
  t.insert(1, 30);
  t.insert(2, 10);
  t.insert(3, 20);
  assert.equal(t.p.victim(-1), 2);
  assert.equal(t.p.victim(2), 3);
  assert.equal(t.p.victim(0), 2);
  t.heap.clear(2);
  t.p.onRemove(2);
  t.heap.clear(3);
  t.p.onRemove(3);
  assert.equal(t.p.victim(1), 0);
  assert.equal(t.p.victim(0), 1);
  t.heap.clear(1);
  t.p.onRemove(1);
  assert.equal(t.p.victim(0), -1);
});

test('ttl: random operations match a naive reference (soonest expiry, then oldest insertion), incl. resize and exclude', () => {
  const rnd = seeded(99);
  const r = (n: number) => Math.floor(rnd() * n);
  let slots = 4;
  const heap = new ExpiryHeap(slots);
  const p = new TtlPolicy(slots, heap);
  const inserted = new Map<number, number>(); // slot -> insertion tick
  let tick = 0;
  // naive victim; ties between equal expiries may go either way, so compare expiries, and slots for TTL-less
  const expect = (exclude: number): { exp: number; slot: number } => {
    let best = -1;
    for (const s of inserted.keys()) {
      if (s === exclude) continue;
      if (best === -1) {
        best = s;
        continue;
      }
      const e = heap.exp[s];
      const be = heap.exp[best];
      if (e !== 0 && (be === 0 || e < be)) best = s;
      else if (e === 0 && be === 0 && inserted.get(s)! < inserted.get(best)!) best = s;
    }
    return { exp: best === -1 ? -1 : heap.exp[best], slot: best };
  };
  const check = (got: number, exclude: number, at: string) => {
    const want = expect(exclude);
    if (want.slot === -1 || want.exp === 0) assert.equal(got, want.slot, at);
    else {
      assert.notEqual(got, exclude, at);
      assert.ok(inserted.has(got), at);
      assert.equal(heap.exp[got], want.exp, at);
    }
  };
  for (let i = 0; i < 20_000; i++) {
    const present = [...inserted.keys()];
    const op = r(10);
    const exp = r(3) === 0 ? 0 : 1 + r(200);
    if (op < 3 || present.length === 0) {
      const s = freeSlot(inserted, slots);
      if (s === -1) continue;
      if (s === slots) {
        slots *= 2;
        heap.resize(slots);
        p.resize(slots);
      }
      heap.set(s, exp);
      p.onInsert(s);
      inserted.set(s, ++tick);
    } else if (op < 6) {
      const s = present[r(present.length)];
      if (r(2) === 0) heap.set(s, exp); // an overwrite
      p.onAccess(s);
    } else if (op < 8) {
      const s = present[r(present.length)];
      heap.clear(s);
      p.onRemove(s);
      inserted.delete(s);
    } else {
      const ex = present[r(present.length)];
      check(p.victim(ex), ex, `victim(exclude) at step ${i}`);
      const v = p.victim(-1);
      check(v, -1, `victim at step ${i}`);
      heap.clear(v);
      p.onRemove(v);
      inserted.delete(v);
    }
  }
});

test('random: uniform-ish over the tracked slots with a seeded source; never a removed or excluded slot', () => {
  const p = new RandomPolicy(64, seeded(7));
  for (let s = 0; s < 40; s++) p.onInsert(s);
  for (let s = 0; s < 40; s += 4) p.onRemove(s); // 30 slots left
  const counts = new Map<number, number>();
  const draws = 60_000;
  for (let i = 0; i < draws; i++) {
    const v = p.victim(5);
    assert.ok(v >= 0 && v < 40 && v % 4 !== 0 && v !== 5, `drew ${v}`);
    counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  // every other slot is drawn, each about draws / 29 times
  assert.equal(counts.size, 29);
  const mean = draws / 29;
  let chi2 = 0;
  for (const c of counts.values()) chi2 += (c - mean) ** 2 / mean;
  // 28 degrees of freedom: p = 0.001 at about 56.9
  assert.ok(chi2 < 56.9, `chi-squared ${chi2.toFixed(1)}`);
  assert.equal(p.size, 30);
});

test('random: every slot is reachable, removal and reuse keep the dense array exact, through resize', () => {
  const rnd = seeded(3);
  let slots = 4;
  const p = new RandomPolicy(slots, rnd);
  const present = new Set<number>();
  const r = (n: number) => Math.floor(rnd() * n);
  for (let i = 0; i < 20_000; i++) {
    const op = r(10);
    if (op < 4 || present.size === 0) {
      const s = freeSlot(present, slots);
      if (s === -1) continue;
      if (s === slots) {
        slots *= 2;
        p.resize(slots);
      }
      p.onInsert(s);
      present.add(s);
    } else if (op < 6) {
      const list = [...present];
      const s = list[r(list.length)];
      p.onRemove(s);
      present.delete(s);
    } else {
      const list = [...present];
      const ex = list[r(list.length)];
      const v = p.victim(ex);
      if (present.size === 1) assert.equal(v, -1);
      else assert.ok(present.has(v) && v !== ex, `victim ${v} at step ${i}`);
      const w = p.victim(-1);
      assert.ok(present.has(w), `victim ${w} at step ${i}`);
    }
    assert.equal(p.size, present.size);
  }
  // draining reaches every slot, each exactly once
  const all = [...present].sort((a, b) => a - b);
  assert.deepEqual(
    drain(p).sort((a, b) => a - b),
    all,
  );
  // a source returning values up to just below 1 stays in range
  const q = new RandomPolicy(4, () => 0.9999999999999999);
  q.onInsert(0);
  q.onInsert(1);
  q.onInsert(2);
  assert.equal(q.victim(-1), 2);
  assert.equal(q.victim(2), 1);
  assert.equal(q.victim(0), 2);
  const z = new RandomPolicy(4, () => 0);
  z.onInsert(3);
  z.onInsert(1);
  assert.equal(z.victim(-1), 3);
  assert.equal(z.victim(3), 1);
});
