/**
 * SWIM failure detection and gossip dissemination over the MemberTable (pure: no I/O, no
 * timers; time in ms is passed in, messages to send are returned). The record rules
 * (incarnations, precedence, refutation) stay those of src/membership/table.ts; this module
 * decides whom to probe, when to suspect and declare dead, and what to piggyback.
 *
 * Rules (the contract; test/unit/swim.test.ts checks each):
 *  - Probing. Each protocol period (`periodMs`) the node probes ONE member: the next of a
 *    shuffled round-robin over the members it believes alive or suspect (reshuffled at the
 *    end of each pass; a new member is inserted at a random place). The probe is a `ping`;
 *    an `ack` with the same seq answers it. No ack within `probeTimeoutMs`: the node asks
 *    `indirectProbes` other random live members with a `ping-req`; each pings the target and
 *    relays the target's ack back. No ack (direct or relayed) by the end of the period: the
 *    target becomes SUSPECT at the incarnation we know (a table merge, so a member heard from
 *    directly less than directWindowMs ago is not suspected; see the table). Only if this node
 *    kept time itself: when the period's end is handled more than probeTimeoutMs late, or the
 *    indirect probes went out less than probeTimeoutMs before it (a stalled event loop: acks
 *    may be waiting unread), the probe proves nothing, and the next period starts then
 *    (Lifeguard's point: a slow detector must not accuse others).
 *  - Suspicion. A member that is suspect in our view (by our probe or by gossip) becomes DEAD
 *    at the same incarnation when it is still suspect `suspicionTimeout(n)` after we learned
 *    it: suspicionMult × max(1, log10 n) × periodMs, n = members alive or suspect in our
 *    view (self included). A member refutes by raising its incarnation (table rule), which
 *    outranks the suspicion everywhere it spreads and cancels the timers.
 *  - Direct evidence. Any message from a member (ping, ack, ping-req, push-pull), and
 *    heard() (evidence from outside, e.g. the replication stream), is table heard(): a
 *    suspect/dead member we hear from is alive again in our view (not gossiped: at the same
 *    incarnation alive loses) and the next message we send it carries the suspect/dead record
 *    we had, so that it refutes and its refutation settles it everywhere (this is also how
 *    the sides of a healed partition start to converge).
 *  - Dissemination. Every change of our view that came by gossip, by our own detector or by
 *    our refutation is queued and piggybacked on the next messages we send (ping, ack,
 *    ping-req): at most `maxGossip` records per message, those sent the fewest times first,
 *    each at most retransmitMult × ceil(log10(n + 1)) times, then dropped (a newer change
 *    about the same member replaces the queued one). A message to member X first carries
 *    what we hold about X when it is queued, or suspect or dead in our view (so X can refute).
 *  - Full exchange (push-pull). On join (`join(seedId)`) and every `pushPullMs` with one
 *    random member that is not left (dead ones included, so two sides of a healed partition
 *    find each other), both sides send their whole table. Records merged from a push-pull
 *    are not re-gossiped, except the sender's own record (a join spreads from its seed) and
 *    our refutations; a record saying dead is merged as suspect (the member gets a
 *    suspicion timeout in which to refute), and that suspicion is gossiped.
 *  - The recently dead. Every second period, while some member has been DEAD in our view for
 *    less than `deadProbeMs`, the node also pings one of them at random (no probe: no answer
 *    changes nothing; an answer is direct evidence, as above, and the ping carries the dead
 *    record, so it refutes). A cluster split in two finds itself again within a few periods
 *    of the heal instead of waiting for push-pulls; a crashed member costs each node one more
 *    message every two periods for deadProbeMs.
 *  - Leave. leave() marks self left, queues it, and sends it at once to `indirectProbes`
 *    random live members; the caller keeps the node running a few periods (it still probes,
 *    so the record spreads) before it stops answering.
 *
 * Messages sent per node per period: one ping, the acks of the pings it receives (one on
 * average), and only on a failed direct probe `indirectProbes` ping-reqs; so a constant that
 * does not depend on n, each with at most maxGossip records. Push-pull adds 2 messages of n
 * records per pushPullMs.
 */
import { type MemberChange, type MemberRecord, type MemberState, MemberTable } from './table.js';

