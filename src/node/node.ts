/**
 * A cache node: the composition root. Builds the store, clock, member table, topology,
 * replication, anti-entropy and the gRPC server from the configuration, connects them,
 * runs their timers and stops them. Every decision is made by the module it belongs to;
 * this file only builds and connects.
 */

import { AntiEntropy } from '../antientropy/antientropy.js';
import type { Config } from '../config/config.js';
import { CacheError } from '../errors/errors.js';
import { HybridClock } from '../hlc/hlc.js';
import { HOT_KEYS, hottest, SampledCounter, TopK } from '../hotkeys/topk.js';
import type { Logger } from '../log/logger.js';
import { type ClockChange, type ClockVerdict, formatOffset } from '../membership/clocks.js';
import { Membership } from '../membership/membership.js';
import type { MemberChange } from '../membership/table.js';
import { Metrics, type NodeCounters } from '../metrics/metrics.js';
import { PeerPool } from '../peer/client.js';
import { peerHandlers } from '../peer/server.js';
import { peerDefinition } from '../peer/service.js';
import { Persistence } from '../persist/files.js';
import type { StatsResponse } from '../protos/generated/public/cache/v1/StatsResponse.js';
import { type Admission, createAdmission } from '../ratelimit/limiter.js';
import { Coordinator } from '../replication/coordinator.js';
import { Flusher } from '../replication/flush.js';
import { HintDelivery } from '../replication/hint-delivery.js';
import { HintStore } from '../replication/hints.js';
import { Rebalancer } from '../replication/rebalance.js';
import { Replica } from '../replication/replica.js';
import type { Security } from '../security/security.js';
import { cacheService } from '../server/cache-service.js';
import { clusterService } from '../server/cluster-service.js';
import { RequestGate } from '../server/gate.js';
import { NearTracking } from '../server/invalidations.js';
import { bind, createServer, type ServerParts, setServing } from '../server/server.js';
import { Watchers } from '../server/watch.js';
import { changesTo } from '../store/changes.js';
import { Store } from '../store/store.js';
import { leave, within } from '../topology/leave.js';
import { Topology, type TopologyAction } from '../topology/topology.js';
import { versionText } from '../wire/codec.js';

/** Per-entry framing a value must leave room for inside MAX_*_MSG_SIZE. */
const FRAMING_BYTES = 64;
const MAX_TTL_MS = 10 * 365 * 86_400_000;
const SWEEP_INTERVAL_MS = 250;
const SWEEP_BUDGET = 2_000;
/** Slots a sweep tick checks against flush marks while flushed entries are being reclaimed. */
const FLUSH_RECLAIM_BUDGET = 50_000;
const HINT_INTERVAL_MS = 250;

export class CacheNode {
  readonly store: Store;
  readonly clock: HybridClock;
  readonly membership: Membership;
  readonly topology: Topology;
  readonly peers: PeerPool;
  readonly coordinator: Coordinator;
  readonly replica: Replica;
  readonly hints: HintStore;
  readonly hintDelivery: HintDelivery;
  readonly rebalancer: Rebalancer;
  readonly antiEntropy: AntiEntropy;
  readonly flusher: Flusher;
  readonly metrics?: Metrics;
  /** DATA_DIR's snapshot and log, when DATA_DIR is set. */
  readonly persistence?: Persistence;
  /** Client near caches: the keys each Invalidations stream was served, pushed when they change here. */
  readonly near: NearTracking;
  /** CacheService/Watch streams. */
  readonly watchers: Watchers;
  /** The keys this node coordinates most client calls for (Stats, cachectl stats, cache_hot_key_requests). */
  readonly hotKeys = new TopK(HOT_KEYS, Date.now());
  private readonly gate: RequestGate;
  private readonly admission: Admission | undefined;
  private parts?: ServerParts;
  private readonly timers: NodeJS.Timeout[] = [];
  private stopping?: Promise<void>;
  /** Client calls are admitted (joined, or no peers to join); health also needs a clock that is not fenced. */
  private serving = false;
  /** Why the node would serve, held until the clock check has decided (see serve()). */
  private serveWhenClockChecked?: string;
  private healthServing = false;
  readonly startedAt = Date.now();
  boundPort = 0;

