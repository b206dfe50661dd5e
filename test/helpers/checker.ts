/**
 * Lost-write checker: drives Set/Get/Delete load against a set of nodes (spreading calls
 * over them) and keeps its own record of what the cluster acknowledged.
 *
 * - Every Set writes a value unique to that call: "<tag>.<key>.<seq>", so a value read back
 *   names the very call that wrote it.
 * - Acknowledged writes and deletes are kept per key with the version the cluster returned
 *   (uint64, compared as BigInt), in the order the acknowledgements arrived; calls that failed
 *   (any gRPC status) or are still in flight are kept too: a write that failed may still have
 *   been applied by some replica (indeterminate), a write that succeeded must never be lost.
 * - Ordering uses a local event counter: an acknowledgement "happened before" a read if its
 *   callback ran before the read was sent, which is exact within this process.
 *
 * Stale read: a QUORUM read that returned a version lower than the newest write acknowledged
 * before the read was sent (or NOT_FOUND while that newest write is a Set and no delete that
 * could be newer exists).
 * Lost write (final check, quiescent): the value read back with QUORUM has a version lower than
 * the newest acknowledged version for the key, or is NOT_FOUND while the newest acknowledged
 * operation is a Set and no delete attempt could be newer.
 */
import * as grpc from '@grpc/grpc-js';
import { type FaultCluster, sleep, unaryClient } from './faultcluster.ts';
import type { CallResult } from './grpc.ts';

export const CONSISTENCY = { DEFAULT: 0, ONE: 1, QUORUM: 2, ALL: 3 } as const;

const STATUS_NAME: Record<number, string> = Object.fromEntries(
  Object.entries(grpc.status)
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => [v as number, k]),
);
export const statusName = (code: number | undefined): string => (code === undefined ? 'OK' : (STATUS_NAME[code] ?? `CODE_${code}`));

export interface Target {
  name: string;
  addr: string;
}

export interface CheckerOptions {
  /** Size of the key space. */
  keys: number;
  /** Concurrent callers. */
  concurrency: number;
  /** Cap on calls per second, all callers together. */
  rate: number;
  /** Fractions of Set / Get / Delete calls (normalised). */
  mix?: { set: number; get: number; del: number };
  /** Client deadline per call (ms). */
  deadlineMs?: number;
  /** Consistency of every call (default QUORUM). */
  consistency?: number;
  /** Distinguishes this run's values (and keys, unless keyTag is given). */
  tag?: string;
  /**
   * Names the key space instead of tag: runs with the same keyTag use the same keys (a steady
   * store size for long soaks). Values written by an earlier run are then taken as the keys'
   * state before this run (version-checked like any other value, never "foreign").
   */
  keyTag?: string;
  /** Hard bounds on the load loop (whichever comes first), in case stop() is never called. */
  maxOps?: number;
  maxDurationMs?: number;
  /** Keep at most this many stale-read / anomaly details. */
  keepDetails?: number;
  /** Send the absolute deadline header like the client library (default true). */
  absoluteDeadline?: boolean;
}

interface Acked {
  order: number;
  end: number;
  v: bigint;
  del: boolean;
  seq: number;
  via: string;
  /** Prefix maximum (by acknowledgement order) of versions, and whether that op is a delete. */
  maxV: bigint;
  maxDel: boolean;
  maxSeq: number;
  maxVia: string;
  maxEnd: number;
}
interface Unacked {
  start: number;
  end: number;
  del: boolean;
  seq: number;
  code: string;
  via: string;
}
interface KeyLog {
  acked: Acked[];
  /** Acked entries collapsed to save memory (long runs): their prefix maximum. */
  floor?: { order: number; maxV: bigint; maxDel: boolean; maxSeq: number; maxVia: string; maxEnd: number };
  newest?: Acked;
  unacked: Unacked[];
  inflight: Map<number, { start: number; del: boolean }>;
}

export interface PhaseCounts {
  ok: number;
  failed: Record<string, number>;
  lat: number[];
  latN: number;
}

