import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Envelope, Swim, type SwimMessage, type SwimOptions, swimTimings } from '../../src/membership/swim.ts';
import type { MemberRecord, MemberState } from '../../src/membership/table.ts';
import { seeded } from '../helpers/random.ts';

const O: SwimOptions = {
  periodMs: 100,
  probeTimeoutMs: 40,
  indirectProbes: 2,
  suspicionMult: 3,
  retransmitMult: 2,
  maxGossip: 4,
  pushPullMs: 10_000,
  directWindowMs: 100,
  deadProbeMs: 0, // off, but in the tests of it
};

function rec(id: string, state: MemberState = 'alive', incarnation = 1): MemberRecord {
  return { id, address: `${id}:7000`, state, incarnation };
}

/** `self` knowing `others` (all alive at incarnation 1), at time 0. */
function swim(self: string, others: string[], opts: Partial<SwimOptions> = {}, seed = 1): Swim {
  const s = new Swim({ id: self, address: `${self}:7000`, incarnation: 1 }, { ...O, ...opts }, 0, seeded(seed));
  s.learn(
    others.map((id) => rec(id)),
    0,
  );
  return s;
}

const ids = (n: number) => Array.from({ length: n }, (_, i) => `m${String(i).padStart(3, '0')}`);
const pings = (send: Envelope[]) => send.filter((e) => e.msg.kind === 'ping');
const state = (s: Swim, id: string) => s.table.get(id)?.state;
function gossipOf(m: SwimMessage): MemberRecord[] {
  return m.kind === 'push-pull' ? m.records : m.gossip;
}

test('options are checked', () => {
  const mk = (o: Partial<SwimOptions>) => () => new Swim({ id: 'a', address: 'a:1', incarnation: 1 }, { ...O, ...o }, 0);
  assert.throws(mk({ probeTimeoutMs: 100 }), RangeError);
  assert.throws(mk({ periodMs: 0 }), RangeError);
  assert.throws(mk({ suspicionMult: 0 }), RangeError);
  assert.throws(mk({ maxGossip: 0 }), RangeError);
  assert.throws(mk({ indirectProbes: 1.5 }), RangeError);
  assert.doesNotThrow(mk({}));
});

test('one probe per period, a shuffled round-robin: each member once per pass', () => {
  const others = ids(7);
  const s = swim('self', others);
  const seen: string[] = [];
  for (let p = 1; p <= 21; p++) {
    const now = p * O.periodMs;
    const st = s.tick(now);
    const ps = pings(st.send);
    assert.equal(ps.length, 1, `period ${p}: one ping`);
    const e = ps[0] as Envelope;
    seen.push(e.to);
    // answer it, so nobody is suspected
    const seq = (e.msg as { seq: number }).seq;
    s.receive({ kind: 'ack', from: e.to, seq, gossip: [] }, now + 1);
  }
  for (let pass = 0; pass < 3; pass++) {
    assert.deepEqual([...seen.slice(pass * 7, pass * 7 + 7)].sort(), others, `pass ${pass} probes every member once`);
  }
  assert.notDeepEqual(seen.slice(0, 7), seen.slice(7, 14), 'each pass is reshuffled');
  assert.ok(others.every((id) => state(s, id) === 'alive'));
});

test('no ack within the probe timeout: ping-req to k others; a relayed ack counts', () => {
  const s = swim('self', ['a', 'b', 'c', 'd']);
  const st = s.tick(100);
  const probe = pings(st.send)[0] as Envelope;
  const target = probe.to;
  const seq = (probe.msg as { seq: number }).seq;
  assert.equal(s.nextWake(), 100 + O.probeTimeoutMs);
  assert.deepEqual(s.tick(120).send, [], 'nothing before the probe timeout');
  const ind = s.tick(140).send;
  assert.equal(ind.length, O.indirectProbes);
  for (const e of ind) {
    assert.equal(e.msg.kind, 'ping-req');
    assert.notEqual(e.to, target);
    assert.equal((e.msg as { target: string }).target, target);
    assert.equal((e.msg as { seq: number }).seq, seq);
  }
  assert.equal(new Set(ind.map((e) => e.to)).size, ind.length, 'distinct helpers');
  // one helper relays the target's ack
  s.receive({ kind: 'ack', from: (ind[0] as Envelope).to, seq, gossip: [] }, 150);
  const next = s.tick(200);
  assert.deepEqual(next.changes, [], 'not suspected');
  assert.equal(state(s, target), 'alive');
});

