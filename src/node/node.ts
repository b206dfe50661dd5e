/**
 * A cache node: the composition root. Wires config, store, clock, ring, membership,
 * replication and the gRPC server together, runs the node's timers, and stops gracefully
 * (hand-off included). Everything it wires is a module of its own; this file only connects.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Config } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import { Store, type EntryRecord } from '../store/store.js';
import { HybridClock } from '../hlc/hlc.js';
import { HashRing } from '../ring/ring.js';
import { Coordinator, type Placement } from '../replication/coordinator.js';
import { PeerPool } from '../replication/peers.js';
import { HintStore } from '../replication/hints.js';
import { Rebalancer } from '../replication/rebalance.js';
import { peerServiceHandlers } from '../replication/peer-service.js';
import { Membership, recordsFromWire } from '../membership/membership.js';
import { AntiEntropy } from '../antientropy/antientropy.js';
import { Metrics } from '../metrics/metrics.js';
import type { MemberChange } from '../membership/table.js';
import { createAdmission } from '../ratelimit/limiter.js';
import { RequestGate } from '../server/gate.js';
import { cacheServiceHandlers } from '../server/cache-service.js';
import { clusterServiceHandlers } from '../server/cluster-service.js';
import { bind, createServer, setServing, type ServerParts } from '../server/server.js';
import { toStatus } from '../server/status.js';

/** Per-entry framing a value must leave room for inside MAX_*_MSG_SIZE. */
const FRAMING_BYTES = 64;
const SWEEP_INTERVAL_MS = 250;
const SWEEP_BUDGET = 2_000;
const HINT_INTERVAL_MS = 250;
const HINT_BATCH = 512;
/** An incarnation that jumps by more than this is a restart (boot time), not a refutation (+1). */
const RESTART_JUMP = 1_000;
/** After a ring change, reads also consult the previous replicas for at least this long (and while keys still stream). */
const TRANSITION_MS = 10_000;

export class CacheNode {
  readonly store: Store;
  readonly clock: HybridClock;
  readonly coordinator: Coordinator;
  readonly membership: Membership;
  readonly peers: PeerPool;
  readonly hints: HintStore;
  readonly rebalancer: Rebalancer;
  readonly antiEntropy: AntiEntropy;
  ring: HashRing;
  /** The ring before the current change, while keys may still be streaming to new owners. */
  private previousRing?: HashRing;
  private transitionUntil = 0;
  readonly metrics?: Metrics;
  private readonly gate: RequestGate;
  private parts?: ServerParts;
  private readonly timers: NodeJS.Timeout[] = [];
  private stopping?: Promise<void>;
  private leaving = false;
  private readonly incarnations = new Map<string, number>();
  private readonly delivering = new Set<string>();
  readonly startedAt = Date.now();
  boundPort = 0;

  /** Called when this node was asked to leave through the Leave RPC (main exits afterwards). */
  onLeaveRequested: () => void = () => void this.stop();

