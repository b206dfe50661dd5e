/**
 * Membership adapter around the pure MemberTable: joins the cluster through PEERS (Join on
 * each seed, retried with backoff; DNS names resolved to every address they have, again
 * every DNS_REFRESH_INTERVAL), sends a heartbeat Ping to every member each
 * HEARTBEAT_INTERVAL carrying this node's member records (gossip; the reply carries the
 * peer's; both also carry every flush mark), drives the table's failure detector, and
 * reports every change of view. Each Ping reply also carries the peer's clock on arrival and
 * on reply: the samples go to the clock check (src/membership/clocks.ts), judged again after
 * every reply, heartbeat and change of view, whose verdict changes are reported too.
 * Heartbeats are all-to-all (fine for the few dozen nodes a cluster has today); a member
 * seen for the first time is pinged at once (its clock is measured before it is relied on).
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { formatAddress, parseAddress } from '../config/parse.js';
import type { Logger } from '../log/logger.js';
import type { PeerPool } from '../peer/client.js';
import { marksFromWire, marksToWire, memberFromWire, memberToWire, recordsFromWire, recordToWire } from '../peer/service.js';
import type { FlushMark } from '../store/flushes.js';
import { type ClockChange, ClockOffsets, type ClockVerdict } from './clocks.js';
import { type MemberChange, type MemberRecord, MemberTable } from './table.js';

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

/** Flush marks travel with the heartbeat: every Ping and Ping reply carries them all. */
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
  private clockDecided = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly seedNextTry = new Map<string, { at: number; delay: number }>();
  /** Seeds that answered a Join: not called again while we have live peers (a seed may be a name or an IP of a known member). */
  private readonly answered = new Set<string>();
  /** Seeds whose Join answer held no member but us: PEERS names this node itself. */
  private readonly selfSeeds = new Set<string>();
  private aloneReported = false;
  private seeds: string[] = [];
  private stopped = false;
  private readonly pingsInFlight = new Set<string>();

  constructor(
    private readonly opts: MembershipOptions,
    private readonly peers: PeerPool,
    private readonly log: Logger,
    private readonly events: MembershipEvents,
    private readonly flushes: FlushGossip,
  ) {
    this.table = new MemberTable(
      { id: opts.selfId, address: opts.address, incarnation: Date.now() },
      { suspectAfterMs: opts.suspectMs, deadAfterMs: opts.deadMs },
      Date.now(),
    );
    this.clocks = new ClockOffsets({
      maxOffsetMs: opts.maxClockOffsetMs,
      samplesPerPeer: CLOCK_SAMPLES,
      maxSampleAgeMs: Math.max(opts.deadMs, CLOCK_SAMPLES * opts.heartbeatMs),
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
    this.timers.push(setInterval(() => this.heartbeat(), this.opts.heartbeatMs));
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
  }

  // ---- what other nodes tell us ----

  /** ClusterService.Join: a node announces itself; answer with our whole view. */
  join(member: MemberRecord): MemberRecord[] {
    const now = Date.now();
    const changes: MemberChange[] = [];
    if (member.id !== this.opts.selfId) {
      const c = this.table.merge(member, now);
      if (c) changes.push(c);
      const h = this.table.heard(member.id, now);
      if (h) changes.push(h);
    }
    this.emit(changes);
    return this.table.records();
  }

  /** PeerService.Ping: merge the sender's view, count it as heard, answer with ours. */
  ping(from: string, members: MemberRecord[]): MemberRecord[] {
    const now = Date.now();
    const changes = this.table.mergeAll(members, now);
    if (from && from !== this.opts.selfId) {
      const h = this.table.heard(from, now);
      if (h) changes.push(h);
    }
    this.emit(changes);
    return this.table.records();
  }

  /** Direct evidence from the replication stream. */
  heard(id: string): void {
    const c = this.table.heard(id, Date.now());
    if (c) this.emit([c]);
  }

  /** This node leaves: mark self left and tell every member now (not only by gossip). */
  async announceLeave(): Promise<void> {
    this.emit([this.table.leave(Date.now())]);
    await Promise.all(
      this.table.probeTargets().map((id) => this.sendPing(id, Math.min(this.opts.rpcTimeoutMs, 1_000)).catch(() => undefined)),
    );
  }

  /** Operator removes another (typically dead) node. */
  markLeft(id: string): boolean {
    const c = this.table.markLeft(id, Date.now());
    if (c) this.emit([c]);
    return c !== undefined;
  }

  // ---- internals ----

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
    for (const c of changes) if (c.from === undefined && c.to !== 'left' && c.id !== this.opts.selfId) this.probe(c.id);
  }

  /** Judges our clock against the live members; reports the verdict when it changed. */
  private judgeClocks(now: number): void {
    const live = this.table
      .list()
      .filter((m) => m.id !== this.opts.selfId && (m.state === 'alive' || m.state === 'suspect'))
      .map((m) => m.id);
    const changes = this.clocks.judge(live, now);
    const v = this.clocks.verdict;
    if (changes.length === 0 && v.decided === this.clockDecided) return;
    this.clockDecided = v.decided;
    this.events.clock(v, changes);
  }

  private get pingDeadline(): number {
    return Math.min(this.opts.rpcTimeoutMs, Math.max(this.opts.heartbeatMs * 2, 200));
  }

  /** One heartbeat Ping to a member: gossip both ways, direct evidence, a clock sample. */
  private probe(id: string): void {
    if (this.stopped || this.pingsInFlight.has(id)) return;
    this.pingsInFlight.add(id);
    const t0 = Date.now();
    this.sendPing(id, this.pingDeadline)
      .then(
        (res) => {
          const t = Date.now();
          const changes = this.table.mergeAll(recordsFromWire(res.members), t);
          this.flushes.received(marksFromWire(res.flushes), id);
          if (res.from === id) {
            const h = this.table.heard(id, t);
            if (h) changes.push(h);
            if (res.received_at_ms > 0 && res.replied_at_ms > 0)
              this.clocks.record(id, { t0, t1: res.received_at_ms, t2: res.replied_at_ms, t3: t });
            else this.clocks.recordUnmeasurable(id, t); // an older node: no clock in its reply
          }
          this.emit(changes);
          this.judgeClocks(t);
        },
        () => undefined,
      )
      .finally(() => this.pingsInFlight.delete(id));
  }

  private heartbeat(): void {
    if (this.stopped) return;
    const now = Date.now();
    for (const id of this.table.probeTargets()) this.probe(id);
    this.emit(this.table.tick(now));
    this.judgeClocks(now);
    // forget members that left long ago, so that a cluster whose node ids keep changing
    // (e.g. pods without stable names) does not gossip an ever longer member list
    const forgotten = this.table.prune(now, LEFT_RETENTION_MS);
    if (forgotten.length > 0) this.events.forgotten(forgotten);
  }

  private sendPing(id: string, timeoutMs: number) {
    const req = { from: this.opts.selfId, members: this.table.records().map(recordToWire), flushes: marksToWire(this.flushes.held()) };
    return this.peers.ping(id, req, timeoutMs);
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
    const now = Date.now();
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
    const t = Date.now();
    const changes = this.table.mergeAll(recs, t);
    for (const r of recs)
      if (r.id !== this.opts.selfId && r.address === seed) {
        const h = this.table.heard(r.id, t);
        if (h) changes.push(h);
      }
    if (changes.length > 0 || first) this.log.info({ seed, members: recs.length }, `joined the cluster through ${seed}`);
    this.emit(changes);
  }
}