test('no ack at all: suspect at the end of the period, then dead after the suspicion timeout', () => {
  const others = ids(9); // n = 10 -> log10 n = 1
  const s = swim('self', others);
  const probe = pings(s.tick(100).send)[0] as Envelope;
  const target = probe.to;
  s.tick(140); // ping-reqs, unanswered
  const end = s.tick(200);
  assert.deepEqual(
    end.changes.map((c) => [c.id, c.from, c.to]),
    [[target, 'alive', 'suspect']],
  );
  assert.equal(s.suspicionTimeoutMs(), O.suspicionMult * 1 * O.periodMs);
  // the suspicion is gossiped on the next message we send, first when it goes to the suspect
  const toTarget = end.send.find((e) => e.to === target);
  const anyMsg = end.send[0] as Envelope;
  assert.ok(gossipOf(anyMsg.msg).some((r) => r.id === target && r.state === 'suspect'));
  if (toTarget) assert.deepEqual(gossipOf(toTarget.msg)[0], rec(target, 'suspect'));
  // keep acking every other probe; the suspect stays silent
  for (const e of pings(end.send))
    if (e.to !== target) s.receive({ kind: 'ack', from: e.to, seq: (e.msg as { seq: number }).seq, gossip: [] }, 200);
  let now = 200;
  let dead: number | undefined;
  while (now < 200 + 2 * s.suspicionTimeoutMs()) {
    now += 10;
    const st = s.tick(now);
    for (const e of pings(st.send))
      if (e.to !== target) s.receive({ kind: 'ack', from: e.to, seq: (e.msg as { seq: number }).seq, gossip: [] }, now);
    if (st.changes.some((c) => c.id === target && c.to === 'dead')) dead = now;
  }
  assert.equal(dead, 200 + s.suspicionTimeoutMs());
  assert.equal(state(s, target), 'dead');
  assert.ok(
    others.filter((id) => id !== target).every((id) => state(s, id) === 'alive'),
    'no one else suspected',
  );
});

test('the suspicion timeout grows with log10 of the members we see alive or suspect', () => {
  assert.equal(swim('s', ids(1)).suspicionTimeoutMs(), O.suspicionMult * O.periodMs, 'at least one log unit');
  assert.equal(swim('s', ids(99)).suspicionTimeoutMs(), O.suspicionMult * 2 * O.periodMs);
  assert.equal(swim('s', ids(999)).suspicionTimeoutMs(), O.suspicionMult * 3 * O.periodMs);
});

test('a refutation (higher incarnation, alive) cancels the suspicion timer', () => {
  const s = swim('self', ['a', 'b', 'c']);
  s.receive({ kind: 'ping', from: 'b', seq: 1, gossip: [rec('a', 'suspect')] }, 10);
  assert.equal(state(s, 'a'), 'suspect');
  assert.equal(s.nextWake() <= 10 + s.suspicionTimeoutMs(), true);
  s.receive({ kind: 'ping', from: 'c', seq: 2, gossip: [rec('a', 'alive', 2)] }, 20);
  assert.equal(state(s, 'a'), 'alive');
  const changes = [];
  for (let t = 100; t <= 20 + 3 * s.suspicionTimeoutMs(); t += 100) {
    const st = s.tick(t);
    changes.push(...st.changes.filter((c) => c.id === 'a'));
    for (const e of pings(st.send)) s.receive({ kind: 'ack', from: e.to, seq: (e.msg as { seq: number }).seq, gossip: [] }, t);
  }
  assert.ok(!changes.some((c) => c.to === 'dead'), 'a is not declared dead');
});

