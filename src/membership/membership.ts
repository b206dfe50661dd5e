/**
 * Membership adapter: joins the cluster through PEERS (retrying with backoff, resolving DNS
 * names to every address they have, again every DNS_REFRESH_INTERVAL), pings every member
 * each HEARTBEAT_INTERVAL carrying its view of the membership (gossip), and drives the pure
 * MemberTable's failure detector. Reports every change of view to onChange.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../log/logger.js';
import { MemberTable, type MemberChange, type MemberRecord, isMemberState } from './table.js';
import { clientFor, definitions } from '../server/protos.js';
import { channelOptions } from '../replication/peers.js';

/**
 * How long a member that left is remembered (and gossiped as left) before it is forgotten.
 * Far longer than gossip needs to reach every node, so an old alive record of it still
 * circulating somewhere cannot bring it back.
 */
const LEFT_RETENTION_MS = 60 * 60 * 1000;

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
}

interface WireMember { id?: string; address?: string; state?: string; incarnation?: number | string }

/** Wire (peer proto) <-> table records; records with bad fields are dropped. */
export function recordsFromWire(ms: WireMember[] | undefined): MemberRecord[] {
  const out: MemberRecord[] = [];
  for (const m of ms ?? []) {
    const inc = Number(m.incarnation ?? 0);
    if (m.id && m.address && isMemberState(m.state) && Number.isSafeInteger(inc)) {
      out.push({ id: m.id, address: m.address, state: m.state, incarnation: inc });
    }
  }
  return out;
}

type PingFn = (address: string, req: object, deadlineMs: number, cb: (err: grpc.ServiceError | null, res?: { from?: string; members?: WireMember[] }) => void) => void;

export class Membership {
  readonly table: MemberTable;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly peerClients = new Map<string, grpc.Client>();
  private readonly seedClients = new Map<string, grpc.Client>();
  private readonly seedNextTry = new Map<string, { at: number; delay: number }>();
  /** Seeds that answered a Join: not called again while we have live peers (a seed may be a name or an IP of a known member). */
  private readonly answered = new Set<string>();
  /** Seeds whose Join answer held no member but us: PEERS names this node itself. */
  private readonly selfSeeds = new Set<string>();
  /** Called once every seed turned out to be this node (a cluster of one by configuration). */
  onOnlySelf: () => void = () => undefined;
  private seeds: string[] = [];
  private stopped = false;
  private pingsInFlight = new Set<string>();

  constructor(
    private readonly opts: MembershipOptions,
    private readonly log: Logger,
    private readonly onChange: (changes: MemberChange[]) => void,
  ) {
    this.table = new MemberTable(
      { id: opts.selfId, address: opts.address, incarnation: Date.now() },
      { suspectAfterMs: opts.suspectMs, deadAfterMs: opts.deadMs },
      Date.now(),
    );
  }

  start(): void {
    this.timers.push(setInterval(() => this.heartbeat(), this.opts.heartbeatMs));
    if (this.opts.peers.length > 0) {
      void this.resolveSeeds();
      this.timers.push(setInterval(() => void this.resolveSeeds(), this.opts.dnsRefreshMs));
      this.timers.push(setInterval(() => this.joinSeeds(), Math.min(200, this.opts.heartbeatMs)));
    }
    for (const t of this.timers) t.unref();
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    for (const c of this.peerClients.values()) c.close();
    for (const c of this.seedClients.values()) c.close();
    this.peerClients.clear();
    this.seedClients.clear();
  }

