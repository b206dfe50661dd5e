/**
 * Node configuration: every environment variable is parsed here, once, by zod.
 * A bad value stops the process before it binds, with one line naming the variable,
 * the value and what is allowed (see ConfigError).
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { type AddressOptions, formatAddress, ParseError, parseAddress, parseDuration, splitList } from './parse.js';

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    readonly value: string,
    readonly allowed: string,
  ) {
    const shown = SECRET_VARIABLES.has(variable) && value !== '' ? '<redacted>' : JSON.stringify(value);
    super(`invalid configuration: ${variable}=${shown}: ${allowed}`);
    this.name = 'ConfigError';
  }
}

/** Variables whose value never appears in a message (ConfigError prints the others' values). */
const SECRET_VARIABLES = new Set(['CLUSTER_SECRET']);

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1024,
  k: 1024,
  kib: 1024,
  mb: 1024 ** 2,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1024 ** 3,
  g: 1024 ** 3,
  gib: 1024 ** 3,
};

/** "256mb", "4MiB", "1024" -> bytes. */
function size(min: number, max: number) {
  const allowed = `a size in bytes from ${min} to ${max}, optionally with a unit (kb, mb, gb), e.g. 256mb`;
  return z
    .string()
    .trim()
    .transform((s, ctx) => {
      const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(s);
      const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
      const n = m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : NaN;
      if (!Number.isFinite(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: allowed });
        return z.NEVER;
      }
      return n;
    });
}

/** "2s", "500ms", "1m", "1500" (ms, or s with unitLess 's') -> milliseconds (see parse.ts). */
function duration(min: number, max: number, unitLess: 'ms' | 's' = 'ms') {
  const allowed = `a duration from ${min}ms to ${max}ms: a number (${unitLess === 'ms' ? 'milliseconds' : 'seconds'}) or with a unit (ms, s, m, h), e.g. 2s`;
  return z
    .string()
    .trim()
    .transform((s, ctx) => {
      let n: number;
      try {
        n = parseDuration(s, { bareNumber: unitLess });
      } catch (e) {
        if (!(e instanceof ParseError)) throw e;
        ctx.addIssue({ code: 'custom', message: `${allowed} (${e.reason})` });
        return z.NEVER;
      }
      if (n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `${allowed} (got ${n}ms)` });
        return z.NEVER;
      }
      return n;
    });
}

function int(min: number, max: number) {
  const allowed = `a whole number from ${min} to ${max}`;
  return z
    .string()
    .trim()
    .transform((s, ctx) => {
      const n = /^-?\d+$/.test(s) ? Number(s) : NaN;
      if (!Number.isSafeInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: allowed });
        return z.NEVER;
      }
      return n;
    });
}

function num(min: number, max: number) {
  const allowed = `a number from ${min} to ${max}`;
  return z
    .string()
    .trim()
    .transform((s, ctx) => {
      const n = /^\d+(\.\d+)?$/.test(s) ? Number(s) : NaN;
      if (!Number.isFinite(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: allowed });
        return z.NEVER;
      }
      return n;
    });
}

/** host:port (see parse.ts for the rules and options); the value stays the (trimmed) string. */
function hostPort(options: AddressOptions = {}, example = 'e.g. 127.0.0.1:8080 or cache1:8080', emptyAllowed = false) {
  return z
    .string()
    .trim()
    .transform((s, ctx) => {
      if (emptyAllowed && s === '') return s;
      try {
        parseAddress(s, options);
      } catch (e) {
        if (!(e instanceof ParseError)) throw e;
        ctx.addIssue({ code: 'custom', message: `${e.expected}, ${example} (${e.reason})` });
        return z.NEVER;
      }
      return s;
    });
}

/** Only validates PEERS entries: the real default port (ADDR's) is applied by whoever resolves them. */
const ANY_DEFAULT_PORT = 1;

function list() {
  const allowed = 'a comma-separated list of host or host:port entries';
  return z.string().transform((s, ctx) => {
    const items = splitList(s);
    for (const it of items) {
      try {
        parseAddress(it, { defaultPort: ANY_DEFAULT_PORT });
      } catch (e) {
        if (!(e instanceof ParseError)) throw e;
        ctx.addIssue({ code: 'custom', message: `${allowed}; ${e.message}` });
        return z.NEVER;
      }
    }
    return items;
  });
}

/** METRICS_ADDR: empty (off), host:port or :port (all interfaces); port 0 = any free port. */
function optionalBindAddress() {
  return hostPort({ allowEmptyHost: true, allowPortZero: true }, 'e.g. :9100 or 127.0.0.1:9100; empty = off', true);
}

