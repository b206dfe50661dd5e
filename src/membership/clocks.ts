/**
 * Clock offsets to the other members, measured on the heartbeat, and whether this node's own
 * clock is too far off to coordinate writes ("fenced").
 *
 * Contract
 *
 * Samples. A heartbeat Ping gives one sample per reply: t0 our clock when we sent it, t1 the
 * peer's clock when it received it, t2 the peer's clock when it replied, t3 our clock when the
 * reply arrived (all wall-clock ms). As NTP does:
 *     offset     = ((t1 - t0) + (t2 - t3)) / 2     the peer's clock minus ours
 *     round trip = (t3 - t0) - (t2 - t1)           time on the wire, the peer's work left out
 * The offset is exact when both legs take as long; otherwise it is wrong by at most half the
 * round trip. A sample is refused (record() returns false) if a timestamp is not a finite
 * number, t3 < t0, t2 < t1, or its round trip is below -ROUNDING_MS (inconsistent: a clock
 * stepped mid-call); the timestamps are whole ms, so a round trip of -1 or -2 is rounding
 * and counts as 0.
 *
 * Estimates. Per peer the last `samplesPerPeer` samples are kept; the estimate is the one
 * with the smallest round trip (the least queueing noise; among equals, the newest).
 * Samples older than `maxSampleAgeMs` (by their t3) do not count, and judge() forgets every
 * peer that is not in the live set it is given (peers that died, left or were forgotten),
 * so a peer that comes back starts afresh. A clock that is set right shows in the estimate
 * at the latest once samplesPerPeer newer samples have come in.
 * A peer that answers without its clock (a node of an older version, during a rolling
 * upgrade: recordUnmeasurable()) has no estimate but is not unknown either: until
 * maxSampleAgeMs after that answer it counts as within the bound, so that it neither fences
 * us nor keeps the verdict undecided for ever.
 *
 * Verdict (judge(live, now), `live` = the other members that are alive or suspect). Let
 * offenders = the live peers whose |estimate| > maxOffsetMs. Peers without an estimate (nor
 * a fresh unmeasurable answer) are unknown. With at most `sampleSize` live peers the whole
 * cluster is judged, n = |live| + 1 (this node included):
 *  - this node is fenced when 2 * offenders > n: it disagrees with more than half of the
 *    cluster, so it is its own clock that is off (3 nodes, one off: that one disagrees with
 *    2 of 3 and is fenced; the other two disagree with 1 of 3 and are not; 2 nodes: neither);
 *  - the verdict is decided when the unknown peers cannot change that: fenced as above, or
 *    not fenced even if every unknown peer turned out an offender
 *    (2 * (offenders + unknown) <= n).
 * With more live peers than that, a node measures only some of them at a time (it probes one
 * member per period), so the verdict is that of the measured peers, a sample: decided once at
 * least `sampleSize` of them are measured (or answered unmeasurable), fenced when
 * 2 * offenders > measured + 1. An undecided judge changes nothing: the last decided
 *    verdict stands (a new member does not unfence a fenced node, nor fence a good one, before
 *    it has been measured). Before the first decided judge, the node is not fenced.
 *  - maxOffsetMs = 0 turns the check off: always decided, never fenced, no offenders
 *    (offsets are still measured).
 * judge() returns what changed, each reported once and only by a decided judge (so a node
 * that has measured one peer of two does not blame that one before it knows which is off):
 *  - 'fenced' (with this node's offset, below) and 'unfenced' (back within the bound);
 *  - 'peer-off' / 'peer-ok': a peer's clock went beyond the bound of ours / came back,
 *    only while this node is not fenced (when it is, the fault is its own and the peers are
 *    not blamed; the peers still beyond the bound when it is unfenced are reported then).
 *    A reported peer that leaves the live set is dropped without a 'peer-ok'.
 * This node's own offset (ClockVerdict.offsetMs) is how far its clock is ahead of (positive)
 * or behind (negative) the cluster's median clock: minus the median of the live peers'
 * estimates and its own 0 (so one peer far off does not move it: 3 nodes, one 90 s ahead,
 * the other two are 0 off; that one is 90 s off).
 *
 * Pure: no I/O, no timers; time (ms) is passed in by the caller.
 */

/** One heartbeat round trip: see the contract. */
export interface ClockSample {
  /** Our clock when the Ping was sent. */
  t0: number;
  /** The peer's clock when it received the Ping. */
  t1: number;
  /** The peer's clock when it replied. */
  t2: number;
  /** Our clock when the reply arrived. */
  t3: number;
}

export interface PeerOffset {
  peer: string;
  /** The peer's clock minus ours (ms). */
  offsetMs: number;
  /** Round trip of the sample the estimate comes from (ms). */
  roundTripMs: number;
  /** When that sample arrived (our clock, ms). */
  at: number;
}

