/**
 * Fault scenarios, shared by test/integration/faults.test.ts (short) and scripts/faults.ts
 * (long, soak). Each runs a Checker against the cluster's current members while it injects
 * one fault, heals it, stops the load, measures how long the replicas take to hold identical
 * data again, lets the cluster settle, and reads every key back with QUORUM.
 *
 * Phases of the load (Checker.phase): pre (healthy), fault, post (healed, load still on).
 */
import { Checker, type Convergence, type LoadReport, measureConvergence, type Target, type VerifyReport } from './checker.ts';
import { FaultCluster, type ProbeResult, probeFrom, sleep } from './faultcluster.ts';

export const SCENARIOS = ['crash', 'leave-join', 'partition', 'slow', 'pause', 'flap', 'join-leave', 'rolling'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/** Scenarios whose cluster must give each node a DATA_DIR (startFaultCluster's dataDirs). */
export const NEEDS_DATA_DIR: readonly ScenarioName[] = ['rolling'];

/** What the rolling scenario records per node, in `extra.rolling`. */
export interface RollingStep {
  node: string;
  /** Keys with an acknowledged write (set or delete) when the leave began. */
  acked_keys: number;
  /** Exit of the SIGTERM'd process (0: a graceful leave). */
  leave_exit: number | string | null;
  /** SIGTERM to exit. */
  leave_ms: number;
  /** The leaving process's hand-off line, if it logged one. */
  handoff?: string;
  /** Exit of the old process to the new one seen alive by every member with one ring. */
  down_ms: number;
  /** Start of the new process to that moment. */
  rejoin_ms: number;
  /** From the new process's "loaded N entries and M tombstones from DATA_DIR" line (absent: no such line). */
  loaded?: { items: number; tombstones: number; ms: number };
}

export interface ScenarioOptions {
  /** Load duration, all phases together (ms). */
  durationMs: number;
  keys: number;
  rate: number;
  concurrency: number;
  /** Wait after convergence (or its timeout) before the final reads. */
  settleMs: number;
  convergeTimeoutMs: number;
  /** Keys compared node by node when Stats has no merkle_root. */
  sampleKeys: number;
  /** Same key space for every run (see CheckerOptions.keyTag); default: new keys per run. */
  keyTag?: string;
  /** 'sample' compares sampled keys even when Stats has merkle_root (default 'auto'). */
  convergeBy?: 'auto' | 'sample';
  /** For 'slow': tbf parameters. */
  shape?: { rateKbit: number; burstBytes: number; latencyMs: number };
  /** For 'pause': SIGSTOP for stopMs every periodMs. */
  pause?: { stopMs: number; periodMs: number };
  /** For 'crash': how long the node stays down (default: the fault phase). */
  downMs?: number;
  /** For 'flap': how long the restarted node runs before it is killed again. */
  flapUpMs?: number;
  log?: (line: string) => void;
}

export const SHORT: ScenarioOptions = {
  durationMs: 5_000,
  keys: 150,
  rate: 250,
  concurrency: 12,
  settleMs: 500,
  convergeTimeoutMs: 8_000,
  sampleKeys: 150,
};

export interface ScenarioResult {
  scenario: ScenarioName;
  load: LoadReport;
  verify: VerifyReport;
  convergence: Convergence;
  /** From the heal to identical replicas (includes the post phase, during which the load still ran). */
  sinceHealMs: number;
  rssStartKb: Record<string, number | undefined>;
  rssEndKb: Record<string, number | undefined>;
  /** Per phase, per target: ok, failures by status, latency p50/p99/max. */
  phases: Record<string, ReturnType<Checker['phaseSummary']>>;
  extra: Record<string, unknown>;
  /** Members after the scenario (leave-join replaces one). */
  members: string[];
  spare: string[];
  line: string;
}

const target = (c: FaultCluster, n: string): Target => ({ name: n, addr: c.node(n).addr });

function fmtCounts(o: Record<string, number>): string {
  return `{${Object.entries(o)
    .sort()
    .map(([k, v]) => `${k}:${v}`)
    .join(',')}}`;
}
function fmtRss(o: Record<string, number | undefined>): string {
  return `{${Object.entries(o)
    .map(([k, v]) => `${k}:${v === undefined ? '-' : (v / 1024).toFixed(1)}`)
    .join(',')}}`;
}

/**
 * Runs one scenario on `cluster`, whose running members are `members` (3 of them) and whose
 * namespaces in `spare` have no process (leave-join starts one there).
 */
export async function runScenario(
  cluster: FaultCluster,
  name: ScenarioName,
  members: string[],
  spare: string[],
  o: ScenarioOptions,
): Promise<ScenarioResult> {
  const log = o.log ?? (() => undefined);
  const victim = members[members.length - 1];
  const others = members.filter((m) => m !== victim);
  const chk = new Checker({
    keys: o.keys,
    rate: o.rate,
    concurrency: o.concurrency,
    tag: `${name.replace('-', '')}${Date.now().toString(36)}`,
    keyTag: o.keyTag,
  });
  const extra: Record<string, unknown> = {};
  let survivors = [...members];
  let newSpare = [...spare];
  const pre = Math.round(o.durationMs * 0.2);
  const during = Math.round(o.durationMs * 0.5);
  const post = o.durationMs - pre - during;
  const rssStartKb = cluster.rss();
  let healAt = 0;
  let paused = false;
  chk.setTargets(members.map((m) => target(cluster, m)));
  chk.phase = 'pre';
  chk.start();
  try {
    await sleep(pre);
    chk.phase = 'fault';
    const faultAt = Date.now();
    switch (name) {
      case 'crash': {
        const exit = await cluster.crash(victim);
        extra.killed = exit.signal ?? exit.code;
        await sleep(o.downMs ?? during);
        await cluster.startNode(victim);
        extra.down_ms = Date.now() - faultAt;
        break;
      }
      case 'flap': {
        // A crash loop: down, back, and killed again shortly after it listens, then back for good.
        await cluster.crash(victim);
        await sleep(o.downMs ?? Math.round(during / 2));
        await cluster.startNode(victim);
        await sleep(o.flapUpMs ?? 400);
        await cluster.crash(victim);
        extra.flap = `killed again ${o.flapUpMs ?? 400}ms after it listened`;
        await sleep(Math.max(500, during - (Date.now() - faultAt)));
        await cluster.startNode(victim);
        extra.down_ms = Date.now() - faultAt;
        break;
      }
      case 'leave-join': {
        const newcomer = spare[0];
        if (!newcomer) throw new Error('leave-join needs a spare host');
        const t = Date.now();
        const exit = await cluster.leave(victim);
        extra.leave_exit = exit.code ?? exit.signal;
        extra.leave_ms = Date.now() - t;
        const handoff = cluster
          .node(victim)
          .logLines((l) => typeof l.msg === 'string' && (l.msg as string).startsWith('handed'))
          .pop();
        if (handoff) extra.handoff = (JSON.parse(handoff) as { msg: string }).msg;
        survivors = [...others];
        chk.setTargets(survivors.map((m) => target(cluster, m)));
        await sleep(Math.max(0, during - (Date.now() - faultAt)));
        const j = Date.now();
        await cluster.startNode(newcomer, survivors);
        await cluster.waitFormed([...survivors, newcomer]);
        extra.join_ms = Date.now() - j;
        survivors = [...survivors, newcomer];
        newSpare = [...spare.slice(1), victim];
        chk.setTargets(survivors.map((m) => target(cluster, m)));
        break;
      }
      case 'join-leave': {
        // The other order: a 4th node joins (4 nodes, RF 3: keys move to it and are dropped
        // elsewhere), then one of the original nodes leaves gracefully.
        const newcomer = spare[0];
        if (!newcomer) throw new Error('join-leave needs a spare host');
        const j = Date.now();
        await cluster.startNode(newcomer, members);
        await cluster.waitFormed([...members, newcomer]);
        extra.join_ms = Date.now() - j;
        chk.setTargets([...members, newcomer].map((m) => target(cluster, m)));
        await sleep(Math.max(0, during - (Date.now() - faultAt)));
        const t = Date.now();
        const exit = await cluster.leave(victim);
        extra.leave_exit = exit.code ?? exit.signal;
        extra.leave_ms = Date.now() - t;
        const handoff = cluster
          .node(victim)
          .logLines((l) => typeof l.msg === 'string' && (l.msg as string).startsWith('handed'))
          .pop();
        if (handoff) extra.handoff = (JSON.parse(handoff) as { msg: string }).msg;
        survivors = [...others, newcomer];
        newSpare = [...spare.slice(1), victim];
        chk.setTargets(survivors.map((m) => target(cluster, m)));
        break;
      }
      case 'rolling': {
        // A StatefulSet-style rolling update: each member in turn leaves gracefully, the same
        // identity (env, DATA_DIR) starts again and rejoins; then the next one.
        if (!cluster.dataDirs) throw new Error('rolling needs a cluster started with dataDirs');
        const steps: RollingStep[] = [];
        extra.rolling = steps;
        const procs = members.map((m) => cluster.node(m));
        for (const m of members) {
          const rest = members.filter((x) => x !== m);
          const ackedKeys = chk.touchedKeys().filter((k) => chk.newestAcked(k) !== undefined).length;
          const t = Date.now();
          const exit = await cluster.leave(m);
          const exitedAt = Date.now();
          const old = cluster.node(m);
          const handoff = old.logLines((l) => typeof l.msg === 'string' && (l.msg as string).startsWith('handed')).pop();
          chk.setTargets(rest.map((x) => target(cluster, x)));
          const back = await cluster.startNode(m);
          procs.push(back);
          const startedAt = Date.now();
          await cluster.waitFormed(members);
          await back.waitFor(/serving client calls/, 15_000);
          const doneAt = Date.now();
          const loadedLine = back.logLines((l) => typeof l.msg === 'string' && /^loaded \d+ entries/.test(l.msg as string))[0];
          const loaded = loadedLine ? (JSON.parse(loadedLine) as { items: number; tombstones: number; ms: number }) : undefined;
          steps.push({
            node: m,
            acked_keys: ackedKeys,
            leave_exit: exit.code ?? exit.signal,
            leave_ms: exitedAt - t,
            ...(handoff ? { handoff: (JSON.parse(handoff) as { msg: string }).msg } : {}),
            down_ms: doneAt - exitedAt,
            rejoin_ms: doneAt - startedAt,
            ...(loaded ? { loaded: { items: loaded.items, tombstones: loaded.tombstones, ms: loaded.ms } } : {}),
          });
          chk.setTargets(members.map((x) => target(cluster, x)));
        }
        // Rebalance passes (the push of a restarted node's share, the hand-offs) that had sends
        // fail, by every process, since the first leave: retried, but a sign that a peer could
        // not be reached (or left while the pass sent to it: "connection closed").
        const failedPasses: string[] = [];
        const since = new Date(faultAt).toISOString();
        for (const p of procs)
          for (const l of p.logLines(
            (o) => o.msg === 'rebalance pass done' && Number(o.failed) > 0 && typeof o.time === 'string' && o.time >= since,
          )) {
            const o = JSON.parse(l) as { failed: number; sent: number; firstError?: string; time: string };
            failedPasses.push(`${p.name}.${p.generation} ${o.time}: ${o.failed} of ${o.sent} keys failed (${o.firstError ?? '?'})`);
          }
        extra.failed_passes = failedPasses;
        break;
      }
      case 'partition': {
        cluster.cut(victim);
        // Once the others have declared the victim dead, ask it directly (from inside its namespace).
        await sleep(Math.min(during / 2, 2_000));
        const probe: ProbeResult = await probeFrom(
          cluster,
          victim,
          [0, 1, 2].map((i) => `probe-${chk.opts.tag}-${i}`),
          chk.touchedKeys().slice(0, 3),
          4_000,
        );
        extra.probe = probe;
        await sleep(Math.max(0, during - (Date.now() - faultAt)));
        break;
      }
      case 'slow': {
        const s = o.shape ?? { rateKbit: 128, burstBytes: 3_000, latencyMs: 500 };
        cluster.shape(victim, s);
        extra.shape = `tbf rate ${s.rateKbit}kbit burst ${s.burstBytes} latency ${s.latencyMs}ms`;
        await sleep(during);
        extra.tc = cluster.shapeStats(victim);
        break;
      }
      case 'pause': {
        const p = o.pause ?? { stopMs: 400, periodMs: 1_000 };
        let pauses = 0;
        while (Date.now() - faultAt < during) {
          cluster.pause(victim);
          paused = true;
          await sleep(p.stopMs);
          cluster.resume(victim);
          paused = false;
          pauses++;
          await sleep(Math.max(0, p.periodMs - p.stopMs));
        }
        extra.pauses = `${pauses}x SIGSTOP ${p.stopMs}ms every ${p.periodMs}ms`;
        break;
      }
    }
    // ---- heal ----
    healAt = Date.now();
    if (name === 'partition') cluster.heal(victim);
    if (name === 'slow') cluster.unshape(victim);
    chk.phase = 'post';
    await sleep(post);
  } catch (e) {
    chk.close();
    throw e;
  } finally {
    if (paused) cluster.resume(victim);
    await chk.stop();
  }
  const stopAt = Date.now();
  let convergence: Convergence;
  let verify: VerifyReport;
  try {
    const sample = chk
      .touchedKeys()
      .sort(() => Math.random() - 0.5)
      .slice(0, o.sampleKeys);
    convergence = await measureConvergence(cluster, survivors, sample, o.convergeTimeoutMs, 200, o.convergeBy ?? 'auto');
    await sleep(o.settleMs);
    verify = await chk.verify(survivors.map((m) => target(cluster, m)));
  } finally {
    chk.close();
  }
  const sinceHealMs = stopAt - healAt + convergence.ms;
  const rssEndKb = cluster.rss();
  const phases: ScenarioResult['phases'] = {};
  for (const p of ['pre', 'fault', 'post']) phases[p] = chk.phaseSummary(p);
  extra.ok_within_fault = Object.fromEntries(chk.okWithinPhase.get('fault') ?? []);
  const conv = convergence.converged ? `${convergence.ms}` : `timeout>${convergence.ms}`;
  const line =
    `scenario=${name} attempted=${chk.report.attempted} acked=${chk.report.acked} failed=${fmtCounts(chk.report.failed)}` +
    ` lost=${verify.lost} stale_reads=${chk.report.staleReads} indeterminate=${verify.indeterminate} unreadable=${verify.unreadable}` +
    ` mismatched=${verify.mismatched + verify.foreign + chk.report.foreignReads} late_writes=${chk.report.lateWrites}/${verify.lateWrites}` +
    ` converge_ms=${conv} converge_by=${convergence.mode} since_heal_ms=${convergence.converged ? sinceHealMs : '-'}` +
    ` rss_start_mb=${fmtRss(rssStartKb)} rss_end_mb=${fmtRss(rssEndKb)}`;
  log(line);
  for (const p of ['pre', 'fault', 'post']) {
    log(
      `  ${p}: ${Object.entries(phases[p])
        .map(([t, c]) => `${t} ok=${c.ok} failed=${fmtCounts(c.failed)} p50=${c.p50}ms p99=${c.p99}ms max=${c.max}ms`)
        .join(' | ')}`,
    );
  }
  for (const f of chk.failureSamples) log(`  failure: ${f.phase} ${f.target} ${f.op} ${f.code} ${f.ms}ms ${f.details}`);
  for (const [k, v] of Object.entries(extra)) log(`  ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  if (!convergence.converged) log(`  not converged: ${JSON.stringify(convergence.diff)}`);
  for (const a of [...chk.report.anomalies, ...verify.details].slice(0, 20)) log(`  anomaly: ${JSON.stringify(a)}`);
  return {
    scenario: name,
    load: chk.report,
    verify,
    convergence,
    sinceHealMs,
    rssStartKb,
    rssEndKb,
    phases,
    extra,
    members: survivors,
    spare: newSpare,
    line,
  };
}

/**
 * Starts a 3-node cluster n1..n3 with one spare host n4 (for leave-join); dataDirs gives each
 * node a DATA_DIR (for the scenarios in NEEDS_DATA_DIR).
 */
export async function startFaultCluster(
  env: Record<string, string> = {},
  logDir?: string,
  dataDirs = false,
): Promise<{ cluster: FaultCluster; members: string[]; spare: string[] }> {
  const cluster = await FaultCluster.start({ names: ['n1', 'n2', 'n3'], spare: ['n4'], env, logDir, dataDirs });
  return { cluster, members: ['n1', 'n2', 'n3'], spare: ['n4'] };
}
