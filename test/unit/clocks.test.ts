/** The clock check (src/membership/clocks.ts): samples, estimates, the fenced verdict and its changes, against its contract. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ClockChange, ClockOffsets, type ClockSample, formatOffset, measure, ROUNDING_MS } from '../../src/membership/clocks.ts';

const T0 = 1_700_000_000_000;
const OPTS = { maxOffsetMs: 500, samplesPerPeer: 4, maxSampleAgeMs: 10_000, sampleSize: 100 };

/**
 * A heartbeat round trip sent at our time t0 to a peer whose clock is `offset` ahead of ours:
 * `out` and `back` ms on the wire each way, `work` ms in the peer.
 */
function rt(t0: number, offset: number, out = 1, back = out, work = 0): ClockSample {
  const t1 = t0 + out + offset;
  const t2 = t1 + work;
  return { t0, t1, t2, t3: t0 + out + work + back };
}

function clocks(opts: Partial<typeof OPTS> = {}): ClockOffsets {
  return new ClockOffsets({ ...OPTS, ...opts });
}

/** Records one sample per peer (peer -> its offset from us) at `now`. */
function feed(c: ClockOffsets, offsets: Record<string, number>, now: number): void {
  for (const [peer, offset] of Object.entries(offsets)) assert.ok(c.record(peer, rt(now - 2, offset)));
}

const kinds = (cs: ClockChange[]) => cs.map((c) => ('peer' in c ? `${c.kind} ${c.peer}` : c.kind));

// ---- one sample ----

test("measure: the NTP offset and round trip; the peer's own work is not part of the round trip", () => {
  assert.deepEqual(measure(rt(T0, 90_000, 3)), { offsetMs: 90_000, roundTripMs: 6 });
  assert.deepEqual(measure(rt(T0, -90_000, 3)), { offsetMs: -90_000, roundTripMs: 6 });
  assert.deepEqual(measure(rt(T0, 0, 0)), { offsetMs: 0, roundTripMs: 0 });
  assert.deepEqual(measure(rt(T0, 200, 2, 2, 50)), { offsetMs: 200, roundTripMs: 4 }, 'work in the peer does not count');
  // the textbook example: t0=0 t1=110 t2=112 t3=8 (peer 105 ahead, 3 each way, 2 of work)
  assert.deepEqual(measure({ t0: 0, t1: 108, t2: 110, t3: 8 }), { offsetMs: 105, roundTripMs: 6 });
});

test('measure: with unequal legs the error is at most half the round trip', () => {
  for (const [out, back] of [
    [1, 9],
    [9, 1],
    [0, 20],
    [20, 0],
  ]) {
    const m = measure(rt(T0, 1_000, out, back))!;
    assert.equal(m.roundTripMs, out + back);
    assert.equal(m.offsetMs, 1_000 + (out - back) / 2);
    assert.ok(Math.abs(m.offsetMs - 1_000) <= m.roundTripMs / 2);
  }
});

test('measure: inconsistent samples are refused; a round trip of a ms or two below zero is rounding', () => {
  const good = rt(T0, 0, 1);
  for (const bad of [
    { ...good, t0: Number.NaN },
    { ...good, t1: Number.POSITIVE_INFINITY },
    { ...good, t2: Number.NaN },
    { ...good, t3: Number.NEGATIVE_INFINITY },
    { ...good, t3: good.t0 - 1 }, // the reply came before the Ping left
    { ...good, t2: good.t1 - 1 }, // the peer replied before it received it
    { t0: T0, t1: T0, t2: T0 + 10, t3: T0 + 10 - ROUNDING_MS - 3 }, // the peer spent longer than the whole round trip
  ]) {
    assert.equal(measure(bad), undefined, JSON.stringify(bad));
  }
  // whole-ms timestamps: the peer crossed a ms boundary while we did not, twice
  assert.deepEqual(measure({ t0: T0, t1: T0 + 5, t2: T0 + 7, t3: T0 }), { offsetMs: 6, roundTripMs: 0 });
  assert.deepEqual(measure({ t0: T0, t1: T0 + 5, t2: T0 + 6, t3: T0 }), { offsetMs: 5.5, roundTripMs: 0 });
});