export interface SwimOptions {
  /** Protocol period: one probe per period. */
  periodMs: number;
  /** How long the direct probe waits for its ack before asking others (< periodMs). */
  probeTimeoutMs: number;
  /** How many members are asked to probe indirectly (k). */
  indirectProbes: number;
  /** Suspicion timeout = suspicionMult × max(1, log10 n) × periodMs. */
  suspicionMult: number;
  /** Each change is piggybacked at most retransmitMult × ceil(log10(n + 1)) times. */
  retransmitMult: number;
  /** Records piggybacked per message, at most. */
  maxGossip: number;
  /** Full table exchange with one random member this often. */
  pushPullMs: number;
  /**
   * A member heard from directly less than this long ago is not made suspect at the
   * incarnation we know, by our failed probe or by gossip (the table's directWindowMs).
   */
  directWindowMs: number;
  /** Members dead in our view for less than this are pinged now and then (see the contract). */
  deadProbeMs: number;
}

const DEFAULT_SWIM: Readonly<SwimOptions> = {
  periodMs: 500,
  probeTimeoutMs: 200,
  indirectProbes: 3,
  suspicionMult: 4,
  retransmitMult: 4,
  maxGossip: 8,
  pushPullMs: 30_000,
  directWindowMs: 500,
  deadProbeMs: 60_000,
};

/**
 * The protocol's timings from a node's three variables (README): HEARTBEAT_INTERVAL is the
 * period, the direct probe waits 40 % of it; SUSPECT_TIMEOUT is the direct window (a member
 * is suspected only after that long without direct contact and a failed probe); a suspicion
 * lasts DEAD_TIMEOUT - SUSPECT_TIMEOUT up to 10 members, times log10(n) beyond.
 */
export function swimTimings(heartbeatMs: number, suspectMs: number, deadMs: number): Partial<SwimOptions> {
  return {
    periodMs: heartbeatMs,
    probeTimeoutMs: Math.max(1, Math.round(heartbeatMs * 0.4)),
    suspicionMult: (deadMs - suspectMs) / heartbeatMs,
    directWindowMs: suspectMs,
  };
}

export type SwimMessage =
  /** A probe (direct, or on behalf of a ping-req); answered by an ack with the same seq. */
  | { kind: 'ping'; from: string; seq: number; gossip: MemberRecord[] }
  | { kind: 'ack'; from: string; seq: number; gossip: MemberRecord[] }
  /** Probe `target` for me; relay its ack as ack(seq). */
  | { kind: 'ping-req'; from: string; seq: number; target: string; gossip: MemberRecord[] }
  /** A full table; `reply` false asks for the receiver's in return. */
  | { kind: 'push-pull'; from: string; reply: boolean; records: MemberRecord[] };

export interface Envelope {
  to: string;
  msg: SwimMessage;
}

export interface SwimStep {
  /** Messages to send now (addressed by member id; table.addressOf gives the address). */
  send: Envelope[];
  /** Changes of our view, in the order they happened. */
  changes: MemberChange[];
}

/** Ids with O(1) add, delete and random pick. */
class IdSet {
  readonly ids: string[] = [];
  private readonly pos = new Map<string, number>();
  get size(): number {
    return this.ids.length;
  }
  has(id: string): boolean {
    return this.pos.has(id);
  }
  add(id: string): void {
    if (this.pos.has(id)) return;
    this.pos.set(id, this.ids.length);
    this.ids.push(id);
  }
  delete(id: string): void {
    const i = this.pos.get(id);
    if (i === undefined) return;
    const last = this.ids.pop() as string;
    this.pos.delete(id);
    if (last !== id) {
      this.ids[i] = last;
      this.pos.set(last, i);
    }
  }
}

interface Queued {
  rec: MemberRecord;
  sent: number;
}

/**
 * Records waiting to be piggybacked, bucketed by how often each was sent, so that taking the
 * least-sent ones costs O(taken), whatever the queue length. One record per member.
 */
class GossipQueue {
  private readonly byId = new Map<string, Queued>();
  /** buckets[s]: the records sent s times, oldest first. */
  private readonly buckets: Map<string, Queued>[] = [];

  get size(): number {
    return this.byId.size;
  }

  get(id: string): Queued | undefined {
    return this.byId.get(id);
  }

  /** Queues `rec`, replacing what was queued about the same member, as never sent. */
  put(rec: MemberRecord): void {
    this.delete(rec.id);
    const q = { rec, sent: 0 };
    this.byId.set(rec.id, q);
    this.bucket(0).set(rec.id, q);
  }

  delete(id: string): void {
    const q = this.byId.get(id);
    if (q === undefined) return;
    this.byId.delete(id);
    this.buckets[q.sent]?.delete(id);
  }