export interface ClockOptions {
  /** MAX_CLOCK_OFFSET; 0 = no check. */
  maxOffsetMs: number;
  /** Samples kept per peer. */
  samplesPerPeer: number;
  /** Samples older than this (by their arrival) do not count. */
  maxSampleAgeMs: number;
  /** Beyond this many live peers the verdict is that of a sample of at least this many measured ones. */
  sampleSize: number;
}

export interface ClockVerdict {
  /** This node's clock is off from the majority: no writes coordinated, health NOT_SERVING. */
  fenced: boolean;
  /** The last judge() was decided (see the contract); false before the first one. */
  decided: boolean;
  /** This node's clock minus the cluster's median clock (its own included): see the contract. */
  offsetMs: number;
  /** Largest |estimate| over the live peers; 0 with none. */
  maxAbsOffsetMs: number;
  /** Live peers whose |estimate| is beyond maxOffsetMs, sorted by id. */
  offenders: PeerOffset[];
  /** Live peers, and those with an estimate, at the last judge(). */
  live: number;
  measured: number;
}

export type ClockChange =
  | { kind: 'fenced'; offsetMs: number; offenders: PeerOffset[]; live: number }
  | { kind: 'unfenced'; offsetMs: number }
  | { kind: 'peer-off'; peer: string; offsetMs: number }
  | { kind: 'peer-ok'; peer: string; offsetMs: number };

/** Whole-ms timestamps make a round trip of a ms or two below zero a matter of rounding. */
export const ROUNDING_MS = 2;

/** The offset and round trip of one sample, or undefined if it is inconsistent (see the contract). */
export function measure(s: ClockSample): { offsetMs: number; roundTripMs: number } | undefined {
  const { t0, t1, t2, t3 } = s;
  if (![t0, t1, t2, t3].every(Number.isFinite) || t3 < t0 || t2 < t1) return undefined;
  const roundTrip = t3 - t0 - (t2 - t1);
  if (roundTrip < -ROUNDING_MS) return undefined;
  return { offsetMs: (t1 - t0 + (t2 - t3)) / 2, roundTripMs: Math.max(0, roundTrip) };
}

/** An offset for people: "+90.0s", "-612ms", "+0ms" (whole ms below a second, tenths of a second above). */
export function formatOffset(ms: number): string {
  const whole = Math.round(ms);
  const sign = whole < 0 ? '-' : '+';
  const abs = Math.abs(whole);
  return abs < 1_000 ? `${sign}${abs}ms` : `${sign}${(abs / 1_000).toFixed(1)}s`;
}

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const NOT_JUDGED: ClockVerdict = { fenced: false, decided: false, offsetMs: 0, maxAbsOffsetMs: 0, offenders: [], live: 0, measured: 0 };

export class ClockOffsets {
  private readonly opts: ClockOptions;
  /** Per peer, its recent samples, oldest first. */
  private readonly samples = new Map<string, PeerOffset[]>();
  /** Peers that answered without their clock: when they last did (see the contract). */
  private readonly unmeasurable = new Map<string, number>();
  /** Peers reported 'peer-off' and not back yet. */
  private readonly reported = new Set<string>();
  private current: ClockVerdict = NOT_JUDGED;

  constructor(opts: ClockOptions) {
    if (!(opts.maxOffsetMs >= 0) || !Number.isFinite(opts.maxOffsetMs)) throw new RangeError('maxOffsetMs must be a finite number >= 0');
    if (!Number.isSafeInteger(opts.samplesPerPeer) || opts.samplesPerPeer < 1)
      throw new RangeError('samplesPerPeer must be a whole number >= 1');
    if (!(opts.maxSampleAgeMs > 0)) throw new RangeError('maxSampleAgeMs must be > 0');
    if (!Number.isSafeInteger(opts.sampleSize) || opts.sampleSize < 1) throw new RangeError('sampleSize must be a whole number >= 1');
    this.opts = { ...opts };
  }

  /** Records one heartbeat sample from `peer`; false (and nothing recorded) if it is inconsistent. */
  record(peer: string, sample: ClockSample): boolean {
    const m = measure(sample);
    if (m === undefined) return false;
    let list = this.samples.get(peer);
    if (list === undefined) this.samples.set(peer, (list = []));
    list.push({ peer, offsetMs: m.offsetMs, roundTripMs: m.roundTripMs, at: sample.t3 });
    if (list.length > this.opts.samplesPerPeer) list.splice(0, list.length - this.opts.samplesPerPeer);
    return true;
  }

