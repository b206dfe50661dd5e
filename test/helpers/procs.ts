/**
 * Test harness: starts real node processes (the compiled dist/main.js) on loopback and
 * stops them by PID, also when a test fails (every started process is tracked and killed
 * in an 'exit' hook as a last resort).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const MAIN = `${ROOT}dist/main.js`;

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live)
    if (p.pid && p.exitCode === null)
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
});

/**
 * Where freePort looks: below the kernel's ephemeral range (from which every outgoing
 * connection takes its local port), so that no connection of a test running meanwhile can take
 * the port between the check and the node's bind (seen as EADDRINUSE in CI). Without that range
 * (not Linux) or with too little room under it, the kernel's choice (port 0).
 */
const TEST_PORTS = (() => {
  let ephemeralFrom = 0;
  try {
    ephemeralFrom = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    /* not Linux */
  }
  return ephemeralFrom > 12_000 ? { from: 10_000, to: ephemeralFrom - 1_000 } : undefined;
})();

/** Whether port can be bound on host right now. */
async function bindable(port: number, host: string): Promise<number | undefined> {
  const srv = createServer();
  srv.listen(port, host);
  const ok = await Promise.race([once(srv, 'listening').then(() => true), once(srv, 'error').then(() => false)]);
  if (!ok) return undefined;
  const bound = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return bound;
}

/** A port that was free a moment ago on the given loopback address (see TEST_PORTS). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  if (TEST_PORTS) {
    for (let i = 0; i < 100; i++) {
      const port = await bindable(TEST_PORTS.from + Math.floor(Math.random() * (TEST_PORTS.to - TEST_PORTS.from)), host);
      if (port !== undefined) return port;
    }
  }
  const port = await bindable(0, host);
  if (port === undefined) throw new Error(`no free port on ${host}`);
  return port;
}

export interface NodeProc {
  proc: ChildProcess;
  pid: number;
  addr: string;
  env: Record<string, string>;
  /** Every line the process wrote (stdout and stderr). */
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends a signal by PID and waits for the exit (SIGKILL after `ms`). */
  stop(signal?: NodeJS.Signals, ms?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when a line matching re has been written. */
  waitFor(re: RegExp, ms?: number): Promise<string>;
}

export interface StartOptions {
  /** Wait for the "listening" line (default true). */
  waitListening?: boolean;
  timeoutMs?: number;
  args?: string[];
  script?: string;
}

export function spawnNode(env: Record<string, string>, opts: StartOptions = {}): NodeProc {
  const proc = spawn(process.execPath, [...(opts.args ?? []), opts.script ?? MAIN], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(proc);
  const lines: string[] = [];
  const watchers: { re: RegExp; resolve: (l: string) => void }[] = [];
  const onData = (buf: Buffer) => {
    for (const line of buf.toString('utf8').split('\n')) {
      if (!line) continue;
      lines.push(line);
      for (let i = watchers.length - 1; i >= 0; i--) {
        if (watchers[i].re.test(line)) {
          watchers[i].resolve(line);
          watchers.splice(i, 1);
        }
      }
    }
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => {
      live.delete(proc);
      resolve({ code, signal });
    });
  });
  const node: NodeProc = {
    proc,
    pid: proc.pid!,
    addr: env.ADDR ?? '127.0.0.1:8080',
    env,
    lines,
    exited,
    async stop(signal = 'SIGTERM', ms = 15_000) {
      if (proc.exitCode === null && proc.signalCode === null) {
        try {
          process.kill(proc.pid!, signal);
        } catch {
          /* already gone */
        }
        const t = setTimeout(() => {
          try {
            process.kill(proc.pid!, 'SIGKILL');
          } catch {
            /* gone */
          }
        }, ms);
        const r = await exited;
        clearTimeout(t);
        return r;
      }
      return exited;
    },
    waitFor(re, ms = 15_000) {
      const seen = lines.find((l) => re.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`timed out waiting for ${re} from pid ${proc.pid}; last lines:\n${lines.slice(-10).join('\n')}`)),
          ms,
        );
        const w = {
          re,
          resolve: (l: string) => {
            clearTimeout(t);
            resolve(l);
          },
        };
        watchers.push(w);
        exited.then(() => {
          const i = watchers.indexOf(w);
          if (i >= 0) {
            watchers.splice(i, 1);
            clearTimeout(t);
            reject(new Error(`pid ${proc.pid} exited before ${re}; last lines:\n${lines.slice(-10).join('\n')}`));
          }
        });
      });
    },
  };
  return node;
}

/** Starts a node on a free loopback port and waits until it listens. */
export async function startNode(env: Record<string, string> = {}, opts: StartOptions = {}): Promise<NodeProc> {
  const e = { ...env };
  if (!e.ADDR) e.ADDR = `127.0.0.1:${await freePort()}`;
  const node = spawnNode(e, opts);
  if (opts.waitListening !== false) await node.waitFor(/listening on/, opts.timeoutMs ?? 15_000);
  return node;
}

/** Polls fn until it returns a truthy value (or throws after ms). For conditions, not for timing. */
export async function eventually<T>(fn: () => Promise<T> | T, ms = 15_000, every = 100): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`condition not met within ${ms}ms${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, every));
  }
}
