/**
 * Prometheus metrics (prom-client) and their HTTP endpoint (METRICS_ADDR, path /metrics).
 * Request counters and latency histograms are updated on the hot path through label
 * children created once up front; everything else is read from the node's counters when
 * Prometheus scrapes (collect callbacks), so it costs nothing between scrapes.
 */
import { createServer, type Server } from 'node:http';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { parseAddress } from '../config/parse.js';
import { statusName } from '../errors/status.js';
import type { HotKey } from '../hotkeys/topk.js';

const METHODS = ['Get', 'Set', 'Delete', 'MGet', 'MSet', 'MDelete', 'GetOrLease', 'ReleaseLease'] as const;
export type MethodIndex = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7;

/** Status codes 0..16 (OK .. UNAUTHENTICATED), their names used as the `code` label. */
const CODE_NAMES = Array.from({ length: 17 }, (_, code) => statusName(code));

/** What the hot path calls: one call per finished request. */
export interface RequestObserver {
  observe(method: MethodIndex, code: number, startedAt: number): void;
}

export const NO_OBSERVER: RequestObserver = { observe: () => undefined };

/** Counters of a node that are read at scrape time. */
export interface NodeCounters {
  hits: number;
  misses: number;
  evictions: number;
  expirations: number;
  items: number;
  tombstones: number;
  /** Entries removed because a flush covered them (Stats only). */
  flushed: number;
  bytes: number;
  /** Entries stored compressed, the value bytes that saves, and written / stored bytes of those values (COMPRESSION_THRESHOLD). */
  compressedItems: number;
  compressionSavedBytes: number;
  compressionRatio: number;
  quorumFailures: number;
  readRepairs: number;
  hintsPending: number;
  hintsDelivered: number;
  hintsDropped: number;
  antiEntropyRounds: number;
  antiEntropyKeysRepaired: number;
  /** Rebuilds of the kept Merkle trees (new ring or flush), and rounds skipped while one ran. */
  antiEntropyRebuilds: number;
  antiEntropySkipped: number;
  rebalanceKeysSent: number;
  membersByState: Record<string, number>;
  /** Membership messages sent, by kind (src/membership/membership.ts). */
  membershipMessages: ReadonlyMap<string, number>;
  /** Calls refused by the gatekeeper, by reason (src/auth/gatekeeper.ts). */
  authFailures: ReadonlyMap<string, number>;
  /** Estimated clock offset (ms) of each live peer: its clock minus ours (src/membership/clocks.ts). */
  clockOffsetsMs: ReadonlyMap<string, number>;
  /** This node's clock is off from the majority: it coordinates no writes. */
  clockFenced: boolean;
  /** The keys most requested of this node, at most 10 (src/hotkeys/topk.ts). */
  hotKeys: HotKey[];
  /** Client near caches (src/server/invalidations.ts). */
  near: { clients: number; trackedKeys: number; invalidations: number; boundEvictions: number; messages: number };
  /** CacheService/Watch events sent (src/server/watch.ts). */
  watchEvents: number;
}

export class Metrics implements RequestObserver {
  readonly registry = new Registry();
  private readonly counts: Counter.Internal[][];
  private readonly durations: Histogram.Internal<'method'>[];
  private server?: Server;