  /** Counts one more sending of `q`; drops it when sent `limit` times. */
  sent(q: Queued, limit: number): void {
    this.buckets[q.sent]?.delete(q.rec.id);
    q.sent++;
    if (q.sent >= limit) this.byId.delete(q.rec.id);
    else this.bucket(q.sent).set(q.rec.id, q);
  }

  /** Appends to `out` up to `room` records, least sent first, skipping member `skip`; counts them sent. */
  take(out: MemberRecord[], room: number, skip: string, limit: number): void {
    const chosen: Queued[] = [];
    for (let s = 0; s < this.buckets.length && chosen.length < room; s++) {
      const b = this.buckets[s];
      if (b === undefined || b.size === 0) continue;
      for (const q of b.values()) {
        if (q.rec.id === skip) continue;
        chosen.push(q);
        if (chosen.length >= room) break;
      }
    }
    for (const q of chosen) {
      out.push(q.rec);
      this.sent(q, limit);
    }
  }

  values(): IterableIterator<Queued> {
    return this.byId.values();
  }

  private bucket(s: number): Map<string, Queued> {
    let b = this.buckets[s];
    if (b === undefined) {
      b = new Map();
      this.buckets[s] = b;
    }
    return b;
  }
}

interface Probe {
  target: string;
  seq: number;
  /** When to ask others (indirect), or Infinity once done. */
  indirectAt: number;
  /** When others were asked (or would have been, with none to ask). */
  indirectSent: number | undefined;
  acked: boolean;
}

interface Relay {
  requester: string;
  seq: number;
  expires: number;
}

export class Swim {
  readonly table: MemberTable;
  private readonly o: SwimOptions;
  private readonly random: () => number;
  /** Alive or suspect, not self: probe and ping-req candidates. */
  private readonly live = new IdSet();
  /** Not left, not self (dead included): push-pull candidates. */
  private readonly known = new IdSet();
  /** Dead in our view, and since when (pinged every second period for deadProbeMs). */
  private readonly dead = new IdSet();
  private readonly deadSince = new Map<string, number>();
  private periods = 0;
  private order: string[] = [];
  private orderIdx = 0;
  private readonly queue = new GossipQueue();
  /** No suspicion times out before this (a lower bound, refreshed by tick). */
  private suspicionWake = Number.POSITIVE_INFINITY;
  /** Member id -> [deadline, incarnation] of its suspicion in our view. */
  private readonly suspicions = new Map<string, { at: number; incarnation: number }>();
  private readonly relays = new Map<number, Relay>();
  /** Members we had suspect/dead that contacted us: what to tell them (see hear()). */
  private readonly tell = new Map<string, MemberRecord>();
  private probe: Probe | undefined;
  private nextPeriod: number;
  private nextPushPull: number;
  private seq = 0;

  constructor(
    self: { id: string; address: string; incarnation: number },
    opts: Partial<SwimOptions>,
    now: number,
    random: () => number = Math.random,
  ) {
    const o = { ...DEFAULT_SWIM, ...opts };
    if (!(o.periodMs > 0) || !(o.probeTimeoutMs > 0) || !(o.probeTimeoutMs < o.periodMs)) {
      throw new RangeError('need 0 < probeTimeoutMs < periodMs');
    }
    if (!(o.suspicionMult > 0) || !(o.retransmitMult > 0) || !(o.pushPullMs > 0) || !(o.directWindowMs > 0) || !(o.deadProbeMs >= 0)) {
      throw new RangeError('suspicionMult, retransmitMult, pushPullMs and directWindowMs must be > 0, deadProbeMs >= 0');
    }
    if (!Number.isInteger(o.indirectProbes) || o.indirectProbes < 0 || !Number.isInteger(o.maxGossip) || o.maxGossip < 1) {
      throw new RangeError('indirectProbes must be an integer >= 0, maxGossip an integer >= 1');
    }
    this.o = o;
    this.random = random;
    this.table = new MemberTable(self, { directWindowMs: o.directWindowMs }, now);
    this.nextPeriod = now + o.periodMs;
    this.nextPushPull = now + o.pushPullMs * (0.5 + random());
  }

  get selfId(): string {
    return this.table.selfId;
  }

  /** The other members alive or suspect in our view (no copy: read it, do not keep it). */
  get liveIds(): readonly string[] {
    return this.live.ids;
  }

  /** Members alive or suspect in our view, self included. */
  get size(): number {
    return this.live.size + 1;
  }