export interface Anomaly {
  kind: string;
  key: string;
  [k: string]: unknown;
}

export interface LoadReport {
  attempted: number;
  acked: number;
  writesAcked: number;
  deletesAcked: number;
  readsOk: number;
  readsNotFound: number;
  failed: Record<string, number>;
  staleReads: number;
  foreignReads: number;
  /** Reads that returned a value from a write whose client had given up (deadline) before the write's version time: the node executed it late. */
  lateWrites: number;
  anomalies: Anomaly[];
}

export interface VerifyReport {
  keys: number;
  lost: number;
  indeterminate: number;
  unreadable: number;
  mismatched: number;
  foreign: number;
  /** Final values written by a call the node executed after its client had given up (see LoadReport.lateWrites). */
  lateWrites: number;
  details: Anomaly[];
}

const LAT_KEEP = 4_000;
const COLLAPSE_AT = 512;

export class Checker {
  readonly opts: Required<Omit<CheckerOptions, 'mix'>> & { mix: { set: number; get: number; del: number } };
  private readonly logs = new Map<string, KeyLog>();
  private targets: Target[] = [];
  private readonly clients = new Map<string, ReturnType<typeof unaryClient>>();
  private order = 0;
  private seq = 0;
  private running = false;
  private workers: Promise<void>[] = [];
  private nextSlot = 0;
  private startedAt = 0;
  phase = 'pre';
  /** phase -> target -> counts (by the phase in force when the call was sent). */
  readonly phases = new Map<string, Map<string, PhaseCounts>>();
  readonly report: LoadReport = {
    attempted: 0,
    acked: 0,
    writesAcked: 0,
    deletesAcked: 0,
    readsOk: 0,
    readsNotFound: 0,
    failed: {},
    staleReads: 0,
    foreignReads: 0,
    lateWrites: 0,
    anomalies: [],
  };

  constructor(opts: CheckerOptions) {
    const mix = opts.mix ?? { set: 0.6, get: 0.35, del: 0.05 };
    const total = mix.set + mix.get + mix.del;
    this.opts = {
      deadlineMs: 3_000,
      consistency: CONSISTENCY.QUORUM,
      tag: `c${Date.now().toString(36)}`,
      keyTag: '',
      maxOps: 10_000_000,
      maxDurationMs: 3 * 3_600_000,
      keepDetails: 50,
      absoluteDeadline: true,
      ...opts,
      mix: { set: mix.set / total, get: mix.get / total, del: mix.del / total },
    };
  }

  key(i: number): string {
    return `${this.opts.keyTag || this.opts.tag}-k${i}`;
  }

  /** Nodes the load is spread over (round robin); may change while running. */
  setTargets(targets: Target[]): void {
    this.targets = [...targets];
  }

  private client(addr: string): ReturnType<typeof unaryClient> {
    let c = this.clients.get(addr);
    if (!c) {
      c = unaryClient('cache.v1.CacheService', addr, { absoluteDeadline: this.opts.absoluteDeadline });
      this.clients.set(addr, c);
    }
    return c;
  }

  private log(key: string): KeyLog {
    let l = this.logs.get(key);
    if (!l) {
      l = { acked: [], unacked: [], inflight: new Map() };
      this.logs.set(key, l);
    }
    return l;
  }

  /** Keys that saw at least one call. */
  touchedKeys(): string[] {
    return [...this.logs.keys()];
  }

  /** Newest acknowledged version of a key (for reports). */
  newestAcked(key: string): { v: bigint; del: boolean; seq: number; via: string } | undefined {
    const n = this.logs.get(key)?.newest;
    return n && { v: n.v, del: n.del, seq: n.seq, via: n.via };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.startedAt = Date.now();
    this.nextSlot = performance.now();
    for (let i = 0; i < this.opts.concurrency; i++) this.workers.push(this.worker(i));
  }