  /** Called when this node was asked to leave through the Leave RPC (main exits afterwards). */
  onLeaveRequested: () => void = () => void this.stop();

  constructor(
    readonly cfg: Config,
    readonly log: Logger,
    private readonly security: Security,
  ) {
    const self = cfg.NODE_ID;
    const rf = cfg.REPLICATION_FACTOR;
    this.store = new Store({
      shards: cfg.NUM_SHARDS,
      capacity: cfg.CAPACITY,
      maxMemoryBytes: cfg.MAX_MEMORY,
      policy: cfg.EVICTION_POLICY,
      tombstoneGraceMs: cfg.TOMBSTONE_GRACE,
      compressionThreshold: cfg.COMPRESSION_THRESHOLD,
    });
    this.clock = new HybridClock(self);
    this.hints = new HintStore(cfg.MAX_HINTS);
    this.replica = new Replica(this.store);
    this.peers = new PeerPool(
      this.clock,
      {
        selfId: self,
        timeoutMs: cfg.RPC_TIMEOUT,
        maxBatchOps: 512,
        maxBatchBytes: Math.max(64 * 1024, Math.floor(cfg.MAX_RECV_MSG_SIZE / 2)),
        maxMessageBytes: Math.max(cfg.MAX_RECV_MSG_SIZE, cfg.MAX_SEND_MSG_SIZE) * 4 + 1024 * 1024,
        credentials: security.tls?.peers,
        clusterSecret: security.clusterSecret,
      },
      (id) => this.membership.table.addressOf(id),
      (id) => this.membership.heard(id),
    );
    const others = (keep: (state: string) => boolean) =>
      this.membership.table
        .list()
        .filter((m) => m.id !== self && keep(m.state))
        .map((m) => m.id);
    this.flusher = new Flusher(
      self,
      this.clock,
      this.store,
      { reachable: () => others((s) => s === 'alive' || s === 'suspect'), all: () => others((s) => s !== 'left') },
      this.peers,
      cfg.RPC_TIMEOUT,
      log,
    );
    this.membership = new Membership(
      {
        selfId: self,
        address: cfg.ADDR,
        defaultPort: cfg.port,
        peers: cfg.PEERS,
        heartbeatMs: cfg.HEARTBEAT_INTERVAL,
        suspectMs: cfg.SUSPECT_TIMEOUT,
        deadMs: cfg.DEAD_TIMEOUT,
        rpcTimeoutMs: cfg.RPC_TIMEOUT,
        dnsRefreshMs: cfg.DNS_REFRESH_INTERVAL,
        maxClockOffsetMs: cfg.MAX_CLOCK_OFFSET,
      },
      this.peers,
      log,
      {
        changed: (changes) => this.membershipChanged(changes),
        clock: (verdict, changes) => this.clockChanged(verdict, changes),
        forgotten: (ids) => {
          for (const id of ids) this.peers.forget(id);
        },
        alone: () => this.serve('every PEERS entry is this node itself: serving alone'),
      },
      this.flusher,
    );
    const table = this.membership.table;
    this.topology = new Topology({ selfId: self, vnodes: cfg.VNODES, replicationFactor: rf }, table.ringMembers());
    this.coordinator = new Coordinator(
      this.store,
      this.clock,
      {
        replicas: (key) => this.topology.replicas(key),
        previousReplicas: (key) => this.topology.previousReplicas(key, Date.now(), this.rebalancer.busy),
        isReachable: (id) => {
          const s = table.get(id)?.state;
          return s === 'alive' || s === 'suspect';
        },
      },
      this.peers,
      this.hints,
      {
        selfId: self,
        writeQuorum: cfg.WRITE_QUORUM,
        readQuorum: cfg.READ_QUORUM,
        defaultTtlMs: cfg.TTL,
        speculativeReadMs: cfg.SPECULATIVE_READ_DELAY,
        refuseWrites: () => this.clockRefusal(),
        leases: { local: this.replica, peers: this.peers },
      },
    );
    this.hintDelivery = new HintDelivery({
      selfId: self,
      hints: this.hints,
      peers: this.peers,
      stateOf: (id) => table.get(id)?.state,
      replicas: (key) => this.topology.replicas(key),
      applyLocal: (key, rec) => this.store.apply(key, rec),
    });
    this.rebalancer = new Rebalancer(this.store, self, rf, this.peers, log, this.topology.ring, cfg.REBALANCE_RATE);
    this.antiEntropy = new AntiEntropy(
      this.store,
      self,
      rf,
      () => this.topology.ring,
      this.peers,
      (id) => table.get(id)?.state === 'alive',
      log,
      cfg.ANTI_ENTROPY_INTERVAL > 0,
    );
    // The store is observed for near caches and Watch only while one of their streams is open.
    const toClients = changesTo((kind, key, wall, logical) => {
      if (this.near.active) this.near.changed(kind, key, wall, logical);
      if (this.watchers.active) this.watchers.changed(kind, key, wall, logical);
    });
    let unobserve: (() => void) | undefined;
    const listening = () => {
      const wanted = this.near.active || this.watchers.active;
      if (wanted && !unobserve) unobserve = this.store.observe(toClients);
      else if (!wanted && unobserve) {
        unobserve();
        unobserve = undefined;
      }
    };
    this.near = new NearTracking({
      maxKeysPerClient: cfg.NEAR_CACHE_MAX_KEYS,
      isReplica: (key) => this.topology.isReplica(key, self),
      holds: (key, wall, logical, ttlGiven) => {
        const r = this.store.peekVersion(key);
        return (
          r !== undefined && !r.tombstone && r.wall === wall && r.logical === logical && r.node === self && (ttlGiven || r.expiresAt === 0)
        );
      },
      activeChanged: listening,
    });
    this.watchers = new Watchers(listening);
    this.admission = createAdmission(cfg.RATE_LIMIT, cfg.RATE_LIMIT_BURST);
    // A node configured with peers serves data only once it knows at least one of them:
    // alone, it would take its own empty store for the whole cluster (stale reads, and
    // writes acknowledged by no real quorum).
    this.gate = new RequestGate(
      this.admission,
      this.membership.hasOtherSeeds
        ? `node has not joined its cluster yet (PEERS=${cfg.PEERS.join(',')}); retry shortly or call another node`
        : 'node is starting',
    );
    if (cfg.METRICS_ADDR) this.metrics = new Metrics(() => this.counters(), self);
    if (cfg.DATA_DIR) {
      this.persistence = new Persistence(
        this.store,
        this.clock,
        {
          dir: cfg.DATA_DIR,
          nodeId: self,
          fsync: cfg.APPEND_FSYNC,
          snapshotIntervalMs: cfg.SNAPSHOT_INTERVAL,
          tombstoneGraceMs: cfg.TOMBSTONE_GRACE,
        },
        log,
      );
    }
  }

