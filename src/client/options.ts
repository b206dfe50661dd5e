/** Client options: their types, defaults and validation (pure). */
import { ParseError, parseAddress, splitList } from '../config/parse.js';
import { type Consistency__Output, Consistency as ConsistencyNumber } from '../protos/generated/public/cache/v1/Consistency.js';
import { invalidArgument } from './errors.js';
import type { NearCacheOptions } from './near.js';

/** How many replicas must answer: one, a majority, all; undefined = the node's default. */
export type Consistency = 'one' | 'quorum' | 'all';

export interface BackoffOptions {
  /** Delay before the first retry, before jitter (ms). Default 50. */
  initialMs?: number;
  /** Upper bound of a delay (ms). Default 1000. */
  maxMs?: number;
  /** Growth per retry. Default 2. */
  multiplier?: number;
  /** Fraction of each delay that is random: 0 = none, 1 = "full jitter". Default 0.5. */
  jitter?: number;
}

/** Information about one attempt of a call, for logging and metrics (see ClientOptions.onAttempt). */
export interface AttemptInfo {
  method: string;
  key: string | undefined;
  address: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** True if the address holds a replica of the key according to the client's ring view. */
  replica: boolean;
}

export interface ClientOptions {
  /** Addresses (host:port) of one or more nodes; the client learns the rest from Members. */
  seeds: string | readonly string[];
  /** Deadline of each attempt of a call (ms). Default 2000. */
  timeoutMs?: number;
  /** Retries after the first attempt (see README for which errors are retried). Default 3. */
  retries?: number;
  backoff?: BackoffOptions;
  /** Send each key to one of its replicas using the cluster's ring (default true); false = seeds only. */
  routing?: boolean;
  /**
   * Single-key gets made in the same event-loop turn (with the client's default timeout and
   * retries) go out as one MGet per target node, each caller still getting its own answer
   * (default true); false = one call per get.
   */
  autoBatch?: boolean;
  /**
   * Pipelining of auto-batched calls: at most this many are outstanding per node; calls made
   * meanwhile wait and go out together, as one batch, when one of that node's calls is
   * answered. Below the limit a call goes at the end of its turn. 1 .. 1,000,000 or Infinity
   * (no waiting). Default 8.
   */
  maxInFlight?: number;
  /** How often the ring view is refreshed from Members (ms); 0 = only after errors. Default 5000. */
  refreshIntervalMs?: number;
  /** How long an address that answered UNAVAILABLE or timed out is tried after healthy ones (ms). Default 2000. */
  penaltyMs?: number;
  /** Largest message the client sends or accepts (bytes). Default 1 GiB + 1 MiB. */
  maxMessageBytes?: number;
  /** Called before every attempt (diagnostics). Must not throw. */
  onAttempt?: (info: AttemptInfo) => void;
  /** TLS to the nodes (nodes started with TLS_CERT); absent = plaintext. */
  tls?: TlsOptions;
  /** API token or JWT, sent with every call as `authorization: Bearer <token>` (nodes with AUTH_TOKENS_FILE or AUTH_JWT_KEY). */
  token?: string;
  /**
   * Keep values read in process memory and serve gets from there while the replica they were
   * read from has not said they changed (see README, "Near cache"); absent = off.
   */
  nearCache?: NearCacheOptions;
}

/** PEM contents (not paths). */
export interface TlsOptions {
  /** CA certificate(s) the nodes' certificates chain to (TLS_CA); default: the system's roots. */
  ca?: string | Buffer;
  /** Client certificate and its key, for nodes with TLS_CLIENT_AUTH=request or require. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Name expected in the nodes' certificates instead of the host of each address (e.g. when dialling IPs). */
  serverName?: string;
}

export interface CallOptions {
  /** Overrides ClientOptions.timeoutMs for this call. */
  timeoutMs?: number;
  /** Overrides ClientOptions.retries for this call. */
  retries?: number;
}

export interface ReadOptions extends CallOptions {
  consistency?: Consistency;
}

export interface WriteOptions extends CallOptions {
  consistency?: Consistency;
}

export interface SetOptions extends WriteOptions {
  /** Time to live (ms); 0 or absent = the node's default TTL. */
  ttlMs?: number;
}

