/**
 * Fault-injection runs against a real 3-node cluster in private network namespaces, with the
 * lost-write checker (test/helpers/checker.ts). Needs root and iproute2; build first.
 *
 *   npm run build && node --import tsx scripts/faults.ts [--scenario all|crash|leave-join|partition|slow|pause|flap|join-leave|rolling[,...]]
 *        [--duration 20] [--keys 1000] [--rate 400] [--concurrency 16] [--soak 0]
 *        [--settle 2] [--converge-timeout 30] [--converge-by auto|sample] [--sample 300]
 *        [--shape KBIT,BURST,LATENCY_MS] [--pause STOP_MS,PERIOD_MS] [--down SECONDS] [--flap-up MS]
 *        [--env KEY=VALUE,...] [--keep-logs] [--secure]
 *
 *   --duration   seconds of load per scenario (pre 20% / fault 50% / post 30%)
 *   --soak       minutes: repeat the chosen scenarios on ONE cluster until this much time has
 *                passed, then print the RSS of every node at the start and end of the soak
 *   --env        extra node environment, e.g. --env ANTI_ENTROPY_INTERVAL=2s,RPC_TIMEOUT=500ms
 *   --converge-by  auto: Stats.merkle_root when the nodes report it, else a sample of keys read
 *                with ONE from each node; sample: always the sample
 *   --shape      'slow': tbf rate (kbit/s), burst (bytes), queue latency (ms); default 128,3000,500
 *   --pause      'pause': SIGSTOP for STOP_MS every PERIOD_MS; default 400,1000
 *   --down       'crash'/'flap': seconds the node stays down (default: the fault phase)
 *   --flap-up    'flap': ms the restarted node runs before it is killed again (default 400)
 *   --fresh-keys in a soak, new keys for every run (default: the same --keys keys throughout)
 *   --keep-logs  keep node logs of clean runs too (logs of runs with anomalies are always kept)
 *   --secure     nodes with TLS (mutual between them, client certificates requested) and tokens,
 *                certificates made by scripts/dev-certs.sh; the checker's clients use TLS and a token
 *
 * Prints one summary line per scenario run (scenario=... attempted=... lost=... converge_ms=...),
 * with per-phase details below it. Node logs (JSON lines) are kept in the printed log directory.
 * Exit code 1 if any run lost an acknowledged write, read stale data or could not read a key back.
 */
import { rmSync } from 'node:fs';
import { secureAllClients } from '../test/helpers/certs.ts';
import type { FaultCluster } from '../test/helpers/faultcluster.ts';
import { netnsUnavailable } from '../test/helpers/netns.ts';
import {
  NEEDS_DATA_DIR,
  runScenario,
  SCENARIOS,
  type ScenarioName,
  type ScenarioOptions,
  type ScenarioResult,
  startFaultCluster,
} from '../test/helpers/scenarios.ts';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const flag = (name: string) => process.argv.includes(`--${name}`);

const why = netnsUnavailable();
if (why) {
  process.stderr.write(`cannot run: ${why}\n`);
  process.exit(2);
}

const chosen = arg('scenario', 'all');
const names = (chosen === 'all' ? [...SCENARIOS] : chosen.split(',')) as ScenarioName[];
for (const n of names)
  if (!SCENARIOS.includes(n)) {
    process.stderr.write(`unknown scenario ${n}; one of ${SCENARIOS.join(', ')}\n`);
    process.exit(2);
  }
