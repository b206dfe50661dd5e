/**
 * Hybrid logical clock (Kulkarni et al.): a timestamp is (wall ms, logical counter).
 * It never goes backwards, stays close to physical time, and is advanced past every
 * timestamp received from a peer, so "newer" means the same thing on every replica.
 * The public API shows a timestamp as one uint64 version, `wall << 16 | logical`
 * (written by src/wire/codec.ts).
 *
 * Pure: the physical clock is injected.
 */

export const MAX_LOGICAL = 0xffff;

/**
 * Orders versions: an HLC timestamp (wall ms, logical counter 0..MAX_LOGICAL) with the
 * writing node's id as the final tie-breaker. Negative if a < b, 0 if equal, positive if a > b.
 */
export function compareVersions(aWall: number, aLogical: number, aNode: string, bWall: number, bLogical: number, bNode: string): number {
  if (aWall !== bWall) return aWall < bWall ? -1 : 1;
  if (aLogical !== bLogical) return aLogical < bLogical ? -1 : 1;
  if (aNode === bNode) return 0;
  return aNode < bNode ? -1 : 1;
}

export class HybridClock {
  private wall = 0;
  private logical = 0;

  constructor(
    readonly node: string,
    private readonly physical: () => number = Date.now,
    /** Remote timestamps further ahead of our physical clock than this are not adopted. */
    private readonly maxDriftMs = 60_000,
  ) {}

  /** Timestamp for a local event (a write this node coordinates). */
  now(): { wall: number; logical: number } {
    const pt = this.physical();
    if (pt > this.wall) {
      this.wall = pt;
      this.logical = 0;
    } else {
      this.bump();
    }
    return { wall: this.wall, logical: this.logical };
  }

  /**
   * Merges a timestamp received from a peer so that our next timestamp is after it.
   * Returns false (and ignores it) if it is implausibly far ahead of our physical clock.
   */
  observe(wall: number, logical: number): boolean {
    const pt = this.physical();
    if (wall - pt > this.maxDriftMs) return false;
    if (wall > this.wall) {
      this.wall = wall;
      this.logical = logical;
    } else if (wall === this.wall && logical > this.logical) {
      this.logical = logical;
    }
    return true;
  }

  /** Last timestamp issued or observed (for piggybacking on peer messages). */
  peek(): { wall: number; logical: number } {
    return { wall: this.wall, logical: this.logical };
  }

  private bump(): void {
    if (this.logical < MAX_LOGICAL) {
      this.logical++;
    } else {
      // Counter exhausted within one millisecond: borrow the next millisecond.
      this.wall++;
      this.logical = 0;
    }
  }
}
