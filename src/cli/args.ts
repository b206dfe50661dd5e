/** Command line of cachectl: parsing and help text (pure, no I/O). */
import { parseArgs } from 'node:util';
import type { Consistency } from '../client/options.js';
import { ParseError, parseAddress, parseDuration, splitList } from '../config/parse.js';

export const DEFAULT_ADDR = '127.0.0.1:8080';

export const HELP = `Usage: cachectl [options] <command> [arguments]

Commands:
  get KEY              Print the value of KEY (exit 1 if it is missing).
  set KEY VALUE        Store VALUE (text) under KEY.
  del KEY              Delete KEY (exit 1 if there was no live value). Alias: delete.
  members              List the cluster's members and the ring version.
  stats                Print the counters of the node (of the first --addr that answers).
  mget KEY...          Print the values of several keys, one call (a table; --json: one object).
  mset KEY VALUE [KEY VALUE ...]
                       Store several keys in one call (--ttl applies to each).
  mdel KEY...          Delete several keys in one call.
  leave [NODE_ID]      Take NODE_ID off the ring; without it, the node at --addr leaves
                       (hands its keys on and exits). Needs an admin token if tokens are on.
  flush [--prefix P]   Remove every key written before now (or every such key starting with P)
                       on every node; later writes survive. Needs an admin token if tokens are on.

Options:
  --addr HOST:PORT     Node to call; several comma-separated addresses are tried in turn.
                       Default: $CACHE_ADDR, else ${DEFAULT_ADDR}.
  --prefix P           flush: only keys starting with P.
  --ttl DURATION       set: time to live, with a unit: 500ms, 10s, 5m, 1h (0 = the node's default).
  --consistency LEVEL  get, set, del: one, quorum or all (default: the node's).
  --timeout DURATION   Deadline of each attempt (default 2s).
  --retries N          Retries after an UNAVAILABLE answer (default 2).
  --json               Print JSON instead of text.
  --ca FILE            TLS: trust this CA (PEM) for the nodes' certificates. Default: $CACHE_CA;
                       with neither (nor --cert), plaintext.
  --cert FILE          TLS client certificate (PEM), for TLS_CLIENT_AUTH=request|require. Default: $CACHE_CERT.
  --key FILE           Its private key (PEM). Default: $CACHE_KEY.
  --server-name NAME   Name expected in the nodes' certificates, when --addr is an IP not in them.
  --token TOKEN        API token or JWT for nodes that check tokens. Default: $CACHE_TOKEN
                       (prefer the variable: a flag shows in the process list).
  -h, --help           Show this help.

Exit status: 0 ok, 1 key not found, 2 usage error, 3 gRPC error (unavailable, invalid argument, ...).
`;

type Command =
  | { cmd: 'help' }
  | { cmd: 'get'; key: string }
  | { cmd: 'set'; key: string; value: string }
  | { cmd: 'del'; key: string }
  | { cmd: 'members' }
  | { cmd: 'stats' }
  | { cmd: 'leave'; nodeId?: string }
  | { cmd: 'flush'; prefix: string }
  | { cmd: 'mget'; keys: string[] }
  | { cmd: 'mset'; entries: [string, string][] }
  | { cmd: 'mdel'; keys: string[] };

export type Invocation = Command & {
  addrs: string[];
  json: boolean;
  ttlMs?: number;
  consistency?: Consistency;
  timeoutMs?: number;
  retries?: number;
  /** File paths (read by cachectl.ts). */
  tls?: { ca?: string; cert?: string; key?: string; serverName?: string };
  token?: string;
};

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Runs a parse.ts parser, turning its ParseError into a UsageError that starts with `what`. */
function orUsage<T>(what: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof ParseError) throw new UsageError(`${what} ${e.message}`);
    throw e;
  }
}

const ARITY: Record<string, [Exclude<Command['cmd'], 'help' | 'mget' | 'mset' | 'mdel'>, string[]]> = {
  get: ['get', ['KEY']],
  set: ['set', ['KEY', 'VALUE']],
  del: ['del', ['KEY']],
  delete: ['del', ['KEY']],
  members: ['members', []],
  stats: ['stats', []],
  leave: ['leave', ['[NODE_ID]']],
  flush: ['flush', []],
};

const OPTIONS = {
  addr: { type: 'string' },
  prefix: { type: 'string' },
  ttl: { type: 'string' },
  consistency: { type: 'string' },
  timeout: { type: 'string' },
  retries: { type: 'string' },
  json: { type: 'boolean' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  'server-name': { type: 'string' },
  token: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parseFlags(argv: string[]) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, strict: true, options: OPTIONS });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** Parses argv (without node and the script); env supplies CACHE_ADDR, CACHE_CA, CACHE_CERT, CACHE_KEY, CACHE_TOKEN. Throws UsageError. */
