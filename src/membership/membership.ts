/**
 * Membership adapter around the pure SWIM protocol (src/membership/swim.ts, over the member
 * table): joins the cluster through PEERS (Join on each seed, retried with backoff; DNS names
 * resolved to every address they have, again every DNS_REFRESH_INTERVAL), runs the protocol's
 * timer, carries its messages as peer RPCs and reports every change of view.
 *
 * Messages to RPCs (src/peer/):
 *  - ping → PeerService/Ping with the piggybacked records; the reply is the ack (an incoming
 *    Ping is answered with the ack the protocol gives for it, at once);
 *  - ping-req → PeerService/PingReq; the receiver Pings the target and answers once the
 *    protocol relays the target's ack (acked) or when the period is over (not acked);
 *  - push-pull → Ping with `full` (both sides send every record); a joining node's push-pull
 *    with its seed is ClusterService/Join.
 * Every Ping and PingReq, both ways, also carries every flush mark. Every Ping reply carries
 * the peer's clock on arrival and on reply: a sample for the clock check (clocks.ts), judged
 * again after every reply and change of view. With one probe per period a node measures a
 * few peers at a time; while its verdict is undecided (at start, after changes) it pings up
 * to CLOCK_SAMPLE_PEERS unmeasured live members outside the protocol to measure them.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { formatAddress, parseAddress } from '../config/parse.js';
import type { Logger } from '../log/logger.js';
import type { PeerPool } from '../peer/client.js';
import { marksFromWire, marksToWire, memberFromWire, memberToWire, recordsFromWire, recordToWire } from '../peer/service.js';
import type { PingRequest } from '../protos/generated/peer/cache/peer/v1/PingRequest.js';
import type { FlushMark } from '../store/flushes.js';
import { type ClockChange, ClockOffsets, type ClockVerdict } from './clocks.js';
import { type Envelope, Swim, type SwimMessage, type SwimStep, swimTimings } from './swim.js';
import type { MemberChange, MemberRecord, MemberTable } from './table.js';

/**
 * How long a member that left is remembered (and gossiped as left) before it is forgotten.
 * Far longer than gossip needs to reach every node, so an old alive record of it still
 * circulating somewhere cannot bring it back.
 */
const LEFT_RETENTION_MS = 60 * 60 * 1000;
/** Join retries per seed: first after this, doubling up to SEED_MAX_BACKOFF_MS. */
const SEED_BACKOFF_MS = 200;
const SEED_MAX_BACKOFF_MS = 5_000;
/** Clock samples kept per peer (the estimate is the one with the smallest round trip). */
const CLOCK_SAMPLES = 8;
/** Beyond this many live peers the clock verdict is that of a sample of at least this many (clocks.ts). */
const CLOCK_SAMPLE_PEERS = 8;
/**
 * The protocol's time: monotonic, so that a wall clock set back or forward (the very fault the
 * clock check is there for) does not stop probes or fire suspicions. Clock samples use Date.now().
 */
const mono = (): number => performance.now();
/** A leaving node tells up to this many members directly (the rest by gossip). */
const LEAVE_DIRECT = 64;

export interface MembershipOptions {
  selfId: string;
  address: string;
  defaultPort: number;
  peers: string[];
  heartbeatMs: number;
  suspectMs: number;
  deadMs: number;
  rpcTimeoutMs: number;
  dnsRefreshMs: number;
  /** MAX_CLOCK_OFFSET (ms); 0 = no clock check. */
  maxClockOffsetMs: number;
}

export interface MembershipEvents {
  /** Our view of some members changed. */
  changed(changes: MemberChange[]): void;
  /** Members that left long ago were forgotten. */
  forgotten(ids: string[]): void;
  /** Every seed turned out to be this node itself: a cluster of one, by configuration. Called once. */
  alone(): void;
  /** The clock check's verdict changed (fenced, a peer beyond the bound or back, decided or not). */
  clock(verdict: ClockVerdict, changes: ClockChange[]): void;
}

/** Flush marks travel with the protocol: every Ping, PingReq and their replies carry them all. */
export interface FlushGossip {
  /** The marks this node holds. */
  held(): readonly Readonly<FlushMark>[];
  /** Marks a peer sent (`from`, for the log). */
  received(marks: FlushMark[], from: string): void;
}