  suspicionTimeoutMs(): number {
    return this.o.suspicionMult * Math.max(1, Math.log10(this.size)) * this.o.periodMs;
  }

  private retransmitLimit(): number {
    return Math.max(1, Math.round(this.o.retransmitMult * Math.ceil(Math.log10(this.size + 1))));
  }

  /** Earliest time tick() has something to do. */
  nextWake(): number {
    let t = Math.min(this.nextPeriod, this.nextPushPull);
    if (this.probe && !this.probe.acked && this.probe.indirectAt < t) t = this.probe.indirectAt;
    if (this.suspicionWake < t) t = this.suspicionWake;
    return t;
  }

  /** Join through a seed: a push-pull with it (our whole table; its answer is its whole table). */
  join(seedId: string): SwimStep {
    const self = this.table.get(this.selfId);
    if (self) this.enqueue({ id: self.id, address: self.address, state: self.state, incarnation: self.incarnation });
    return {
      send: [{ to: seedId, msg: { kind: 'push-pull', from: this.selfId, reply: false, records: this.table.records() } }],
      changes: [],
    };
  }

  /** Adds members we learned out of band (a seed's answer, a bootstrap list) as by push-pull. */
  learn(records: MemberRecord[], now: number): SwimStep {
    const step: SwimStep = { send: [], changes: [] };
    for (const r of records) this.apply(this.table.merge(r, now), step, false, now);
    return step;
  }

  /** Self -> left: queued and sent at once to a few live members. */
  leave(now: number): SwimStep {
    const step: SwimStep = { send: [], changes: [] };
    const c = this.table.leave(now);
    step.changes.push(c);
    this.queue.delete(c.id);
    this.enqueue(c.record);
    for (const to of this.pick(this.o.indirectProbes, undefined))
      this.sendGossip(step, to, { kind: 'ping', from: this.selfId, seq: ++this.seq, gossip: [] });
    return step;
  }

  /**
   * Direct evidence from outside the protocol (e.g. a reply on the replication stream): as any
   * message from `id`. Called per replication reply, so nothing is allocated when our view
   * does not change: the answer is then undefined.
   */
  heard(id: string, now: number): SwimStep | undefined {
    if (id === this.selfId) return undefined;
    const c = this.table.heard(id, now);
    if (c === undefined) return undefined;
    const step: SwimStep = { send: [], changes: [] };
    this.heardChange(c, step, now);
    return step;
  }

  /** Operator removes a member (typically dead): gossiped like any change. */
  markLeft(id: string, now: number): SwimStep {
    const step: SwimStep = { send: [], changes: [] };
    this.apply(this.table.markLeft(id, now), step, true, now);
    return step;
  }

  /** Everything due by `now`: indirect probes, end of period (suspect, next probe), suspicion timeouts, push-pull. */
  tick(now: number): SwimStep {
    const step: SwimStep = { send: [], changes: [] };
    const p = this.probe;
    if (p && !p.acked && now >= p.indirectAt) {
      p.indirectAt = Number.POSITIVE_INFINITY;
      p.indirectSent = now;
      for (const via of this.pick(this.o.indirectProbes, p.target)) {
        this.sendGossip(step, via, {
          kind: 'ping-req',
          from: this.selfId,
          seq: p.seq,
          target: p.target,
          gossip: [],
        });
      }
    }
    if (now >= this.nextPeriod) {
      // our own timing counts: a period end handled late, or indirect probes asked too late to
      // be answered, say more about this node's event loop than about the target
      const late = now - this.nextPeriod > this.o.probeTimeoutMs;
      const conclusive = !late && p?.indirectSent !== undefined && now - p.indirectSent >= this.o.probeTimeoutMs;
      if (p && !p.acked && conclusive) {
        const m = this.table.get(p.target);
        if (m && m.state === 'alive') {
          this.apply(
            this.table.merge({ id: m.id, address: m.address, state: 'suspect', incarnation: m.incarnation }, now),
            step,
            true,
            now,
          );
        }
      }
      this.probe = undefined;
      // late: the next period starts now, so that its probe has a whole period
      if (late) this.nextPeriod = now + this.o.periodMs;
      else while (this.nextPeriod <= now) this.nextPeriod += this.o.periodMs;
      const target = this.nextTarget();
      if (target !== undefined) {
        const seq = ++this.seq;
        this.probe = { target, seq, indirectAt: now + this.o.probeTimeoutMs, indirectSent: undefined, acked: false };
        this.sendGossip(step, target, { kind: 'ping', from: this.selfId, seq, gossip: [] });
      }
      for (const [s, r] of this.relays) if (r.expires <= now) this.relays.delete(s);
      if (++this.periods % 2 === 0) this.pingDead(step, now);
    }
    if (now >= this.suspicionWake) this.expireSuspicions(step, now);
    if (now >= this.nextPushPull) {
      this.nextPushPull = now + this.o.pushPullMs;
      const [to] = this.pickKnown();
      if (to !== undefined)
        step.send.push({ to, msg: { kind: 'push-pull', from: this.selfId, reply: false, records: this.table.records() } });
    }
    return step;
  }

