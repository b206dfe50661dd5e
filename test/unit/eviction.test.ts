import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FifoPolicy } from '../../src/store/fifo.ts';
import { LfuPolicy } from '../../src/store/lfu.ts';
import { LruPolicy } from '../../src/store/lru.ts';
import type { EvictionPolicy } from '../../src/store/policy.ts';

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
  for (const p of [new LruPolicy(4), new LfuPolicy(4), new FifoPolicy(4)]) {
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