test('formatOffset: sign always, whole ms below a second, tenths of a second above', () => {
  assert.equal(formatOffset(90_000), '+90.0s');
  assert.equal(formatOffset(-90_012), '-90.0s');
  assert.equal(formatOffset(1_250), '+1.3s');
  assert.equal(formatOffset(-612.4), '-612ms');
  assert.equal(formatOffset(999.6), '+1.0s');
  assert.equal(formatOffset(0), '+0ms');
  assert.equal(formatOffset(-0.4), '+0ms');
});

test('options are checked', () => {
  assert.throws(() => clocks({ maxOffsetMs: -1 }), RangeError);
  assert.throws(() => clocks({ maxOffsetMs: Number.NaN }), RangeError);
  assert.throws(() => clocks({ maxOffsetMs: Number.POSITIVE_INFINITY }), RangeError);
  assert.throws(() => clocks({ samplesPerPeer: 0 }), RangeError);
  assert.throws(() => clocks({ samplesPerPeer: 1.5 }), RangeError);
  assert.throws(() => clocks({ maxSampleAgeMs: 0 }), RangeError);
  assert.throws(() => clocks({ sampleSize: 0 }), RangeError);
  assert.throws(() => clocks({ sampleSize: 2.5 }), RangeError);
  assert.ok(clocks({ maxOffsetMs: 0, samplesPerPeer: 1 }));
});

// ---- estimates ----

test('the estimate is the kept sample with the smallest round trip (the newest among equals)', () => {
  const c = clocks();
  assert.equal(c.estimate('b', T0), undefined);
  assert.ok(c.record('b', rt(T0, 300, 20))); // rtt 40, reads 300
  assert.ok(c.record('b', rt(T0 + 100, 120, 1, 9))); // rtt 10, reads 120 - 4
  assert.ok(c.record('b', rt(T0 + 200, 100, 30, 10))); // rtt 40
  assert.deepEqual(c.estimate('b', T0 + 300), { peer: 'b', offsetMs: 116, roundTripMs: 10, at: T0 + 110 });
  assert.ok(c.record('b', rt(T0 + 300, 100, 5))); // rtt 10 again: the newer one wins
  assert.equal(c.estimate('b', T0 + 400)?.offsetMs, 100);
  assert.equal(c.estimate('b', T0 + 400)?.at, T0 + 310);
});

test('only the last samplesPerPeer samples are kept: a clock set right shows within that many heartbeats', () => {
  const c = clocks({ samplesPerPeer: 3 });
  c.record('b', rt(T0, 90_000, 0)); // the best round trip there is, but old
  for (let i = 1; i <= 2; i++) c.record('b', rt(T0 + i * 500, 0, 5));
  assert.equal(c.estimate('b', T0 + 1_100)?.offsetMs, 90_000, 'still among the last 3');
  c.record('b', rt(T0 + 1_500, 0, 5));
  assert.equal(c.estimate('b', T0 + 1_600)?.offsetMs, 0, 'pushed out by the third newer sample');
});

test('samples older than maxSampleAgeMs do not count; refused samples are not recorded', () => {
  const c = clocks({ maxSampleAgeMs: 1_000 });
  c.record('b', rt(T0, 700, 1));
  c.record('b', rt(T0 + 800, 50, 3));
  assert.equal(c.estimate('b', T0 + 900)?.offsetMs, 700);
  assert.equal(c.estimate('b', T0 + 1_002)?.offsetMs, 700, 'exactly maxSampleAgeMs old still counts');
  assert.equal(c.estimate('b', T0 + 1_003)?.offsetMs, 50, 'the better sample aged out');
  assert.equal(c.estimate('b', T0 + 1_900), undefined, 'every sample aged out');
  assert.equal(c.record('x', { t0: T0, t1: T0, t2: T0, t3: T0 - 5 }), false);
  assert.equal(c.estimate('x', T0), undefined);
  assert.deepEqual(c.estimates(T0 + 900), [{ peer: 'b', offsetMs: 700, roundTripMs: 2, at: T0 + 2 }]);
});

test('estimates() lists every peer with a fresh estimate, sorted by id; forget() drops a peer', () => {
  const c = clocks();
  feed(c, { d: 4, b: -2, c: 3 }, T0);
  assert.deepEqual(
    c.estimates(T0).map((e) => [e.peer, e.offsetMs]),
    [
      ['b', -2],
      ['c', 3],
      ['d', 4],
    ],
  );
  c.forget('c');
  assert.deepEqual(
    c.estimates(T0).map((e) => e.peer),
    ['b', 'd'],
  );
});

