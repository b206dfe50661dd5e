/**
 * Anti-entropy rounds: periodically (and soon after a member comes back) this node compares,
 * with each alive peer, the Merkle tree of the keys both replicate, fetches the entries of
 * the leaf buckets that differ and moves the newer version each way (src/antientropy/
 * reconcile.ts decides). Repairs whatever hints and read repair missed: writes during a
 * partition, hints dropped over MAX_HINTS, a node that restarted empty. Also answers the
 * peers' rounds (TreeHashes, BucketEntries).
 *
 * The trees are kept up to date on every change the store applies (it is observed from
 * construction on, so what persistence loads goes in too; src/antientropy/live.ts), so a
 * round costs making a tree from kept leaf buckets (2^12 XORs), not a scan of the store. A
 * new ring (the topology makes a new ring object when the members change) or a new flush
 * rebuilds them by scanning the store in parts (Store.heldInPart, about SCAN_SLICE entries
 * each, one part per event-loop turn); meanwhile this node's rounds skip, and peers' rounds
 * and Stats are answered from trees built by scanning, as before. Every due entry is
 * reclaimed (Store.sweep) before a tree is read, so that the trees hold what a scan would
 * see. The entries of differing buckets are found by a scan of the store's key positions
 * (Store.entriesInBuckets), which decodes only the keys in those buckets that the peer
 * shares (SharedPlacement, from the same positions).
 */

import type { Logger } from '../log/logger.js';
import { diffBuckets, MerkleTree } from '../merkle/merkle.js';
import type { PeerPool } from '../peer/client.js';
import { entryFromWire } from '../peer/service.js';
import type { HashRing } from '../ring/ring.js';
import { inSlices, nextTurn, SCAN_SLICE } from '../scan/slices.js';
import type { EntryRecord, Store } from '../store/store.js';
import { LiveTrees, type TreeSet } from './live.js';
import { SharedPlacement } from './placement.js';
import { reconcile, ServedTrees } from './reconcile.js';
import { addAll, addShared, type PreferenceList } from './trees.js';

export const TREE_DEPTH = 12;
/** A tree built for a peer's round is reused for its follow-up requests for this long. */
const TREE_TTL_MS = 10_000;
/**
 * Differing leaf buckets (of 2^TREE_DEPTH) a round repairs with one peer, drawn at random; the
 * rest wait for later rounds. Two trees of a store taking writes are built moments apart, so
 * writes in flight make many buckets differ that replication settles by itself; without a
 * bound, a round during a load of a million keys fetched, compared and re-sent the whole store
 * and stalled the node for seconds. 64 buckets of a million keys are ~16k entries.
 */
const MAX_REPAIR_BUCKETS = 64;

export interface AntiEntropyStats {
  rounds: number;
  lastRoundAt: number;
  keysRepaired: number;
  errors: number;
  /** Rebuilds of the kept trees finished (a new ring or flush starts one). */
  rebuilds: number;
  /** Rounds with a peer skipped because the trees were being rebuilt. */
  skipped: number;
}