test('a rumour about ourselves is refuted with a higher incarnation, which is gossiped', () => {
  const s = swim('self', ['a', 'b']);
  const st = s.receive({ kind: 'ping', from: 'a', seq: 7, gossip: [rec('self', 'suspect', 1)] }, 5);
  assert.deepEqual(st.send.length, 1);
  const ack = st.send[0] as Envelope;
  assert.equal(ack.to, 'a');
  assert.equal(ack.msg.kind, 'ack');
  assert.equal((ack.msg as { seq: number }).seq, 7);
  assert.deepEqual(
    gossipOf(ack.msg).find((r) => r.id === 'self'),
    { id: 'self', address: 'self:7000', state: 'alive', incarnation: 2 },
  );
  // also refutes dead
  s.receive({ kind: 'ping', from: 'b', seq: 8, gossip: [rec('self', 'dead', 2)] }, 6);
  assert.equal(s.table.get('self')?.incarnation, 3);
});

test('ping-req: the helper pings the target and relays its ack with the original seq', () => {
  const s = swim('h', ['req', 't']);
  const st = s.receive({ kind: 'ping-req', from: 'req', seq: 42, target: 't', gossip: [] }, 10);
  assert.equal(st.send.length, 1);
  const p = st.send[0] as Envelope;
  assert.equal(p.to, 't');
  assert.equal(p.msg.kind, 'ping');
  const relaySeq = (p.msg as { seq: number }).seq;
  const back = s.receive({ kind: 'ack', from: 't', seq: relaySeq, gossip: [] }, 12);
  assert.equal(back.send.length, 1);
  assert.equal((back.send[0] as Envelope).to, 'req');
  assert.equal((back.send[0] as Envelope).msg.kind, 'ack');
  assert.equal(((back.send[0] as Envelope).msg as { seq: number }).seq, 42);
  // a second (duplicate) ack is not relayed again
  assert.deepEqual(s.receive({ kind: 'ack', from: 't', seq: relaySeq, gossip: [] }, 13).send, []);
});

test('gossip: at most maxGossip per message, least sent first, each sent a bounded number of times', () => {
  const others = ids(9); // limit = retransmitMult * ceil(log10(n + 1)) = 2 * 2 = 4 for n = 10..98
  const s = swim('self', others);
  const news = ['x1', 'x2', 'x3', 'x4', 'x5', 'x6'].map((id) => rec(id));
  const first = s.receive({ kind: 'ping', from: 'm000', seq: 1, gossip: news }, 1);
  assert.equal(s.queued().length, 6);
  const counts = new Map<string, number>();
  let messages = 0;
  for (let i = -1; i < 20; i++) {
    const st = i < 0 ? first : s.receive({ kind: 'ping', from: 'm001', seq: 10 + i, gossip: [] }, 2 + i);
    const g = gossipOf((st.send[0] as Envelope).msg);
    assert.ok(g.length <= O.maxGossip);
    if (g.length > 0) messages++;
    for (const r of g) counts.set(r.id, (counts.get(r.id) ?? 0) + 1);
  }
  assert.equal(s.queued().length, 0, 'queue drained');
  // with the 6 new members n = 16 when they are sent: limit = 2 * ceil(log10 17) = 4
  for (const r of news) assert.equal(counts.get(r.id), 4, `${r.id} sent exactly the limit`);
  assert.equal(messages, 6, '24 sendings in messages of 4');
});

test('a newer change about a member replaces the queued one and starts over', () => {
  const s = swim('self', ['a', 'b'], { retransmitMult: 10 });
  s.receive({ kind: 'ping', from: 'a', seq: 1, gossip: [rec('c')] }, 1); // the ack carries c
  s.receive({ kind: 'ping', from: 'a', seq: 2, gossip: [] }, 2); // and this one
  assert.equal(s.queued().find((q) => q.rec.id === 'c')?.sent, 2);
  s.receive({ kind: 'ping', from: 'a', seq: 3, gossip: [rec('c', 'suspect')] }, 3);
  assert.deepEqual(
    s.queued().filter((q) => q.rec.id === 'c'),
    [{ rec: rec('c', 'suspect'), sent: 1 }], // counted from 0 again, sent once in the ack to seq 3
  );
});

