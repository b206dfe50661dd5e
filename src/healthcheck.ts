#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
/**
 * Container health probe: asks this node's own gRPC health service (grpc.health.v1.Health/Check)
 * whether it is SERVING. Exit 0 when SERVING, 1 otherwise (not serving, unknown, no answer,
 * no connection, bad arguments), always within the timeout.
 *
 *   node dist/healthcheck.js [TARGET] [--service NAME] [--timeout MS]
 *
 * TARGET is host:port, :port or port (see src/config/parse.ts). Without it the node's own listening
 * address is derived from the same environment the node reads (LISTEN_ADDR, else ADDR, see
 * src/config/config.ts): a wildcard or host-name bind (0.0.0.0, [::]) is reached on loopback. NAME
 * defaults to "" (the whole node); MS defaults to 2000 (milliseconds, or a duration with a unit: 2s).
 * With TLS_CERT, TLS_KEY and TLS_CA in the environment (the node's), the probe speaks TLS.
 */
import * as grpc from '@grpc/grpc-js';
import { parseConfig } from './config/config.js';
import { type Address, formatAddress, ParseError, parseAddress, parseDuration } from './config/parse.js';
import { _grpc_health_v1_HealthCheckResponse_ServingStatus as ServingStatus } from './protos/generated/health/grpc/health/v1/HealthCheckResponse.js';
import { healthApi } from './protos/protos.js';
import { ignoreIpServerNameWarning } from './security/tls.js';

const STATUS_NAMES = Object.keys(ServingStatus);

interface Options {
  target: string;
  credentials: grpc.ChannelCredentials;
  service: string;
  timeoutMs: number;
}

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
      try {
        timeoutMs = parseDuration(v, { bareNumber: 'ms' });
      } catch (e) {
        if (e instanceof ParseError) throw new Error(`--timeout ${e.message}`);
        throw e;
      }
      if (timeoutMs < 1) throw new Error(`--timeout must be at least 1ms, not ${JSON.stringify(v)}`);
    } else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else if (target === undefined) target = a;
    else throw new Error(`unexpected argument ${a}`);
  }
  return { target: target === undefined ? ownTarget(env) : normalizeTarget(target), credentials: credentials(env), service, timeoutMs };
}

/**
 * The node's own TLS settings when it has them (TLS_CERT, TLS_KEY, TLS_CA): it presents its own
 * certificate (TLS_CLIENT_AUTH=require) and checks the node's against TLS_CA by chain only, since
 * it dials loopback, a name the certificate need not carry.
 */
function credentials(env: Record<string, string | undefined>): grpc.ChannelCredentials {
  const cfg = parseConfig(env);
  if (!cfg.TLS_CERT) return grpc.credentials.createInsecure();
  const read = (variable: 'TLS_CERT' | 'TLS_KEY' | 'TLS_CA') => {
    try {
      return readFileSync(cfg[variable]);
    } catch (e) {
      throw new Error(`${variable} ${cfg[variable]}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  return grpc.credentials.createSsl(read('TLS_CA'), read('TLS_KEY'), read('TLS_CERT'), { checkServerIdentity: () => undefined });
}

/** host:port as given (IPv6 in brackets); :port and a bare port are on 127.0.0.1. */
function normalizeTarget(t: string): string {
  let a: Address;
  try {
    a = parseAddress(/^\d+$/.test(t) ? `:${t}` : t, { allowEmptyHost: true });
  } catch (e) {
    if (e instanceof ParseError) throw new Error(`target ${JSON.stringify(t)} is not host:port, :port or port: ${e.reason}`);
    throw e;
  }
  return formatAddress({ host: a.host || '127.0.0.1', port: a.port });
}

/** Where this node listens, as the node itself computes it, reached on loopback for a wildcard bind. */
function ownTarget(env: Record<string, string | undefined>): string {
  const listen = parseConfig(env).LISTEN_ADDR;
  const { host, port } = parseAddress(listen, { allowPortZero: true });
  if (port === 0) throw new Error(`LISTEN_ADDR ${listen} binds any free port: give the target (host:port) as an argument`);
  if (host === '0.0.0.0' || host === '') return formatAddress({ host: '127.0.0.1', port });
  if (isIP(host) === 6 && /^[0:]+$/.test(host)) return formatAddress({ host: '::1', port }); // [::], [::0], ...
  return formatAddress({ host, port });
}

function check(opts: Options): Promise<{ ok: boolean; detail: string }> {
  // One call without retries: an answer, or an error by the deadline (a refused connection fails at once).
  const client = new (healthApi().Health)(opts.target, opts.credentials, { 'grpc.enable_retries': 0 });
  return new Promise((resolve) => {
    client.Check({ service: opts.service }, { deadline: Date.now() + opts.timeoutMs }, (err, res) => {
      client.close();
      if (err || !res) {
        resolve({ ok: false, detail: err ? `${grpc.status[err.code] ?? err.code}: ${err.details}` : 'empty answer' });
        return;
      }
      resolve({ ok: res.status === ServingStatus.SERVING, detail: STATUS_NAMES[res.status] ?? String(res.status) });
    });
  });
}

async function main(): Promise<number> {
  ignoreIpServerNameWarning();
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