  async start(): Promise<void> {
    const cfg = this.cfg;
    const maxValueBytes = Math.min(cfg.MAX_RECV_MSG_SIZE, cfg.MAX_SEND_MSG_SIZE) - cfg.MAX_KEY_SIZE - FRAMING_BYTES;
    const table = this.membership.table;
    // Data from DATA_DIR first (the clock moved past it), then the log of what follows; only
    // then bind and join: hints and anti-entropy bring what this node missed while down.
    if (this.persistence) {
      this.persistence.load();
      // its other replicas hold what it loaded; anti-entropy reconciles what differs
      if (this.store.size > 0 && cfg.ANTI_ENTROPY_INTERVAL > 0) this.rebalancer.startedWarm();
      this.persistence.start();
    }
    this.parts = createServer(
      { maxRecv: cfg.MAX_RECV_MSG_SIZE, maxSend: cfg.MAX_SEND_MSG_SIZE },
      [
        cacheService(
          this.coordinator,
          this.gate,
          {
            maxKeyBytes: cfg.MAX_KEY_SIZE,
            maxValueBytes: Math.max(0, maxValueBytes),
            maxTtlMs: MAX_TTL_MS,
            maxBatchKeys: cfg.MAX_BATCH_KEYS,
          },
          this.log,
          this.metrics,
          undefined,
          new SampledCounter(this.hotKeys, HOT_KEYS.sampleEvery),
          this.near,
          this.watchers,
        ),
        clusterService({
          selfId: cfg.NODE_ID,
          replicationFactor: cfg.REPLICATION_FACTOR,
          vnodes: cfg.VNODES,
          join: (m) => this.membership.join(m),
          members: () => table.list(),
          clockOffset: (id) => this.membership.clocks.estimate(id, Date.now())?.offsetMs,
          ringVersion: () => this.topology.ring.version,
          leave: (id) => {
            if (id === cfg.NODE_ID) {
              setImmediate(() => this.onLeaveRequested());
              return true;
            }
            return this.membership.markLeft(id);
          },
          stats: () => this.stats(),
          flush: (prefix) => {
            const refused = this.clockRefusal();
            return refused ? Promise.reject(refused) : this.flusher.flush(prefix);
          },
          maxKeyBytes: cfg.MAX_KEY_SIZE,
        }),
        {
          definition: peerDefinition(),
          handlers: peerHandlers({
            selfId: cfg.NODE_ID,
            clock: this.clock,
            replica: this.replica,
            heard: (id) => this.membership.heard(id),
            ping: (from, members, full) => this.membership.ping(from, members, full),
            pingReq: (from, target, members) => this.membership.pingReq(from, target, members),
            flushes: this.flusher,
            treeHashes: (requester, level, indexes) => this.antiEntropy.treeHashes(requester, level, indexes),
            bucketEntries: (requester, buckets) => this.antiEntropy.bucketEntries(requester, buckets),
            log: this.log,
          }),
        },
      ],
      this.security.gatekeeper,
    );
    const tls = this.security.tls;
    const gk = this.security.gatekeeper;
    this.boundPort = await bind(this.parts.server, cfg.LISTEN_ADDR, tls?.server, tls?.refuseUntrustedClientCertificates, () =>
      gk.refusedConnection(),
    );
    if (this.metrics) {
      const port = await this.metrics.listen(cfg.METRICS_ADDR);
      this.log.info({ metrics: cfg.METRICS_ADDR, port }, `metrics at http://${cfg.METRICS_ADDR}/metrics`);
    }
    this.every(SWEEP_INTERVAL_MS, () => {
      this.store.sweep(SWEEP_BUDGET);
      this.hotKeys.tick(Date.now());
      if (this.store.reclaiming) this.store.reclaimFlushed(FLUSH_RECLAIM_BUDGET);
    });
    this.every(HINT_INTERVAL_MS, () => this.hintDelivery.deliver());
    this.membership.start();
    this.antiEntropy.start(cfg.ANTI_ENTROPY_INTERVAL);
    if (!this.membership.hasOtherSeeds) this.serve('no other node in PEERS');
    this.log.info(
      { addr: cfg.ADDR, listen: cfg.LISTEN_ADDR, port: this.boundPort, pid: process.pid, peers: cfg.PEERS, tls: tls !== undefined },
      `cache node ${cfg.NODE_ID} listening on ${cfg.LISTEN_ADDR}`,
    );
  }

