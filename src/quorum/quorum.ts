/**
 * Quorum bookkeeping for one replicated call: how many answers are needed, and when the
 * outcome is decided (enough successes, or too many failures to ever get there). Pure.
 */

/** Per-call consistency, numbered as in cache.v1.Consistency. */
export enum Level {
  Default = 0,
  One = 1,
  Quorum = 2,
  All = 3,
}

/**
 * Answers required from `n` replicas for `level`; `configured` is WRITE_QUORUM or
 * READ_QUORUM (used for Default), capped at n.
 */
export function required(level: Level, n: number, configured: number): number {
  if (n <= 0) return 0;
  switch (level) {
    case Level.One:
      return 1;
    case Level.Quorum:
      return Math.floor(n / 2) + 1;
    case Level.All:
      return n;
    default:
      return Math.min(Math.max(1, configured), n);
  }
}

export enum Outcome {
  Pending = 0,
  Reached = 1,
  Failed = 2,
}

export class QuorumCount {
  successes = 0;
  failures = 0;
  private decided: Outcome = Outcome.Pending;

  constructor(
    readonly needed: number,
    readonly total: number,
  ) {
    if (needed <= 0) this.decided = Outcome.Reached;
    else if (needed > total) this.decided = Outcome.Failed;
  }

  /** Records a success; returns Reached exactly once, at the moment the quorum is met. */
  success(): Outcome {
    this.successes++;
    return this.settle();
  }

  /** Records a failure; returns Failed exactly once, when the quorum became impossible. */
  failure(): Outcome {
    this.failures++;
    return this.settle();
  }

  get outcome(): Outcome {
    return this.decided;
  }

  get answered(): number {
    return this.successes + this.failures;
  }

  private settle(): Outcome {
    if (this.decided !== Outcome.Pending) return Outcome.Pending;
    if (this.successes >= this.needed) this.decided = Outcome.Reached;
    else if (this.failures > this.total - this.needed) this.decided = Outcome.Failed;
    return this.decided;
  }
}
