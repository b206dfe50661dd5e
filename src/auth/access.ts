/**
 * Who may call what: the one table of every method the node serves and what it needs, and the
 * decision for one call. Pure: the caller (src/auth/gatekeeper.ts) brings the principal, the
 * method's path and the decoded request.
 *
 * The contract:
 *  - open: anyone (health checks, reflection: probes and `grpcurl list` must work);
 *  - peer: another node of the cluster, proven by its certificate (TLS) and/or CLUSTER_SECRET,
 *    never by a token;
 *  - read < write < admin: a token's role must be at least the method's; a method that names a
 *    key also needs the key inside the token's prefixes (when it has prefixes);
 *  - a method missing from the table cannot be served: the server asks for every method's rule
 *    when the service is added, and ruleOf() throws, so a node with a new RPC and no rule for it
 *    does not start (test/unit/auth.test.ts checks the table against the served services).
 */
import { type Principal, type Role, roleAtLeast } from './tokens.js';

type Need = 'open' | 'peer' | Role;

export interface Rule {
  need: Need;
  /** "CacheService/Get": the method's name in messages and logs. */
  method: string;
  /** The key a request touches, for prefix checks (undefined: the method names no key). */
  key?: (request: unknown) => string | undefined;
  /** Batch calls: the keys a request touches, each checked against the prefixes. */
  keys?: (request: unknown) => readonly string[];
  /** Flush: the key prefix a request acts on; it must start with one of the token's prefixes (the empty prefix, every key, never does). */
  prefix?: (request: unknown) => string | undefined;
}

const keyOf = (request: unknown): string | undefined => {
  const k = (request as { key?: unknown } | null)?.key;
  return typeof k === 'string' ? k : undefined;
};

const prefixOf = (request: unknown): string | undefined => {
  const p = (request as { prefix?: unknown } | null)?.prefix;
  return typeof p === 'string' ? p : undefined;
};

const keysOf = (request: unknown): readonly string[] => {
  const k = (request as { keys?: unknown } | null)?.keys;
  return Array.isArray(k) ? k : [];
};

const entryKeysOf = (request: unknown): readonly string[] => {
  const e = (request as { entries?: { key?: unknown }[] } | null)?.entries;
  return Array.isArray(e) ? e.map((x) => (typeof x?.key === 'string' ? x.key : '')) : [];
};

const table: [string, Omit<Rule, 'method'>][] = [
  ['/cache.v1.CacheService/Get', { need: 'read', key: keyOf }],
  ['/cache.v1.CacheService/Set', { need: 'write', key: keyOf }],
  ['/cache.v1.CacheService/Delete', { need: 'write', key: keyOf }],
  ['/cache.v1.CacheService/MGet', { need: 'read', keys: keysOf }],
  ['/cache.v1.CacheService/MSet', { need: 'write', keys: entryKeysOf }],
  ['/cache.v1.CacheService/MDelete', { need: 'write', keys: keysOf }],
  // a lease is a right to write the key
  ['/cache.v1.CacheService/GetOrLease', { need: 'write', key: keyOf }],
  ['/cache.v1.CacheService/ReleaseLease', { need: 'write', key: keyOf }],
  // the keys it pushes are ones the caller read (each Get checked on its own)
  ['/cache.v1.CacheService/Invalidations', { need: 'read' }],
  // the prefix watched must lie within the token's prefixes (the empty prefix, every key, never does)
  ['/cache.v1.CacheService/Watch', { need: 'read', prefix: prefixOf }],
  ['/cache.v1.ClusterService/Members', { need: 'read' }],
  ['/cache.v1.ClusterService/Stats', { need: 'read' }],
  ['/cache.v1.ClusterService/Leave', { need: 'admin' }],
  ['/cache.v1.ClusterService/Flush', { need: 'admin', prefix: prefixOf }],
  ['/cache.v1.ClusterService/Join', { need: 'peer' }],
  ['/cache.peer.v1.PeerService/Exchange', { need: 'peer' }],
  ['/cache.peer.v1.PeerService/Ping', { need: 'peer' }],
  ['/cache.peer.v1.PeerService/PingReq', { need: 'peer' }],
  ['/cache.peer.v1.PeerService/TreeHashes', { need: 'peer' }],
  ['/cache.peer.v1.PeerService/BucketEntries', { need: 'peer' }],
  ['/cache.peer.v1.PeerService/Flush', { need: 'peer' }],
  ['/grpc.health.v1.Health/Check', { need: 'open' }],
  ['/grpc.health.v1.Health/Watch', { need: 'open' }],
  ['/grpc.health.v1.Health/List', { need: 'open' }],
  ['/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', { need: 'open' }],
  ['/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo', { need: 'open' }],
];

export const RULES: ReadonlyMap<string, Rule> = new Map(table.map(([path, r]) => [path, { ...r, method: methodName(path) }]));

/** The rule of a served method; throws for a method without one (see the contract above). */
export function ruleOf(path: string): Rule {
  const rule = RULES.get(path);
  if (!rule) throw new Error(`${path} has no access rule in src/auth/access.ts: add one before serving it`);
  return rule;
}

export interface Denial {
  reason: 'role' | 'prefix';
  /** The PERMISSION_DENIED message. */
  message: string;
}

/** Why a principal may not make this call, or undefined if it may. */
export function denial(p: Principal, rule: Rule, key: string | undefined, isPrefix = false): Denial | undefined {
  const method = rule.method;
  const need = rule.need;
  if (need === 'open') return undefined;
  if (need === 'peer') {
    return { reason: 'role', message: `${method} is for cluster nodes only (proven by certificate or CLUSTER_SECRET), not for tokens` };
  }
  if (!roleAtLeast(p.role, need)) return { reason: 'role', message: `${method} needs role ${need} or higher; ${p.name} has ${p.role}` };
  // an empty key is invalid (INVALID_ARGUMENT follows); an empty prefix is every key
  if (key !== undefined && (key !== '' || isPrefix) && p.prefixes && !p.prefixes.some((pre) => key.startsWith(pre))) {
    const shown = JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}...` : key);
    const allowed = p.prefixes.map((x) => JSON.stringify(x)).join(', ') || 'none';
    return { reason: 'prefix', message: `${isPrefix ? 'prefix' : 'key'} ${shown} is outside the prefixes of ${p.name} (${allowed})` };
  }
  return undefined;
}

/** Why a principal may not make this call with this request (every key of a batch is checked), or undefined. */
export function requestDenial(p: Principal, rule: Rule, request: unknown): Denial | undefined {
  if (rule.prefix) return denial(p, rule, rule.prefix(request), true);
  if (!rule.keys) return denial(p, rule, rule.key?.(request));
  for (const k of rule.keys(request)) {
    const no = denial(p, rule, k);
    if (no) return no;
  }
  return denial(p, rule, undefined);
}

/** The method's short name for messages: "/cache.v1.CacheService/Set" -> "CacheService/Set". */
function methodName(path: string): string {
  const slash = path.lastIndexOf('/');
  const service = path.slice(1, slash);
  return `${service.slice(service.lastIndexOf('.') + 1)}/${path.slice(slash + 1)}`;
}