  /** Stops the load and waits for the calls in flight (each is bounded by its deadline). */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
    this.workers = [];
  }

  /**
   * Caller i always calls targets[i % targets.length] (its "connection"), so callers stuck on an
   * unreachable node (until their deadline) do not starve the calls to the others; the rate
   * cap is shared, so the healthy nodes get the slots the stuck callers do not use.
   */
  private async worker(i: number): Promise<void> {
    const interval = 1000 / this.opts.rate;
    while (this.running && this.report.attempted < this.opts.maxOps && Date.now() - this.startedAt < this.opts.maxDurationMs) {
      const now = performance.now();
      const at = Math.max(this.nextSlot, now);
      this.nextSlot = at + interval;
      if (at > now) await sleep(at - now);
      if (!this.running) break;
      const targets = this.targets;
      if (targets.length === 0) {
        await sleep(50);
        continue;
      }
      const target = targets[i % targets.length];
      const key = this.key(Math.floor(Math.random() * this.opts.keys));
      const r = Math.random();
      if (r < this.opts.mix.set) await this.set(target, key);
      else if (r < this.opts.mix.set + this.opts.mix.get) await this.get(target, key);
      else await this.del(target, key);
    }
  }

  /** The first few failures per (phase, target, op, status), with the server's message. */
  readonly failureSamples: { phase: string; target: string; op: string; code: string; details: string; ms: number }[] = [];
  private readonly sampled = new Map<string, number>();

  private sampleFailure(phase: string, target: string, op: string, err: grpc.ServiceError, ms: number): void {
    const k = `${phase}/${target}/${op}/${err.code}`;
    const n = this.sampled.get(k) ?? 0;
    if (n >= 2) return;
    this.sampled.set(k, n + 1);
    this.failureSamples.push({ phase, target, op, code: statusName(err.code), details: err.details, ms });
  }

  /**
   * Successful calls that were sent AND answered within one phase -> target -> count. (A call
   * sent during a cut may succeed after the heal; an answer that arrived just before a phase
   * change may be processed just after it: neither counts here.)
   */
  readonly okWithinPhase = new Map<string, Map<string, number>>();

  private count(phase: string, target: string, code: string, ms: number): void {
    if ((code === 'OK' || code === 'NOT_FOUND') && phase === this.phase) {
      let m = this.okWithinPhase.get(phase);
      if (!m) {
        m = new Map();
        this.okWithinPhase.set(phase, m);
      }
      m.set(target, (m.get(target) ?? 0) + 1);
    }
    let byTarget = this.phases.get(phase);
    if (!byTarget) {
      byTarget = new Map();
      this.phases.set(phase, byTarget);
    }
    let c = byTarget.get(target);
    if (!c) {
      c = { ok: 0, failed: {}, lat: [], latN: 0 };
      byTarget.set(target, c);
    }
    if (code === 'OK' || code === 'NOT_FOUND') c.ok++;
    else c.failed[code] = (c.failed[code] ?? 0) + 1;
    // Reservoir sample of latencies.
    c.latN++;
    if (c.lat.length < LAT_KEEP) c.lat.push(ms);
    else {
      const j = Math.floor(Math.random() * c.latN);
      if (j < LAT_KEEP) c.lat[j] = ms;
    }
    if (code !== 'OK' && code !== 'NOT_FOUND') this.report.failed[code] = (this.report.failed[code] ?? 0) + 1;
  }

  private anomaly(a: Anomaly): void {
    if (this.report.anomalies.length < this.opts.keepDetails) this.report.anomalies.push(a);
  }

  async set(target: Target, key: string): Promise<void> {
    const seq = ++this.seq;
    const value = `${this.opts.tag}.${key}.${seq}`;
    await this.write(target, key, seq, false, { key, value, consistency: this.opts.consistency });
  }

  async del(target: Target, key: string): Promise<void> {
    const seq = ++this.seq;
    await this.write(target, key, seq, true, { key, consistency: this.opts.consistency });
  }

  private async write(target: Target, key: string, seq: number, del: boolean, req: object): Promise<void> {
    const l = this.log(key);
    const start = Date.now();
    const phase = this.phase;
    l.inflight.set(seq, { start, del });
    this.report.attempted++;
    const r = await this.client(target.addr).call(del ? 'Delete' : 'Set', req, this.opts.deadlineMs);
    const end = Date.now();
    l.inflight.delete(seq);
    const code = statusName(r.err?.code);
    this.count(phase, target.name, code, end - start);
    if (r.err) {
      this.sampleFailure(phase, target.name, del ? 'Delete' : 'Set', r.err, end - start);
      l.unacked.push({ start, end, del, seq, code, via: target.name });
      return;
    }
    const v = BigInt(r.res!.version as string);
    const prev = l.acked.length > 0 ? l.acked[l.acked.length - 1] : l.floor;
    const takeNew = !prev || v > prev.maxV;
    const a: Acked = {
      order: ++this.order,
      end,
      v,
      del,
      seq,
      via: target.name,
      maxV: takeNew ? v : prev!.maxV,
      maxDel: takeNew ? del : prev!.maxDel,
      maxSeq: takeNew ? seq : prev!.maxSeq,
      maxVia: takeNew ? target.name : prev!.maxVia,
      maxEnd: takeNew ? end : prev!.maxEnd,
    };
    l.acked.push(a);
    if (!l.newest || v > l.newest.v) l.newest = a;
    this.report.acked++;
    if (del) this.report.deletesAcked++;
    else this.report.writesAcked++;
    if (l.acked.length > COLLAPSE_AT) this.collapse(l);
  }

  /** Folds old acknowledgements into the floor (only ones older than 60 s: no read in flight can predate them). */
  private collapse(l: KeyLog): void {
    const cutoff = Date.now() - 60_000;
    let i = 0;
    while (i < l.acked.length - 1 && l.acked[i].end < cutoff) i++;
    if (i === 0) return;
    const last = l.acked[i - 1];
    l.floor = { order: last.order, maxV: last.maxV, maxDel: last.maxDel, maxSeq: last.maxSeq, maxVia: last.maxVia, maxEnd: last.maxEnd };
    l.acked.splice(0, i);
    l.unacked = l.unacked.filter((u) => u.end >= cutoff);
  }

  /** The newest acknowledgement (by version) among those that arrived before event `order`. */
  private ackedBefore(
    l: KeyLog,
    order: number,
  ): { maxV: bigint; maxDel: boolean; maxSeq: number; maxVia: string; maxEnd: number } | undefined {
    let lo = 0,
      hi = l.acked.length - 1,
      found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (l.acked[mid].order < order) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found >= 0) return l.acked[found];
    if (l.floor && l.floor.order < order) return l.floor;
    return undefined;
  }

  /** Could some delete of this key (acknowledged, failed or in flight) carry a version above v? */
  private deleteCouldBeNewer(l: KeyLog, v: bigint): boolean {
    const wall = Number(v >> 16n);
    for (const a of l.acked) if (a.del && a.v > v) return true;
    for (const u of l.unacked) if (u.del && u.end + 2 >= wall) return true;
    for (const f of l.inflight.values()) if (f.del) return true;
    return false;
  }

  /**
   * How much later than the client's deadline a write may be executed before it counts as late:
   * the node's allowance for client clock skew (DEADLINE_SKEW_MS, 500 ms, src/server/deadline.ts)
   * plus 50 ms between the client's clock reading and the node's HLC wall (same machine clock).
   */
  static readonly LATE_SLACK_MS = 550;

  /**
   * If `seq` is a write whose call failed and whose version (wall ms) is later than the moment
   * the client gave up on it, the node executed it after the client's deadline: returns it.
   */
  private lateWrite(l: KeyLog, seq: number, v: bigint): Unacked | undefined {
    const u = l.unacked.find((x) => x.seq === seq);
    if (!u) return undefined;
    return Number(v >> 16n) > u.end + Checker.LATE_SLACK_MS ? u : undefined;
  }

  private unackedDeletes(l: KeyLog): { code: string; via: string; start: number; end: number }[] {
    return l.unacked.filter((u) => u.del).map((u) => ({ code: u.code, via: u.via, start: u.start, end: u.end }));
  }

  /** Parses a value this checker wrote; undefined if it is not one of ours for this key. */
  private parse(key: string, value: string): number | undefined {
    const prefix = `${this.opts.tag}.${key}.`;
    if (!value.startsWith(prefix)) {
      // A value of an earlier run over the same key space: the key's state before this run.
      const i = value.indexOf('.');
      return this.opts.keyTag && i > 0 && value.startsWith(`.${key}.`, i) ? 0 : undefined;
    }
    const seq = Number(value.slice(prefix.length));
    return Number.isSafeInteger(seq) && seq > 0 && seq <= this.seq ? seq : undefined;
  }

  async get(target: Target, key: string): Promise<void> {
    const l = this.log(key);
    const sentAt = ++this.order;
    const start = Date.now();
    this.report.attempted++;
    const phase = this.phase;
    const r = await this.client(target.addr).call('Get', { key, consistency: this.opts.consistency }, this.opts.deadlineMs);
    const end = Date.now();
    const code = statusName(r.err?.code);
    this.count(phase, target.name, code, end - start);
    if (r.err && r.err.code !== grpc.status.NOT_FOUND) {
      this.sampleFailure(phase, target.name, 'Get', r.err, end - start);
      return;
    }
    const before = this.ackedBefore(l, sentAt);
    if (r.err) {
      this.report.readsNotFound++;
      if (before && !before.maxDel && !this.deleteCouldBeNewer(l, before.maxV)) {
        this.report.staleReads++;
        this.anomaly({
          kind: 'stale_read',
          key,
          via: target.name,
          phase,
          got: 'NOT_FOUND',
          expectedAtLeast: before.maxV.toString(),
          expectedSeq: before.maxSeq,
          expectedVia: before.maxVia,
          expectedAckedAt: before.maxEnd,
          readStart: start,
          readMs: end - start,
        });
      }
      return;
    }
    this.report.readsOk++;
    const value = (r.res!.value as string | undefined) ?? '';
    const v = BigInt((r.res!.version as string | undefined) ?? '0');
    const seq = this.parse(key, value);
    if (seq === undefined) {
      this.report.foreignReads++;
      this.anomaly({ kind: 'foreign_value', key, via: target.name, phase, value: value.slice(0, 80), version: v.toString() });
      return;
    }
    if (before && v < before.maxV) {
      this.report.staleReads++;
      this.anomaly({
        kind: 'stale_read',
        key,
        via: target.name,
        phase,
        got: v.toString(),
        gotSeq: seq,
        expectedAtLeast: before.maxV.toString(),
        expectedSeq: before.maxSeq,
        expectedDelete: before.maxDel,
        expectedVia: before.maxVia,
        expectedAckedAt: before.maxEnd,
        readStart: start,
        readMs: end - start,
      });
    }
    // An acknowledged write read back must carry the version it was acknowledged with.
    const ack = l.acked.find((a) => a.seq === seq);
    if (ack && ack.v !== v) {
      this.anomaly({ kind: 'version_mismatch', key, via: target.name, seq, acked: ack.v.toString(), read: v.toString() });
    }
    const late = this.lateWrite(l, seq, v);
    if (late && !this.lateSeen.has(seq)) {
      this.lateSeen.add(seq);
      this.report.lateWrites++;
      this.anomaly({
        kind: 'late_write',
        key,
        via: target.name,
        phase,
        seq,
        version: v.toString(),
        versionWall: Number(v >> 16n),
        sentAt: late.start,
        clientGaveUpAt: late.end,
        code: late.code,
        sentVia: late.via,
      });
    }
  }

  private readonly lateSeen = new Set<number>();

  /** Counts per target for one phase: ok and failures by status; latency percentiles. */
  phaseSummary(phase: string): Record<string, { ok: number; failed: Record<string, number>; p50: number; p99: number; max: number }> {
    const out: Record<string, { ok: number; failed: Record<string, number>; p50: number; p99: number; max: number }> = {};
    for (const [t, c] of this.phases.get(phase) ?? []) {
      const s = [...c.lat].sort((a, b) => a - b);
      const pct = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : 0);
      out[t] = { ok: c.ok, failed: { ...c.failed }, p50: pct(0.5), p99: pct(0.99), max: s.length ? s[s.length - 1] : 0 };
    }
    return out;
  }

  /**
   * Final check (load stopped): reads every touched key with QUORUM, spreading over `targets`
   * and retrying failed reads on the other targets; classifies each key.
   */
  async verify(targets: Target[], opts: { concurrency?: number; retries?: number; deadlineMs?: number } = {}): Promise<VerifyReport> {
    if (this.running) throw new Error('verify() needs the load stopped');
    const keys = this.touchedKeys();
    const out: VerifyReport = {
      keys: keys.length,
      lost: 0,
      indeterminate: 0,
      unreadable: 0,
      mismatched: 0,
      foreign: 0,
      lateWrites: 0,
      details: [],
    };
    const detail = (a: Anomaly) => {
      if (out.details.length < this.opts.keepDetails) out.details.push(a);
    };
    const retries = opts.retries ?? 4;
    let next = 0;
    const one = async (key: string) => {
      const l = this.log(key);
      let r: CallResult | undefined;
      let via = '';
      const errors: string[] = [];
      for (let attempt = 0; attempt <= retries; attempt++) {
        const t = targets[(next + attempt) % targets.length];
        via = t.name;
        r = await this.client(t.addr).call('Get', { key, consistency: CONSISTENCY.QUORUM }, opts.deadlineMs ?? 3_000);
        if (!r.err || r.err.code === grpc.status.NOT_FOUND) break;
        errors.push(`${t.name}:${statusName(r.err.code)}`);
        await sleep(200);
      }
      next++;
      if (r!.err && r!.err.code !== grpc.status.NOT_FOUND) {
        out.unreadable++;
        detail({ kind: 'unreadable', key, errors });
        return;
      }
      const newest = l.newest;
      if (r!.err) {
        if (!newest || newest.del) return;
        if (this.deleteCouldBeNewer(l, newest.v)) {
          out.indeterminate++;
          return;
        }
        out.lost++;
        // Failed deletes of the key, in case one was executed late (after its client gave up).
        detail({
          kind: 'lost',
          key,
          via,
          final: 'NOT_FOUND',
          newestAcked: newest.v.toString(),
          newestSeq: newest.seq,
          newestVia: newest.via,
          ackedAt: newest.end,
          failedDeletes: this.unackedDeletes(l),
        });
        return;
      }
      const value = (r!.res!.value as string | undefined) ?? '';
      const v = BigInt((r!.res!.version as string | undefined) ?? '0');
      const seq = this.parse(key, value);
      if (seq === undefined) {
        out.foreign++;
        detail({ kind: 'foreign_value', key, via, value: value.slice(0, 80), version: v.toString() });
        return;
      }
      // No acknowledged write this run: a failed one of this run took effect (or the key kept
      // its value from an earlier run over the same keys, seq 0).
      if (!newest) {
        if (seq > 0) out.indeterminate++;
        return;
      }
      if (v < newest.v) {
        out.lost++;
        detail({
          kind: 'lost',
          key,
          via,
          final: v.toString(),
          finalSeq: seq,
          newestAcked: newest.v.toString(),
          newestSeq: newest.seq,
          newestDelete: newest.del,
          newestVia: newest.via,
          ackedAt: newest.end,
        });
        return;
      }
      const ack = l.acked.find((a) => a.seq === seq);
      if (ack && ack.v !== v) {
        out.mismatched++;
        detail({ kind: 'version_mismatch', key, via, seq, acked: ack.v.toString(), read: v.toString() });
        return;
      }
      const late = this.lateWrite(l, seq, v);
      if (late) {
        out.lateWrites++;
        detail({
          kind: 'late_write',
          key,
          via,
          seq,
          version: v.toString(),
          versionWall: Number(v >> 16n),
          sentAt: late.start,
          clientGaveUpAt: late.end,
          code: late.code,
          sentVia: late.via,
          newestAcked: newest.v.toString(),
          ackedAt: newest.end,
        });
      }
      if (v > newest.v || seq !== newest.seq) out.indeterminate++;
    };
    let i = 0;
    await Promise.all(
      Array.from({ length: opts.concurrency ?? 16 }, async () => {
        while (i < keys.length) await one(keys[i++]);
      }),
    );
    return out;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

export interface Convergence {
  converged: boolean;
  ms: number;
  mode: 'merkle' | 'sample';
  polls: number;
  /** When not converged: what differed at the last poll. */
  diff?: unknown;
}

/**
 * Time until every given node holds the same data: Stats.merkle_root equal on all nodes when
 * the field exists, else, for a sample of keys, the version each node returns to a direct
 * ONE-consistency Get (NOT_FOUND counts as a value). Only meaningful when every node is a
 * replica of every key (3 nodes, RF 3) and no load is running.
 */
export async function measureConvergence(
  cluster: FaultCluster,
  names: string[],
  sampleKeys: string[],
  timeoutMs: number,
  everyMs = 200,
  by: 'auto' | 'sample' = 'auto',
): Promise<Convergence> {
  const t0 = Date.now();
  const clients = names.map((n) => unaryClient('cache.v1.CacheService', cluster.node(n).addr));
  let polls = 0;
  let diff: unknown;
  let mode: 'merkle' | 'sample' = 'sample';
  try {
    while (Date.now() - t0 <= timeoutMs) {
      polls++;
      const stats = await Promise.all(names.map((n) => cluster.stats(n)));
      const roots = stats.map((s) => s?.merkle_root as string | undefined);
      if (by === 'auto' && roots.every((r) => typeof r === 'string' && r.length > 0)) {
        mode = 'merkle';
        if (new Set(roots).size === 1) return { converged: true, ms: Date.now() - t0, mode, polls };
        diff = Object.fromEntries(
          names.map((n, i) => [
            n,
            { root: roots[i], items: stats[i]?.items, tombstones: stats[i]?.tombstones, hints: stats[i]?.hints_pending },
          ]),
        );
      } else {
        mode = 'sample';
        const differing: Record<string, string[]> = {};
        let nd = 0;
        for (let i = 0; i < sampleKeys.length; i += 32) {
          const chunk = sampleKeys.slice(i, i + 32);
          const rows = await Promise.all(
            chunk.map(async (key) =>
              Promise.all(
                clients.map(async (c) => {
                  const r = await c.call('Get', { key, consistency: CONSISTENCY.ONE }, 1_000);
                  if (!r.err) return String(r.res!.version);
                  return r.err.code === grpc.status.NOT_FOUND ? 'NF' : `ERR:${statusName(r.err.code)}`;
                }),
              ),
            ),
          );
          rows.forEach((row, j) => {
            if (new Set(row).size !== 1 || row[0].startsWith('ERR')) {
              nd++;
              if (Object.keys(differing).length < 5) differing[chunk[j]] = row;
            }
          });
        }
        if (nd === 0) return { converged: true, ms: Date.now() - t0, mode, polls };
        diff = { keysDiffering: nd, of: sampleKeys.length, nodes: names, examples: differing, hints: stats.map((s) => s?.hints_pending) };
      }
      await sleep(everyMs);
    }
    return { converged: false, ms: Date.now() - t0, mode, polls, diff };
  } finally {
    for (const c of clients) c.close();
  }
}