  /** Graceful stop: NOT_SERVING, refuse new calls, finish calls in flight, hand data on, leave. Bounded by SHUTDOWN_TIMEOUT. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private membershipChanged(changes: MemberChange[]): void {
    const actions = this.topology.apply(changes, this.membership.table.ringMembers(), Date.now(), this.rebalancer.stats.lastPassMs);
    for (const a of actions) this.carryOut(a);
  }

  private carryOut(a: TopologyAction): void {
    switch (a.type) {
      case 'joined':
        this.serve('joined the cluster');
        break;
      case 'rebalance':
        this.log.info(
          { ring: a.ring.version.slice(0, 12), nodes: a.ring.nodes(), restarted: a.restarted },
          a.restarted.length === 0 ? 'ring changed' : 'members restarted: pushing their share to them',
        );
        this.rebalancer.ringChanged(a.ring, a.restarted);
        this.near.ringChanged();
        break;
      case 'deliver-hints':
        setImmediate(() => this.hintDelivery.deliver());
        break;
      case 'reroute-hints':
        this.hintDelivery.reroute(a.node);
        break;
      case 'anti-entropy':
        this.antiEntropy.trigger();
        break;
      case 'close-peer':
        this.peers.forget(a.node);
        break;
      case 'reconnect-peer':
        this.peers.reconnect(a.node);
        break;
    }
  }

  /**
   * From now on client calls are let through and health says SERVING (logged once). Held
   * until the clock check has decided, so that a node whose clock is off never takes a write
   * (whose version would be off by as much) in the moment between joining and its first
   * heartbeats.
   */
  private serve(why: string): void {
    if (this.stopping || !this.parts) return;
    if (!this.membership.clocks.verdict.decided) {
      this.serveWhenClockChecked ??= why;
      return;
    }
    if (!this.gate.ready()) return;
    this.serving = true;
    this.log.info(`serving client calls: ${why}`);
    this.updateHealth();
  }