/** getOrLoad: the per-call timeoutMs / retries apply to each call it makes (GetOrLease polls, the Set). */
export interface GetOrLoadOptions extends WriteOptions {
  /** Time to live of the loaded value (ms); 0 or absent = the node's default TTL. */
  ttlMs?: number;
  /** How long the lease lasts (ms): the loader should finish within it; default 10 s, at most 10 min. */
  leaseMs?: number;
  /** A caller waiting for another's load may take a value that expired at most this long ago (ms) instead; default 0 (never). */
  staleMs?: number;
  /** How long a caller waits for another's load before DEADLINE_EXCEEDED (ms); default leaseMs + the client's timeoutMs. */
  maxWaitMs?: number;
}

export interface ResolvedOptions {
  seeds: string[];
  timeoutMs: number;
  retries: number;
  backoff: Required<BackoffOptions>;
  routing: boolean;
  autoBatch: boolean;
  maxInFlight: number;
  refreshIntervalMs: number;
  penaltyMs: number;
  maxMessageBytes: number;
  onAttempt: ((info: AttemptInfo) => void) | undefined;
  tls: TlsOptions | undefined;
  /** The authorization header value, or undefined. */
  authorization: string | undefined;
  nearCache: NearCacheOptions | undefined;
}

export const DEFAULTS = {
  timeoutMs: 2_000,
  retries: 3,
  backoff: { initialMs: 50, maxMs: 1_000, multiplier: 2, jitter: 0.5 },
  routing: true,
  refreshIntervalMs: 5_000,
  penaltyMs: 2_000,
  maxMessageBytes: 1024 * 1024 * 1024 + 1024 * 1024,
  maxInFlight: 8,
} as const;

/** True for host:port (IPv6 in brackets), port 1..65535: the rules of config/parse.ts. */
export function isAddress(s: string): boolean {
  try {
    parseAddress(s);
    return true;
  } catch (e) {
    if (e instanceof ParseError) return false;
    throw e;
  }
}

/** "a:1, b:2" or ["a:1", "b:2"] -> validated, de-duplicated list. */
export function parseSeeds(seeds: string | readonly string[] | undefined): string[] {
  const list = (typeof seeds === 'string' ? splitList(seeds) : Array.isArray(seeds) ? seeds : [])
    .map((s) => (typeof s === 'string' ? s.trim() : s))
    .filter((s) => s !== '');
  if (list.length === 0) throw invalidArgument('seeds: at least one node address (host:port) is required');
  for (const s of list) {
    if (typeof s !== 'string') throw invalidArgument(`seeds: ${JSON.stringify(s)} is not host:port`);
    try {
      parseAddress(s);
    } catch (e) {
      if (e instanceof ParseError) throw invalidArgument(`seeds: ${e.message}`);
      throw e;
    }
  }
  return [...new Set(list as string[])];
}

function number(name: string, v: unknown, min: number, max: number, integer: boolean): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw invalidArgument(`${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got ${String(v)}`);
  }
  return v;
}

export function checkTimeout(v: unknown, name = 'timeoutMs'): number {
  return number(name, v, 1, 2 ** 31 - 1, false);
}

export function checkRetries(v: unknown, name = 'retries'): number {
  return number(name, v, 0, 100, true);
}