test('a message to a member first carries what we hold against it (so it can refute)', () => {
  const s = swim('self', ['a', 'b', 'c', 'd', 'e', 'f'], { maxGossip: 1 });
  s.receive({ kind: 'ping', from: 'b', seq: 1, gossip: [rec('a', 'suspect'), rec('x'), rec('y')] }, 1);
  const st = s.receive({ kind: 'ping', from: 'a', seq: 2, gossip: [] }, 2);
  // a's ping made it alive locally (direct evidence), and the reply tells it it was suspected
  assert.equal(state(s, 'a'), 'alive');
  assert.deepEqual(gossipOf((st.send[0] as Envelope).msg), [rec('a', 'suspect')]);
});

test('heard from a member we had dead: it is alive here, and told it was dead', () => {
  const s = swim('self', ['a', 'b']);
  s.receive({ kind: 'ping', from: 'b', seq: 1, gossip: [rec('a', 'dead')] }, 1);
  assert.equal(state(s, 'a'), 'dead');
  const st = s.receive({ kind: 'push-pull', from: 'a', reply: false, records: [rec('a'), rec('b'), rec('self')] }, 2);
  assert.equal(state(s, 'a'), 'alive');
  const reply = st.send.find((e) => e.to === 'a');
  assert.ok(reply);
  assert.ok(
    gossipOf(reply.msg).some((r) => r.id === 'a' && r.state === 'dead'),
    'the reply carries the dead record',
  );
  // and the member, merging it, refutes
  const a = swim('a', ['b', 'self']);
  a.receive(reply.msg, 3);
  assert.equal(a.table.get('a')?.incarnation, 2);
});

test('push-pull: join sends the whole table, the seed answers with its own and gossips only the joiner', () => {
  const seed = swim('seed', ['a', 'b', 'c']);
  const j = new Swim({ id: 'j', address: 'j:7000', incarnation: 5 }, O, 0, seeded(2));
  const out = j.join('seed').send;
  assert.equal(out.length, 1);
  assert.equal((out[0] as Envelope).to, 'seed');
  const pp = (out[0] as Envelope).msg;
  assert.equal(pp.kind, 'push-pull');
  assert.deepEqual(gossipOf(pp), [rec('j', 'alive', 5)]);
  const st = seed.receive({ ...pp, records: [...gossipOf(pp), rec('z')] }, 10);
  assert.equal(state(seed, 'j'), 'alive');
  assert.equal(state(seed, 'z'), 'alive');
  assert.deepEqual(
    seed.queued().map((q) => q.rec.id),
    ['j'],
    'only the joiner is gossiped',
  );
  const reply = st.send[0] as Envelope;
  assert.equal(reply.to, 'j');
  assert.equal(reply.msg.kind, 'push-pull');
  assert.equal((reply.msg as { reply: boolean }).reply, true);
  j.receive(reply.msg, 11);
  assert.deepEqual(
    j.table.records().map((r) => r.id),
    ['a', 'b', 'c', 'j', 'seed', 'z'],
  );
  assert.deepEqual(j.receive(reply.msg, 12).send, [], 'a reply is not answered');
});

test('push-pull: a record saying dead is taken as a suspicion (gossiped), so the member can refute', () => {
  const s = swim('self', ['a', 'b']);
  s.receive({ kind: 'push-pull', from: 'b', reply: true, records: [rec('a', 'dead'), rec('b'), rec('self')] }, 1);
  assert.equal(state(s, 'a'), 'suspect');
  assert.deepEqual(
    s.queued().map((q) => q.rec),
    [rec('a', 'suspect')],
  );
});