  constructor(readonly cfg: Config, readonly log: Logger) {
    const self = cfg.NODE_ID;
    this.store = new Store({
      shards: cfg.NUM_SHARDS,
      capacity: cfg.CAPACITY,
      maxMemoryBytes: cfg.MAX_MEMORY,
      policy: cfg.EVICTION_POLICY,
      tombstoneGraceMs: cfg.TOMBSTONE_GRACE,
    });
    this.clock = new HybridClock(self);
    this.hints = new HintStore(cfg.MAX_HINTS);
    this.membership = new Membership({
      selfId: self,
      address: cfg.ADDR,
      defaultPort: cfg.port,
      peers: cfg.PEERS,
      heartbeatMs: cfg.HEARTBEAT_INTERVAL,
      suspectMs: cfg.SUSPECT_TIMEOUT,
      deadMs: cfg.DEAD_TIMEOUT,
      rpcTimeoutMs: cfg.RPC_TIMEOUT,
      dnsRefreshMs: cfg.DNS_REFRESH_INTERVAL,
    }, log, (changes) => this.membershipChanged(changes));
    const table = this.membership.table;
    this.ring = this.buildRing();
    this.peers = new PeerPool(this.clock, {
      selfId: self,
      timeoutMs: cfg.RPC_TIMEOUT,
      maxBatchOps: 512,
      maxBatchBytes: Math.max(64 * 1024, Math.floor(cfg.MAX_RECV_MSG_SIZE / 2)),
      maxMessageBytes: Math.max(cfg.MAX_RECV_MSG_SIZE, cfg.MAX_SEND_MSG_SIZE) * 4 + 1024 * 1024,
    }, (id) => table.addressOf(id), log, (id) => this.membership.heard(id));
    const rf = cfg.REPLICATION_FACTOR;
    const placement: Placement = {
      replicas: (key) => this.ring.preferenceList(key, rf),
      previousReplicas: (key) => {
        const prev = this.previousRing;
        if (prev === undefined) return undefined;
        if (Date.now() > this.transitionUntil && !this.rebalancer.busy) {
          this.previousRing = undefined;
          return undefined;
        }
        return prev.preferenceList(key, rf);
      },
      isReachable: (id) => {
        const s = table.get(id)?.state;
        return s === 'alive' || s === 'suspect';
      },
    };
    this.coordinator = new Coordinator(this.store, this.clock, placement, this.peers, this.hints, {
      selfId: self,
      writeQuorum: cfg.WRITE_QUORUM,
      readQuorum: cfg.READ_QUORUM,
      defaultTtlMs: cfg.TTL,
      speculativeReadMs: cfg.SPECULATIVE_READ_DELAY,
    });
    this.rebalancer = new Rebalancer(this.store, self, rf, this.peers, log);
    this.rebalancer.init(this.ring);
    this.antiEntropy = new AntiEntropy(this.store, self, rf, () => this.ring, this.peers,
      (id) => table.get(id)?.state === 'alive', cfg.RPC_TIMEOUT, log);
    this.gate = new RequestGate(createAdmission(cfg.RATE_LIMIT, cfg.RATE_LIMIT_BURST));
    // A node configured with peers serves data only once it knows at least one of them:
    // alone, it would take its own empty store for the whole cluster (stale reads, and
    // writes acknowledged by no real quorum).
    const others = cfg.PEERS.filter((p) => p !== cfg.ADDR && `${p}:${cfg.port}` !== cfg.ADDR);
    if (others.length > 0) {
      this.gate.notReady = `node has not joined its cluster yet (PEERS=${cfg.PEERS.join(',')}); retry shortly or call another node`;
      this.membership.onOnlySelf = () => this.ready('every PEERS entry is this node itself');
    }
    if (cfg.METRICS_ADDR) this.metrics = new Metrics(() => this.counters(), self);
  }

  private counters() {
    const s = this.store.stats();
    const membersByState: Record<string, number> = {};
    for (const m of this.membership.table.list()) membersByState[m.state] = (membersByState[m.state] ?? 0) + 1;
    return {
      hits: this.coordinator.stats.hits, misses: this.coordinator.stats.misses, evictions: s.evictions, expirations: s.expirations,
      items: s.items, tombstones: s.tombstones, bytes: s.bytes,
      quorumFailures: this.coordinator.stats.quorumFailures, readRepairs: this.coordinator.stats.readRepairs,
      hintsPending: this.hints.pending, hintsDelivered: this.hints.delivered, hintsDropped: this.hints.dropped,
      antiEntropyRounds: this.antiEntropy.stats.rounds, antiEntropyKeysRepaired: this.antiEntropy.stats.keysRepaired,
      rebalanceKeysSent: this.rebalancer.stats.keysSent,
      membersByState,
    };
  }