  /** The estimate for `peer` at `now`: its fresh sample with the smallest round trip (newest among equals). */
  estimate(peer: string, now: number): PeerOffset | undefined {
    const list = this.samples.get(peer);
    if (list === undefined) return undefined;
    let best: PeerOffset | undefined;
    for (const s of list) {
      if (now - s.at > this.opts.maxSampleAgeMs) continue;
      if (best === undefined || s.roundTripMs <= best.roundTripMs) best = s;
    }
    return best;
  }

  /** The estimate of every peer that has one at `now`, sorted by id. */
  estimates(now: number): PeerOffset[] {
    const out: PeerOffset[] = [];
    for (const peer of [...this.samples.keys()].sort()) {
      const e = this.estimate(peer, now);
      if (e !== undefined) out.push(e);
    }
    return out;
  }

  /** Drops a peer's samples (it left or was forgotten). */
  forget(peer: string): void {
    this.samples.delete(peer);
    this.unmeasurable.delete(peer);
    this.reported.delete(peer);
  }

  /** `peer` answered a heartbeat at `at` (our clock) without its clock: an older node that cannot be measured. */
  recordUnmeasurable(peer: string, at: number): void {
    this.unmeasurable.set(peer, at);
  }

  /** The verdict of the last judge() (fenced and the reported peers as of the last decided one). */
  get verdict(): ClockVerdict {
    return this.current;
  }

  /** Why this node coordinates no writes, or undefined when it may. */
  refusal(): string | undefined {
    const v = this.current;
    if (!v.fenced) return undefined;
    return (
      `this node's clock is off by ${formatOffset(v.offsetMs)} from the majority of its peers ` +
      `(more than MAX_CLOCK_OFFSET, ${this.opts.maxOffsetMs}ms): it coordinates no writes until its clock is back within the bound; ` +
      'retry on another node'
    );
  }

  /** Judges this node's clock against its live peers (see the contract); returns what changed. */
  judge(live: readonly string[], now: number): ClockChange[] {
    const liveSet = new Set(live);
    for (const peer of new Set([...this.samples.keys(), ...this.unmeasurable.keys()])) if (!liveSet.has(peer)) this.forget(peer);
    for (const peer of [...this.reported]) if (!liveSet.has(peer)) this.reported.delete(peer);

    const bound = this.opts.maxOffsetMs;
    const measured: PeerOffset[] = [];
    let unknown = 0;
    for (const peer of [...liveSet].sort()) {
      const e = this.estimate(peer, now);
      if (e !== undefined) {
        measured.push(e);
        continue;
      }
      const answered = this.unmeasurable.get(peer);
      if (answered === undefined || now - answered > this.opts.maxSampleAgeMs) unknown++;
    }
    const offenders = bound > 0 ? measured.filter((e) => Math.abs(e.offsetMs) > bound) : [];
    const whole = liveSet.size <= this.opts.sampleSize;
    // the cluster, or the sample (the peers measured or answered unmeasurable), this node included
    const n = whole ? liveSet.size + 1 : liveSet.size - unknown + 1;
    const fencedNow = (whole || n - 1 >= this.opts.sampleSize) && 2 * offenders.length > n;
    const decided = bound === 0 || fencedNow || (whole ? 2 * (offenders.length + unknown) <= n : n - 1 >= this.opts.sampleSize);
    const offsetMs = -median([0, ...measured.map((e) => e.offsetMs)]) || 0; // || 0: no -0
    const maxAbsOffsetMs = measured.reduce((m, e) => Math.max(m, Math.abs(e.offsetMs)), 0);

    const changes: ClockChange[] = [];
    const wasFenced = this.current.fenced;
    const fenced = decided ? fencedNow : wasFenced;
    if (decided) {
      if (fenced && !wasFenced) {
        changes.push({ kind: 'fenced', offsetMs, offenders, live: liveSet.size });
        this.reported.clear();
      } else if (!fenced && wasFenced) {
        changes.push({ kind: 'unfenced', offsetMs });
      }
      if (!fenced) {
        const off = new Set(offenders.map((e) => e.peer));
        for (const e of offenders) {
          if (this.reported.has(e.peer)) continue;
          this.reported.add(e.peer);
          changes.push({ kind: 'peer-off', peer: e.peer, offsetMs: e.offsetMs });
        }
        for (const e of measured) {
          if (!this.reported.has(e.peer) || off.has(e.peer)) continue;
          this.reported.delete(e.peer);
          changes.push({ kind: 'peer-ok', peer: e.peer, offsetMs: e.offsetMs });
        }
      }
    }
    this.current = { fenced, decided, offsetMs, maxAbsOffsetMs, offenders, live: liveSet.size, measured: measured.length };
    return changes;
  }
}