test('periodic push-pull with one random member, dead ones included', () => {
  const s = swim('self', ['a', 'b'], { pushPullMs: 1_000 });
  s.receive({ kind: 'ping', from: 'b', seq: 1, gossip: [rec('a', 'dead')] }, 1);
  const targets = new Set<string>();
  for (let t = 100; t <= 20_000; t += 100) {
    for (const e of s.tick(t).send) {
      if (e.msg.kind === 'push-pull') {
        targets.add(e.to);
        assert.deepEqual(
          e.msg.records.map((r) => r.id),
          ['a', 'b', 'self'],
        );
      } else if (e.msg.kind === 'ping') s.receive({ kind: 'ack', from: e.to, seq: e.msg.seq, gossip: [] }, t);
    }
  }
  assert.deepEqual([...targets].sort(), ['a', 'b']);
});

test('dead and left members are not probed; a member heard from again is', () => {
  const s = swim('self', ['a', 'b', 'c']);
  s.receive({ kind: 'ping', from: 'b', seq: 1, gossip: [rec('a', 'dead'), rec('c', 'left')] }, 1);
  const probed = new Set<string>();
  for (let t = 100; t <= 1_000; t += 100) {
    for (const e of pings(s.tick(t).send)) {
      probed.add(e.to);
      s.receive({ kind: 'ack', from: e.to, seq: (e.msg as { seq: number }).seq, gossip: [] }, t);
    }
  }
  assert.deepEqual([...probed], ['b']);
  s.receive({ kind: 'ping', from: 'a', seq: 2, gossip: [] }, 1_001);
  for (let t = 1_100; t <= 1_400; t += 100) for (const e of pings(s.tick(t).send)) probed.add(e.to);
  assert.deepEqual([...probed].sort(), ['a', 'b']);
});

test('leave: self left, sent at once to k members and gossiped; the table refuses to revive it', () => {
  const s = swim('self', ['a', 'b', 'c', 'd']);
  const st = s.leave(5);
  assert.deepEqual(
    st.changes.map((c) => [c.id, c.to]),
    [['self', 'left']],
  );
  assert.equal(st.send.length, O.indirectProbes);
  for (const e of st.send) assert.deepEqual(gossipOf(e.msg)[0], { ...rec('self', 'left'), address: 'self:7000' });
  const other = swim('a', ['self', 'b']);
  other.receive((st.send[0] as Envelope).msg, 6);
  assert.equal(state(other, 'self'), 'left');
  assert.deepEqual(
    other.queued().map((q) => q.rec),
    [rec('self', 'left')],
  );
});

test('markLeft is gossiped like any change', () => {
  const s = swim('self', ['a', 'b']);
  assert.deepEqual(
    s.markLeft('a', 1).changes.map((c) => [c.id, c.to]),
    [['a', 'left']],
  );
  assert.deepEqual(
    s.queued().map((q) => q.rec),
    [rec('a', 'left')],
  );
  assert.deepEqual(s.markLeft('zz', 1).changes, []);
});

test('messages per period do not grow with the cluster: one ping, plus k ping-reqs on a failed probe', () => {
  for (const n of [10, 1_000]) {
    const s = swim('self', ids(n - 1));
    let sent = 0;
    for (let p = 1; p <= 50; p++) {
      const st = s.tick(p * 100);
      sent += st.send.filter((e) => e.msg.kind !== 'push-pull').length;
      for (const e of pings(st.send)) s.receive({ kind: 'ack', from: e.to, seq: (e.msg as { seq: number }).seq, gossip: [] }, p * 100 + 1);
    }
    assert.equal(sent, 50, `n=${n}`);
  }
});

test('heard() from outside the protocol: a suspect member is alive again here and its timer stops', () => {
  const s = swim('self', ['a', 'b']);
  s.receive({ kind: 'ping', from: 'b', seq: 1, gossip: [rec('a', 'suspect')] }, 1);
  assert.deepEqual(
    s.heard('a', 2)?.changes.map((c) => [c.id, c.from, c.to]),
    [['a', 'suspect', 'alive']],
  );
  assert.equal(s.heard('a', 3), undefined, 'nothing changed: nothing allocated');
  assert.equal(s.heard('self', 3), undefined);
  for (let t = 100; t <= 5_000; t += 100) {
    const st = s.tick(t);
    assert.ok(!st.changes.some((c) => c.id === 'a' && c.to === 'dead'), 'no timeout fires');
    for (const e of pings(st.send)) s.receive({ kind: 'ack', from: e.to, seq: (e.msg as { seq: number }).seq, gossip: [] }, t);
  }
});