  async start(): Promise<void> {
    const cfg = this.cfg;
    const maxValueBytes = Math.min(cfg.MAX_RECV_MSG_SIZE, cfg.MAX_SEND_MSG_SIZE) - cfg.MAX_KEY_SIZE - FRAMING_BYTES;
    const services: Record<string, grpc.UntypedServiceImplementation> = {
      'cache.v1.CacheService': cacheServiceHandlers(this.coordinator, this.gate, {
        maxKeyBytes: cfg.MAX_KEY_SIZE,
        maxValueBytes: Math.max(0, maxValueBytes),
        maxTtlMs: 10 * 365 * 86_400_000,
      }, this.log, this.metrics),
      'cache.v1.ClusterService': clusterServiceHandlers({
        selfId: cfg.NODE_ID,
        replicationFactor: cfg.REPLICATION_FACTOR,
        vnodes: cfg.VNODES,
        join: (m) => this.membership.join(m),
        members: () => this.membership.table.list(),
        ringVersion: () => this.ring.version,
        leave: (id) => {
          if (id === cfg.NODE_ID) { setImmediate(() => this.onLeaveRequested()); return true; }
          return this.membership.markLeft(id);
        },
        stats: () => this.statsSnapshot(),
      }),
      'cache.peer.v1.PeerService': peerServiceHandlers(this.store, this.clock, {
        heard: (id) => this.membership.heard(id),
        accepting: () => !this.leaving,
      }, this.log, {
        Ping: (call: grpc.ServerUnaryCall<{ from?: string; members?: [] }, unknown>, reply: grpc.sendUnaryData<unknown>) => {
          const members = this.membership.ping(call.request.from ?? '', recordsFromWire(call.request.members));
          reply(null, { from: cfg.NODE_ID, members, digest: this.membership.table.digest() });
        },
        TreeHashes: (call: grpc.ServerUnaryCall<{ range_id?: string; level?: number; indexes?: number[] }, unknown>, reply: grpc.sendUnaryData<unknown>) => {
          const r = call.request;
          this.antiEntropy.treeHashes(r.range_id ?? '', r.level ?? 0, r.indexes ?? [])
            .then((hashes) => reply(null, { hashes }), (err: Error) => reply(toStatus(err)));
        },
        BucketEntries: (call: grpc.ServerUnaryCall<{ range_id?: string; buckets?: number[] }, unknown>, reply: grpc.sendUnaryData<unknown>) => {
          this.antiEntropy.bucketEntriesFor(call.request.range_id ?? '', call.request.buckets ?? [])
            .then((entries) => reply(null, { entries }), (err: Error) => reply(toStatus(err)));
        },
      }),
    };
    this.parts = createServer({ maxRecv: cfg.MAX_RECV_MSG_SIZE, maxSend: cfg.MAX_SEND_MSG_SIZE }, services);
    this.boundPort = await bind(this.parts.server, cfg.LISTEN_ADDR);
    if (this.metrics) {
      const port = await this.metrics.listen(cfg.METRICS_ADDR);
      this.log.info({ metrics: cfg.METRICS_ADDR, port }, `metrics at http://${cfg.METRICS_ADDR}/metrics`);
    }
    this.every(SWEEP_INTERVAL_MS, () => this.store.sweep(SWEEP_BUDGET));
    this.every(HINT_INTERVAL_MS, () => this.deliverHints());
    this.membership.start();
    this.antiEntropy.start(cfg.ANTI_ENTROPY_INTERVAL);
    setServing(this.parts.health, true);
    this.log.info({ addr: cfg.ADDR, listen: cfg.LISTEN_ADDR, port: this.boundPort, pid: process.pid, peers: cfg.PEERS },
      `cache node ${cfg.NODE_ID} listening on ${cfg.LISTEN_ADDR}`);
  }

  /** Graceful stop: NOT_SERVING, refuse new calls, finish calls in flight, hand data on, leave. Bounded by SHUTDOWN_TIMEOUT. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  /** ClusterService.Stats answer (the Merkle root scans the store in slices, hence async). */
  async statsSnapshot(): Promise<Record<string, number | string>> {
    const c = this.counters();
    return {
      node_id: this.cfg.NODE_ID,
      items: c.items,
      tombstones: c.tombstones,
      bytes: c.bytes,
      hits: c.hits,
      misses: c.misses,
      evictions: c.evictions,
      expirations: c.expirations,
      hints_pending: c.hintsPending,
      hints_delivered: c.hintsDelivered,
      hints_dropped: c.hintsDropped,
      read_repairs: c.readRepairs,
      quorum_failures: c.quorumFailures,
      anti_entropy_last_ms: this.antiEntropy.stats.lastRoundAt,
      anti_entropy_rounds: c.antiEntropyRounds,
      anti_entropy_keys_repaired: c.antiEntropyKeysRepaired,
      rebalance_keys_sent: c.rebalanceKeysSent,
      ring_version: this.ring.version,
      uptime_ms: Date.now() - this.startedAt,
      merkle_root: await this.antiEntropy.wholeRoot(),
    };
  }

  // ---- membership -> ring, rebalancing, hints ----

  private buildRing(): HashRing {
    const ring = new HashRing(this.cfg.VNODES);
    for (const id of this.membership.table.ringMembers()) ring.add(id);
    return ring;
  }