  /** A message from the network. */
  receive(msg: SwimMessage, now: number): SwimStep {
    const step: SwimStep = { send: [], changes: [] };
    const from = msg.from;
    if (msg.kind === 'push-pull') {
      for (const r of msg.records) {
        const rec = r.state === 'dead' && r.id !== this.selfId ? { ...r, state: 'suspect' as const } : r;
        this.apply(this.table.merge(rec, now), step, r.id === from || rec.state === 'suspect', now);
      }
      this.hear(from, step, now);
      if (!msg.reply && from !== this.selfId) {
        const records = this.table.records();
        const told = this.tell.get(from);
        if (told !== undefined) {
          this.tell.delete(from);
          records.push(told);
        }
        step.send.push({ to: from, msg: { kind: 'push-pull', from: this.selfId, reply: true, records } });
      }
      return step;
    }
    for (const r of msg.gossip) this.apply(this.table.merge(r, now), step, true, now);
    this.hear(from, step, now);
    switch (msg.kind) {
      case 'ping':
        this.sendGossip(step, from, { kind: 'ack', from: this.selfId, seq: msg.seq, gossip: [] });
        break;
      case 'ping-req': {
        const seq = ++this.seq;
        this.relays.set(seq, { requester: from, seq: msg.seq, expires: now + this.o.periodMs });
        this.sendGossip(step, msg.target, { kind: 'ping', from: this.selfId, seq, gossip: [] });
        break;
      }
      case 'ack': {
        const p = this.probe;
        if (p && p.seq === msg.seq) {
          p.acked = true;
          // a relayed ack is evidence the target is up too
          if (from !== p.target) this.apply(this.table.heard(p.target, now), step, false, now);
          break;
        }
        const r = this.relays.get(msg.seq);
        if (r) {
          this.relays.delete(msg.seq);
          this.sendGossip(step, r.requester, { kind: 'ack', from: this.selfId, seq: r.seq, gossip: [] });
        }
        break;
      }
    }
    return step;
  }

  /** Records queued for piggybacking (id -> record, times sent), for tests and metrics. */
  queued(): { rec: MemberRecord; sent: number }[] {
    return [...this.queue.values()].map((q) => ({ rec: q.rec, sent: q.sent }));
  }

  // ---- internals ----

  /**
   * Direct evidence from `from` (table heard()). If we had it suspect or dead, the next
   * message to it carries that record, so that it refutes and its refutation spreads (after a
   * partition heals, the first contact across starts the refutations).
   */
  private hear(from: string, step: SwimStep, now: number): void {
    const c = this.table.heard(from, now);
    if (c !== undefined) this.heardChange(c, step, now);
  }

  private heardChange(c: MemberChange, step: SwimStep, now: number): void {
    const r = c.record;
    this.tell.set(c.id, { id: r.id, address: r.address, state: c.from as MemberState, incarnation: r.incarnation });
    this.apply(c, step, false, now);
  }

  /** Suspicions that timed out become dead (when still suspect at the same incarnation). */
  private expireSuspicions(step: SwimStep, now: number): void {
    let wake = Number.POSITIVE_INFINITY;
    for (const [id, s] of this.suspicions) {
      if (s.at > now) {
        if (s.at < wake) wake = s.at;
        continue;
      }
      this.suspicions.delete(id);
      const m = this.table.get(id);
      if (m && m.state === 'suspect' && m.incarnation === s.incarnation) {
        this.apply(this.table.merge({ id, address: m.address, state: 'dead', incarnation: m.incarnation }, now), step, true, now);
      }
    }
    this.suspicionWake = wake;
  }