/** A file path; empty = not set. The file itself is read and checked by whoever uses it (src/security/). */
function optionalPath() {
  return z.string().trim();
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** Variable name -> [schema, default as the string a user would write, meaning]. Single source for docs and validation. */
const NODE_ID_RULE = 'a non-empty id of at most 128 characters';

export const VARIABLES = {
  ADDR: [hostPort(), '127.0.0.1:8080', 'Address this node is reached at by clients and peers (host:port).'],
  LISTEN_ADDR: [
    hostPort({ allowPortZero: true }).optional(),
    undefined,
    'Address to bind; default: ADDR, or 0.0.0.0:<port> when ADDR names a host rather than an IP.',
  ],
  NODE_ID: [z.string().trim().min(1, NODE_ID_RULE).max(128, NODE_ID_RULE).optional(), undefined, 'Unique node id; default: ADDR.'],
  PEERS: [
    list(),
    '',
    'Other nodes to join: comma-separated host or host:port (port defaults to ours). DNS names may resolve to several addresses.',
  ],
  NUM_SHARDS: [int(1, 4096), '32', 'Independent store shards (each with its own eviction).'],
  CAPACITY: [int(0, 2 ** 40), '0', 'Maximum number of entries on this node, split across shards; 0 = no item limit.'],
  MAX_MEMORY: [size(0, 2 ** 45), '512mb', 'Maximum estimated bytes of keys, values and per-entry overhead; 0 = no limit.'],
  COMPRESSION_THRESHOLD: [
    size(0, 1 << 30),
    '0',
    'Values of at least this size are stored compressed (deflate) when that saves at least 1/8 of their bytes, and decompressed on read; 0 = off.',
  ],
  TTL: [duration(0, 10 * 365 * 86_400_000, 's'), '0', 'Default time to live (seconds, or with a unit); 0 = no expiry.'],
  EVICTION_POLICY: [
    z.enum(['lru', 'lfu', 'fifo', 'ttl', 'random']),
    'lru',
    'Which entry to evict when a shard is full: lru, lfu, fifo, ttl (soonest expiry first; entries without TTL last, oldest first) or random.',
  ],
  MAX_KEY_SIZE: [int(1, 1 << 20), '1024', 'Longest key accepted, in bytes (UTF-8).'],
  MAX_BATCH_KEYS: [int(1, 100_000), '1000', 'Most keys one MGet, MSet or MDelete may carry (more: INVALID_ARGUMENT).'],
  MAX_RECV_MSG_SIZE: [size(1024, 1 << 30), '4mb', 'Largest gRPC message accepted.'],
  MAX_SEND_MSG_SIZE: [size(1024, 1 << 30), '4mb', 'Largest gRPC message sent.'],
  RPC_TIMEOUT: [duration(1, 600_000), '2s', 'Deadline for calls to peers (and for a quorum to answer).'],
  RATE_LIMIT: [num(0, 1e9), '0', 'Client requests per second this node accepts; 0 = unlimited.'],
  RATE_LIMIT_BURST: [int(0, 1e9).optional(), undefined, 'Requests allowed at once above the rate; default: RATE_LIMIT (at least 1).'],
  REPLICATION_FACTOR: [int(1, 16), '3', 'Replicas of each key (capped by the number of nodes).'],
  WRITE_QUORUM: [int(1, 16).optional(), undefined, 'Replicas that must confirm a write; default: a majority of REPLICATION_FACTOR.'],
  READ_QUORUM: [int(1, 16).optional(), undefined, 'Replicas asked by a read; default: a majority of REPLICATION_FACTOR.'],
  SPECULATIVE_READ_DELAY: [
    duration(0, 600_000),
    '100ms',
    'A read still missing answers this long after asking asks one more replica (a slow or cut-off replica then costs this, not RPC_TIMEOUT); 0 = off.',
  ],
  VNODES: [int(1, 4096), '128', 'Virtual nodes per node on the hash ring.'],
  HEARTBEAT_INTERVAL: [
    duration(10, 60_000),
    '500ms',
    'Failure detection period (SWIM): each interval a node probes one member; one not answering within 40 % of it is probed through 3 others.',
  ],
  SUSPECT_TIMEOUT: [
    duration(10, 600_000),
    '1500ms',
    'A member is SUSPECT once its probe fails and nothing came from it directly for this long.',
  ],
  DEAD_TIMEOUT: [
    duration(10, 3_600_000),
    '3500ms',
    'A SUSPECT member that does not answer or refute within DEAD_TIMEOUT - SUSPECT_TIMEOUT (times log10 of the member count beyond 10 members) is DEAD (writes for it become hints).',
  ],
  MAX_CLOCK_OFFSET: [
    duration(0, 3_600_000),
    '500ms',
    'A node whose clock is off by more than this from the majority of its peers (measured on the membership probes) answers health NOT_SERVING and coordinates no writes until it is back within it; 0 = off.',
  ],
  DNS_REFRESH_INTERVAL: [duration(100, 3_600_000), '10s', 'How often PEERS names are resolved again to find new nodes.'],
  TOMBSTONE_GRACE: [duration(1000, 30 * 86_400_000), '10m', 'How long a delete tombstone is kept before it is reclaimed.'],
  ANTI_ENTROPY_INTERVAL: [duration(0, 86_400_000), '30s', 'Period of Merkle-tree comparison with each peer; 0 = off.'],
  MAX_HINTS: [
    int(0, 1e8),
    '100000',
    'Hinted-handoff writes kept for unreachable replicas; beyond that the oldest are dropped and anti-entropy repairs.',
  ],
  REBALANCE_RATE: [
    int(0, 1e8),
    '20000',
    'Keys per second a node streams to new replicas after the ring changed (joins, leaves, restarts); 0 = as fast as it can. A leave hand-off is not paced.',
  ],
  DATA_DIR: [
    optionalPath(),
    '',
    "Directory for this node's snapshot and append-only log (warm restarts); empty = in memory only. One directory per node id.",
  ],
  SNAPSHOT_INTERVAL: [
    duration(0, 86_400_000),
    '5m',
    'How often the store is written to a snapshot in DATA_DIR (also at graceful shutdown); the log is then truncated. 0 = only at shutdown.',
  ],
  APPEND_FSYNC: [
    z.enum(['always', 'everysec', 'no']),
    'everysec',
    "When the log in DATA_DIR is flushed to disk: always (before each write is acknowledged), everysec (once a second) or no (the OS's choice).",
  ],
  SHUTDOWN_TIMEOUT: [duration(100, 600_000), '10s', 'Longest a graceful shutdown (handoff included) may take.'],
  NEAR_CACHE_MAX_KEYS: [
    int(1, 10_000_000),
    '100000',
    'Keys this node tracks for each client near cache (Invalidations stream); past it the oldest is invalidated.',
  ],
  LOG_LEVEL: [z.enum(LEVELS), 'info', 'pino log level: trace, debug, info, warn, error, fatal, silent.'],
  METRICS_ADDR: [optionalBindAddress(), '', 'Serve Prometheus metrics on host:port (or :port) at /metrics; empty = off.'],
  TLS_CERT: [
    optionalPath(),
    '',
    'PEM certificate (chain) of this node; with TLS_KEY and TLS_CA it turns on TLS for clients and mutual TLS between nodes.',
  ],
  TLS_KEY: [optionalPath(), '', 'PEM private key of TLS_CERT.'],
  TLS_CA: [optionalPath(), '', "PEM certificate(s) of the cluster's CA: peers (and client certificates) must chain to it."],
  TLS_CLIENT_AUTH: [
    z.enum(['none', 'request', 'require']),
    'none',
    'Client certificates: none (not checked), request (a presented one must chain to TLS_CA), require (every client needs one).',
  ],
  RELOAD_INTERVAL: [
    duration(100, 3_600_000),
    '10s',
    'How often TLS_CERT, TLS_KEY, TLS_CA, AUTH_TOKENS_FILE and AUTH_JWT_KEY are read again; changes apply to new connections and calls.',
  ],
  AUTH_TOKENS_FILE: [optionalPath(), '', 'JSON file of API tokens ({name, role, sha256, prefixes?}); when set, client calls need a token.'],
  AUTH_JWT_KEY: [
    optionalPath(),
    '',
    'PEM public key or JWKS file: client calls may also carry a JWT signed by it (claims role, prefixes, exp).',
  ],
  AUTH_JWT_ISSUER: [z.string().trim(), '', 'Required iss claim of JWTs; empty = not checked.'],
  AUTH_JWT_AUDIENCE: [z.string().trim(), '', 'Required aud claim of JWTs; empty = not checked.'],
  CLUSTER_SECRET: [
    z.string().refine((s) => s === '' || s.length >= 16, 'at least 16 characters'),
    '',
    'Shared secret nodes present to each other (needed for Join, Ping, replication); empty = peers are not checked unless TLS is on.',
  ],
} as const;

type Vars = typeof VARIABLES;
type Parsed = { -readonly [K in keyof Vars]: z.output<Vars[K][0]> };

export interface Config extends Omit<Parsed, 'LISTEN_ADDR' | 'NODE_ID' | 'RATE_LIMIT_BURST' | 'WRITE_QUORUM' | 'READ_QUORUM'> {
  LISTEN_ADDR: string;
  NODE_ID: string;
  RATE_LIMIT_BURST: number;
  WRITE_QUORUM: number;
  READ_QUORUM: number;
  /** Port of ADDR, the default port of PEERS entries. */
  port: number;
}

/** Parses the environment (only the variables above are read). Throws ConfigError naming the first bad variable. */
export function parseConfig(env: Record<string, string | undefined> = process.env): Config {
  const out: Record<string, unknown> = {};
  const entries: [string, readonly [z.ZodType, string | undefined, string]][] = Object.entries(VARIABLES);
  for (const [name, [schema, def, allowed]] of entries) {
    const raw = env[name];
    const input = raw === undefined || raw === '' ? def : raw;
    const r = schema.safeParse(input);
    if (!r.success) {
      const msg = r.error.issues[0]?.message;
      throw new ConfigError(name, String(raw), msg && !msg.startsWith('Invalid') ? msg : describeAllowed(schema, allowed));
    }
    out[name] = r.data;
  }
  const p = out as Parsed;
  const { host, port } = parseAddress(p.ADDR);
  // An IP (or localhost) is bound as is; a host name may not be an address of ours, so all interfaces are bound.
  const bindAsIs = isIP(host) !== 0 || host === 'localhost';
  const rf = p.REPLICATION_FACTOR;
  const majority = Math.floor(rf / 2) + 1;
  const cfg: Config = {
    ...p,
    LISTEN_ADDR: p.LISTEN_ADDR ?? (bindAsIs ? p.ADDR : formatAddress({ host: '0.0.0.0', port })),
    NODE_ID: p.NODE_ID ?? p.ADDR,
    RATE_LIMIT_BURST: p.RATE_LIMIT_BURST ?? Math.max(1, Math.ceil(p.RATE_LIMIT)),
    WRITE_QUORUM: p.WRITE_QUORUM ?? majority,
    READ_QUORUM: p.READ_QUORUM ?? majority,
    port,
  };
  if (cfg.WRITE_QUORUM > rf) throw new ConfigError('WRITE_QUORUM', String(cfg.WRITE_QUORUM), `at most REPLICATION_FACTOR (${rf})`);
  if (cfg.READ_QUORUM > rf) throw new ConfigError('READ_QUORUM', String(cfg.READ_QUORUM), `at most REPLICATION_FACTOR (${rf})`);
  if (cfg.DEAD_TIMEOUT <= cfg.SUSPECT_TIMEOUT) {
    throw new ConfigError(
      'DEAD_TIMEOUT',
      String(env.DEAD_TIMEOUT ?? VARIABLES.DEAD_TIMEOUT[1]),
      `longer than SUSPECT_TIMEOUT (${cfg.SUSPECT_TIMEOUT}ms)`,
    );
  }
  checkTogether(cfg);
  if (cfg.METRICS_ADDR.startsWith(':')) cfg.METRICS_ADDR = `0.0.0.0${cfg.METRICS_ADDR}`;
  return cfg;
}

/** Variables that only make sense together: a half-configured node stops here, naming what is missing. */
function checkTogether(cfg: Config): void {
  const tls = [cfg.TLS_CERT, cfg.TLS_KEY, cfg.TLS_CA];
  if (tls.some((v) => v !== '')) {
    if (!cfg.TLS_CERT) throw new ConfigError('TLS_CERT', '', 'required when TLS_KEY or TLS_CA is set (TLS needs all three)');
    if (!cfg.TLS_KEY) throw new ConfigError('TLS_KEY', '', 'required when TLS_CERT is set (TLS needs all three)');
    if (!cfg.TLS_CA)
      throw new ConfigError(
        'TLS_CA',
        '',
        "required when TLS_CERT is set: peers are accepted only if their certificates chain to the cluster's CA",
      );
  } else if (cfg.TLS_CLIENT_AUTH !== 'none') {
    throw new ConfigError('TLS_CLIENT_AUTH', cfg.TLS_CLIENT_AUTH, 'request and require need TLS (TLS_CERT, TLS_KEY, TLS_CA)');
  }
  if (!cfg.AUTH_JWT_KEY) {
    if (cfg.AUTH_JWT_ISSUER) throw new ConfigError('AUTH_JWT_ISSUER', cfg.AUTH_JWT_ISSUER, 'applies only with AUTH_JWT_KEY');
    if (cfg.AUTH_JWT_AUDIENCE) throw new ConfigError('AUTH_JWT_AUDIENCE', cfg.AUTH_JWT_AUDIENCE, 'applies only with AUTH_JWT_KEY');
  }
}

/** What a variable accepts, for its error: an enum's values, else the variable's description. */
function describeAllowed(schema: z.ZodType, meaning: string): string {
  return schema instanceof z.ZodEnum ? `one of ${schema.options.join(', ')}` : meaning;
}