export class Membership {
  readonly table: MemberTable;
  /** Clock offsets to the live members and whether ours is off (judged here, decided there). */
  readonly clocks: ClockOffsets;
  private readonly swim: Swim;
  /** Messages sent, by kind: ping (probes, relayed ones included), ping-req, push-pull, other (clock measurements, leave). */
  readonly sent = new Map<'ping' | 'ping-req' | 'push-pull' | 'other', number>();
  private clockDecided = false;
  private readonly timers: NodeJS.Timeout[] = [];
  /** The protocol's next wake-up (Swim.nextWake) and its timer. */
  private wake: NodeJS.Timeout | undefined;
  private wakeAt = Number.POSITIVE_INFINITY;
  /** Incoming PingReqs waiting for their target's ack, by the seq the protocol relays it under. */
  private readonly relaying = new Map<number, (acked: boolean, gossip: MemberRecord[]) => void>();
  private relaySeq = 0;
  /** Members pinged outside the protocol to measure their clocks, answer pending. */
  private readonly clockPings = new Set<string>();
  private readonly seedNextTry = new Map<string, { at: number; delay: number }>();
  /** Seeds that answered a Join: not called again while we have live peers (a seed may be a name or an IP of a known member). */
  private readonly answered = new Set<string>();
  /** Seeds whose Join answer held no member but us: PEERS names this node itself. */
  private readonly selfSeeds = new Set<string>();
  private aloneReported = false;
  private seeds: string[] = [];
  private stopped = false;

  constructor(
    private readonly opts: MembershipOptions,
    private readonly peers: PeerPool,
    private readonly log: Logger,
    private readonly events: MembershipEvents,
    private readonly flushes: FlushGossip,
  ) {
    this.swim = new Swim(
      { id: opts.selfId, address: opts.address, incarnation: Date.now() },
      swimTimings(opts.heartbeatMs, opts.suspectMs, opts.deadMs),
      mono(),
    );
    this.table = this.swim.table;
    this.clocks = new ClockOffsets({
      maxOffsetMs: opts.maxClockOffsetMs,
      samplesPerPeer: CLOCK_SAMPLES,
      // long enough to measure a sample of CLOCK_SAMPLE_PEERS peers at one probe per period
      maxSampleAgeMs: Math.max(opts.deadMs, 2 * CLOCK_SAMPLE_PEERS * opts.heartbeatMs),
      sampleSize: CLOCK_SAMPLE_PEERS,
    });
  }

  /**
   * PEERS names some node other than this one (by address; a name that resolves to this node
   * only turns out so at the first Join, see MembershipEvents.alone).
   */
  get hasOtherSeeds(): boolean {
    const self = formatAddress(parseAddress(this.opts.address));
    return this.opts.peers.some((p) => formatAddress(parseAddress(p, { defaultPort: this.opts.defaultPort })) !== self);
  }

  start(): void {
    this.judgeClocks(Date.now());
    this.schedule();
    this.timers.push(setInterval(() => this.housekeeping(), this.opts.heartbeatMs));
    if (this.opts.peers.length > 0) {
      void this.resolveSeeds();
      this.timers.push(setInterval(() => void this.resolveSeeds(), this.opts.dnsRefreshMs));
      this.timers.push(setInterval(() => this.joinSeeds(), Math.min(SEED_BACKOFF_MS, this.opts.heartbeatMs)));
    }
    for (const t of this.timers) t.unref();
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    clearTimeout(this.wake);
    for (const answer of this.relaying.values()) answer(false, []);
    this.relaying.clear();
  }

  // ---- what other nodes tell us ----

  /** ClusterService.Join: a node announces itself (a push-pull with us); answer with our whole view. */
  join(member: MemberRecord): MemberRecord[] {
    if (member.id === this.opts.selfId) return this.table.records();
    const step = this.swim.receive({ kind: 'push-pull', from: member.id, reply: false, records: [member] }, mono());
    const answer = this.take(step, member.id, 'push-pull');
    this.after(step);
    return answer?.msg.kind === 'push-pull' ? answer.msg.records : this.table.records();
  }