const soakMin = Number(arg('soak', '0'));
// --secure: TLS, mutual TLS between nodes and tokens, as test/integration/faults.test.ts runs.
const env: Record<string, string> = flag('secure') ? secureAllClients() : {};
for (const kv of arg('env', '').split(',').filter(Boolean)) {
  const i = kv.indexOf('=');
  env[kv.slice(0, i)] = kv.slice(i + 1);
}
const opts: ScenarioOptions = {
  durationMs: Number(arg('duration', '20')) * 1000,
  keys: Number(arg('keys', '1000')),
  rate: Number(arg('rate', '400')),
  concurrency: Number(arg('concurrency', '16')),
  settleMs: Number(arg('settle', '2')) * 1000,
  convergeTimeoutMs: Number(arg('converge-timeout', '30')) * 1000,
  sampleKeys: Number(arg('sample', '300')),
  convergeBy: arg('converge-by', 'auto') === 'sample' ? 'sample' : 'auto',
  // In a soak every run uses the same keys (steady store size, so RSS trends mean something)
  // unless --fresh-keys.
  keyTag: soakMin > 0 && !flag('fresh-keys') ? `soak${Date.now().toString(36)}` : undefined,
  log: (l) => process.stdout.write(`${l}\n`),
};
if (arg('shape', '')) {
  const [r, b, l] = arg('shape', '').split(',').map(Number);
  opts.shape = { rateKbit: r, burstBytes: b, latencyMs: l };
}
if (arg('pause', '')) {
  const [s, p] = arg('pause', '').split(',').map(Number);
  opts.pause = { stopMs: s, periodMs: p };
}
if (arg('down', '')) opts.downMs = Number(arg('down', '')) * 1000;
if (arg('flap-up', '')) opts.flapUpMs = Number(arg('flap-up', ''));

const results: ScenarioResult[] = [];
let cluster: FaultCluster | undefined;
let interrupted = false;
const onSignal = () => {
  interrupted = true;
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const fmtRss = (o: Record<string, number | undefined>) =>
  Object.entries(o)
    .map(([k, v]) => `${k}:${v === undefined ? '-' : (v / 1024).toFixed(1)}`)
    .join(',');

try {
  if (soakMin > 0) {
    // One cluster for every scenario: DATA_DIRs if one of them needs them (rolling).
    const started = await startFaultCluster(
      env,
      undefined,
      names.some((n) => NEEDS_DATA_DIR.includes(n)),
    );
    cluster = started.cluster;
    let { members, spare } = started;
    process.stdout.write(`logs: ${cluster.logDir}\n`);
    const rssStart = cluster.rss();
    process.stdout.write(`soak start rss_mb={${fmtRss(rssStart)}} minutes=${soakMin}\n`);
    const end = Date.now() + soakMin * 60_000;
    let round = 0;
    while (Date.now() < end && !interrupted) {
      round++;
      for (const n of names) {
        if (Date.now() >= end || interrupted) break;
        process.stdout.write(`# round ${round} ${n} members=${members.join(',')}\n`);
        const r = await runScenario(cluster, n, members, spare, opts);
        results.push(r);
        members = r.members;
        spare = r.spare;
      }
    }
    const items: string[] = [];
    for (const n of members) {
      const st = await cluster.stats(n);
      items.push(`${n}:${String(st?.items ?? '-')}/${String(st?.tombstones ?? '-')}`);
    }
    process.stdout.write(
      `soak end rounds=${round} runs=${results.length} rss_start_mb={${fmtRss(rssStart)}} rss_end_mb={${fmtRss(cluster.rss())}} items/tombstones={${items.join(',')}}\n`,
    );
  } else {
    for (const n of names) {
      if (interrupted) break;
      const started = await startFaultCluster(env, undefined, NEEDS_DATA_DIR.includes(n));
      cluster = started.cluster;
      process.stdout.write(`# ${n}: logs in ${cluster.logDir}\n`);
      try {
        results.push(await runScenario(cluster, n, started.members, started.spare, opts));
      } finally {
        await cluster.destroy();
        if (!flag('keep-logs') && results.at(-1) && isClean(results.at(-1)!)) rmSync(cluster.logDir, { recursive: true, force: true });
        cluster = undefined;
      }
    }
  }
} finally {
  await cluster?.destroy();
}

function isClean(r: ScenarioResult): boolean {
  return (
    r.verify.lost === 0 &&
    r.load.staleReads === 0 &&
    r.verify.unreadable === 0 &&
    r.verify.mismatched === 0 &&
    r.verify.foreign === 0 &&
    r.load.foreignReads === 0
  );
}

const bad = results.filter((r) => !isClean(r));
process.stdout.write(
  `summary: runs=${results.length} clean=${results.length - bad.length} lost=${results.reduce((a, r) => a + r.verify.lost, 0)} stale_reads=${results.reduce((a, r) => a + r.load.staleReads, 0)}\n`,
);
process.exit(bad.length > 0 ? 1 : 0);