  /** Health SERVING while client calls are admitted and the clock is not fenced. */
  private updateHealth(): void {
    if (this.stopping || !this.parts) return;
    const serving = this.serving && !this.membership.clocks.verdict.fenced;
    if (serving === this.healthServing) return;
    this.healthServing = serving;
    setServing(this.parts.health, serving);
  }

  /** The clock check's verdict changed: log it, fence or unfence, serve if that waited for it. */
  private clockChanged(v: ClockVerdict, changes: ClockChange[]): void {
    const bound = `MAX_CLOCK_OFFSET ${this.cfg.MAX_CLOCK_OFFSET}ms`;
    for (const c of changes) {
      switch (c.kind) {
        case 'fenced':
          this.log.error(
            { clockOffsetMs: Math.round(c.offsetMs), peers: Object.fromEntries(c.offenders.map((o) => [o.peer, Math.round(o.offsetMs)])) },
            `this node's clock is off by ${formatOffset(c.offsetMs)} from the majority of its peers ` +
              `(${c.offenders.length} of ${c.live} beyond ${bound}): health NOT_SERVING, coordinating no writes until it is back within the bound`,
          );
          break;
        case 'unfenced':
          this.log.info(
            { clockOffsetMs: Math.round(c.offsetMs) },
            `this node's clock is back within ${bound} of its peers (off by ${formatOffset(c.offsetMs)}): coordinating writes again`,
          );
          break;
        case 'peer-off':
          this.log.warn(
            { member: c.peer, clockOffsetMs: Math.round(c.offsetMs) },
            `clock of member ${c.peer} is off by ${formatOffset(c.offsetMs)} from ours (beyond ${bound})`,
          );
          break;
        case 'peer-ok':
          this.log.info(
            { member: c.peer, clockOffsetMs: Math.round(c.offsetMs) },
            `clock of member ${c.peer} is back within ${bound} of ours (${formatOffset(c.offsetMs)})`,
          );
          break;
      }
    }
    const held = this.serveWhenClockChecked;
    if (held !== undefined && v.decided) {
      this.serveWhenClockChecked = undefined;
      this.serve(held);
    }
    this.updateHealth();
  }

  /** UNAVAILABLE while this node's clock is fenced (writes and flushes), else undefined. */
  private clockRefusal(): CacheError | undefined {
    const why = this.membership.clocks.refusal();
    return why === undefined ? undefined : new CacheError('unavailable', why);
  }