  /** PeerService.Ping: a probe (full: a push-pull); answer with the protocol's ack (or whole table). */
  ping(from: string, members: MemberRecord[], full: boolean): MemberRecord[] {
    const now = mono();
    const step = full
      ? this.swim.receive({ kind: 'push-pull', from, reply: false, records: members }, now)
      : this.swim.receive({ kind: 'ping', from, seq: 0, gossip: members }, now);
    const answer = this.take(step, from, full ? 'push-pull' : 'ack');
    this.after(step);
    if (answer === undefined) return [];
    return answer.msg.kind === 'push-pull' ? answer.msg.records : answer.msg.kind === 'ack' ? answer.msg.gossip : [];
  }

  /** PeerService.PingReq: probe `target` for `from`; answers when the target acked or the period is over. */
  pingReq(from: string, target: string, members: MemberRecord[]): Promise<{ acked: boolean; members: MemberRecord[] }> {
    const seq = ++this.relaySeq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => answer(false, []), this.opts.heartbeatMs);
      const answer = (acked: boolean, gossip: MemberRecord[]) => {
        clearTimeout(timer);
        this.relaying.delete(seq);
        resolve({ acked, members: gossip });
      };
      this.relaying.set(seq, answer);
      this.after(this.swim.receive({ kind: 'ping-req', from, seq, target, gossip: members }, mono()));
    });
  }

  /** Direct evidence from the replication stream (called per reply: nothing allocated unless our view changes). */
  heard(id: string): void {
    const step = this.swim.heard(id, mono());
    if (step !== undefined) this.after(step);
  }

  /**
   * This node leaves: mark self left and tell members now (not only by gossip): the protocol's
   * few at once, and up to LEAVE_DIRECT live members directly; resolves once they answered.
   */
  async announceLeave(): Promise<void> {
    const step = this.swim.leave(mono());
    this.after(step);
    const rec = step.changes[0]!.record; // self, left
    const live = this.swim.liveIds.slice(0, LEAVE_DIRECT);
    this.count('other', live.length);
    await Promise.all(live.map((id) => this.callPing(id, [rec], false, Math.min(this.opts.rpcTimeoutMs, 1_000)).catch(() => undefined)));
  }

  /** Operator removes another (typically dead) node. */
  markLeft(id: string): boolean {
    const step = this.swim.markLeft(id, mono());
    this.after(step);
    return step.changes.length > 0;
  }

  // ---- internals ----

  /** Removes from step.send the message of `kind` to `to` (the answer to an incoming call) and returns it. */
  private take(step: SwimStep, to: string, kind: 'ack' | 'push-pull'): Envelope | undefined {
    const i = step.send.findIndex((e) => e.to === to && e.msg.kind === kind);
    return i < 0 ? undefined : step.send.splice(i, 1)[0];
  }

  /** Sends what the protocol says to send, reports its changes, and sets the next wake-up. */
  private after(step: SwimStep): void {
    for (const e of step.send) this.send(e);
    this.emit(step.changes);
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    const at = this.swim.nextWake();
    if (this.wake !== undefined && at >= this.wakeAt) return;
    clearTimeout(this.wake);
    this.wakeAt = at;
    const timer = setTimeout(
      () => {
        // after this turn's I/O (setImmediate runs after the poll phase): an ack that arrived
        // while the event loop was held up is read before the period's end is judged
        setImmediate(() => {
          if (this.wake !== timer) return; // replaced by an earlier wake-up meanwhile
          this.wake = undefined;
          this.wakeAt = Number.POSITIVE_INFINITY;
          if (!this.stopped) this.after(this.swim.tick(mono()));
        });
      },
      Math.max(0, at - mono()),
    );
    timer.unref();
    this.wake = timer;
  }

  private get pingDeadline(): number {
    return Math.min(this.opts.rpcTimeoutMs, Math.max(this.opts.heartbeatMs * 2, 200));
  }

  /** One protocol message as an RPC. */
  private send(e: Envelope): void {
    if (this.stopped) return;
    const m = e.msg;
    if (m.kind !== 'ack') this.count(m.kind);
    switch (m.kind) {
      case 'ping':
        this.callPing(e.to, m.gossip, false, this.pingDeadline).then(
          (gossip) => this.answeredPing({ kind: 'ack', from: e.to, seq: m.seq, gossip }),
          () => undefined,
        );
        return;
      case 'push-pull':
        // an answer to an incoming push-pull went back as its reply (take); this is ours
        if (m.reply) return;
        this.callPing(e.to, m.records, true, this.opts.rpcTimeoutMs).then(
          (records) => this.answeredPing({ kind: 'push-pull', from: e.to, reply: true, records }),
          () => undefined,
        );
        return;
      case 'ping-req': {
        const req = {
          from: this.opts.selfId,
          target: m.target,
          members: m.gossip.map(recordToWire),
          flushes: marksToWire(this.flushes.held()),
        };
        this.peers.pingReq(e.to, req, this.opts.heartbeatMs + this.pingDeadline).then(
          (res) => {
            this.flushes.received(marksFromWire(res.flushes), e.to);
            // not acked: the helper's records and its being up still count (seq 0 answers nothing)
            const gossip = recordsFromWire(res.members);
            this.after(this.swim.receive({ kind: 'ack', from: e.to, seq: res.acked ? m.seq : 0, gossip }, mono()));
          },
          () => undefined,
        );
        return;
      }
      case 'ack': {
        // acks to incoming Pings went back as their replies (take); this one relays a target's ack
        const answer = this.relaying.get(m.seq);
        if (answer !== undefined) answer(true, m.gossip);
        return;
      }
    }
  }

  private count(kind: 'ping' | 'ping-req' | 'push-pull' | 'other', n = 1): void {
    this.sent.set(kind, (this.sent.get(kind) ?? 0) + n);
  }

  /** A peer answered our Ping: the protocol takes the answer in, and the clocks are judged with the new sample (by emit when the view changed). */
  private answeredPing(msg: SwimMessage): void {
    const step = this.swim.receive(msg, mono());
    this.after(step);
    if (step.changes.length === 0) this.judgeClocks(Date.now());
  }

  /**
   * A Ping RPC: records out, the peer's records back (its flush marks merged, its clock
   * sampled). Rejects when the peer does not answer in time.
   */
  private async callPing(id: string, records: MemberRecord[], full: boolean, timeoutMs: number): Promise<MemberRecord[]> {
    const req: PingRequest = {
      from: this.opts.selfId,
      members: records.map(recordToWire),
      flushes: marksToWire(this.flushes.held()),
      full,
    };
    const t0 = Date.now();
    const res = await this.peers.ping(id, req, timeoutMs);
    const t = Date.now();
    this.flushes.received(marksFromWire(res.flushes), id);
    if (res.from === id) {
      if (res.received_at_ms > 0 && res.replied_at_ms > 0)
        this.clocks.record(id, { t0, t1: res.received_at_ms, t2: res.replied_at_ms, t3: t });
      else this.clocks.recordUnmeasurable(id, t); // an older node: no clock in its reply
    }
    return recordsFromWire(res.members);
  }

  private emit(changes: MemberChange[]): void {
    if (changes.length === 0) return;
    for (const c of changes) {
      if (c.from !== c.to)
        this.log.info(
          { member: c.id, from: c.from ?? 'unknown', to: c.to, address: c.record.address },
          `member ${c.id} ${c.from ?? 'new'} -> ${c.to}`,
        );
    }
    // the live set changed: judge the clocks against it before anyone acts on the change
    this.judgeClocks(Date.now());
    this.events.changed(changes);
  }

  /** Judges our clock against the live members; reports the verdict when it changed; measures more peers while undecided. */
  private judgeClocks(now: number): void {
    const live = this.swim.liveIds;
    const changes = this.clocks.judge(live, now);
    const v = this.clocks.verdict;
    if (!v.decided) this.measureClocks(live, now);
    if (changes.length === 0 && v.decided === this.clockDecided) return;
    this.clockDecided = v.decided;
    this.events.clock(v, changes);
  }

  /** Pings (outside the protocol) unmeasured live members, at most CLOCK_SAMPLE_PEERS at a time. */
  private measureClocks(live: readonly string[], now: number): void {
    if (this.stopped) return;
    for (const id of live) {
      if (this.clockPings.size >= CLOCK_SAMPLE_PEERS) return;
      if (this.clockPings.has(id) || this.clocks.estimate(id, now) !== undefined) continue;
      this.clockPings.add(id);
      this.count('other');
      this.callPing(id, [], false, this.pingDeadline)
        .then(
          (gossip) => this.answeredPing({ kind: 'ack', from: id, seq: 0, gossip }),
          () => undefined,
        )
        .finally(() => this.clockPings.delete(id));
    }
  }

  private housekeeping(): void {
    if (this.stopped) return;
    this.judgeClocks(Date.now());
    // forget members that left long ago, so that a cluster whose node ids keep changing
    // (e.g. pods without stable names) does not gossip an ever longer member list
    const forgotten = this.table.prune(mono(), LEFT_RETENTION_MS);
    if (forgotten.length > 0) this.events.forgotten(forgotten);
  }

  /** Resolves PEERS to host:port seeds; a name may stand for several addresses (headless service). */
  private async resolveSeeds(): Promise<void> {
    const out = new Set<string>();
    for (const entry of this.opts.peers) {
      const { host, port } = parseAddress(entry, { defaultPort: this.opts.defaultPort });
      if (isIP(host)) {
        out.add(formatAddress({ host, port }));
        continue;
      }
      try {
        const addrs = await lookup(host, { all: true });
        // The name itself stays a seed (works through a resolver change); each address too.
        out.add(formatAddress({ host, port }));
        if (addrs.length > 1) for (const a of addrs) out.add(formatAddress({ host: a.address, port }));
      } catch (err) {
        this.log.debug({ host, err: (err as Error).message }, 'peer name does not resolve yet');
      }
    }
    this.seeds = [...out];
  }

  /** Calls Join on every seed that is not yet a known member, with per-seed exponential backoff. */
  private joinSeeds(): void {
    if (this.stopped) return;
    const members = this.table.list();
    const known = new Set(members.filter((m) => m.state !== 'left').map((m) => m.address));
    // Alone (every peer gone or never reached): call every seed again, but seeds that are
    // this node itself only at their backoff pace.
    if (!members.some((m) => m.id !== this.opts.selfId && (m.state === 'alive' || m.state === 'suspect'))) this.answered.clear();
    const now = mono();
    for (const seed of this.seeds) {
      if (seed === this.opts.address || known.has(seed) || this.answered.has(seed)) continue;
      const next = this.seedNextTry.get(seed) ?? { at: 0, delay: SEED_BACKOFF_MS };
      if (next.at > now) continue;
      this.seedNextTry.set(seed, { at: now + next.delay, delay: Math.min(next.delay * 2, SEED_MAX_BACKOFF_MS) });
      const self = this.table.get(this.opts.selfId)!;
      this.peers.join(seed, { member: memberToWire(self) }).then(
        (res) =>
          this.joined(
            seed,
            res.members.flatMap((m) => memberFromWire(m) ?? []),
          ),
        (err: { details?: string }) => {
          this.log.debug({ seed, err: err.details }, 'join attempt failed; will retry');
        },
      );
    }
  }

  /** A seed answered our Join with its whole view: the reply of a push-pull with it. */
  private joined(seed: string, recs: MemberRecord[]): void {
    if (recs.every((r) => r.id === this.opts.selfId)) {
      // The seed is this node (e.g. PEERS lists every node, this one included): keep its backoff.
      this.selfSeeds.add(seed);
      if (!this.aloneReported && this.seeds.every((x) => x === this.opts.address || this.selfSeeds.has(x))) {
        this.aloneReported = true;
        this.events.alone();
      }
      return;
    }
    this.seedNextTry.delete(seed);
    const first = !this.answered.has(seed);
    this.answered.add(seed);
    const now = mono();
    const seedId = recs.find((r) => r.id !== this.opts.selfId && r.address === seed)?.id;
    const step =
      seedId === undefined
        ? this.swim.learn(recs, now) // a seed named by DNS: who answered is not known by its address
        : this.swim.receive({ kind: 'push-pull', from: seedId, reply: true, records: recs }, now);
    if (step.changes.length > 0 || first) this.log.info({ seed, members: recs.length }, `joined the cluster through ${seed}`);
    this.after(step);
  }
}
