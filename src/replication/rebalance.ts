/**
 * Rebalancing: carries out the plan of src/replication/moves.ts after the ring changes.
 * Streams each local key to its targets (in chunks, letting client calls through between
 * them), drops keys this node no longer replicates once their new replicas confirmed, and
 * retries a pass until every send succeeded. Also the hand-off of a node that leaves and
 * the full push to a member that restarted empty. Regular passes are paced to
 * `REBALANCE_RATE` keys per second (src/replication/pace.ts) so that client calls keep
 * their share of the node; the leave hand-off is not (it races SHUTDOWN_TIMEOUT, and the
 * node no longer takes client calls by then).
 */

import type { Logger } from '../log/logger.js';
import type { HashRing } from '../ring/ring.js';
import { inSlices, nextTurn } from '../scan/slices.js';
import type { EntryRecord, Store } from '../store/store.js';
import type { PeerTransport } from './coordinator.js';
import { mayDrop, type PlanContext, planMove } from './moves.js';
import { Pacer } from './pace.js';

const CHUNK_KEYS = 256;
const RETRY_MS = 500;

export interface RebalanceStats {
  passes: number;
  keysSent: number;
  keysDropped: number;
  failures: number;
  lastPassMs: number;
}

export class Rebalancer {
  readonly stats: RebalanceStats = { passes: 0, keysSent: 0, keysDropped: 0, failures: 0, lastPassMs: 0 };
  private baseline: HashRing;
  private target: HashRing | undefined;
  private restarted = new Set<string>();
  /** Until the first complete pass: this node started with the keys it loaded from DATA_DIR (moves.ts). */
  private warm = false;
  private running = false;
  private again = false;
  private stopped = false;
  private readonly pacer: Pacer;

  constructor(
    private readonly store: Store,
    private readonly selfId: string,
    private readonly rf: number,
    private readonly peers: PeerTransport,
    private readonly log: Logger,
    /** The ring this node started with: nothing to move for it. */
    initial: HashRing,
    /** Keys per second a regular pass sends at most; 0 = unpaced. */
    rate = 0,
  ) {
    this.baseline = initial;
    this.pacer = new Pacer(rate, Date.now(), CHUNK_KEYS);
  }

  /**
   * This node loaded its keys from DATA_DIR and anti-entropy runs: its first pass sends the
   * keys it still replicates only to members that restarted (src/replication/moves.ts).
   */
  startedWarm(): void {
    if (this.stats.passes === 0) this.warm = true;
  }

  /** The ring changed (and/or these members restarted empty): schedule a pass. */
  ringChanged(ring: HashRing, restarted: readonly string[] = []): void {
    this.target = ring;
    for (const n of restarted) this.restarted.add(n);
    if (this.running) {
      this.again = true;
      return;
    }
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
  }

  /** A pass is running (reads keep consulting the previous ring meanwhile). */
  get busy(): boolean {
    return this.running;
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      do {
        this.again = false;
        const ring = this.target!;
        const restarted = this.restarted;
        this.restarted = new Set();
        const ok = await this.pass({
          selfId: this.selfId,
          replicationFactor: this.rf,
          before: this.baseline,
          after: ring,
          restarted,
          handoff: false,
          warm: this.warm,
        });
        if (ok) {
          this.baseline = ring;
          this.warm = false;
        } else {
          for (const n of restarted) this.restarted.add(n);
          if (!this.stopped) {
            this.again = true;
            await sleep(RETRY_MS);
          }
        }
      } while (this.again && !this.stopped);
    } finally {
      this.running = false;
    }
  }

  /**
   * Hand-off of a leaving node: every key goes to every replica of it on `ringWithoutSelf`.
   * Resolves with how many keys no replica could confirm.
   */
  async handoff(ringWithoutSelf: HashRing): Promise<{ keys: number; unconfirmed: number }> {
    this.stopped = true; // no more regular passes
    const before = this.stats.failures;
    const keys = this.store.size;
    await this.pass({
      selfId: this.selfId,
      replicationFactor: this.rf,
      before: undefined,
      after: ringWithoutSelf,
      restarted: new Set(),
      handoff: true,
    });
    return { keys, unconfirmed: this.stats.failures - before };
  }

  /** One pass over the local keys. Returns false if some sends failed (the caller retries). */
  private async pass(ctx: PlanContext): Promise<boolean> {
    const started = Date.now();
    const keys = await this.snapshotKeys();
    let failed = 0;
    let sent = 0;
    let firstError: string | undefined;
    for (let i = 0; i < keys.length && (ctx.handoff || !this.stopped); i += CHUNK_KEYS) {
      const work: Promise<void>[] = [];
      const sentBefore = sent;
      for (let j = i; j < Math.min(i + CHUNK_KEYS, keys.length); j++) {
        const key = keys[j];
        const rec = this.store.peek(key);
        if (!rec) continue;
        const move = planMove(key, ctx);
        if (!move) continue;
        sent++;
        work.push(
          this.sendAll(key, rec, move.targets).then(({ confirmed, error }) => {
            if (confirmed < move.targets.length) {
              failed++;
              firstError ??= error;
            } else if (move.dropAfter && mayDrop(rec, this.store.peek(key))) {
              this.store.drop(key);
              this.stats.keysDropped++;
            }
          }),
        );
      }
      await Promise.all(work);
      this.stats.keysSent += sent - sentBefore; // as it goes, so that Stats shows a long pass's progress
      const wait = ctx.handoff ? 0 : this.pacer.take(sent - sentBefore, Date.now());
      if (wait > 0) await sleep(wait);
      else await nextTurn(); // let client calls through between chunks
    }
    this.stats.passes++;
    this.stats.failures += failed;
    this.stats.lastPassMs = Date.now() - started;
    if (sent > 0 || failed > 0) {
      this.log.info(
        { keys: keys.length, sent, failed, ms: this.stats.lastPassMs, ring: ctx.after.version.slice(0, 12), firstError },
        'rebalance pass done',
      );
    }
    return failed === 0;
  }

  /** Sends to every target; resolves with how many confirmed, and the first failure's message. */
  private sendAll(key: string, rec: EntryRecord, targets: string[]): Promise<{ confirmed: number; error?: string }> {
    return new Promise((resolve) => {
      let ok = 0;
      let left = targets.length;
      let error: string | undefined;
      for (const t of targets) {
        this.peers.write(t, key, rec, (err) => {
          if (!err) ok++;
          else error ??= `${t}: ${err.message}`;
          if (--left === 0) resolve({ confirmed: ok, error });
        });
      }
    });
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