export class AntiEntropy {
  readonly stats: AntiEntropyStats = { rounds: 0, lastRoundAt: 0, keysRepaired: 0, errors: 0, rebuilds: 0, skipped: 0 };
  private timer?: NodeJS.Timeout;
  private soon?: NodeJS.Timeout;
  private running = false;
  private readonly served = new ServedTrees(TREE_TTL_MS);
  private readonly live: LiveTrees;
  private readonly unobserve: () => void;
  /** The ring the kept trees (or the rebuild under way) are for. */
  private treesRing: HashRing | undefined;
  /** The placement of the last ring asked for (the kept trees' and the rounds' ring, mostly). */
  private placed: { ring: HashRing; placement: SharedPlacement } | undefined;
  /** A rebuild's scan loop is running. */
  private scanning = false;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly selfId: string,
    private readonly rf: number,
    private readonly ring: () => HashRing,
    private readonly peers: PeerPool,
    private readonly isAlive: (node: string) => boolean,
    private readonly log: Logger,
    /**
     * Keep the trees up to date (when rounds run: ANTI_ENTROPY_INTERVAL > 0). Without, the store
     * is not observed for them, and Stats' root and peers' rounds are answered by scanning.
     */
    private readonly keep = true,
  ) {
    const marks = store.flushMarks();
    this.live = new LiveTrees({
      depth: TREE_DEPTH,
      keepsTombstones: store.tombstoneGraceMs > 0,
      covered: (key, wall, logical, node) => marks.size !== 0 && marks.covers(key, wall, logical, node),
      partOf: (key, bits) => store.partOf(key, bits),
    });
    this.unobserve = !keep
      ? () => undefined
      : store.observe({
          applied: (key, rec, prev, position) => {
            if (this.ring() !== this.treesRing) this.rebuild();
            this.live.applied(key, rec, prev, position);
          },
          removed: (_kind, key, wall, logical, node, tombstone, position) => {
            if (this.ring() !== this.treesRing) this.rebuild();
            this.live.removed(key, wall, logical, node, tombstone, position);
          },
          flushed: () => this.rebuild(),
        });
    this.rebuild();
  }

  start(intervalMs: number): void {
    if (intervalMs <= 0) return;
    // Jitter so that nodes do not all compare at the same moment.
    const tick = () => {
      this.timer = setTimeout(
        () => {
          void this.round().finally(tick);
        },
        intervalMs * (0.75 + Math.random() * 0.5),
      );
      this.timer.unref();
    };
    tick();
  }

  stop(): void {
    this.stopped = true;
    this.unobserve();
    if (this.timer) clearTimeout(this.timer);
    if (this.soon) clearTimeout(this.soon);
  }

  // ---- the kept trees ----

  /**
   * Starts rebuilding the kept trees for the current ring (dropping them at once: a flush or a
   * ring change made them wrong); the scan runs in the background. Called from inside store
   * operations (observer): only reads the store.
   */
  private rebuild(): void {
    if (this.stopped || !this.keep) return;
    const ring = this.ring();
    this.treesRing = ring;
    const bits = this.store.partBits(SCAN_SLICE);
    this.live.rebuild(this.placementFor(ring), bits, this.store.partCount(bits));
    if (!this.scanning) {
      this.scanning = true;
      setImmediate(() => void this.scan());
    }
  }

  /** Which peers share each position with this node on `ring` (made once per ring). */
  private placementFor(ring: HashRing): SharedPlacement {
    const p = this.placed;
    if (p !== undefined && p.ring === ring) return p.placement;
    const placement = new SharedPlacement(ring, this.rf, this.selfId);
    this.placed = { ring, placement };
    return placement;
  }

  /** Scans the parts of the rebuild under way (a newer rebuild restarts from its first part), one per event-loop turn. */
  private async scan(): Promise<void> {
    try {
      while (!this.stopped && this.live.nextPart !== -1) {
        // nothing scanned yet and the store grew since the rebuild was cut (a warm restart
        // loads after construction): cut it again, into parts of about SCAN_SLICE
        if (this.live.nextPart === 0 && this.store.partBits(SCAN_SLICE) !== this.live.partBits) this.rebuild();
        this.live.scanned(this.live.nextPart, this.store.heldInPart(this.live.nextPart, this.live.partBits));
        if (this.live.nextPart === -1) this.stats.rebuilds++;
        else await nextTurn();
      }
    } finally {
      this.scanning = false;
    }
  }

  /**
   * The kept trees, current for `ring`, with every due entry reclaimed (so that they hold what
   * a scan would see); undefined while they are rebuilt. Read them before the next await.
   */
  private async keptTrees(ring: HashRing): Promise<TreeSet | undefined> {
    if (this.ring() !== this.treesRing) this.rebuild();
    if (this.live.trees === undefined) return undefined;
    // due entries reclaimed a slice at a time, as scans go (a reclaim costs more than a scanned entry)
    while (this.store.sweep(SCAN_SLICE) === SCAN_SLICE) await nextTurn();
    const set = this.live.trees;
    return set !== undefined && this.treesRing === ring ? set : undefined;
  }

  /** A copy of the kept tree shared with peer (an empty tree if it shares nothing), or undefined while rebuilding. */
  private async keptTree(ring: HashRing, peer: string): Promise<MerkleTree | undefined> {
    const set = await this.keptTrees(ring);
    if (set === undefined) return undefined;
    const i = set.placement.indexOf(peer);
    return i === -1 ? new MerkleTree(TREE_DEPTH) : set.peers[i]!.tree();
  }

  /** Runs a round shortly (a member came back). Coalesces repeated triggers. */
  trigger(delayMs = 1_000): void {
    if (this.soon) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      void this.round();
    }, delayMs);
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
      this.stats.keysRepaired += repaired;
      if (repaired > 0) this.log.info({ repaired }, `anti-entropy repaired ${repaired} keys`);
    } finally {
      this.running = false;
    }
    return repaired;
  }

  /** Root of a tree over every entry this node holds (Stats.merkle_root): the kept one, or by scanning while it is rebuilt. */
  async wholeRoot(): Promise<string> {
    const kept = await this.keptTrees(this.ring());
    if (kept !== undefined) return kept.whole.tree().root();
    const t = new MerkleTree(TREE_DEPTH);
    for await (const part of inSlices(this.store.versions())) addAll(t, part);
    return t.root();
  }

  // ---- answering a peer's round ----

  async treeHashes(requester: string, level: number, indexes: number[]): Promise<string[]> {
    const ring = this.ring();
    let tree = this.served.get(requester, level, ring.version, Date.now());
    if (!tree) {
      tree = (await this.keptTree(ring, requester)) ?? (await this.buildSharedTree(ring, requester));
      this.served.put(requester, tree, ring.version, Date.now());
    }
    return tree.hashes(level, indexes);
  }

  async bucketEntries(requester: string, buckets: number[]): Promise<[string, EntryRecord][]> {
    this.served.take(requester); // the round's last request
    return this.ourBuckets(this.placementFor(this.ring()), requester, buckets);
  }

  // ---- our side of a round ----

  private prefs(ring: HashRing): PreferenceList {
    return (key: string) => ring.preferenceList(key, this.rf);
  }

  /** The tree of the keys this node and `peer` both replicate, built by scanning in slices (while the kept trees are rebuilt). */
  private async buildSharedTree(ring: HashRing, peer: string): Promise<MerkleTree> {
    const t = new MerkleTree(TREE_DEPTH);
    const prefs = this.prefs(ring);
    for await (const part of inSlices(this.store.versions())) addShared(t, part, prefs, this.selfId, peer);
    return t;
  }

  /**
   * Our entries shared with `peer` (on the placement's ring) in the given leaf buckets of a
   * TREE_DEPTH tree: the store's column of key positions gives both the bucket and, through
   * the placement, whether peer shares the key, so keys and values are decoded for these only.
   */
  private async ourBuckets(placement: SharedPlacement, peer: string, buckets: readonly number[]): Promise<[string, EntryRecord][]> {
    const out: [string, EntryRecord][] = [];
    const i = placement.indexOf(peer);
    if (i === -1) return out;
    const wanted = new Uint8Array(1 << TREE_DEPTH);
    for (const b of buckets) if (b >= 0 && b < wanted.length) wanted[b] = 1;
    const shared = (position: number) => placement.peersAt(position).includes(i);
    for await (const part of inSlices(this.store.entriesInBuckets(TREE_DEPTH, wanted, shared))) for (const e of part) out.push(e);
    return out;
  }

  private async syncWith(peer: string, ring: HashRing): Promise<number> {
    const local = await this.keptTree(ring, peer);
    if (local === undefined) {
      this.stats.skipped++;
      return 0;
    }
    const differing = await diffBuckets(local, (level, indexes) => this.peers.treeHashes(peer, level, indexes));
    if (differing.length === 0) return 0;
    const buckets = someOf(differing, MAX_REPAIR_BUCKETS);
    const theirs = new Map<string, EntryRecord>();
    for (const e of await this.peers.bucketEntries(peer, buckets)) theirs.set(e.key, entryFromWire(e));
    const ours = new Map(await this.ourBuckets(this.placementFor(ring), peer, buckets));
    const { take, give } = reconcile(ours, theirs);
    let repaired = 0;
    for (const [key, rec] of take) if (this.store.apply(key, rec)) repaired++;
    await Promise.all(give.map(([key, rec]) => new Promise<void>((resolve) => this.peers.write(peer, key, rec, () => resolve()))));
    return repaired + give.length;
  }
}

/** At most n of xs, drawn uniformly without replacement (all of them, in order, if there are no more than n). */
function someOf<T>(xs: T[], n: number): T[] {
  if (xs.length <= n) return xs;
  const a = xs.slice();
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(Math.random() * (a.length - i));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, n);
}
