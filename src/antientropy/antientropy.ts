/**
 * Anti-entropy: periodically (and soon after a member comes back) compares, with each peer,
 * the Merkle tree of the keys both replicate, fetches the entries of the leaf buckets that
 * differ, and moves the newer version each way (tombstones included). Repairs whatever
 * hints and read repair missed: writes during a partition, hints dropped over MAX_HINTS,
 * a node that restarted empty.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Store, EntryRecord } from '../store/store.js';
import type { HashRing } from '../ring/ring.js';
import type { Logger } from '../log/logger.js';
import { compareVersions } from '../hlc/hlc.js';
import { diffBuckets, MerkleTree } from '../merkle/merkle.js';
import type { PeerPool } from '../replication/peers.js';
import { fromWire, toWire, type WireEntry } from '../replication/wire.js';
import { addAll, addPairs, bucketEntries, type PreferenceList } from './trees.js';
import { inSlices } from '../scan/slices.js';

export const TREE_DEPTH = 12;
/** A tree built for a peer's round is reused for its follow-up requests for this long. */
const TREE_TTL_MS = 10_000;

export interface AntiEntropyStats {
  rounds: number;
  lastRoundAt: number;
  keysRepaired: number;
  lastRoundRepaired: number;
  errors: number;
}

export class AntiEntropy {
  readonly stats: AntiEntropyStats = { rounds: 0, lastRoundAt: 0, keysRepaired: 0, lastRoundRepaired: 0, errors: 0 };
  private timer?: NodeJS.Timeout;
  private soon?: NodeJS.Timeout;
  private running = false;
  private readonly served = new Map<string, { tree: MerkleTree; at: number; ring: string }>();

  constructor(
    private readonly store: Store,
    private readonly selfId: string,
    private readonly rf: number,
    private readonly ring: () => HashRing,
    private readonly peers: PeerPool,
    private readonly isAlive: (node: string) => boolean,
    private readonly timeoutMs: number,
    private readonly log: Logger,
  ) {}

  start(intervalMs: number): void {
    if (intervalMs <= 0) return;
    // Jitter so that nodes do not all compare at the same moment.
    const tick = () => {
      this.timer = setTimeout(() => { void this.round().finally(tick); }, intervalMs * (0.75 + Math.random() * 0.5));
      this.timer.unref();
    };
    tick();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.soon) clearTimeout(this.soon);
  }

  /** Runs a round shortly (a member came back). Coalesces repeated triggers. */
  trigger(delayMs = 1_000): void {
    if (this.soon) return;
    this.soon = setTimeout(() => { this.soon = undefined; void this.round(); }, delayMs);
    this.soon.unref();
  }

  /** One round: sync with every alive peer sharing keys with us. Returns keys repaired. */
  async round(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    let repaired = 0;
    try {
      const ring = this.ring();
      for (const peer of ring.nodes()) {
        if (peer === this.selfId || !this.isAlive(peer)) continue;
        try {
          repaired += await this.syncWith(peer, ring);
        } catch (err) {
          this.stats.errors++;
          this.log.debug({ peer, err: (err as Error).message }, 'anti-entropy with peer failed');
        }
      }
      this.stats.rounds++;
      this.stats.lastRoundAt = Date.now();
      this.stats.lastRoundRepaired = repaired;
      this.stats.keysRepaired += repaired;
      if (repaired > 0) this.log.info({ repaired }, `anti-entropy repaired ${repaired} keys`);
    } finally {
      this.running = false;
    }
    return repaired;
  }

  /** Root of a tree over every entry this node holds. */
  async wholeRoot(): Promise<string> {
    const t = new MerkleTree(TREE_DEPTH);
    for await (const part of inSlices(this.store.versions())) addAll(t, part);
    return t.root();
  }

  // ---- serving a peer's round ----

  async treeHashes(requester: string, level: number, indexes: number[]): Promise<string[]> {
    const ring = this.ring();
    let s = this.served.get(requester);
    if (level === 0 || !s || Date.now() - s.at > TREE_TTL_MS || s.ring !== ring.version) {
      const tree = await this.pairTree(ring, requester);
      s = { tree, at: Date.now(), ring: ring.version };
      this.served.set(requester, s);
    }
    return s.tree.hashes(level, indexes);
  }

  async bucketEntriesFor(requester: string, buckets: number[]): Promise<WireEntry[]> {
    const ring = this.ring();
    const tree = this.served.get(requester)?.tree ?? new MerkleTree(TREE_DEPTH);
    this.served.delete(requester);
    return (await this.ourBucket(this.prefs(ring), requester, tree, new Set(buckets))).map(([k, r]) => toWire(k, r));
  }

  // ---- our side of a round ----

  private prefs(ring: HashRing) {
    return (key: string) => ring.preferenceList(key, this.rf);
  }

  /** The tree of the keys this node and `peer` both replicate, built in slices. */
  private async pairTree(ring: HashRing, peer: string): Promise<MerkleTree> {
    const t = new MerkleTree(TREE_DEPTH);
    const prefs = this.prefs(ring);
    for await (const part of inSlices(this.store.versions())) addPairs(t, part, prefs, this.selfId, peer);
    return t;
  }

  /** Our entries shared with `peer` in the given buckets; values are decoded for these only. */
  private async ourBucket(prefs: PreferenceList, peer: string, tree: MerkleTree, buckets: Set<number>): Promise<[string, EntryRecord][]> {
    const out: [string, EntryRecord][] = [];
    for await (const part of inSlices(this.store.versions())) {
      for (const [key] of bucketEntries(part, prefs, this.selfId, peer, tree, buckets)) {
        const rec = this.store.peek(key);
        if (rec) out.push([key, rec]);
      }
    }
    return out;
  }

  private async syncWith(peer: string, ring: HashRing): Promise<number> {
    const client = this.peers.get(peer)?.client;
    if (!client) return 0;
    const prefs = this.prefs(ring);
    const local = await this.pairTree(ring, peer);
    const buckets = await diffBuckets(local, (level, indexes) =>
      this.unary<{ hashes?: string[] }>(client, 'TreeHashes', { range_id: this.selfId, level, indexes }).then((r) => r.hashes ?? []));
    if (buckets.length === 0) return 0;
    const remote = await this.unary<{ entries?: WireEntry[] }>(client, 'BucketEntries', { range_id: this.selfId, buckets });
    const theirs = new Map<string, EntryRecord>();
    for (const e of remote.entries ?? []) theirs.set(e.key, fromWire(e));
    const ours = new Map(await this.ourBucket(prefs, peer, local, new Set(buckets)));
    let repaired = 0;
    for (const [key, rec] of theirs) {
      const mine = ours.get(key);
      if (!mine || newer(rec, mine)) {
        if (this.store.apply(key, rec)) repaired++;
      }
    }
    const pushes: Promise<void>[] = [];
    for (const [key, mine] of ours) {
      const t = theirs.get(key);
      if (!t || newer(mine, t)) {
        repaired++;
        pushes.push(new Promise((resolve) => this.peers.write(peer, key, mine, () => resolve())));
      }
    }
    await Promise.all(pushes);
    return repaired;
  }

  private unary<T>(client: grpc.Client, method: string, req: object): Promise<T> {
    return new Promise((resolve, reject) => {
      (client as unknown as Record<string, Function>)[method](req, { deadline: Date.now() + this.timeoutMs * 5 },
        (err: grpc.ServiceError | null, res: T) => (err ? reject(err) : resolve(res)));
    });
  }
}

function newer(a: EntryRecord, b: EntryRecord): boolean {
  return compareVersions(a.wall, a.logical, a.node, b.wall, b.logical, b.node) > 0;
}
