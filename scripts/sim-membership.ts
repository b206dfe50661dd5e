/**
 * Membership at scale, simulated: node --import tsx scripts/sim-membership.ts [flags]
 *
 * Runs the real SWIM logic (src/membership/swim.ts over src/membership/table.ts), one Swim
 * per simulated member, in one process over a virtual clock and a simulated network (one-way
 * latency, independent message loss, partitions). Per cluster size it measures, in one run:
 * With --lifecycle-loss message loss:
 *  - join: a new member joins through one seed; time until every member has it alive;
 *  - crash: a member stops answering; time until every other member has it dead;
 *  - leave: a member leaves gracefully (keeps running --leave-grace, then stops); time until
 *    every member has it left;
 *  - partition: the cluster splits in two halves for --partition seconds; after the heal, time
 *    until every member has every other alive again;
 *  - with --loss-a and --loss-b message loss, --minutes of virtual time with nobody failing:
 *    false DEAD declarations (a member's own suspicion timeout firing on a member that is up),
 *    views that saw a live member DEAD (declared or learned), messages and payload bytes sent
 *    per member per second (bytes: protobuf-sized payload, without gRPC/HTTP/2 framing).
 * Prints a markdown table. Deterministic for a given --seed.
 *
 *   --sizes 10,100,500,1000   --minutes 10   --loss-a 0.01   --loss-b 0.05
 *   --heartbeat 500 --suspect 1500 --dead 3500 (a node's HEARTBEAT_INTERVAL, SUSPECT_TIMEOUT,
 *   DEAD_TIMEOUT, their defaults; turned into timings by swimTimings, as a node does)
 *   --probe-timeout (40 % of --heartbeat)   --k 3   --suspicion-mult ((dead - suspect) / heartbeat)   --retransmit-mult 4
 *   --max-gossip 8   --push-pull 30000   --dead-probe 60000 (0: recently dead members not pinged)   --latency 1,5 (ms, uniform)   --leave-grace 1500
 *   --partition 30   --lifecycle-loss 0.05   --seed 1
 */
import { parseArgs } from 'node:util';
import { type Envelope, Swim, type SwimMessage, type SwimOptions, type SwimStep, swimTimings } from '../src/membership/swim.ts';
import type { MemberRecord, MemberState } from '../src/membership/table.ts';
import { seeded } from '../test/helpers/random.ts';