  // ---- handlers for the RPCs other nodes send us ----

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
    await Promise.all(this.table.probeTargets().map((id) => new Promise<void>((resolve) => {
      const addr = this.table.addressOf(id);
      if (!addr) { resolve(); return; }
      this.sendPing(addr, Math.min(this.opts.rpcTimeoutMs, 1_000), () => resolve());
    })));
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
      if (c.from !== c.to) this.log.info({ member: c.id, from: c.from ?? 'unknown', to: c.to, address: c.record.address }, `member ${c.id} ${c.from ?? 'new'} -> ${c.to}`);
    }
    this.onChange(changes);
  }

  private heartbeat(): void {
    if (this.stopped) return;
    const now = Date.now();
    for (const id of this.table.probeTargets()) {
      const m = this.table.get(id);
      if (!m || this.pingsInFlight.has(id)) continue;
      this.pingsInFlight.add(id);
      this.sendPing(m.address, Math.min(this.opts.rpcTimeoutMs, Math.max(this.opts.heartbeatMs * 2, 200)), (err, res) => {
        this.pingsInFlight.delete(id);
        if (err || !res) return;
        const t = Date.now();
        const changes = this.table.mergeAll(recordsFromWire(res.members), t);
        if (res.from === id) {
          const h = this.table.heard(id, t);
          if (h) changes.push(h);
        }
        this.emit(changes);
      });
    }
    this.emit(this.table.tick(now));
    // forget members that left long ago, so that a cluster whose node ids keep changing
    // (e.g. pods without stable names) does not gossip an ever longer member list
    this.table.prune(now, LEFT_RETENTION_MS);
  }

  private sendPing(address: string, deadlineMs: number, cb: Parameters<PingFn>[3]): void {
    const c = this.peerClientFor(address);
    const req = { from: this.opts.selfId, members: this.table.records(), digest: this.table.digest() };
    (c as unknown as Record<string, Function>).Ping(req, { deadline: Date.now() + deadlineMs }, cb);
  }

  private peerClientFor(address: string): grpc.Client {
    let c = this.peerClients.get(address);
    if (!c) {
      const Ctor = clientFor(definitions().peerDef, 'cache.peer.v1.PeerService');
      c = new Ctor(address, grpc.credentials.createInsecure(), channelOptions(4 * 1024 * 1024));
      this.peerClients.set(address, c);
    }
    return c;
  }

  /** Resolves PEERS to host:port seeds; a name may stand for several addresses (headless service). */
  private async resolveSeeds(): Promise<void> {
    const out = new Set<string>();
    for (const entry of this.opts.peers) {
      const m = /^(.*?)(?::(\d+))?$/.exec(entry)!;
      const host = m[1].replace(/^\[|\]$/g, '');
      const port = m[2] ? Number(m[2]) : this.opts.defaultPort;
      if (isIP(host)) { out.add(`${isIP(host) === 6 ? `[${host}]` : host}:${port}`); continue; }
      try {
        const addrs = await lookup(host, { all: true });
        // The name itself stays a seed (works through a resolver change); each address too.
        out.add(`${host}:${port}`);
        if (addrs.length > 1) for (const a of addrs) out.add(`${a.family === 6 ? `[${a.address}]` : a.address}:${port}`);
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
    // Alone (every peer gone or never reached): call every seed again.
    if (!members.some((m) => m.id !== this.opts.selfId && (m.state === 'alive' || m.state === 'suspect'))) this.answered.clear();
    const now = Date.now();
    for (const seed of this.seeds) {
      if (seed === this.opts.address || known.has(seed) || this.answered.has(seed)) continue;
      const next = this.seedNextTry.get(seed) ?? { at: 0, delay: 200 };
      if (next.at > now) continue;
      this.seedNextTry.set(seed, { at: now + next.delay, delay: Math.min(next.delay * 2, 5_000) });
      let c = this.seedClients.get(seed);
      if (!c) {
        const Ctor = clientFor(definitions().publicDef, 'cache.v1.ClusterService');
        c = new Ctor(seed, grpc.credentials.createInsecure(), channelOptions(4 * 1024 * 1024));
        this.seedClients.set(seed, c);
      }
      const self = this.table.get(this.opts.selfId)!;
      const member = { node_id: self.id, address: self.address, state: 1, incarnation: String(self.incarnation) };
      (c as unknown as Record<string, Function>).Join({ member }, { deadline: now + this.opts.rpcTimeoutMs },
        (err: grpc.ServiceError | null, res?: { members?: { node_id?: string; address?: string; state?: number; incarnation?: string }[] }) => {
          if (err || !res) {
            this.log.debug({ seed, err: err?.details }, 'join attempt failed; will retry');
            return;
          }
          const recs = recordsFromWire((res.members ?? []).map((m) => ({
            id: m.node_id, address: m.address, state: STATE_NAMES[m.state ?? 0], incarnation: m.incarnation,
          })));
          if (recs.every((r) => r.id === this.opts.selfId)) {
            this.selfSeeds.add(seed);
            if (this.seeds.every((x) => x === this.opts.address || this.selfSeeds.has(x))) this.onOnlySelf();
          }
          this.seedNextTry.delete(seed);
          const first = !this.answered.has(seed);
          this.answered.add(seed);
          const t = Date.now();
          const changes = this.table.mergeAll(recs, t);
          for (const r of recs) if (r.id !== this.opts.selfId && r.address === seed) { const h = this.table.heard(r.id, t); if (h) changes.push(h); }
          if (changes.length > 0 || first) this.log.info({ seed, members: recs.length }, `joined the cluster through ${seed}`);
          this.emit(changes);
        });
    }
  }
}

/** cache.v1.MemberState numbers <-> table states. */
export const STATE_NAMES: Record<number, string> = { 1: 'alive', 2: 'suspect', 3: 'dead', 4: 'left' };
export const STATE_NUMBERS: Record<string, number> = { alive: 1, suspect: 2, dead: 3, left: 4 };