  private membershipChanged(changes: MemberChange[]): void {
    if (changes.some((c) => c.id !== this.cfg.NODE_ID && c.to !== 'left')) this.ready('joined the cluster');
    const restarted: string[] = [];
    let wake = false;
    let cameBack = false;
    for (const c of changes) {
      const prev = this.incarnations.get(c.id);
      this.incarnations.set(c.id, c.record.incarnation);
      if (c.id === this.cfg.NODE_ID) continue;
      if (prev !== undefined && c.record.incarnation - prev > RESTART_JUMP && c.to !== 'left') restarted.push(c.id);
      if (c.to === 'alive') wake = true;
      if (c.to === 'alive' && (c.from === 'suspect' || c.from === 'dead')) cameBack = true;
      if (c.to === 'left') this.rerouteHints(c.id);
    }
    if (this.leaving) return;
    const ring = this.buildRing();
    if (ring.version !== this.ring.version || restarted.length > 0) {
      const changed = ring.version !== this.ring.version;
      if (changed) {
        // Keep the oldest ring of an ongoing transition: its replicas may still hold the only copies.
        if (this.previousRing === undefined && this.ring.size > 1) this.previousRing = this.ring;
        this.transitionUntil = Date.now() + Math.max(TRANSITION_MS, 3 * this.rebalancer.stats.lastPassMs);
      }
      this.ring = ring;
      if (changed) this.log.info({ ring: ring.version.slice(0, 12), nodes: ring.nodes() }, 'ring changed');
      if (restarted.length > 0) this.log.info({ restarted }, 'members restarted: pushing their share to them');
      this.rebalancer.ringChanged(ring, restarted);
    }
    if (wake) setImmediate(() => this.deliverHints());
    if (cameBack || restarted.length > 0) this.antiEntropy.trigger();
  }

  private ready(why: string): void {
    if (this.gate.notReady === undefined) return;
    this.gate.notReady = undefined;
    this.log.info(`serving client calls: ${why}`);
  }

  private deliverHints(): void {
    if (this.hints.pending === 0) return;
    const table = this.membership.table;
    for (const target of this.hints.targets()) {
      if (this.delivering.has(target)) continue;
      const state = table.get(target)?.state;
      if (state === 'left' || state === undefined) { this.rerouteHints(target); continue; }
      if (state !== 'alive') continue;
      const batch = this.hints.take(target, HINT_BATCH);
      this.delivering.add(target);
      let left = batch.length;
      for (const [key, rec] of batch) {
        this.peers.write(target, key, rec, (err) => {
          if (!err) this.hints.ack(target, key, rec);
          if (--left === 0) this.delivering.delete(target);
        });
      }
    }
  }

  /** Hints for a node that left go to the key's current replicas instead. */
  private rerouteHints(target: string): void {
    const moved = this.hints.removeTarget(target);
    for (const [key, rec] of moved) this.writeToReplicas(key, rec);
  }

  private writeToReplicas(key: string, rec: EntryRecord): void {
    for (const r of this.ring.preferenceList(key, this.cfg.REPLICATION_FACTOR)) {
      if (r === this.cfg.NODE_ID) this.store.apply(key, rec);
      else this.peers.write(r, key, rec, (err) => { if (err) this.hints.add(r, key, rec); });
    }
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t);
  }

  private async doStop(): Promise<void> {
    const parts = this.parts;
    if (!parts) return;
    const deadline = Date.now() + this.cfg.SHUTDOWN_TIMEOUT;
    setServing(parts.health, false);
    this.log.info({ inFlight: this.gate.inFlight }, 'shutting down: refusing new calls, finishing calls in flight');
    await withTimeout(this.gate.close(), deadline - Date.now());
    const others = this.membership.table.ringMembers().filter((id) => id !== this.cfg.NODE_ID);
    if (others.length > 0) {
      // Leave: stop taking replica writes, tell everyone, then hand every key (and hint) on.
      this.leaving = true;
      await withTimeout(this.membership.announceLeave(), Math.min(2_000, deadline - Date.now()));
      const ring = new HashRing(this.cfg.VNODES);
      for (const id of others) ring.add(id);
      this.ring = ring;
      let finished = false;
      const handoff = this.rebalancer.handoff(ring).then((r) => {
        finished = true;
        this.log.info(r, `handed ${r.keys} keys to their new replicas (${r.unconfirmed} unconfirmed)`);
      });
      for (const target of this.hints.targets()) this.rerouteHints(target);
      await withTimeout(handoff, deadline - Date.now());
      if (!finished) {
        this.log.warn({ keys: this.store.size, timeoutMs: this.cfg.SHUTDOWN_TIMEOUT },
          'hand-off cut short by SHUTDOWN_TIMEOUT: keys not yet handed on rely on their other replicas');
      }
    }
    for (const t of this.timers) clearInterval(t);
    this.antiEntropy.stop();
    this.membership.stop();
    this.rebalancer.stop();
    // Client calls have drained; what may remain open are peers' replication streams and
    // health watches, which never end by themselves: give them a moment, then cut them.
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => { parts.server.forceShutdown(); resolve(); }, Math.max(0, Math.min(500, deadline - Date.now())));
      parts.server.tryShutdown(() => { clearTimeout(force); resolve(); });
    });
    this.peers.closeAll();
    await this.metrics?.close();
    this.log.info('stopped');
  }
}

function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, Math.max(0, ms));
    p.then(() => { clearTimeout(t); resolve(); }, () => { clearTimeout(t); resolve(); });
  });
}
