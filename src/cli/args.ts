/** Command line of cachectl: parsing and help text (pure, no I/O). */
import { parseArgs } from 'node:util';
import type { Consistency } from '../client/options.js';
import { isAddress } from '../client/options.js';

export const DEFAULT_ADDR = '127.0.0.1:8080';

export const HELP = `Usage: cachectl [options] <command> [arguments]

Commands:
  get KEY              Print the value of KEY (exit 1 if it is missing).
  set KEY VALUE        Store VALUE (text) under KEY.
  del KEY              Delete KEY (exit 1 if there was no live value). Alias: delete.
  members              List the cluster's members and the ring version.
  stats                Print the counters of the node (of the first --addr that answers).

Options:
  --addr HOST:PORT     Node to call; several comma-separated addresses are tried in turn.
                       Default: $CACHE_ADDR, else ${DEFAULT_ADDR}.
  --ttl DURATION       set: time to live, with a unit: 500ms, 10s, 5m, 1h (0 = the node's default).
  --consistency LEVEL  get, set, del: one, quorum or all (default: the node's).
  --timeout DURATION   Deadline of each attempt (default 2s).
  --retries N          Retries after an UNAVAILABLE answer (default 2).
  --json               Print JSON instead of text.
  -h, --help           Show this help.

Exit status: 0 ok, 1 key not found, 2 usage error, 3 gRPC error (unavailable, invalid argument, ...).
`;

export type Command =
  | { cmd: 'help' }
  | { cmd: 'get'; key: string }
  | { cmd: 'set'; key: string; value: string }
  | { cmd: 'del'; key: string }
  | { cmd: 'members' }
  | { cmd: 'stats' };

export type Invocation = Command & {
  addrs: string[];
  json: boolean;
  ttlMs?: number;
  consistency?: Consistency;
  timeoutMs?: number;
  retries?: number;
};

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** "500ms", "10s", "1.5m", "1h" -> ms; "0" is allowed without a unit. Throws UsageError. */
export function parseDuration(s: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(s.trim());
  if (s.trim() === '0') return 0;
  if (!m) throw new UsageError(`${what} ${JSON.stringify(s)} is not a duration with a unit, e.g. 500ms, 10s, 5m, 1h`);
  const ms = Math.round(Number(m[1]) * UNITS[m[2]!]!);
  if (!Number.isSafeInteger(ms)) throw new UsageError(`${what} ${JSON.stringify(s)} is too large`);
  return ms;
}

const ARITY: Record<string, [Command['cmd'], string[]]> = {
  get: ['get', ['KEY']],
  set: ['set', ['KEY', 'VALUE']],
  del: ['del', ['KEY']],
  delete: ['del', ['KEY']],
  members: ['members', []],
  stats: ['stats', []],
};

/** Parses argv (without node and the script); env supplies CACHE_ADDR. Throws UsageError. */
export function parseCommandLine(argv: string[], env: Record<string, string | undefined> = {}): Invocation {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        addr: { type: 'string' },
        ttl: { type: 'string' },
        consistency: { type: 'string' },
        timeout: { type: 'string' },
        retries: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values: v, positionals } = parsed;
  const addrText = v.addr ?? (env.CACHE_ADDR || DEFAULT_ADDR);
  const common = { addrs: [] as string[], json: v.json ?? false };
  if (v.help) return { cmd: 'help', ...common };

  const [name, ...args] = positionals;
  if (name === undefined) throw new UsageError('no command given');
  const spec = ARITY[name];
  if (!spec) throw new UsageError(`unknown command ${JSON.stringify(name)}`);
  const [cmd, params] = spec;
  if (args.length !== params.length) {
    throw new UsageError(`${name} takes ${params.length === 0 ? 'no arguments' : params.join(' ')}, got ${args.length} argument${args.length === 1 ? '' : 's'}`);
  }

  const addrs = addrText.split(',').map((a) => a.trim()).filter(Boolean);
  if (addrs.length === 0) throw new UsageError('--addr: no address given');
  for (const a of addrs) if (!isAddress(a)) throw new UsageError(`--addr: ${JSON.stringify(a)} is not host:port`);

  const inv: Invocation = cmd === 'get' || cmd === 'del'
    ? { cmd, key: args[0]!, ...common, addrs }
    : cmd === 'set'
      ? { cmd, key: args[0]!, value: args[1]!, ...common, addrs }
      : { cmd, ...common, addrs };

  if (v.ttl !== undefined) {
    if (cmd !== 'set') throw new UsageError('--ttl applies to set only');
    inv.ttlMs = parseDuration(v.ttl, '--ttl');
  }
  if (v.consistency !== undefined) {
    if (cmd !== 'get' && cmd !== 'set' && cmd !== 'del') throw new UsageError(`--consistency applies to get, set and del, not ${name}`);
    const c = v.consistency.toLowerCase();
    if (c !== 'one' && c !== 'quorum' && c !== 'all') throw new UsageError(`--consistency ${JSON.stringify(v.consistency)}: one of one, quorum, all`);
    inv.consistency = c;
  }
  if (v.timeout !== undefined) {
    const t = parseDuration(v.timeout, '--timeout');
    if (t < 1) throw new UsageError('--timeout must be at least 1ms');
    inv.timeoutMs = t;
  }
  if (v.retries !== undefined) {
    if (!/^\d{1,2}$/.test(v.retries)) throw new UsageError(`--retries ${JSON.stringify(v.retries)}: a whole number from 0 to 99`);
    inv.retries = Number(v.retries);
  }
  if ('key' in inv && inv.key === '') throw new UsageError('KEY must not be empty');
  return inv;
}
