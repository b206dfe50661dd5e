#!/usr/bin/env node
/** cachectl: a command-line client of the cache (see `cachectl --help`). */
import { readFileSync } from 'node:fs';
import { HELP, type Invocation, parseCommandLine, UsageError } from './args.js';
import { batchGetJson, batchText, getJson, membersText, statsText, toJson } from './format.js';

const EXIT = { OK: 0, NOT_FOUND: 1, USAGE: 2, ERROR: 3 } as const;

const out = (s: string | Buffer) => {
  process.stdout.write(s);
};
const err = (s: string) => {
  process.stderr.write(`cachectl: ${s}\n`);
};

/** The PEM files of --ca, --cert, --key; an unreadable one is a usage error. */
function readTls(t: NonNullable<Invocation['tls']>) {
  const read = (flag: string, path: string | undefined) => {
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (e) {
      throw new UsageError(`--${flag} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  return { ca: read('ca', t.ca), cert: read('cert', t.cert), key: read('key', t.key), serverName: t.serverName };
}

async function run(inv: Exclude<Invocation, { cmd: 'help' }>): Promise<number> {
  // Loaded here so that --help and usage errors answer without loading gRPC and the protos.
  const { CacheClient } = await import('../client/client.js');
  const { CacheClientError } = await import('../client/errors.js');
  (await import('../security/tls.js')).ignoreIpServerNameWarning();
  // The node at --addr coordinates every call: no ring routing, so a call goes where it is told.
  const client = new CacheClient({
    seeds: inv.addrs,
    ...(inv.tls ? { tls: readTls(inv.tls) } : {}),
    ...(inv.token ? { token: inv.token } : {}),
    routing: false,
    refreshIntervalMs: 0,
    ...(inv.timeoutMs !== undefined ? { timeoutMs: inv.timeoutMs } : {}),
    retries: inv.retries ?? 2,
  });
  try {
    switch (inv.cmd) {
      case 'get': {
        const r = await client.get(inv.key, { consistency: inv.consistency });
        if (r === undefined) {
          err(`key not found: ${JSON.stringify(inv.key)}`);
          return EXIT.NOT_FOUND;
        }
        if (inv.json) out(`${getJson(inv.key, r)}\n`);
        else if (typeof r.value === 'string') out(`${r.value}\n`);
        else out(r.value); // bytes as they are, for redirection to a file
        return EXIT.OK;
      }
      case 'set': {
        const r = await client.set(inv.key, inv.value, { consistency: inv.consistency, ttlMs: inv.ttlMs });
        out(inv.json ? `${toJson({ key: inv.key, version: r.version })}\n` : `OK version=${r.version}\n`);
        return EXIT.OK;
      }
      case 'del': {
        const deleted = await client.delete(inv.key, { consistency: inv.consistency });
        if (inv.json) out(`${toJson({ key: inv.key, deleted })}\n`);
        else if (deleted) out('deleted\n');
        if (!deleted) {
          err(`key not found: ${JSON.stringify(inv.key)}`);
          return EXIT.NOT_FOUND;
        }
        return EXIT.OK;
      }
      case 'members': {
        const m = await client.members();
        out(inv.json ? `${toJson(m)}\n` : membersText(m));
        return EXIT.OK;
      }
      case 'stats': {
        const s = await client.stats();
        out(inv.json ? `${toJson(s)}\n` : statsText(s));
        return EXIT.OK;
      }
      case 'mget': {
        const rs = await client.mget(inv.keys, { consistency: inv.consistency });
        out(inv.json ? `${toJson(rs.map(batchGetJson))}\n` : batchText(rs));
        return rs.some((r) => r.error) ? EXIT.ERROR : EXIT.OK;
      }
      case 'mset': {
        const rs = await client.mset(
          inv.entries.map(([key, value]) => ({ key, value, ttlMs: inv.ttlMs })),
          { consistency: inv.consistency },
        );
        out(inv.json ? `${toJson(rs)}\n` : batchText(rs));
        return rs.some((r) => r.error) ? EXIT.ERROR : EXIT.OK;
      }
      case 'mdel': {
        const rs = await client.mdelete(inv.keys, { consistency: inv.consistency });
        out(inv.json ? `${toJson(rs)}\n` : batchText(rs));
        return rs.some((r) => r.error) ? EXIT.ERROR : EXIT.OK;
      }
      case 'flush': {
        const r = await client.flush({ prefix: inv.prefix });
        const what = inv.prefix ? `keys starting with ${JSON.stringify(inv.prefix)}` : 'every key';
        const pending = r.pending.length > 0 ? ` (not yet confirmed by ${r.pending.join(', ')}: they learn it by gossip)` : '';
        out(inv.json ? `${toJson({ prefix: inv.prefix, ...r })}\n` : `flushed ${what} up to version ${r.version}${pending}\n`);
        return EXIT.OK;
      }
      case 'leave': {
        const ok = await client.leave(inv.nodeId, inv.nodeId === undefined ? { address: inv.addrs[0] } : {});
        const who = inv.nodeId ?? inv.addrs[0];
        out(inv.json ? `${toJson({ node: who, ok })}\n` : ok ? `${who} is leaving\n` : `${who}: not accepted\n`);
        return ok ? EXIT.OK : EXIT.ERROR;
      }
    }
  } catch (e) {
    if (e instanceof CacheClientError) {
      err(e.message);
      return EXIT.ERROR;
    }
    throw e;
  } finally {
    client.close();
  }
}

async function main(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  let inv: Invocation;
  try {
    inv = parseCommandLine(argv, env);
  } catch (e) {
    if (e instanceof UsageError) {
      err(`${e.message}\nTry 'cachectl --help'.`);
      return EXIT.USAGE;
    }
    throw e;
  }
  if (inv.cmd === 'help') {
    out(HELP);
    return EXIT.OK;
  }
  try {
    return await run(inv);
  } catch (e) {
    if (e instanceof UsageError) {
      err(e.message);
      return EXIT.USAGE;
    }
    throw e;
  }
}

process.exitCode = await main(process.argv.slice(2), process.env).catch((e: unknown) => {
  err(`internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  return EXIT.ERROR;
});
