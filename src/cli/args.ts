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

type Command =
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

/** Runs a parse.ts parser, turning its ParseError into a UsageError that starts with `what`. */
function orUsage<T>(what: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof ParseError) throw new UsageError(`${what} ${e.message}`);
    throw e;
  }
}

const ARITY: Record<string, [Command['cmd'], string[]]> = {
  get: ['get', ['KEY']],
  set: ['set', ['KEY', 'VALUE']],
  del: ['del', ['KEY']],
  delete: ['del', ['KEY']],
  members: ['members', []],
  stats: ['stats', []],
};

const OPTIONS = {
  addr: { type: 'string' },
  ttl: { type: 'string' },
  consistency: { type: 'string' },
  timeout: { type: 'string' },
  retries: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parseFlags(argv: string[]) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, strict: true, options: OPTIONS });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** Parses argv (without node and the script); env supplies CACHE_ADDR. Throws UsageError. */
export function parseCommandLine(argv: string[], env: Record<string, string | undefined> = {}): Invocation {
  const parsed = parseFlags(argv);
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
    throw new UsageError(
      `${name} takes ${params.length === 0 ? 'no arguments' : params.join(' ')}, got ${args.length} argument${args.length === 1 ? '' : 's'}`,
    );
  }

  const addrs = splitList(addrText);
  if (addrs.length === 0) throw new UsageError('--addr: no address given');
  for (const a of addrs) orUsage('--addr:', () => parseAddress(a));

  const inv: Invocation =
    cmd === 'get' || cmd === 'del'
      ? { cmd, key: args[0]!, ...common, addrs }
      : cmd === 'set'
        ? { cmd, key: args[0]!, value: args[1]!, ...common, addrs }
        : { cmd, ...common, addrs };

  if (v.ttl !== undefined) {
    if (cmd !== 'set') throw new UsageError('--ttl applies to set only');
    inv.ttlMs = orUsage('--ttl', () => parseDuration(v.ttl!));
  }
  if (v.consistency !== undefined) {
    if (cmd !== 'get' && cmd !== 'set' && cmd !== 'del') throw new UsageError(`--consistency applies to get, set and del, not ${name}`);
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
  return inv;
}
