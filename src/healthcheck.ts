#!/usr/bin/env node
/**
 * Container health probe: asks this node's own gRPC health service (grpc.health.v1.Health/Check)
 * whether it is SERVING. Exit 0 when SERVING, 1 otherwise (not serving, unknown, no answer,
 * no connection, bad arguments), always within the timeout.
 *
 *   node dist/healthcheck.js [TARGET] [--service NAME] [--timeout MS]
 *
 * TARGET is host:port, :port or port. Without it the node's own listening address is derived
 * from the same environment the node reads (LISTEN_ADDR, else ADDR, see src/config/config.ts):
 * a wildcard or host-name bind (0.0.0.0, [::]) is reached on loopback. NAME defaults to ""
 * (the whole node); MS defaults to 2000.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { parseConfig, splitHostPort } from './config/config.js';
import { HEALTH_PROTO, LOADER_OPTIONS } from './server/protos.js';

const SERVING = 1;
const STATUS_NAMES = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

interface Options { target: string; service: string; timeoutMs: number }

function parseArgs(argv: string[], env: Record<string, string | undefined>): Options {
  let target: string | undefined;
  let service = '';
  let timeoutMs = 2_000;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (flag: string): string => {
      const eq = a.indexOf('=');
      if (eq >= 0) return a.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (a === '--service' || a.startsWith('--service=')) service = value('--service');
    else if (a === '--timeout' || a.startsWith('--timeout=')) {
      const v = value('--timeout');
      timeoutMs = Number(v);
      if (!/^\d+$/.test(v) || timeoutMs < 1) throw new Error(`--timeout must be a number of milliseconds, not ${JSON.stringify(v)}`);
    } else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else if (target === undefined) target = a;
    else throw new Error(`unexpected argument ${a}`);
  }
  return { target: target === undefined ? ownTarget(env) : normalizeTarget(target), service, timeoutMs };
}

function normalizeTarget(t: string): string {
  if (/^\d{1,5}$/.test(t)) return `127.0.0.1:${t}`;
  if (/^:\d{1,5}$/.test(t)) return `127.0.0.1${t}`;
  if (!/:\d{1,5}$/.test(t)) throw new Error(`target must be host:port, :port or port, not ${JSON.stringify(t)}`);
  return t;
}

/** Where this node listens, as the node itself computes it, reached on loopback for a wildcard bind. */
function ownTarget(env: Record<string, string | undefined>): string {
  const { host, port } = splitHostPort(parseConfig(env).LISTEN_ADDR);
  if (host === '0.0.0.0' || host === '') return `127.0.0.1:${port}`;
  if (host === '[::]' || host === '[::0]') return `[::1]:${port}`;
  return `${host}:${port}`;
}

function check(opts: Options): Promise<{ ok: boolean; detail: string }> {
  const def = protoLoader.loadSync(HEALTH_PROTO, LOADER_OPTIONS);
  const Health = grpc.makeClientConstructor(def['grpc.health.v1.Health'] as grpc.ServiceDefinition, 'grpc.health.v1.Health');
  // One call without retries: an answer, or an error by the deadline (a refused connection fails at once).
  const client = new Health(opts.target, grpc.credentials.createInsecure(), { 'grpc.enable_retries': 0 });
  return new Promise((resolve) => {
    (client as unknown as Record<string, Function>).Check(
      { service: opts.service },
      { deadline: Date.now() + opts.timeoutMs },
      (err: grpc.ServiceError | null, res?: { status?: number }) => {
        client.close();
        if (err) { resolve({ ok: false, detail: `${grpc.status[err.code] ?? err.code}: ${err.details}` }); return; }
        const s = res?.status ?? 0;
        resolve({ ok: s === SERVING, detail: STATUS_NAMES[s] ?? String(s) });
      },
    );
  });
}

async function main(): Promise<number> {
  let opts: Options;
  try {
    opts = parseArgs(process.argv.slice(2), process.env);
  } catch (e) {
    process.stderr.write(`healthcheck: ${(e as Error).message}\n`);
    return 1;
  }
  // Belt and braces: whatever happens, answer within the timeout (plus a little to start up).
  setTimeout(() => {
    process.stderr.write(`healthcheck: ${opts.target}: no answer within ${opts.timeoutMs}ms\n`);
    process.exit(1);
  }, opts.timeoutMs + 500).unref();
  const r = await check(opts);
  (r.ok ? process.stdout : process.stderr).write(`healthcheck: ${opts.target}${opts.service ? ` ${opts.service}` : ''}: ${r.detail}\n`);
  return r.ok ? 0 : 1;
}

process.exitCode = await main();
