/**
 * scripts/cluster.ts (npm run cluster), run for real: Ctrl-C (SIGINT to the script's whole
 * process group, as a terminal sends it) makes every node leave once and exit 0, and
 * METRICS_ADDR gives each node a metrics port of its own. Needs dist/ (npm run build).
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { after, test } from 'node:test';
import { freePort, MAIN, ROOT } from '../helpers/procs.ts';

const NODES = 3;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Every script started here; killed (its process group, and its nodes by PID) as a last resort. */
const scripts = new Set<Script>();
process.on('exit', () => {
  for (const s of scripts) killAll(s);
});
after(() => {
  for (const s of scripts) killAll(s);
});

interface Line {
  raw: string;
  node?: string;
  json?: Record<string, unknown>;
  text?: string;
}

interface Script {
  proc: ChildProcess;
  /** Node id -> PID (from the script's startup lines) of the nodes not yet reported exited by the script. */
  nodePids: Map<string, number>;
  lines: Line[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves once `pred` holds for the lines seen so far (re-checked on every new line). */
  until(what: string, pred: (lines: Line[]) => boolean, ms?: number): Promise<void>;
  /** Ctrl-C as a terminal sends it: SIGINT to the script's whole process group. */
  ctrlC(): void;
  /** The node log lines (parsed JSON) of node `id` whose msg matches re. */
  logs(id: string, re: RegExp): Record<string, unknown>[];
}

function parse(raw: string): Line {
  const m = /^\[(node\d+) [^\]]+\] (.*)$/.exec(raw);
  if (!m) return { raw };
  const line: Line = { raw, node: m[1], text: m[2] };
  if (m[2].startsWith('{'))
    try {
      line.json = JSON.parse(m[2]) as Record<string, unknown>;
    } catch {
      /* not JSON */
    }
  return line;
}

function startScript(basePort: number, env: Record<string, string> = {}): Script {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', 'scripts/cluster.ts', '--nodes', String(NODES), '--base-port', String(basePort)],
    {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // a process group of its own, like a shell job: ctrlC() signals that group
    },
  );
  const lines: Line[] = [];
  const nodePids = new Map<string, number>();
  const checks = new Set<() => void>();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('close', (code, signal) => {
      resolve({ code, signal });
      for (const c of checks) c();
    });
  });
  for (const stream of [proc.stdout!, proc.stderr!]) {
    let rest = '';
    stream.on('data', (buf: Buffer) => {
      const parts = (rest + buf.toString('utf8')).split('\n');
      rest = parts.pop()!;
      for (const raw of parts) {
        if (!raw) continue;
        const line = parse(raw);
        lines.push(line);
        const started = /^ {2}(node\d+) \S+ \(pid (\d+)\)/.exec(raw);
        if (started) nodePids.set(started[1], Number(started[2]));
        if (line.node && line.text?.startsWith('exited (')) nodePids.delete(line.node);
      }
      for (const c of checks) c();
    });
  }
  const tail = () =>
    lines
      .slice(-15)
      .map((l) => l.raw.slice(0, 300))
      .join('\n');
  const script: Script = {
    proc,
    nodePids,
    lines,
    exited,
    until(what, pred, ms = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (pred(lines)) {
            done();
            resolve();
          } else if (proc.exitCode !== null || proc.signalCode !== null) {
            done();
            reject(new Error(`script exited before: ${what}; last lines:\n${tail()}`));
          }
        };
        const t = setTimeout(() => {
          done();
          reject(new Error(`timed out (${ms}ms) waiting for: ${what}; last lines:\n${tail()}`));
        }, ms);
        const done = () => {
          clearTimeout(t);
          checks.delete(check);
        };
        checks.add(check);
        check();
      });
    },
    ctrlC() {
      process.kill(-proc.pid!, 'SIGINT');
    },
    logs(id, re) {
      return lines.filter((l) => l.node === id && l.json && re.test(String(l.json.msg))).map((l) => l.json!);
    },
  };
  scripts.add(script);
  return script;
}

const ids = Array.from({ length: NODES }, (_, i) => `node${i + 1}`);

/** Waits until every node listens, serves client calls, and has all NODES members in its ring. */
async function clusterFormed(s: Script): Promise<void> {
  await s.until('every node listening, serving and with the full ring', () =>
    ids.every(
      (id) =>
        s.logs(id, /listening on/).length > 0 &&
        s.logs(id, /^serving client calls/).length > 0 &&
        s.logs(id, /^ring changed$/).some((j) => Array.isArray(j.nodes) && j.nodes.length === NODES),
    ),
  );
}