const { values: flags } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10,100,500,1000' },
    minutes: { type: 'string', default: '10' },
    'loss-a': { type: 'string', default: '0.01' },
    'loss-b': { type: 'string', default: '0.05' },
    // a node's HEARTBEAT_INTERVAL, SUSPECT_TIMEOUT and DEAD_TIMEOUT (defaults: the node's), turned
    // into the protocol's timings as a node does (swimTimings); the flags after them override
    heartbeat: { type: 'string', default: '500' },
    suspect: { type: 'string', default: '1500' },
    dead: { type: 'string', default: '3500' },
    'probe-timeout': { type: 'string' },
    k: { type: 'string', default: '3' },
    'suspicion-mult': { type: 'string' },
    'retransmit-mult': { type: 'string', default: '4' },
    'max-gossip': { type: 'string', default: '8' },
    'push-pull': { type: 'string', default: '30000' },
    'dead-probe': { type: 'string', default: '60000' },
    latency: { type: 'string', default: '1,5' },
    'leave-grace': { type: 'string', default: '1500' },
    partition: { type: 'string', default: '30' },
    'lifecycle-loss': { type: 'string', default: '0.05' },
    seed: { type: 'string', default: '1' },
  },
});
const num = (name: keyof typeof flags): number => {
  const v = Number(flags[name]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name}: expected a number, got ${flags[name]}`);
  return v;
};
const SIZES = String(flags.sizes).split(',').map(Number);
const [LAT_MIN, LAT_MAX] = String(flags.latency).split(',').map(Number) as [number, number];
const NODE = swimTimings(num('heartbeat'), num('suspect'), num('dead'));
const SWIM: SwimOptions = {
  periodMs: NODE.periodMs!,
  directWindowMs: NODE.directWindowMs!,
  probeTimeoutMs: flags['probe-timeout'] === undefined ? NODE.probeTimeoutMs! : num('probe-timeout'),
  indirectProbes: num('k'),
  suspicionMult: flags['suspicion-mult'] === undefined ? NODE.suspicionMult! : num('suspicion-mult'),
  retransmitMult: num('retransmit-mult'),
  maxGossip: num('max-gossip'),
  pushPullMs: num('push-pull'),
  deadProbeMs: num('dead-probe'),
};

// ---- payload size, as protobuf would encode it ----
const varint = (n: number) => (n < 128 ? 1 : Math.ceil(Math.log2(n + 1) / 7));
const str = (s: string) => 1 + varint(s.length) + s.length;
const recSize = (r: MemberRecord) => {
  const body = str(r.id) + str(r.address) + 2 + 1 + varint(r.incarnation);
  return 1 + varint(body) + body;
};
function wireSize(m: SwimMessage): number {
  let n = str(m.from) + 2;
  const recs = m.kind === 'push-pull' ? m.records : m.gossip;
  for (const r of recs) n += recSize(r);
  if (m.kind === 'ping-req') n += str(m.target);
  if (m.kind !== 'push-pull') n += 1 + varint(m.seq);
  return n;
}

// ---- event queue (binary heap on time, then insertion order) ----
interface Ev {
  t: number;
  n: number;
  node: number;
  /** undefined: a wake-up of `node` */
  msg?: SwimMessage;
}
class Heap {
  private a: Ev[] = [];
  private count = 0;
  get size() {
    return this.a.length;
  }
  private less(x: Ev, y: Ev) {
    return x.t < y.t || (x.t === y.t && x.n < y.n);
  }
  push(t: number, node: number, msg?: SwimMessage) {
    const e: Ev = { t, n: this.count++, node, msg };
    const a = this.a;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i] as Ev, a[p] as Ev)) break;
      [a[i], a[p]] = [a[p] as Ev, a[i] as Ev];
      i = p;
    }
  }
  peek(): Ev | undefined {
    return this.a[0];
  }
  pop(): Ev | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l] as Ev, a[m] as Ev)) m = l;
        if (r < a.length && this.less(a[r] as Ev, a[m] as Ev)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m] as Ev, a[i] as Ev];
        i = m;
      }
    }
    return top;
  }
}

interface SimNode {
  idx: number;
  id: string;
  swim: Swim;
  up: boolean;
  /** time of the pending wake event, Infinity if none */
  wake: number;
  side: number;
  msgs: number;
  bytes: number;
  /** of `bytes`, those of push-pull messages (full tables) */
  ppBytes: number;
}

/** Wait for every up member (but the subject) to see `subject` in state `want`. */
type Watch = { subject: string; want: MemberState; done?: number; count: number };

class Sim {
  now = 0;
  readonly heap = new Heap();
  readonly nodes: SimNode[] = [];
  readonly byId = new Map<string, SimNode>();
  loss = 0;
  partitioned = false;
  readonly random: () => number;
  /** Per observer, its view of the watched subjects. */
  readonly views = new Map<string, Map<string, MemberState>>();
  private watches = new Map<string, Watch>();
  falseDeclared = 0;
  falseViews = 0;
  counting = false;

  constructor(seed: number) {
    this.random = seeded(seed);
  }

  addNode(i: number): SimNode {
    const id = `node-${String(i).padStart(4, '0')}`;
    const address = `10.${(i >> 8) & 255}.${i & 255}.1:7000`;
    // created up to one period ago: each member has its own phase
    const swim = new Swim({ id, address, incarnation: 1 }, SWIM, this.now - this.random() * SWIM.periodMs, this.random);
    const n: SimNode = { idx: i, id, swim, up: true, wake: Number.POSITIVE_INFINITY, side: i % 2, msgs: 0, bytes: 0, ppBytes: 0 };
    this.nodes.push(n);
    this.byId.set(id, n);
    this.views.set(id, new Map());
    return n;
  }

  schedule(n: SimNode) {
    if (!n.up) return;
    const w = n.swim.nextWake();
    if (w < n.wake) {
      n.wake = w;
      this.heap.push(w, n.idx);
    }
  }

  handle(n: SimNode, step: SwimStep, fromTick: boolean) {
    const view = this.views.get(n.id) as Map<string, MemberState>;
    for (const c of step.changes) {
      const w = this.watches.get(c.id);
      if (w !== undefined && c.id !== n.id) {
        const was = view.get(c.id) === w.want;
        if (was !== (c.to === w.want)) w.count += was ? -1 : 1;
      }
      view.set(c.id, c.to);
      if (c.to === 'dead') {
        const subj = this.byId.get(c.id);
        if (subj?.up && subj.swim.table.get(subj.id)?.state !== 'left') {
          this.falseViews++;
          if (fromTick) this.falseDeclared++;
        }
      }
    }
    if (step.changes.length > 0 && this.watches.size > 0) this.checkWatches();
    for (const e of step.send) this.send(n, e);
    this.schedule(n);
  }

  send(from: SimNode, e: Envelope) {
    if (this.counting) {
      from.msgs++;
      const b = wireSize(e.msg);
      from.bytes += b;
      if (e.msg.kind === 'push-pull') from.ppBytes += b;
    }
    const to = this.byId.get(e.to);
    if (to === undefined) return;
    if (this.partitioned && to.side !== from.side) return;
    if (this.loss > 0 && this.random() < this.loss) return;
    this.heap.push(this.now + LAT_MIN + this.random() * (LAT_MAX - LAT_MIN), to.idx, e.msg);
  }

  /** Runs events until virtual time `until`. */
  runUntil(until: number) {
    for (;;) {
      const e = this.heap.peek();
      if (e === undefined || e.t > until) break;
      this.heap.pop();
      this.now = e.t;
      const n = this.nodes[e.node] as SimNode;
      if (!n.up) continue;
      if (e.msg === undefined) {
        if (e.t !== n.wake) continue; // superseded
        n.wake = Number.POSITIVE_INFINITY;
        this.handle(n, n.swim.tick(this.now), true);
      } else {
        this.handle(n, n.swim.receive(e.msg, this.now), false);
      }
    }
    this.now = until;
  }

  /** Starts watching: each subject must be seen in state `want` by every up member but itself. */
  watch(subjects: string[], want: MemberState) {
    this.watches.clear();
    for (const subject of subjects) this.watches.set(subject, { subject, want, count: 0 });
    this.recount();
  }

  /** Runs until every watch is met (or `limit` ms more); returns the time since `start`, or undefined. */
  waitWatches(limit: number, start = this.now): number | undefined {
    this.checkWatches();
    const step = 100;
    const all = [...this.watches.values()];
    while (all.some((w) => w.done === undefined) && this.now - start < limit) this.runUntil(this.now + step);
    const done = all.every((w) => w.done !== undefined) ? Math.max(...all.map((w) => w.done as number)) : undefined;
    this.watches.clear();
    return done === undefined ? undefined : done - start;
  }

  private upCount = 0;

  private recount() {
    this.upCount = this.nodes.filter((n) => n.up).length;
    for (const w of this.watches.values()) {
      w.count = 0;
      for (const n of this.nodes) if (n.up && n.id !== w.subject && this.views.get(n.id)?.get(w.subject) === w.want) w.count++;
    }
    this.checkWatches();
  }

  checkWatches() {
    for (const w of this.watches.values()) {
      if (w.done !== undefined) continue;
      const need = this.upCount - (this.byId.get(w.subject)?.up ? 1 : 0);
      if (w.count >= need) w.done = this.now;
    }
  }

  stop(n: SimNode) {
    n.up = false;
    n.wake = Number.POSITIVE_INFINITY;
    this.recount();
  }

  /** n members that all know each other (as after a long-converged join), each with its own phase. */
  bootstrap(size: number) {
    for (let i = 0; i < size; i++) this.addNode(i);
    const recs: MemberRecord[] = this.nodes.map((n) => ({
      id: n.id,
      address: n.swim.table.addressOf(n.id) as string,
      state: 'alive',
      incarnation: 1,
    }));
    for (const n of this.nodes) {
      const view = this.views.get(n.id) as Map<string, MemberState>;
      for (const c of n.swim.learn(recs, 0).changes) view.set(c.id, c.to);
    }
    for (const n of this.nodes) this.schedule(n);
  }
}

function fmt(ms: number | undefined): string {
  return ms === undefined ? 'not within limit' : `${(ms / 1000).toFixed(2)} s`;
}

function pickUp(sim: Sim, exclude: Set<string>): SimNode {
  for (;;) {
    const n = sim.nodes[Math.floor(sim.random() * sim.nodes.length)] as SimNode;
    if (n.up && !exclude.has(n.id)) return n;
  }
}

interface Row {
  n: number;
  join?: number;
  crash?: number;
  leave?: number;
  heal?: number;
  loss: { loss: number; declared: number; views: number; msgs: number; bytes: number; ppBytes: number }[];
  suspicionS: number;
  wallS: number;
}

function lifecycle(size: number, seed: number, row: Row) {
  const sim = new Sim(seed);
  sim.bootstrap(size);
  sim.loss = num('lifecycle-loss');
  sim.runUntil(10_000);
  row.suspicionS = (sim.nodes[0] as SimNode).swim.suspicionTimeoutMs() / 1000;
  // join through one seed
  const seed0 = pickUp(sim, new Set());
  const j = sim.addNode(size);
  sim.watch([j.id], 'alive');
  sim.handle(j, j.swim.join(seed0.id), false);
  row.join = sim.waitWatches(120_000);
  sim.runUntil(sim.now + 5_000);
  // crash
  const c = pickUp(sim, new Set([j.id]));
  sim.stop(c);
  sim.watch([c.id], 'dead');
  row.crash = sim.waitWatches(120_000);
  sim.runUntil(sim.now + 5_000);
  // graceful leave
  const l = pickUp(sim, new Set([j.id, c.id]));
  sim.watch([l.id], 'left');
  const t0 = sim.now;
  sim.handle(l, l.swim.leave(sim.now), false);
  sim.runUntil(sim.now + Number(flags['leave-grace']));
  sim.stop(l);
  row.leave = sim.waitWatches(120_000, t0);
  // partition in two halves, then heal
  sim.runUntil(sim.now + 5_000);
  sim.partitioned = true;
  sim.runUntil(sim.now + Number(flags.partition) * 1000);
  sim.partitioned = false;
  const live = sim.nodes.filter((n) => n.up);
  sim.watch(
    live.map((n) => n.id),
    'alive',
  );
  row.heal = sim.waitWatches(600_000);
}

function steady(size: number, seed: number, loss: number, minutes: number) {
  const sim = new Sim(seed);
  sim.bootstrap(size);
  sim.loss = loss;
  sim.runUntil(5_000);
  sim.counting = true;
  const t0 = sim.now;
  sim.runUntil(t0 + minutes * 60_000);
  const secs = (sim.now - t0) / 1000;
  let msgs = 0;
  let bytes = 0;
  let pp = 0;
  for (const n of sim.nodes) {
    msgs += n.msgs;
    bytes += n.bytes;
    pp += n.ppBytes;
  }
  return {
    loss,
    declared: sim.falseDeclared,
    views: sim.falseViews,
    msgs: msgs / size / secs,
    bytes: bytes / size / secs,
    ppBytes: pp / size / secs,
  };
}

const minutes = num('minutes');
const seed = num('seed');
const rows: Row[] = [];
for (const n of SIZES) {
  const t = performance.now();
  const row: Row = { n, loss: [], suspicionS: 0, wallS: 0 };
  lifecycle(n, seed, row);
  for (const loss of [num('loss-a'), num('loss-b')]) row.loss.push(steady(n, seed + 1, loss, minutes));
  row.wallS = (performance.now() - t) / 1000;
  rows.push(row);
  process.stderr.write(`n=${n} done in ${row.wallS.toFixed(1)} s\n`);
}

const [la, lb] = [num('loss-a'), num('loss-b')].map((x) => `${+(x * 100).toFixed(2)} %`);
console.log(
  `SWIM: period ${SWIM.periodMs} ms, probe timeout ${SWIM.probeTimeoutMs} ms, direct window ${SWIM.directWindowMs} ms, k ${SWIM.indirectProbes}, suspicion ${SWIM.suspicionMult} × log10(n) periods, retransmit ${SWIM.retransmitMult} × ceil(log10(n+1)), ≤ ${SWIM.maxGossip} records per message, push-pull every ${SWIM.pushPullMs / 1000} s, recently dead pinged for ${SWIM.deadProbeMs / 1000} s; latency ${LAT_MIN}–${LAT_MAX} ms; join, crash, leave and partition with ${+(num('lifecycle-loss') * 100).toFixed(2)} % loss; ${minutes} virtual minutes per loss rate; seed ${seed}\n`,
);
console.log(
  `| members | suspicion timeout | join known to all | crash DEAD at all | leave known to all | partition heal (all alive again) | false DEAD, ${la} loss (declared / views) | false DEAD, ${lb} loss (declared / views) | msgs/node/s (${la} / ${lb}) | bytes/node/s (${la} / ${lb}) | of which push-pull (${la} / ${lb}) | sim wall time |`,
);
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  const [a, b] = r.loss as [Row['loss'][0], Row['loss'][0]];
  console.log(
    `| ${r.n} | ${r.suspicionS.toFixed(1)} s | ${fmt(r.join)} | ${fmt(r.crash)} | ${fmt(r.leave)} | ${fmt(r.heal)} | ${a.declared} / ${a.views} | ${b.declared} / ${b.views} | ${a.msgs.toFixed(2)} / ${b.msgs.toFixed(2)} | ${Math.round(a.bytes)} / ${Math.round(b.bytes)} | ${Math.round(a.ppBytes)} / ${Math.round(b.ppBytes)} | ${r.wallS.toFixed(0)} s |`,
  );
}
