/**
 * What the deployment tests (compose*.test.ts, k8s*.test.ts) share: the image's runtime as
 * the Dockerfile defines it, compose/Kubernetes durations, processes whose output is watched,
 * running a command as another user (the image's USER, a pod's runAsUser), and a published
 * port (a TCP forwarder on the host's loopback, like Docker's port publishing).
 */
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { eventually, ROOT } from './procs.ts';

export interface ImageRuntime {
  env: Record<string, string>;
  workdir: string;
  cmd: string[];
  /** USER of the last stage as uid:gid (numeric in this Dockerfile), undefined = root. */
  user?: { uid: number; gid: number };
}

/** ENV, WORKDIR, USER and CMD (exec form) of the Dockerfile's last stage: what a container of the image runs. */
export function imageRuntime(): ImageRuntime {
  const lines = readFileSync(`${ROOT}Dockerfile`, 'utf8')
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const env: Record<string, string> = {};
  let workdir = '/';
  let cmd: string[] = [];
  let user: ImageRuntime['user'];
  for (const line of lines) {
    const [, instr, rest] = /^(\S+)\s*(.*)$/.exec(line)!;
    switch (instr.toUpperCase()) {
      case 'FROM':
        for (const k of Object.keys(env)) delete env[k];
        workdir = '/';
        cmd = [];
        user = undefined;
        break;
      case 'ENV':
        for (const m of rest.matchAll(/(\w+)=("[^"]*"|\S*)/g)) env[m[1]] = m[2].replace(/^"|"$/g, '');
        break;
      case 'WORKDIR':
        workdir = rest;
        break;
      case 'USER': {
        const m = /^(\d+)(?::(\d+))?$/.exec(rest);
        if (!m) throw new Error(`USER ${rest}: only numeric uid[:gid] is understood here`);
        user = { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) };
        break;
      }
      case 'CMD':
        cmd = JSON.parse(rest) as string[];
        break;
    }
  }
  return { env, workdir, cmd, user };
}

/** Seconds in a compose duration such as "20s", "1m30s". */
export function seconds(d: string): number {
  let s = 0;
  for (const m of d.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g))
    s += Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return s;
}

/** A process whose output lines are kept (the shape tearDown in netns.ts takes). */
export interface Proc {
  name: string;
  p: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
  waitFor(re: RegExp, ms?: number): Promise<void>;
}

export function watch(name: string, p: ChildProcess): Proc {
  const lines: string[] = [];
  const onData = (b: Buffer) => {
    for (const l of b.toString('utf8').split('\n')) if (l) lines.push(l);
  };
  p.stdout!.on('data', onData);
  p.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
  return {
    name,
    p,
    lines,
    exited,
    waitFor: (re, ms = 15_000) =>
      eventually(
        () => {
          if (lines.some((l) => re.test(l))) return true;
          if (p.exitCode !== null || p.signalCode !== null) throw new Error(`exited (${p.exitCode ?? p.signalCode})`);
          return false;
        },
        ms,
        50,
      ).then(
        () => undefined,
        (e) => {
          throw new Error(`${name}: no ${re}: ${(e as Error).message}; last lines:\n${lines.slice(-10).join('\n')}`);
        },
      ),
  };
}

export interface RunAs {
  uid: number;
  gid: number;
  /** Supplementary groups (a pod's fsGroup); none if empty. */
  groups?: number[];
}

/** Why commands cannot be run as another user here (needs root and util-linux's setpriv), or undefined. */
export function runAsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  try {
    execFileSync('setpriv', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'needs setpriv (util-linux)';
  }
  return undefined;
}

/** [cmd, ...args] of a command run as `as` (setpriv execs it: the PID stays the command's). */
export function asUser(as: RunAs, cmd: string, args: string[]): [string, string[]] {
  const groups = as.groups?.length ? ['--groups', as.groups.join(',')] : ['--clear-groups'];
  return ['setpriv', ['--reuid', String(as.uid), '--regid', String(as.gid), ...groups, '--', cmd, ...args]];
}

/**
 * A published port: 127.0.0.1:<port> on the host forwards each connection to `target`
 * (host:port), as Docker's port publishing does. TLS passes through untouched, so a client
 * of localhost:<port> checks the node's certificate for "localhost", like on a Docker host.
 */
export async function publishPort(target: string): Promise<{ port: number; close(): Promise<void> }> {
  const i = target.lastIndexOf(':');
  const host = target.slice(0, i);
  const port = Number(target.slice(i + 1));
  const open = new Set<Socket>();
  const server = createServer((inbound) => {
    const outbound = createConnection({ host, port });
    for (const s of [inbound, outbound]) {
      open.add(s);
      s.on('close', () => open.delete(s));
      s.on('error', () => {
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const s of open) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