export function parseCommandLine(argv: string[], env: Record<string, string | undefined> = {}): Invocation {
  const parsed = parseFlags(argv);
  const { values: v, positionals } = parsed;
  const addrText = v.addr ?? (env.CACHE_ADDR || DEFAULT_ADDR);
  const common = { addrs: [] as string[], json: v.json ?? false };
  if (v.help) return { cmd: 'help', ...common };

  const [name, ...args] = positionals;
  if (name === undefined) throw new UsageError('no command given');
  const addrs = splitList(addrText);
  if (addrs.length === 0) throw new UsageError('--addr: no address given');
  for (const a of addrs) orUsage('--addr:', () => parseAddress(a));

  let inv: Invocation;
  if (name === 'mget' || name === 'mdel' || name === 'mset') {
    if (args.length === 0) throw new UsageError(`${name} takes ${name === 'mset' ? 'KEY VALUE pairs' : 'one or more KEYs'}`);
    if (name === 'mset' && args.length % 2 !== 0) throw new UsageError(`mset takes KEY VALUE pairs, got ${args.length} arguments`);
    if (args.some((a, i) => (name !== 'mset' || i % 2 === 0) && a === '')) throw new UsageError('KEY must not be empty');
    inv =
      name === 'mset'
        ? {
            cmd: 'mset',
            entries: Array.from({ length: args.length / 2 }, (_, i) => [args[2 * i]!, args[2 * i + 1]!] as [string, string]),
            ...common,
            addrs,
          }
        : { cmd: name, keys: args, ...common, addrs };
  } else {
    const spec = ARITY[name];
    if (!spec) throw new UsageError(`unknown command ${JSON.stringify(name)}`);
    const [cmd, params] = spec;
    const optional = params.filter((p) => p.startsWith('[')).length;
    if (args.length > params.length || args.length < params.length - optional) {
      throw new UsageError(
        `${name} takes ${params.length === 0 ? 'no arguments' : params.join(' ')}, got ${args.length} argument${args.length === 1 ? '' : 's'}`,
      );
    }
    inv =
      cmd === 'get' || cmd === 'del'
        ? { cmd, key: args[0]!, ...common, addrs }
        : cmd === 'set'
          ? { cmd, key: args[0]!, value: args[1]!, ...common, addrs }
          : cmd === 'leave'
            ? { cmd, ...(args[0] !== undefined ? { nodeId: args[0] } : {}), ...common, addrs }
            : cmd === 'flush'
              ? { cmd, prefix: v.prefix ?? '', ...common, addrs }
              : { cmd, ...common, addrs };
  }

  if (v.prefix !== undefined && inv.cmd !== 'flush') throw new UsageError('--prefix applies to flush only');
  if (v.ttl !== undefined) {
    if (inv.cmd !== 'set' && inv.cmd !== 'mset') throw new UsageError('--ttl applies to set and mset only');
    inv.ttlMs = orUsage('--ttl', () => parseDuration(v.ttl!));
  }
  if (v.consistency !== undefined) {
    if (!['get', 'set', 'del', 'mget', 'mset', 'mdel'].includes(inv.cmd))
      throw new UsageError(`--consistency applies to get, set, del, mget, mset and mdel, not ${name}`);
    const c = v.consistency.toLowerCase();
    if (c !== 'one' && c !== 'quorum' && c !== 'all')
      throw new UsageError(`--consistency ${JSON.stringify(v.consistency)}: one of one, quorum, all`);
    inv.consistency = c;
  }
  if (v.timeout !== undefined) {
    const t = orUsage('--timeout', () => parseDuration(v.timeout!));
    if (t < 1) throw new UsageError('--timeout must be at least 1ms');
    inv.timeoutMs = t;
  }
  if (v.retries !== undefined) {
    if (!/^\d{1,2}$/.test(v.retries)) throw new UsageError(`--retries ${JSON.stringify(v.retries)}: a whole number from 0 to 99`);
    inv.retries = Number(v.retries);
  }
  if ('key' in inv && inv.key === '') throw new UsageError('KEY must not be empty');
  if (inv.cmd === 'leave' && inv.nodeId === '') throw new UsageError('NODE_ID must not be empty');
  const ca = v.ca ?? (env.CACHE_CA || undefined);
  const cert = v.cert ?? (env.CACHE_CERT || undefined);
  const key = v.key ?? (env.CACHE_KEY || undefined);
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--cert and --key go together');
  const serverName = v['server-name'];
  if (ca !== undefined || cert !== undefined) inv.tls = { ca, cert, key, serverName };
  else if (serverName !== undefined) throw new UsageError('--server-name needs TLS (--ca or --cert)');
  const token = v.token ?? (env.CACHE_TOKEN || undefined);
  if (token !== undefined) {
    if (!/^[\x21-\x7e]+$/.test(token)) throw new UsageError('--token / CACHE_TOKEN must be visible ASCII without spaces');
    inv.token = token;
  }
  return inv;
}