  constructor(read: () => NodeCounters, nodeId: string) {
    const r = this.registry;
    r.setDefaultLabels({ node: nodeId });
    collectDefaultMetrics({ register: r });
    const requests = new Counter({
      name: 'cache_requests_total',
      help: 'Client requests by method and gRPC status code.',
      labelNames: ['method', 'code'],
      registers: [r],
    });
    const duration = new Histogram({
      name: 'cache_request_duration_seconds',
      help: 'Client request latency (received to answered).',
      labelNames: ['method'],
      registers: [r],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    });
    this.counts = METHODS.map((m) => CODE_NAMES.map((c) => requests.labels(m, c)));
    this.durations = METHODS.map((m) => duration.labels(m));

    // Totals kept elsewhere, exported as counters whose value is set at scrape time.
    let snap: NodeCounters | undefined;
    const fresh = () => (snap ??= read());
    const counter = (name: string, help: string, pick: (s: NodeCounters) => number) =>
      new Counter({
        name,
        help,
        registers: [r],
        collect() {
          this.reset();
          this.inc(pick(fresh()));
        },
      });
    /** A counter with one label, one series per entry of the map `pick` reads. */
    const counterBy = (name: string, help: string, label: string, pick: (s: NodeCounters) => ReadonlyMap<string, number>) =>
      new Counter({
        name,
        help,
        labelNames: [label],
        registers: [r],
        collect() {
          this.reset();
          for (const [value, n] of pick(fresh())) this.labels(value).inc(n);
        },
      });
    const gauge = (name: string, help: string, pick: (s: NodeCounters) => number) =>
      new Gauge({
        name,
        help,
        registers: [r],
        collect() {
          this.set(pick(fresh()));
        },
      });
    counter('cache_hits_total', 'Gets this node coordinated that found a value.', (s) => s.hits);
    counter('cache_misses_total', 'Gets this node coordinated that answered NOT_FOUND.', (s) => s.misses);
    counter('cache_evictions_total', 'Entries evicted by the eviction policy (CAPACITY / MAX_MEMORY).', (s) => s.evictions);
    counter('cache_expirations_total', 'Entries removed because their TTL passed.', (s) => s.expirations);
    gauge('cache_items', 'Live entries stored on this node.', (s) => s.items);
    gauge('cache_tombstones', 'Delete tombstones kept on this node.', (s) => s.tombstones);
    gauge('cache_stored_bytes', 'Estimated bytes of keys, values and per-entry overhead.', (s) => s.bytes);
    gauge('cache_compressed_items', 'Entries whose value is stored compressed (COMPRESSION_THRESHOLD).', (s) => s.compressedItems);
    gauge('cache_compression_saved_bytes', 'Value bytes saved by compression: as written minus as stored.', (s) => s.compressionSavedBytes);
    gauge(
      'cache_compression_ratio',
      'Value bytes as written / as stored, over the values stored compressed (1 when none).',
      (s) => s.compressionRatio,
    );
    counter('cache_quorum_failures_total', 'Calls answered UNAVAILABLE because a quorum could not be had.', (s) => s.quorumFailures);
    counter('cache_read_repairs_total', 'Stale replicas updated after a read.', (s) => s.readRepairs);
    gauge('cache_hints_pending', 'Hinted-handoff writes waiting for their replica.', (s) => s.hintsPending);
    counter('cache_hints_delivered_total', 'Hinted-handoff writes delivered.', (s) => s.hintsDelivered);
    counter('cache_hints_dropped_total', 'Hints dropped over MAX_HINTS (left to anti-entropy).', (s) => s.hintsDropped);
    counter('cache_anti_entropy_rounds_total', 'Anti-entropy rounds completed.', (s) => s.antiEntropyRounds);
    counter('cache_anti_entropy_keys_repaired_total', 'Keys repaired by anti-entropy.', (s) => s.antiEntropyKeysRepaired);
    counter(
      'cache_anti_entropy_rebuilds_total',
      'Rebuilds of the Merkle trees (after a ring change or a flush).',
      (s) => s.antiEntropyRebuilds,
    );
    counter(
      'cache_anti_entropy_rounds_skipped_total',
      'Anti-entropy rounds with a peer skipped while the Merkle trees were being rebuilt.',
      (s) => s.antiEntropySkipped,
    );
    gauge('cache_near_clients', 'Client near caches with an Invalidations stream open to this node.', (s) => s.near.clients);
    gauge('cache_near_tracked_keys', 'Keys this node tracks for client near caches.', (s) => s.near.trackedKeys);
    counter(
      'cache_near_invalidations_total',
      'Keys invalidated in client near caches (changes, bound evictions, drop-all).',
      (s) => s.near.invalidations,
    );
    counter(
      'cache_near_bound_evictions_total',
      'Tracked keys invalidated because a client reached NEAR_CACHE_MAX_KEYS.',
      (s) => s.near.boundEvictions,
    );
    counter('cache_near_messages_total', 'Invalidations messages sent to client near caches.', (s) => s.near.messages);
    counter('cache_watch_events_total', 'Change events sent to Watch streams.', (s) => s.watchEvents);
    counter('cache_rebalance_keys_sent_total', 'Keys streamed to new owners after ring changes.', (s) => s.rebalanceKeysSent);
    new Gauge({
      name: 'cache_members',
      help: 'Cluster members by state, as this node sees them.',
      labelNames: ['state'],
      registers: [r],
      collect() {
        const m = fresh().membersByState;
        for (const st of ['alive', 'suspect', 'dead', 'left']) this.labels(st).set(m[st] ?? 0);
      },
    });
    counterBy(
      'cache_membership_messages_total',
      'Failure detection and gossip messages this node sent, by kind (ping, ping-req, push-pull, other).',
      'kind',
      (s) => s.membershipMessages,
    );
    counterBy(
      'cache_auth_failures_total',
      'Calls refused UNAUTHENTICATED or PERMISSION_DENIED, by reason.',
      'reason',
      (s) => s.authFailures,
    );
    new Gauge({
      name: 'cache_clock_offset_seconds',
      help: "Estimated clock offset of each live peer, measured on the membership probes: the peer's clock minus this node's.",
      labelNames: ['peer'],
      registers: [r],
      collect() {
        this.reset();
        for (const [peer, ms] of fresh().clockOffsetsMs) this.labels(peer).set(ms / 1000);
      },
    });
    gauge(
      'cache_clock_fenced',
      "1 while this node's clock is off by more than MAX_CLOCK_OFFSET from the majority of its peers (it coordinates no writes).",
      (s) => (s.clockFenced ? 1 : 0),
    );
    // One series per hot key, only the top 10 of the moment (keys cut to 200 characters): the
    // label's cardinality stays bounded; a key that cools off leaves the series.
    new Gauge({
      name: 'cache_hot_key_requests',
      help: 'Client requests for each of the 10 keys this node serves most (decayed: counts halve every minute; an upper bound).',
      labelNames: ['key'],
      registers: [r],
      collect() {
        this.reset();
        for (const h of fresh().hotKeys) this.labels(h.key).set(h.count);
      },
    });
    // One snapshot per scrape: forget it once the scrape is done.
    const origMetrics = r.metrics.bind(r);
    r.metrics = async () => {
      snap = undefined;
      try {
        return await origMetrics();
      } finally {
        snap = undefined;
      }
    };
  }

  observe(method: MethodIndex, code: number, startedAt: number): void {
    this.counts[method][code]?.inc();
    this.durations[method].observe((performance.now() - startedAt) / 1000);
  }

  /** Serves GET /metrics on host:port. */
  listen(addr: string): Promise<number> {
    // METRICS_ADDR as config.ts accepts it; an IPv6 host comes without brackets, "" = all interfaces.
    const { host, port } = parseAddress(addr, { allowEmptyHost: true, allowPortZero: true });
    this.server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
        return;
      }
      this.registry.metrics().then(
        (body) => {
          res.writeHead(200, { 'content-type': this.registry.contentType }).end(body);
        },
        (err: Error) => res.writeHead(500).end(`${err.message}\n`),
      );
    });
    return new Promise((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host || undefined, () => resolve((this.server!.address() as { port: number }).port));
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
