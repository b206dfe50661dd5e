/**
 * Cluster flush (ClusterService.Flush) and the gossip of flush marks.
 *
 * A flush is a versioned fact, not a broadcast of deletes (src/store/flushes.ts has the marks'
 * contract). The node that serves it:
 *  1. asks every member that may be up for its clock (PeerService.Flush without marks) and
 *     merges the answers, so that
 *  2. the flush's version, taken from its own clock next, is after every write any reachable
 *     member has acknowledged or replicated: "written before the flush" means exactly the
 *     writes at or before that version;
 *  3. applies the mark to its own store and hands it to every member that may be up
 *     (PeerService.Flush with the mark), answering with the version and the members that did
 *     not confirm.
 * Members that missed it (down, cut off, slow) get the mark with the next heartbeat: every
 * Ping and Ping reply carries every mark. A store that holds a mark neither returns nor
 * accepts an entry it covers, so a node coming back from a partition drops its old entries
 * the moment it hears of the flush, and anti-entropy, hints or rebalancing cannot restore them.
 */
import { CacheError } from '../errors/errors.js';
import type { HybridClock } from '../hlc/hlc.js';
import type { Logger } from '../log/logger.js';
import type { FlushGossip } from '../membership/membership.js';
import { type FlushMark, MAX_FLUSH_MARKS } from '../store/flushes.js';
import type { Store } from '../store/store.js';

export interface FlushTransport {
  /** Hands `node` the marks (none: asks only for its clock, which the call merges into ours). */
  flush(node: string, marks: FlushMark[], timeoutMs: number): Promise<void>;
}

export interface FlushMembers {
  /** Other members that may be up (alive or suspect): asked directly. */
  reachable(): string[];
  /** Other members that are not known to have left (down ones included). */
  all(): string[];
}

export interface FlushOutcome {
  mark: FlushMark;
  /** Members that did not confirm (they learn the mark by gossip). */
  pending: string[];
}

export class Flusher implements FlushGossip {
  constructor(
    private readonly selfId: string,
    private readonly clock: HybridClock,
    private readonly store: Store,
    private readonly members: FlushMembers,
    private readonly peers: FlushTransport,
    private readonly timeoutMs: number,
    private readonly log: Logger,
  ) {}

  async flush(prefix: string): Promise<FlushOutcome> {
    const marks = this.store.flushMarks();
    if (marks.size >= MAX_FLUSH_MARKS && marks.wouldGrow(prefix)) {
      throw new CacheError(
        'exhausted',
        `the cluster already keeps flush marks for ${MAX_FLUSH_MARKS} prefixes: flush a shorter prefix (or everything) to replace them`,
      );
    }
    const targets = this.members.reachable();
    // 1. every reachable member's clock, so that our next timestamp is after all of them
    await Promise.allSettled(targets.map((id) => this.peers.flush(id, [], this.timeoutMs)));
    // 2. the version
    const ts = this.clock.now();
    const mark: FlushMark = { prefix, wall: ts.wall, logical: ts.logical, node: this.selfId };
    // 3. here, then everywhere
    this.store.flush([mark]);
    const answers = await Promise.allSettled(targets.map((id) => this.peers.flush(id, [mark], this.timeoutMs)));
    const confirmed = new Set(targets.filter((_, i) => answers[i].status === 'fulfilled'));
    const pending = this.members.all().filter((id) => !confirmed.has(id));
    this.log.info(
      { prefix, wall: mark.wall, logical: mark.logical, confirmed: confirmed.size, pending },
      prefix ? `flushed keys starting with ${JSON.stringify(prefix)}` : 'flushed every key',
    );
    return { mark, pending };
  }

  held(): readonly Readonly<FlushMark>[] {
    return this.store.flushMarks().list();
  }

  received(marks: FlushMark[], from: string): void {
    if (marks.length === 0 || !this.store.flush(marks)) return;
    const newest = this.store.flushMarks().newest();
    this.log.info({ from, newest }, `learned of a flush from ${from}`);
  }
}
