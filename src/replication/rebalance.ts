/**
 * Rebalancing: after the ring changes, streams each local key to the replicas that are new
 * in its preference list (in chunks, yielding to client traffic between them), and drops
 * keys this node no longer replicates once all their new replicas confirmed. Also the
 * hand-off of a node that leaves, and the full push to a node that restarted empty.
 */
import type { Store, EntryRecord } from '../store/store.js';
import type { HashRing } from '../ring/ring.js';
import type { Logger } from '../log/logger.js';
import type { PeerTransport } from './coordinator.js';
import { inSlices } from '../scan/slices.js';

const CHUNK_KEYS = 256;

export interface RebalanceStats {
  passes: number;
  keysSent: number;
  keysDropped: number;
  failures: number;
  lastPassMs: number;
}

export class Rebalancer {
  readonly stats: RebalanceStats = { passes: 0, keysSent: 0, keysDropped: 0, failures: 0, lastPassMs: 0 };
  private baseline?: HashRing;
  private target?: HashRing;
  private fullPush = new Set<string>();
  private running = false;
  private again = false;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly selfId: string,
    private readonly rf: number,
    private readonly peers: PeerTransport,
    private readonly log: Logger,
  ) {}

  /** The ring this node started with: nothing to move yet. */
  init(ring: HashRing): void {
    this.baseline = ring;
  }

  /** The ring changed (and/or these nodes restarted empty): schedule a pass. */
  ringChanged(ring: HashRing, restarted: string[] = []): void {
    this.target = ring;
    for (const n of restarted) this.fullPush.add(n);
    if (this.running) { this.again = true; return; }
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
  }

  get busy(): boolean {
    return this.running;
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      do {
        this.again = false;
        const ring = this.target!;
        const full = this.fullPush;
        this.fullPush = new Set();
        const ok = await this.pass(this.baseline, ring, full, false);
        if (ok) this.baseline = ring;
        else {
          for (const n of full) this.fullPush.add(n);
          if (!this.stopped) { this.again = true; await sleep(500); }
        }
      } while (this.again && !this.stopped);
    } finally {
      this.running = false;
    }
  }

  /**
   * Hand-off of a leaving node: every key goes to every replica of it on `ringWithoutSelf`.
   * Resolves with how many keys could not be confirmed by any replica.
   */
  async handoff(ringWithoutSelf: HashRing): Promise<{ keys: number; unconfirmed: number }> {
    this.stopped = true; // no more regular passes
    const before = this.stats.failures;
    const keys = this.store.size;
    await this.pass(undefined, ringWithoutSelf, new Set(), true);
    return { keys, unconfirmed: this.stats.failures - before };
  }

  /** One pass over the local keys. Returns false if some sends failed (the caller retries). */
  private async pass(before: HashRing | undefined, after: HashRing, full: Set<string>, everything: boolean): Promise<boolean> {
    const started = Date.now();
    const keys = await this.snapshotKeys();
    let failed = 0;
    let sent = 0;
    for (let i = 0; i < keys.length && (everything || !this.stopped); i += CHUNK_KEYS) {
      const work: Promise<void>[] = [];
      for (let j = i; j < Math.min(i + CHUNK_KEYS, keys.length); j++) {
        const key = keys[j];
        const rec = this.store.peek(key);
        if (!rec) continue;
        const now = after.preferenceList(key, this.rf);
        const old = before ? before.preferenceList(key, this.rf) : [];
        const stillMine = now.includes(this.selfId);
        const targets = now.filter((n) => n !== this.selfId && (everything || !stillMine || !old.includes(n) || full.has(n)));
        if (targets.length === 0) continue;
        sent++;
        work.push(this.sendAll(key, rec, targets).then((okCount) => {
          if (okCount < targets.length) failed++;
          if (!stillMine && !everything && okCount === targets.length) this.dropIfUnchanged(key, rec);
        }));
      }
      await Promise.all(work);
      await new Promise((r) => setImmediate(r)); // let client calls through between chunks
    }
    this.stats.passes++;
    this.stats.keysSent += sent;
    this.stats.failures += failed;
    this.stats.lastPassMs = Date.now() - started;
    if (sent > 0 || failed > 0) {
      this.log.info({ keys: keys.length, sent, failed, ms: this.stats.lastPassMs, ring: after.version.slice(0, 12) }, 'rebalance pass done');
    }
    return failed === 0;
  }

  private sendAll(key: string, rec: EntryRecord, targets: string[]): Promise<number> {
    return new Promise((resolve) => {
      let ok = 0;
      let left = targets.length;
      for (const t of targets) {
        this.peers.write(t, key, rec, (err) => {
          if (!err) ok++;
          if (--left === 0) resolve(ok);
        });
      }
    });
  }

  private dropIfUnchanged(key: string, rec: EntryRecord): void {
    const cur = this.store.peek(key);
    if (cur && cur.wall === rec.wall && cur.logical === rec.logical && cur.node === rec.node) {
      this.store.drop(key);
      this.stats.keysDropped++;
    }
  }

  private async snapshotKeys(): Promise<string[]> {
    const keys: string[] = [];
    for await (const part of inSlices(this.store.keys())) for (const k of part) keys.push(k);
    return keys;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
