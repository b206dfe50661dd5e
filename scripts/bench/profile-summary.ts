/**
 * node --import tsx scripts/bench/profile-summary.ts FILE.cpuprofile [--top 30] [--skip 2]
 * --skip S leaves out the first S seconds of samples (process start-up: module loading and
 * .proto parsing, which would otherwise show up as protobufjs / module-loader time).
 * Summarises a V8 CPU profile (node --cpu-prof): self time by group (grpc-js, node http2 /
 * streams, protobufjs, our code by folder, GC, idle) and the top functions by self time,
 * plus the inclusive time of a few functions worth watching (handlers, (de)serializers).
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface PNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: PNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const file = process.argv[2];
const topIdx = process.argv.indexOf('--top');
const TOP = topIdx > 0 ? Number(process.argv[topIdx + 1]) : 30;
const skipIdx = process.argv.indexOf('--skip');
const SKIP_US = (skipIdx > 0 ? Number(process.argv[skipIdx + 1]) : 0) * 1e6;
if (!file) {
  process.stderr.write('usage: profile-summary.ts FILE.cpuprofile [--top N]\n');
  process.exit(2);
}
const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile;

const byId = new Map<number, PNode>();
const parent = new Map<number, number>();
for (const n of prof.nodes) byId.set(n.id, n);
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const self = new Map<number, number>();
let total = 0;
let at = 0;
for (let i = 0; i < prof.samples.length; i++) {
  at += prof.timeDeltas[i];
  if (at < SKIP_US) continue;
  const dt = prof.timeDeltas[i + 1] ?? 0; // the delta after a sample is the time spent in it
  self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + dt);
  total += dt;
}

function group(cf: CallFrame): string {
  const u = cf.url;
  const f = cf.functionName;
  if (f === '(idle)') return 'idle';
  if (f === '(garbage collector)') return 'GC';
  if (f === '(program)') return 'V8/native (program)';
  if (f === '(root)') return 'root';
  if (u.includes('@grpc/grpc-js')) return 'grpc-js';
  if (u.includes('protobufjs') || u.includes('@protobufjs')) return 'protobufjs';
  if (u.includes('@grpc/proto-loader')) return 'proto-loader';
  if (u.includes('node_modules/pino') || u.includes('thread-stream') || u.includes('sonic-boom')) return 'pino (logging)';
  if (u.includes('node_modules/'))
    return `dep:${u
      .split('node_modules/')
      .pop()!
      .split('/')
      .slice(0, u.includes('node_modules/@') ? 2 : 1)
      .join('/')}`;
  const m = /\/dist\/([^/]+)\//.exec(u) ?? /\/src\/([^/]+)\//.exec(u);
  if (m) return `ours: ${m[1]}/`;
  if (u.startsWith('node:internal/http2') || u.includes('internal/http2')) return 'node http2';
  if (u.startsWith('node:internal/streams') || u.startsWith('node:stream') || u.includes('internal/streams')) return 'node streams';
  if (u.startsWith('node:internal/timers') || u.startsWith('node:timers')) return 'node timers';
  if (u.startsWith('node:internal/process/task_queues') || u.startsWith('node:internal/async_hooks')) return 'node microtasks/async';
  if (u.startsWith('node:events') || u.includes('internal/events')) return 'node events';
  if (u.startsWith('node:buffer') || u.includes('internal/buffer')) return 'node buffer';
  if (u.startsWith('node:')) return `node other (${u.slice(5).split('/').slice(0, 2).join('/')})`;
  if (u === '') return `native/builtin`;
  return 'other';
}

const pct = (v: number) => `${((100 * v) / total).toFixed(1)}%`;
const busy = total - [...self].filter(([id]) => byId.get(id)!.callFrame.functionName === '(idle)').reduce((a, [, v]) => a + v, 0);
const pctBusy = (v: number) => `${((100 * v) / busy).toFixed(1)}%`;

const groups = new Map<string, number>();
const fns = new Map<string, { t: number; g: string }>();
for (const [id, t] of self) {
  const cf = byId.get(id)!.callFrame;
  const g = group(cf);
  groups.set(g, (groups.get(g) ?? 0) + t);
  const short = cf.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(dist|src)\//, '$1/');
  const key = `${cf.functionName || '(anonymous)'}  ${short}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
  const e = fns.get(key) ?? { t: 0, g };
  e.t += t;
  fns.set(key, e);
}

// Inclusive time per function name (each sample counted once per function on its stack).
const incl = new Map<string, number>();
for (const [id, t] of self) {
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const cf = byId.get(cur)!.callFrame;
    const name = `${cf.functionName}@${group(cf)}`;
    if (seen.has(name)) continue;
    seen.add(name);
    incl.set(name, (incl.get(name) ?? 0) + t);
  }
}

const out: string[] = [];
out.push(
  `profile ${file}: ${(total / 1e6).toFixed(1)} s sampled${SKIP_US ? ` (first ${SKIP_US / 1e6} s left out)` : ''}, busy (not idle) ${(busy / 1e6).toFixed(1)} s`,
);
out.push('');
out.push('self time by group                    % of busy');
for (const [g, t] of [...groups].sort((a, b) => b[1] - a[1])) {
  if (g === 'idle') continue;
  out.push(`  ${g.padEnd(36)} ${pctBusy(t).padStart(6)}`);
}
out.push(`  (idle: ${pct(groups.get('idle') ?? 0)} of all samples)`);
out.push('');
out.push(`top ${TOP} functions by self time (% of busy)`);
for (const [k, e] of [...fns]
  .filter(([k]) => !k.startsWith('(idle)'))
  .sort((a, b) => b[1].t - a[1].t)
  .slice(0, TOP)) {
  out.push(`  ${pctBusy(e.t).padStart(6)}  [${e.g}] ${k}`);
}
out.push('');
out.push('inclusive time of selected functions (% of busy)');
const watch =
  /^(get|set|del|getResponse|serialize|deserialize|encode|decode|finish|fromObject|toObject|sendUnaryMessage|sendMessage|serializeMessage|deserializeMessage|handleUnary|write|_write|respond|sendStatus|sendMetadata|pass|apply|replicate|read|lookup|replicas|now|packVersion|checkKey|toStatus|notFound)$/;
const rows = [...incl]
  .filter(([k]) => watch.test(k.split('@')[0]) && !k.endsWith('@idle'))
  .sort((a, b) => b[1] - a[1])
  .slice(0, 30);
for (const [k, t] of rows) out.push(`  ${pctBusy(t).padStart(6)}  ${k}`);
process.stdout.write(`${out.join('\n')}\n`);