  /** Records a change of view: sets, order, suspicion timer, and (if `gossip`) the queue. */
  private apply(c: MemberChange | undefined, step: SwimStep, gossip: boolean, now: number): void {
    if (c === undefined) return;
    step.changes.push(c);
    const id = c.id;
    if (id === this.selfId) {
      // a refutation (or our leave): always spread it
      this.enqueue(c.record);
      return;
    }
    const st = c.to;
    if (st === 'alive' || st === 'suspect') {
      if (!this.live.has(id)) {
        this.live.add(id);
        // a new member goes to a random place in the rest of this pass
        const at = this.orderIdx + Math.floor(this.random() * (this.order.length - this.orderIdx + 1));
        this.order.splice(at, 0, id);
      }
    } else this.live.delete(id);
    if (st === 'dead') {
      if (!this.dead.has(id)) {
        this.dead.add(id);
        this.deadSince.set(id, now);
      }
    } else if (this.dead.has(id)) {
      this.dead.delete(id);
      this.deadSince.delete(id);
    }
    if (st === 'left') this.known.delete(id);
    else this.known.add(id);
    if (st === 'suspect') {
      const cur = this.suspicions.get(id);
      if (cur === undefined || cur.incarnation !== c.record.incarnation) {
        const at = now + this.suspicionTimeoutMs();
        this.suspicions.set(id, { at, incarnation: c.record.incarnation });
        if (at < this.suspicionWake) this.suspicionWake = at;
      }
    } else this.suspicions.delete(id);
    if (gossip) this.enqueue(c.record);
  }

  private enqueue(rec: MemberRecord): void {
    this.queue.put(rec);
  }

  /** Pings one member dead in our view for less than deadProbeMs, if any (those dead longer are let be). */
  private pingDead(step: SwimStep, now: number): void {
    while (this.dead.size > 0) {
      const id = this.dead.ids[Math.floor(this.random() * this.dead.size)] as string;
      if (now - (this.deadSince.get(id) ?? now) >= this.o.deadProbeMs) {
        this.dead.delete(id);
        this.deadSince.delete(id);
        continue;
      }
      this.sendGossip(step, id, { kind: 'ping', from: this.selfId, seq: ++this.seq, gossip: [] });
      return;
    }
  }

  /** Next probe target: the shuffled round-robin, skipping members no longer live. */
  private nextTarget(): string | undefined {
    for (let tries = 0; tries < 2; tries++) {
      while (this.orderIdx < this.order.length) {
        const id = this.order[this.orderIdx++] as string;
        if (this.live.has(id)) return id;
      }
      // end of a pass: a fresh shuffle of the live members
      const ids = this.live.ids.slice();
      for (let i = ids.length - 1; i > 0; i--) {
        const j = Math.floor(this.random() * (i + 1));
        const t = ids[i] as string;
        ids[i] = ids[j] as string;
        ids[j] = t;
      }
      this.order = ids;
      this.orderIdx = 0;
    }
    return undefined;
  }

  /** Up to `k` distinct random live members, not `except`. */
  private pick(k: number, except: string | undefined): string[] {
    const ids = this.live.ids;
    const avail = ids.length - (except !== undefined && this.live.has(except) ? 1 : 0);
    const want = Math.min(k, avail);
    const out: string[] = [];
    let guard = 0;
    while (out.length < want && guard++ < 20 * (want + 1) + ids.length) {
      const id = ids[Math.floor(this.random() * ids.length)] as string;
      if (id !== except && !out.includes(id)) out.push(id);
    }
    return out;
  }

  private pickKnown(): string[] {
    const ids = this.known.ids;
    return ids.length === 0 ? [] : [ids[Math.floor(this.random() * ids.length)] as string];
  }

  /** Adds the piggybacked records to `msg` and queues it for `to`. */
  private sendGossip(step: SwimStep, to: string, msg: SwimMessage & { gossip: MemberRecord[] }): void {
    const out = msg.gossip;
    const limit = this.retransmitLimit();
    // what we hold about the recipient first, when it may need to refute it
    const q = this.queue.get(to);
    const told = this.tell.get(to);
    if (told !== undefined) {
      this.tell.delete(to);
      out.push(told);
    } else if (q !== undefined) {
      out.push(q.rec);
      this.queue.sent(q, limit);
    } else if (!this.live.has(to) || this.suspicions.has(to)) {
      const m = this.table.get(to);
      if (m && m.state !== 'alive') out.push({ id: m.id, address: m.address, state: m.state, incarnation: m.incarnation });
    }
    if (this.queue.size > 0 && out.length < this.o.maxGossip) this.queue.take(out, this.o.maxGossip - out.length, to, limit);
    step.send.push({ to, msg });
  }
}