export function resolveOptions(o: ClientOptions): ResolvedOptions {
  if (o === null || typeof o !== 'object') throw invalidArgument('options must be an object with at least { seeds }');
  const b = o.backoff ?? {};
  const backoff = {
    initialMs: number('backoff.initialMs', b.initialMs ?? DEFAULTS.backoff.initialMs, 0, 60_000, false),
    maxMs: number('backoff.maxMs', b.maxMs ?? DEFAULTS.backoff.maxMs, 0, 600_000, false),
    multiplier: number('backoff.multiplier', b.multiplier ?? DEFAULTS.backoff.multiplier, 1, 100, false),
    jitter: number('backoff.jitter', b.jitter ?? DEFAULTS.backoff.jitter, 0, 1, false),
  };
  if (o.onAttempt !== undefined && typeof o.onAttempt !== 'function') throw invalidArgument('onAttempt must be a function');
  return {
    seeds: parseSeeds(o.seeds),
    timeoutMs: checkTimeout(o.timeoutMs ?? DEFAULTS.timeoutMs),
    retries: checkRetries(o.retries ?? DEFAULTS.retries),
    backoff,
    routing: o.routing ?? DEFAULTS.routing,
    autoBatch: o.autoBatch ?? true,
    maxInFlight: o.maxInFlight === Infinity ? Infinity : number('maxInFlight', o.maxInFlight ?? DEFAULTS.maxInFlight, 1, 1_000_000, true),
    refreshIntervalMs: number('refreshIntervalMs', o.refreshIntervalMs ?? DEFAULTS.refreshIntervalMs, 0, 2 ** 31 - 1, false),
    penaltyMs: number('penaltyMs', o.penaltyMs ?? DEFAULTS.penaltyMs, 0, 2 ** 31 - 1, false),
    maxMessageBytes: number('maxMessageBytes', o.maxMessageBytes ?? DEFAULTS.maxMessageBytes, 1024, 2 ** 31 - 1, true),
    onAttempt: o.onAttempt,
    tls: checkTls(o.tls),
    authorization: checkToken(o.token),
    nearCache: checkNearCache(o.nearCache),
  };
}

function checkNearCache(n: unknown): NearCacheOptions | undefined {
  if (n === undefined) return undefined;
  if (n === null || typeof n !== 'object') throw invalidArgument('nearCache must be an object { maxEntries, maxTtlMs }');
  const { maxEntries, maxTtlMs } = n as Partial<NearCacheOptions>;
  return {
    maxEntries: number('nearCache.maxEntries', maxEntries, 1, 10_000_000, true),
    maxTtlMs: number('nearCache.maxTtlMs', maxTtlMs, 1, 2 ** 31 - 1, false),
  };
}

function pem(name: string, v: unknown): void {
  if (v !== undefined && typeof v !== 'string' && !Buffer.isBuffer(v))
    throw invalidArgument(`tls.${name} must be PEM text (string or Buffer)`);
}

function checkTls(t: TlsOptions | undefined): TlsOptions | undefined {
  if (t === undefined) return undefined;
  if (t === null || typeof t !== 'object') throw invalidArgument('tls must be an object { ca?, cert?, key?, serverName? }');
  pem('ca', t.ca);
  pem('cert', t.cert);
  pem('key', t.key);
  if ((t.cert === undefined) !== (t.key === undefined)) throw invalidArgument('tls.cert and tls.key go together');
  if (t.serverName !== undefined && (typeof t.serverName !== 'string' || t.serverName === ''))
    throw invalidArgument('tls.serverName must be a non-empty string');
  return t;
}

function checkToken(t: unknown): string | undefined {
  if (t === undefined || t === '') return undefined;
  // A header value: visible ASCII only (no newline could smuggle another header).
  if (typeof t !== 'string' || !/^[\x21-\x7e]+$/.test(t))
    throw invalidArgument('token must be a non-empty string of visible ASCII characters');
  return `Bearer ${t}`;
}

const CONSISTENCY_NUMBERS = {
  one: ConsistencyNumber.CONSISTENCY_ONE,
  quorum: ConsistencyNumber.CONSISTENCY_QUORUM,
  all: ConsistencyNumber.CONSISTENCY_ALL,
} as const;

/** 'one' | 'quorum' | 'all' | undefined -> the cache.v1.Consistency number (0 = the node's default). */
export function consistencyNumber(c: Consistency | undefined, method?: string): Consistency__Output {
  if (c === undefined) return ConsistencyNumber.CONSISTENCY_UNSPECIFIED;
  if (typeof c !== 'string' || !Object.hasOwn(CONSISTENCY_NUMBERS, c)) {
    throw invalidArgument(`consistency must be 'one', 'quorum' or 'all', got ${JSON.stringify(c)}`, method);
  }
  return CONSISTENCY_NUMBERS[c];
}

/** Validates a TTL in ms (0 = the node's default). */
export function checkTtl(ttlMs: unknown, method?: string): number {
  if (ttlMs === undefined) return 0;
  if (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs) || ttlMs < 0) {
    throw invalidArgument(`ttlMs must be a whole number of milliseconds >= 0, got ${String(ttlMs)}`, method);
  }
  return ttlMs;
}