// ---- the verdict ----

test('before any judge: not fenced, not decided, no refusal; a node alone is decided and not fenced', () => {
  const c = clocks();
  assert.deepEqual(c.verdict, { fenced: false, decided: false, offsetMs: 0, maxAbsOffsetMs: 0, offenders: [], live: 0, measured: 0 });
  assert.equal(c.refusal(), undefined);
  assert.deepEqual(c.judge([], T0), []);
  assert.deepEqual(c.verdict, { fenced: false, decided: true, offsetMs: 0, maxAbsOffsetMs: 0, offenders: [], live: 0, measured: 0 });
});

test('3 nodes, ours off: fenced once both peers are measured, said once, with the offset; unfenced once back', () => {
  const c = clocks();
  assert.deepEqual(c.judge(['b', 'c'], T0), [], 'nobody measured: undecided');
  assert.equal(c.verdict.decided, false);
  feed(c, { b: -90_000 }, T0);
  assert.deepEqual(c.judge(['b', 'c'], T0), [], 'one offender, one unknown: undecided, and no peer is blamed');
  assert.equal(c.verdict.fenced, false);
  assert.equal(c.verdict.decided, false);
  feed(c, { c: -90_010 }, T0 + 1);
  const changes = c.judge(['b', 'c'], T0 + 1);
  assert.deepEqual(kinds(changes), ['fenced']);
  const f = changes[0] as Extract<ClockChange, { kind: 'fenced' }>;
  assert.equal(f.offsetMs, 90_000, 'ours is ahead: minus the median of the cluster (0, -90000, -90010)');
  assert.equal(f.live, 2);
  assert.deepEqual(
    f.offenders.map((o) => [o.peer, o.offsetMs]),
    [
      ['b', -90_000],
      ['c', -90_010],
    ],
  );
  assert.equal(c.verdict.fenced, true);
  assert.equal(c.verdict.decided, true);
  assert.equal(c.verdict.maxAbsOffsetMs, 90_010);
  assert.match(c.refusal()!, /^this node's clock is off by \+90\.0s from the majority of its peers \(more than MAX_CLOCK_OFFSET, 500ms\)/);
  assert.deepEqual(c.judge(['b', 'c'], T0 + 500), [], 'said once');
  assert.equal(c.verdict.fenced, true);

  // the clock is set right: new samples push the old ones out (4 kept)
  for (let i = 1; i <= 4; i++) feed(c, { b: 3, c: -4 }, T0 + 1_000 * i);
  assert.deepEqual(kinds(c.judge(['b', 'c'], T0 + 4_000)), ['unfenced']);
  assert.equal(c.verdict.fenced, false);
  assert.equal(c.refusal(), undefined);
  assert.deepEqual(c.judge(['b', 'c'], T0 + 4_500), []);
});

test('3 nodes, a peer off: not fenced, that peer reported once, and again when it is back', () => {
  const c = clocks();
  feed(c, { b: 90_000, c: 12 }, T0);
  const changes = c.judge(['b', 'c'], T0);
  assert.deepEqual(changes, [{ kind: 'peer-off', peer: 'b', offsetMs: 90_000 }]);
  assert.equal(c.verdict.fenced, false);
  assert.equal(c.verdict.decided, true);
  assert.deepEqual(
    c.verdict.offenders.map((o) => o.peer),
    ['b'],
  );
  assert.equal(c.refusal(), undefined);
  assert.deepEqual(c.judge(['b', 'c'], T0 + 100), [], 'once per change, not every heartbeat');
  for (let i = 1; i <= 4; i++) feed(c, { b: -100 }, T0 + 1_000 * i);
  assert.deepEqual(c.judge(['b', 'c'], T0 + 4_000), [{ kind: 'peer-ok', peer: 'b', offsetMs: -100 }]);
  assert.deepEqual(c.verdict.offenders, []);
});

test('a good node with one agreeing peer measured is decided at once (one unknown cannot make a majority)', () => {
  const c = clocks();
  feed(c, { b: 5 }, T0);
  assert.deepEqual(c.judge(['b', 'c'], T0), []);
  assert.equal(c.verdict.decided, true);
  assert.equal(c.verdict.fenced, false);
  assert.equal(c.verdict.measured, 1);
  assert.equal(c.verdict.live, 2);
});

test('2 nodes: neither is fenced, each reports the other', () => {
  const a = clocks();
  const b = clocks();
  feed(a, { b: 90_000 }, T0);
  feed(b, { a: -90_000 }, T0);
  assert.deepEqual(kinds(a.judge(['b'], T0)), ['peer-off b']);
  assert.deepEqual(kinds(b.judge(['a'], T0)), ['peer-off a']);
  assert.equal(a.verdict.fenced || b.verdict.fenced, false);
  const lone = clocks();
  assert.deepEqual(lone.judge(['b'], T0), []);
  assert.equal(lone.verdict.decided, true, 'one unknown peer of two nodes cannot fence us');
});

test('5 nodes with two clocks off in opposite directions: those two are fenced, the three others only report them', () => {
  const offsetsOf: Record<string, number> = { a: 0, b: 10, c: -20, x: 90_000, y: -60_000 };
  const ids = Object.keys(offsetsOf);
  for (const self of ids) {
    const c = clocks();
    const others = ids.filter((id) => id !== self);
    feed(c, Object.fromEntries(others.map((p) => [p, offsetsOf[p]! - offsetsOf[self]!])), T0);
    const changes = c.judge(others, T0);
    if (self === 'x' || self === 'y') {
      assert.deepEqual(kinds(changes), ['fenced'], self);
    } else {
      assert.deepEqual(kinds(changes), ['peer-off x', 'peer-off y'], self);
      assert.equal(c.verdict.fenced, false);
    }
  }
});

test('|offset| exactly at the bound is within it', () => {
  const c = clocks();
  feed(c, { b: 500, c: -500 }, T0);
  assert.deepEqual(c.judge(['b', 'c'], T0), []);
  assert.deepEqual(c.verdict.offenders, []);
  feed(c, { b: 500.5 }, T0 + 10); // smaller round trip needed to replace: same rtt, newer wins
  assert.deepEqual(kinds(c.judge(['b', 'c'], T0 + 10)), ['peer-off b']);
});

test('while fenced, peers are not blamed; those still off when it is unfenced are reported then', () => {
  const c = clocks();
  feed(c, { b: 80_000 }, T0);
  assert.deepEqual(kinds(c.judge(['b', 'c'], T0)), [], 'undecided');
  feed(c, { c: 90_000 }, T0);
  assert.deepEqual(kinds(c.judge(['b', 'c'], T0)), ['fenced']);
  // our clock jumps forward by 80 s: b agrees now, c is still 10 s ahead
  for (let i = 1; i <= 4; i++) feed(c, { b: 0, c: 10_000 }, T0 + 1_000 * i);
  assert.deepEqual(kinds(c.judge(['b', 'c'], T0 + 4_000)), ['unfenced', 'peer-off c']);
});

test('undecided judges keep the last decided verdict: a new, unmeasured member neither unfences nor fences', () => {
  const c = clocks();
  feed(c, { b: -90_000, c: -90_000 }, T0);
  assert.deepEqual(kinds(c.judge(['b', 'c'], T0)), ['fenced']);
  // d joins (4 nodes): 2 offenders of 4 do not fence by themselves, but d may be a third
  assert.deepEqual(c.judge(['b', 'c', 'd'], T0 + 1), []);
  assert.equal(c.verdict.decided, false);
  assert.equal(c.verdict.fenced, true);
  assert.ok(c.refusal());
  feed(c, { d: -90_000 }, T0 + 2);
  assert.deepEqual(c.judge(['b', 'c', 'd'], T0 + 2), []);
  assert.equal(c.verdict.decided, true);
  assert.equal(c.verdict.fenced, true);

  const good = clocks();
  feed(good, { b: 1, c: 90_000 }, T0);
  assert.deepEqual(kinds(good.judge(['b', 'c'], T0)), ['peer-off c']);
  // 5 nodes, d and e unmeasured: c plus both would be 3 of 5
  assert.deepEqual(good.judge(['b', 'c', 'd', 'e'], T0 + 1), []);
  assert.equal(good.verdict.decided, false);
  assert.equal(good.verdict.fenced, false);
});

test('peers leaving the live set are forgotten (a reported one silently); back, they start afresh', () => {
  const c = clocks();
  feed(c, { b: 90_000, c: 0 }, T0);
  assert.deepEqual(kinds(c.judge(['b', 'c'], T0)), ['peer-off b']);
  assert.deepEqual(c.judge(['c'], T0 + 1), [], 'b died: no peer-ok for it');
  assert.equal(c.estimate('b', T0 + 1), undefined, 'its samples are gone');
  assert.deepEqual(c.verdict.offenders, []);
  assert.equal(c.verdict.live, 1);
  feed(c, { b: 90_000 }, T0 + 2);
  assert.deepEqual(kinds(c.judge(['b', 'c'], T0 + 2)), ['peer-off b'], 'reported again: it is a new episode');
});

test('aged-out estimates are unknown: the verdict can become undecided, and stays as it was', () => {
  const c = clocks({ maxSampleAgeMs: 1_000 });
  feed(c, { b: -90_000, c: -90_000 }, T0);
  assert.deepEqual(kinds(c.judge(['b', 'c'], T0)), ['fenced']);
  assert.deepEqual(c.judge(['b', 'c'], T0 + 5_000), []);
  assert.equal(c.verdict.decided, false);
  assert.equal(c.verdict.fenced, true);
  assert.equal(c.verdict.measured, 0);
});

test('MAX_CLOCK_OFFSET 0: no check (always decided, never fenced, nobody reported), offsets still measured', () => {
  const c = clocks({ maxOffsetMs: 0 });
  assert.deepEqual(c.judge(['b', 'c'], T0), []);
  assert.equal(c.verdict.decided, true);
  feed(c, { b: -90_000, c: -90_000 }, T0);
  assert.deepEqual(c.judge(['b', 'c'], T0), []);
  assert.equal(c.verdict.fenced, false);
  assert.deepEqual(c.verdict.offenders, []);
  assert.equal(c.verdict.offsetMs, 90_000);
  assert.equal(c.verdict.maxAbsOffsetMs, 90_000);
  assert.equal(c.refusal(), undefined);
});

test("this node's own offset is minus the median of the cluster's clocks, its own (0) included", () => {
  const c = clocks({ maxOffsetMs: 0 });
  feed(c, { b: 10, c: 20, d: 300, e: -5 }, T0);
  c.judge(['b', 'c', 'd', 'e'], T0);
  assert.equal(c.verdict.offsetMs, -10, 'median of -5, 0, 10, 20, 300');
  c.judge(['b', 'c', 'd'], T0);
  assert.equal(c.verdict.offsetMs, -15, 'an even count: the mean of the middle two (0, 10, 20, 300)');
  c.judge(['b', 'd'], T0);
  assert.equal(c.verdict.offsetMs, -10, 'one peer far off does not move it');
  assert.equal(c.verdict.maxAbsOffsetMs, 300);
  c.judge(['d'], T0);
  assert.equal(c.verdict.offsetMs, -150, 'two nodes: halfway, nobody knows who is right');
  c.judge([], T0);
  assert.equal(Object.is(c.verdict.offsetMs, -0), false, 'no peers: 0, not -0');
  assert.equal(c.verdict.offsetMs, 0);
});

test('a peer that answers without its clock (an older node) is not unknown for maxSampleAgeMs: it counts as within the bound', () => {
  const c = clocks({ maxSampleAgeMs: 1_000 });
  assert.deepEqual(c.judge(['b', 'c'], T0), []);
  assert.equal(c.verdict.decided, false);
  c.recordUnmeasurable('b', T0);
  c.recordUnmeasurable('c', T0);
  assert.deepEqual(c.judge(['b', 'c'], T0 + 10), []);
  assert.equal(c.verdict.decided, true, 'a rolling upgrade: the first new node among old ones serves');
  assert.equal(c.verdict.fenced, false);
  assert.equal(c.verdict.measured, 0);
  assert.deepEqual(c.estimates(T0 + 10), [], 'no offset is made up for them');
  assert.equal(c.verdict.offsetMs, 0);
  // an unmeasurable peer does not hide a measured majority
  feed(c, { b: -90_000 }, T0 + 20);
  c.recordUnmeasurable('c', T0 + 20);
  assert.deepEqual(c.judge(['b', 'c'], T0 + 20), [{ kind: 'peer-off', peer: 'b', offsetMs: -90_000 }]);
  // its answer ages out like a sample; and leaving the live set forgets it
  const d = clocks({ maxSampleAgeMs: 1_000 });
  d.recordUnmeasurable('b', T0);
  d.recordUnmeasurable('c', T0);
  d.judge(['b', 'c'], T0 + 1_000);
  assert.equal(d.verdict.decided, true, 'exactly maxSampleAgeMs old still counts');
  d.judge(['b', 'c'], T0 + 1_001);
  assert.equal(d.verdict.decided, false);
  d.recordUnmeasurable('b', T0 + 1_001);
  d.judge(['c'], T0 + 1_001);
  d.judge(['b', 'c'], T0 + 1_002);
  assert.equal(d.verdict.decided, false, 'b was forgotten when it left the live set');
});

// ---- beyond sampleSize live peers: the verdict of a sample ----

const many = (n: number) => Array.from({ length: n }, (_, i) => `p${String(i).padStart(3, '0')}`);

test('beyond sampleSize live peers: undecided until sampleSize of them are measured, then their verdict', () => {
  const live = many(100);
  const c = clocks({ sampleSize: 8 });
  // 7 measured peers of 100, all far off: not enough to decide (the whole-cluster rule would wait for 51)
  feed(c, Object.fromEntries(live.slice(0, 7).map((p) => [p, 90_000])), T0);
  assert.deepEqual(c.judge(live, T0), []);
  assert.equal(c.verdict.decided, false);
  assert.equal(c.verdict.fenced, false);
  // the 8th: 8 of 8 measured disagree with us, and we are 1 of the 9 judged: fenced
  feed(c, { [live[7]!]: 90_000 }, T0);
  assert.deepEqual(kinds(c.judge(live, T0)), ['fenced']);
  assert.equal(c.verdict.decided, true);
  assert.equal(c.verdict.offsetMs, -90_000);
});

test('beyond sampleSize: fenced only when more than half of the sample (this node included) disagrees', () => {
  const live = many(50);
  const c = clocks({ sampleSize: 8 });
  // 10 measured: 5 off, 5 within: 2 * 5 > 11 is false: not fenced, the 5 reported
  feed(c, Object.fromEntries(live.slice(0, 10).map((p, i) => [p, i < 5 ? 90_000 : 0])), T0);
  const ch = c.judge(live, T0);
  assert.equal(c.verdict.decided, true);
  assert.equal(c.verdict.fenced, false);
  assert.deepEqual(
    kinds(ch),
    live.slice(0, 5).map((p) => `peer-off ${p}`),
  );
  // one more offender among 11 measured: 2 * 6 > 12 is false; a 7th of 12: 14 > 13: fenced
  feed(c, { [live[10]!]: 90_000 }, T0 + 1);
  c.judge(live, T0 + 1);
  assert.equal(c.verdict.fenced, false);
  feed(c, { [live[11]!]: 90_000 }, T0 + 2);
  assert.deepEqual(kinds(c.judge(live, T0 + 2)), ['fenced']);
});

test('beyond sampleSize: samples that age out shrink the sample; below sampleSize the last verdict stands', () => {
  const live = many(30);
  const c = clocks({ sampleSize: 8, maxSampleAgeMs: 1_000 });
  feed(c, Object.fromEntries(live.slice(0, 8).map((p) => [p, 90_000])), T0);
  assert.deepEqual(kinds(c.judge(live, T0)), ['fenced']);
  // all samples age out: undecided, still fenced
  assert.deepEqual(c.judge(live, T0 + 2_000), []);
  assert.equal(c.verdict.decided, false);
  assert.equal(c.verdict.fenced, true);
  // a fresh sample of 8 peers within the bound: unfenced
  feed(c, Object.fromEntries(live.slice(8, 16).map((p) => [p, 10])), T0 + 2_000);
  assert.deepEqual(kinds(c.judge(live, T0 + 2_000)), ['unfenced']);
});

test('at sampleSize live peers or fewer the whole cluster is judged, as before', () => {
  const live = many(8);
  const c = clocks({ sampleSize: 8 });
  // 4 of 8 measured and off: 2 * 4 > 9 is false, and the 4 unknown could make it 8: undecided
  feed(c, Object.fromEntries(live.slice(0, 4).map((p) => [p, 90_000])), T0);
  c.judge(live, T0);
  assert.equal(c.verdict.decided, false);
  feed(c, { [live[4]!]: 90_000 }, T0);
  assert.deepEqual(kinds(c.judge(live, T0)), ['fenced']);
});