/** A tiny in-test network: every Swim delivers to the others after 1 ms; `down` ones drop everything; `lose` drops a message. */
function network(n: number, seed: number) {
  const random = seeded(seed);
  const names = ids(n);
  const nodes = new Map(
    names.map((id) => {
      const s = new Swim({ id, address: `${id}:7000`, incarnation: 1 }, O, -random() * O.periodMs, random);
      s.learn(
        names.map((x) => rec(x)),
        0,
      );
      return [id, s] as const;
    }),
  );
  const down = new Set<string>();
  let inFlight: { at: number; to: string; msg: SwimMessage }[] = [];
  let lose = (_m: SwimMessage) => false;
  let now = 0;
  const post = (send: Envelope[]) => {
    for (const e of send) if (!lose(e.msg)) inFlight.push({ at: now + 1, to: e.to, msg: e.msg });
  };
  const run = (until: number) => {
    for (; now <= until; now++) {
      const due = inFlight.filter((m) => m.at <= now);
      inFlight = inFlight.filter((m) => m.at > now);
      for (const m of due) if (!down.has(m.to)) post((nodes.get(m.to) as Swim).receive(m.msg, now).send);
      for (const [id, s] of nodes) if (!down.has(id) && s.nextWake() <= now) post(s.tick(now).send);
    }
  };
  return {
    nodes,
    down,
    run,
    setLoss: (f: (m: SwimMessage) => boolean) => {
      lose = f;
    },
    now: () => now,
  };
}

test('in a small network: a crashed member is dead everywhere, nobody else is', () => {
  const net = network(12, 3);
  net.run(1_000);
  net.down.add('m005');
  net.run(1_000 + 60 * O.periodMs);
  for (const [id, s] of net.nodes) {
    if (id === 'm005') continue;
    for (const r of s.table.records()) assert.equal(r.state, r.id === 'm005' ? 'dead' : 'alive', `${id}'s view of ${r.id}`);
  }
});

test('in a small network: a member whose acks are all lost for a while is suspected, refutes, and is never dead', () => {
  const net = network(12, 4);
  net.run(1_000);
  // m003 cannot answer for 3 periods: at least one probe of it fails and it is suspected
  const until = net.now() + 3 * O.periodMs;
  net.setLoss((m) => m.from === 'm003' && net.now() < until);
  net.run(until + 40 * O.periodMs);
  const me = net.nodes.get('m003') as Swim;
  assert.ok((me.table.get('m003')?.incarnation ?? 0) > 1, 'it refuted a suspicion');
  for (const [id, s] of net.nodes) {
    for (const r of s.table.records()) assert.equal(r.state, 'alive', `${id}'s view of ${r.id}`);
  }
});

test('a member heard from directly within directWindowMs is not suspected by a failed probe; later it is', () => {
  const s = swim('self', ['a'], { directWindowMs: 450 });
  s.heard('a', 50); // e.g. a reply on the replication stream
  // the probes of a go unanswered; the period ends at 100, 200, ...
  const suspectedAt: number[] = [];
  for (let t = 10; t <= 1_000; t += 10) {
    for (const c of s.tick(t).changes) if (c.id === 'a' && c.to === 'suspect') suspectedAt.push(t);
  }
  assert.equal(suspectedAt.length, 1);
  assert.ok(suspectedAt[0]! >= 500, `suspected at ${suspectedAt[0]}, before 50 + 450`);
  assert.ok(suspectedAt[0]! <= 600, `suspected at ${suspectedAt[0]}, a period later than due`);
});