/** Ctrl-C, then: the script exits 0, every node exited (0), left once (one graceful-shutdown line, one "stopped") and never saw a second signal. */
async function ctrlCStopsGracefully(s: Script, extraSignal?: () => void): Promise<void> {
  s.ctrlC();
  extraSignal?.();
  const timer = setTimeout(() => killAll(s), 20_000);
  const { code, signal } = await s.exited;
  clearTimeout(timer);
  const dump = () => s.lines.map((l) => l.raw.slice(0, 200)).join('\n');
  assert.equal(signal, null, dump());
  assert.equal(code, 0, `script exit code\n${dump()}`);
  for (const id of ids) {
    const exits = s.lines.filter((l) => l.node === id && l.text !== undefined && /^exited \(/.test(l.text));
    assert.deepEqual(
      exits.map((l) => l.text),
      ['exited (0)'],
      `${id} exit lines\n${dump()}`,
    );
    const graceful = s.logs(id, /^signal received: graceful shutdown$/);
    assert.equal(graceful.length, 1, `${id}: one graceful shutdown line\n${dump()}`);
    assert.equal(graceful[0].sig, 'SIGTERM', `${id}: stopped by the script's SIGTERM, not the terminal's SIGINT`);
    assert.equal(s.logs(id, /^second signal/).length, 0, `${id}: no second signal\n${dump()}`);
    assert.ok(s.logs(id, /^handed \d+ keys to their new replicas/).length <= 1, `${id}: at most one hand-off\n${dump()}`);
    assert.equal(s.logs(id, /^stopped$/).length, 1, `${id}: one "stopped"\n${dump()}`);
  }
  assert.equal(s.nodePids.size, 0, `nodes not reported exited: ${[...s.nodePids.keys()]}`);
}

/** SIGKILL to the script's process group and, by PID, to its nodes (detached: groups of their own) not yet seen exiting. */
function killAll(s: Script): void {
  const p = s.proc;
  if (p.pid && p.exitCode === null && p.signalCode === null)
    try {
      process.kill(-p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  for (const pid of s.nodePids.values())
    if (alive(pid))
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
}

/** Whether port is free on 127.0.0.1 right now. */
async function isFree(port: number): Promise<boolean> {
  const srv = createServer();
  srv.listen(port, '127.0.0.1');
  try {
    await Promise.race([
      once(srv, 'listening'),
      once(srv, 'error').then(([e]) => {
        throw e;
      }),
    ]);
  } catch {
    return false;
  }
  await new Promise((r) => srv.close(r));
  return true;
}

/** A port p with p..p+count-1 free on 127.0.0.1 and clear of `avoid`. */
async function freeRange(count: number, avoid: number[] = []): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const p = await freePort();
    if (p + count - 1 > 65535) continue;
    const range = Array.from({ length: count }, (_, i) => p + i);
    if (range.some((q) => avoid.includes(q))) continue;
    let ok = true;
    for (const q of range.slice(1))
      if (!(await isFree(q))) {
        ok = false;
        break;
      }
    if (ok) return p;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}

test('dist/ is built', () => assert.ok(existsSync(MAIN), `${MAIN} missing: run npm run build`));

test('Ctrl-C: every node leaves once (SIGTERM from the script only) and exits 0; the script exits 0', { timeout: 30_000 }, async (t) => {
  const base = await freeRange(NODES);
  const s = startScript(base);
  t.after(() => killAll(s));
  await clusterFormed(s);
  await ctrlCStopsGracefully(s);
});

test('one Ctrl-C delivered twice at once (terminal + npm forwarding it) still stops gracefully', { timeout: 30_000 }, async (t) => {
  const base = await freeRange(NODES);
  const s = startScript(base);
  t.after(() => killAll(s));
  await clusterFormed(s);
  await ctrlCStopsGracefully(s, () => process.kill(s.proc.pid!, 'SIGINT'));
});

test('METRICS_ADDR=host:p gives node i the metrics port p+i', { timeout: 30_000 }, async (t) => {
  const base = await freeRange(NODES);
  const mport = await freeRange(
    NODES,
    Array.from({ length: NODES }, (_, i) => base + i),
  );
  const s = startScript(base, { METRICS_ADDR: `127.0.0.1:${mport}` });
  t.after(() => killAll(s));
  await clusterFormed(s);
  await s.until('every node serving metrics', () => ids.every((id) => s.logs(id, /^metrics at /).length > 0));
  for (const [i, id] of ids.entries()) {
    const port = mport + i;
    assert.ok(
      s.lines.some((l) => new RegExp(`^ {2}${id} 127\\.0\\.0\\.1:${base + i} \\(pid \\d+\\) metrics 127\\.0\\.0\\.1:${port} `).test(l.raw)),
      `startup line for ${id}`,
    );
    assert.equal(s.logs(id, /^metrics at /)[0].port, port, `${id} metrics port`);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /cache_requests_total/);
  }
  assert.ok(!s.lines.some((l) => /EADDRINUSE/.test(l.raw)), 'no EADDRINUSE');
  await ctrlCStopsGracefully(s);
});

test('a METRICS_ADDR the script cannot use: exit 2 before starting any node', { timeout: 30_000 }, async () => {
  const base = await freeRange(NODES);
  for (const [value, re] of [
    ['nonsense', /METRICS_ADDR="nonsense" is not host:port/],
    ['127.0.0.1:65534', /beyond 65535/],
    [`127.0.0.1:${base + 1}`, /overlap the nodes' ports/],
  ] as const) {
    const s = startScript(base, { METRICS_ADDR: value });
    const { code } = await s.exited;
    assert.equal(code, 2, value);
    assert.ok(
      s.lines.some((l) => re.test(l.raw)),
      `${value}: ${s.lines.map((l) => l.raw).join('\n')}`,
    );
    assert.ok(!s.lines.some((l) => l.node !== undefined), `${value}: no node started`);
  }
});