  private counters(): NodeCounters {
    const s = this.store.stats();
    const membersByState: Record<string, number> = {};
    for (const m of this.membership.table.list()) membersByState[m.state] = (membersByState[m.state] ?? 0) + 1;
    const c = this.coordinator.stats;
    return {
      hits: c.hits,
      misses: c.misses,
      evictions: s.evictions,
      expirations: s.expirations,
      items: s.items,
      tombstones: s.tombstones,
      bytes: s.bytes,
      flushed: s.flushed,
      compressedItems: s.compressedItems,
      compressionSavedBytes: s.compressionSavedBytes,
      compressionRatio: s.compressionRatio,
      quorumFailures: c.quorumFailures,
      readRepairs: c.readRepairs,
      hintsPending: this.hints.pending,
      hintsDelivered: this.hints.delivered,
      hintsDropped: this.hints.dropped,
      antiEntropyRounds: this.antiEntropy.stats.rounds,
      antiEntropyKeysRepaired: this.antiEntropy.stats.keysRepaired,
      antiEntropyRebuilds: this.antiEntropy.stats.rebuilds,
      antiEntropySkipped: this.antiEntropy.stats.skipped,
      rebalanceKeysSent: this.rebalancer.stats.keysSent,
      membersByState,
      membershipMessages: this.membership.sent,
      authFailures: this.security.gatekeeper.failures,
      clockOffsetsMs: new Map(this.membership.clocks.estimates(Date.now()).map((e) => [e.peer, e.offsetMs])),
      clockFenced: this.membership.clocks.verdict.fenced,
      hotKeys: hottest(this.hotKeys, HOT_KEYS.shown),
      near: { ...this.near.stats(), messages: this.near.messages },
      watchEvents: this.watchers.events,
    };
  }

  /** ClusterService.Stats (the Merkle root scans the store in slices, hence async). */
  private async stats(): Promise<StatsResponse> {
    const c = this.counters();
    const marks = this.store.flushMarks();
    const newest = marks.newest();
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
      ring_version: this.topology.ring.version,
      uptime_ms: Date.now() - this.startedAt,
      merkle_root: await this.antiEntropy.wholeRoot(),
      flush_version: newest ? versionText(newest.wall, newest.logical) : '0',
      flush_marks: marks.size,
      flushed: c.flushed,
      clock_fenced: c.clockFenced,
      max_clock_offset_ms: Math.round(Math.max(0, ...[...c.clockOffsetsMs.values()].map(Math.abs))),
      hot_keys: c.hotKeys,
      compressed_items: c.compressedItems,
      compression_saved_bytes: c.compressionSavedBytes,
      compression_ratio: c.compressionRatio,
    };
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
    await within(this.gate.close(), deadline - Date.now());
    // The snapshot a restart loads, before the hand-off drops the keys it hands on; writes from
    // peers after it are still logged (drops are not: see Persistence.ignoreDrops).
    if (this.persistence) {
      await within(this.persistence.snapshot(), deadline - Date.now());
      this.persistence.ignoreDrops();
    }
    // Near caches stop using this node (their streams never end by themselves).
    this.near.close();
    this.watchers.close();
    const outcome = await leave(
      {
        stopAcceptingWrites: () => {
          this.replica.accepting = false;
        },
        announce: () => this.membership.announceLeave(),
        ringWithoutSelf: () => this.topology.leave(this.membership.table.ringMembers()),
        handoff: (ring) => this.rebalancer.handoff(ring),
        rerouteHints: () => this.hintDelivery.rerouteAll(),
      },
      deadline,
    );
    if (outcome.kind === 'handed-off') {
      this.log.info(outcome, `handed ${outcome.keys} keys to their new replicas (${outcome.unconfirmed} unconfirmed)`);
    } else if (outcome.kind === 'cut-short') {
      this.log.warn(
        { keys: this.store.size, timeoutMs: this.cfg.SHUTDOWN_TIMEOUT },
        'hand-off cut short by SHUTDOWN_TIMEOUT: keys not yet handed on rely on their other replicas',
      );
    }
    for (const t of this.timers) clearInterval(t);
    this.antiEntropy.stop();
    this.membership.stop();
    this.rebalancer.stop();
    await this.admission?.stop();
    // Client calls have drained; what may remain open are peers' replication streams and
    // health watches, which never end by themselves: give them a moment, then cut them.
    await new Promise<void>((resolve) => {
      const force = setTimeout(
        () => {
          parts.server.forceShutdown();
          resolve();
        },
        Math.max(0, Math.min(500, deadline - Date.now())),
      );
      parts.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    this.peers.closeAll();
    // A snapshot still running past the deadline is left (its .tmp goes at the next start); the log is written out.
    if (this.persistence) await within(this.persistence.close(false), Math.max(1_000, deadline - Date.now()));
    this.security.close();
    await this.metrics?.close();
    this.log.info('stopped');
  }
}