test('swimTimings: the node variables as protocol timings', () => {
  assert.deepEqual(swimTimings(500, 1_500, 3_500), { periodMs: 500, probeTimeoutMs: 200, suspicionMult: 4, directWindowMs: 1_500 });
  assert.deepEqual(swimTimings(200, 600, 1_500), { periodMs: 200, probeTimeoutMs: 80, suspicionMult: 4.5, directWindowMs: 600 });
  // the suspicion timeout they give: (DEAD_TIMEOUT - SUSPECT_TIMEOUT) up to 10 members, x log10 n above
  const s = new Swim({ id: 'a', address: 'a:1', incarnation: 1 }, { ...O, ...swimTimings(500, 1_500, 3_500) }, 0);
  assert.equal(s.suspicionTimeoutMs(), 2_000);
  s.learn(
    Array.from({ length: 99 }, (_, i) => rec(`m${i}`)),
    0,
  );
  assert.equal(s.suspicionTimeoutMs(), 4_000);
});

test('a member dead in our view is pinged every second period for deadProbeMs, carrying its dead record; an answer revives it; later it is let be', () => {
  const s = swim('self', ['a', 'b'], { deadProbeMs: 1_000 });
  s.receive({ kind: 'ping', from: 'b', seq: 1, gossip: [rec('a', 'dead')] }, 1);
  const toA: { t: number; msg: SwimMessage }[] = [];
  for (let t = 100; t <= 2_000; t += 100) {
    for (const e of s.tick(t).send) {
      if (e.to === 'a') toA.push({ t, msg: e.msg });
      else if (e.msg.kind === 'ping') s.receive({ kind: 'ack', from: e.to, seq: e.msg.seq, gossip: [] }, t);
    }
  }
  // periods end at 100, 200, ...: every second one, while dead for less than 1,000 ms
  assert.deepEqual(
    toA.map((x) => x.t),
    [200, 400, 600, 800, 1_000],
  );
  for (const x of toA) {
    assert.equal(x.msg.kind, 'ping');
    assert.deepEqual(gossipOf(x.msg)[0], rec('a', 'dead'), 'it learns it is thought dead, so it refutes');
  }
  // the refutation (a higher incarnation) brings it back here
  const again = swim('self', ['a', 'b'], { deadProbeMs: 1_000 });
  again.receive({ kind: 'ping', from: 'b', seq: 1, gossip: [rec('a', 'dead')] }, 1);
  let answered = false;
  for (let t = 100; t <= 400 && !answered; t += 100) {
    for (const e of again.tick(t).send) {
      if (e.to !== 'a' || e.msg.kind !== 'ping') continue;
      again.receive({ kind: 'ack', from: 'a', seq: e.msg.seq, gossip: [rec('a', 'alive', 2)] }, t);
      answered = true;
    }
  }
  assert.ok(answered);
  assert.equal(state(again, 'a'), 'alive');
});

test('a probe is inconclusive when this node kept no time: the period end handled late, or the indirect probes sent too late', () => {
  // on time: the unanswered probe of 'a' (the only member) ends in suspicion
  const onTime = swim('self', ['a']);
  onTime.tick(100); // probe a
  onTime.tick(140); // indirect (nobody to ask)
  assert.deepEqual(
    onTime.tick(200).changes.map((c) => [c.id, c.to]),
    [['a', 'suspect']],
  );

  // the period end handled 150 ms late (> probeTimeoutMs 40): no suspicion, and the next
  // period starts then, so its probe gets a whole period
  const late = swim('self', ['a']);
  late.tick(100);
  late.tick(140);
  const st = late.tick(350);
  assert.deepEqual(st.changes, []);
  assert.equal(pings(st.send).length, 1, 'the next probe goes out');
  assert.equal(late.nextWake(), 390, 'its indirect step');
  late.tick(390);
  assert.equal(late.nextWake(), 450, 'its period ends a whole period after the late tick');
  assert.deepEqual(
    late.tick(450).changes.map((c) => [c.id, c.to]),
    [['a', 'suspect']],
    'on time again: conclusive',
  );

  // the indirect step ran late (its timer held up), 10 ms before the period's end: no suspicion
  const lateIndirect = swim('self', ['a', 'b']);
  let target = '';
  for (const e of pings(lateIndirect.tick(100).send)) target = e.to;
  lateIndirect.tick(190);
  assert.ok(!lateIndirect.tick(200).changes.some((c) => c.id === target));
});
