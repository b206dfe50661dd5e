/**
 * npm run cluster [-- --nodes 3 --base-port 8080 --host 127.0.0.1]
 * Starts a local cluster in the foreground (node i listens on base-port + i), prints the
 * addresses, forwards the nodes' log lines (prefixed), and stops every node by PID on
 * Ctrl-C / SIGTERM / SIGHUP (one SIGTERM each = graceful leave; a second Ctrl-C kills them).
 * Extra environment variables are passed through to the nodes (e.g. EVICTION_POLICY=lfu);
 * METRICS_ADDR=host:port (or :port) gives node i the metrics port port + i.
 *
 * Every node runs in a process group of its own (detached), so the SIGINT a terminal sends
 * to its foreground group on Ctrl-C reaches only this script, which then signals each node
 * exactly once (a node takes a second signal as "exit now"). Detached nodes would outlive
 * this script, so every way out of it stops the nodes that still run, by PID.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type Address, formatAddress, ParseError, parseAddress } from '../src/config/parse.ts';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '3' },
    'base-port': { type: 'string', default: '8080' },
    host: { type: 'string', default: '127.0.0.1' },
    quiet: { type: 'boolean', default: false },
  },
});
const n = Number(values.nodes);
const base = Number(values['base-port']);
const host = values.host!;
if (!Number.isInteger(n) || n < 1 || n > 16 || !Number.isInteger(base) || base < 1 || base + n - 1 > 65535) {
  console.error('usage: npm run cluster -- [--nodes 1..16] [--base-port PORT] [--host 127.0.0.x]');
  process.exit(2);
}
if (!/^127\.\d+\.\d+\.\d+$/.test(host) && host !== 'localhost') {
  console.error('--host must be a loopback address (127.x.y.z)');
  process.exit(2);
}

/** METRICS_ADDR as the node accepts it: host:port, [v6]:port or :port (all interfaces). */
function parseMetricsAddr(s: string): Address | undefined {
  try {
    return parseAddress(s, { allowEmptyHost: true, allowPortZero: true });
  } catch (e) {
    if (e instanceof ParseError) return undefined;
    throw e;
  }
}

const metricsEnv = process.env.METRICS_ADDR?.trim() ?? '';
let metricsAddrs: string[] | undefined;
if (metricsEnv !== '') {
  const m = parseMetricsAddr(metricsEnv);
  if (!m) {
    console.error(
      `METRICS_ADDR=${JSON.stringify(metricsEnv)} is not host:port or :port (e.g. 127.0.0.1:9100, [::1]:9100, :9100); nothing started`,
    );
    process.exit(2);
  }
  // Port 0 = "any free port": every node asks the system for one of its own (see its "metrics at" line).
  const ports = Array.from({ length: n }, (_, i) => (m.port === 0 ? 0 : m.port + i));
  if (ports[n - 1] > 65535) {
    console.error(`METRICS_ADDR=${metricsEnv}: ${n} nodes need metrics ports ${m.port}..${m.port + n - 1}, beyond 65535; nothing started`);
    process.exit(2);
  }
  const clash = ports.filter((p) => p !== 0 && p >= base && p <= base + n - 1);
  if (clash.length > 0) {
    console.error(
      `METRICS_ADDR=${metricsEnv}: metrics ports ${ports[0]}..${ports[n - 1]} overlap the nodes' ports ${base}..${base + n - 1}; nothing started`,
    );
    process.exit(2);
  }
  metricsAddrs = ports.map((p) => formatAddress({ host: m.host, port: p }));
}

const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
if (!existsSync(main)) {
  console.error(`${main} is missing: run npm run build first (npm run cluster does)`);
  process.exit(2);
}
const addrs = Array.from({ length: n }, (_, i) => `${host}:${base + i}`);
const children: ChildProcess[] = [];
/** Index -> exit status, once the node's process has exited and its output was read to the end. */
const finished = new Map<number, { code: number | null; sig: NodeJS.Signals | null }>();

let stopping = false;
let failed = false;
let outputBroken = false;

const running = () => children.filter((c) => c.pid !== undefined && c.exitCode === null && c.signalCode === null);
const signalAll = (sig: NodeJS.Signals) => {
  for (const c of running())
    try {
      process.kill(c.pid!, sig);
    } catch {
      /* already gone */
    }
};
// Last resort on every way out (process.exit included): nothing may outlive the script.
process.on('exit', () => signalAll('SIGKILL'));

const say = (line: string) => {
  if (outputBroken) return;
  try {
    process.stdout.write(`${line}\n`);
  } catch {
    outputBroken = true;
  }
};
const complain = (line: string) => {
  try {
    process.stderr.write(`${line}\n`);
  } catch {
    /* nowhere to report */
  }
};

/** Exits once every node has exited: 0 if each one exited 0 (or by our SIGTERM before it set up its handler). */
const maybeDone = () => {
  if (finished.size < children.length) return;
  const clean = [...finished.values()].every(({ code, sig }) => code === 0 || (stopping && sig === 'SIGTERM'));
  process.exit(clean && !failed ? 0 : 1);
};

/**
 * One Ctrl-C can arrive twice: the terminal signals its whole foreground group, and npm
 * forwards the SIGINT it got itself to its child (this script, when the shell execs it).
 * A repeat within this window is taken as that same Ctrl-C, not as the "kill now" one.
 */
const REPEAT_MS = 1_000;
let stoppedAt = 0;

function stop(why: string): void {
  if (stopping && performance.now() - stoppedAt < REPEAT_MS) {
    say(`${why} again within ${REPEAT_MS}ms: taken as the same request (again to kill)`);
    return;
  }
  if (stopping) {
    say(`${why} again: killing all nodes (SIGKILL)`);
    signalAll('SIGKILL');
    process.exit(1);
  }
  stopping = true;
  stoppedAt = performance.now();
  say(`${why}: stopping all nodes (SIGTERM; again to kill)`);
  signalAll('SIGTERM');
  maybeDone();
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => stop(sig));

// A closed terminal or reader (`npm run cluster | head`): stop the nodes, do not die of EPIPE/EIO.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', () => {
    outputBroken = true;
    if (!stopping) stop('output closed');
  });
}

let crashes = 0;
process.on('uncaughtException', (err) => {
  complain(`cluster script error: ${err.stack ?? err.message}`);
  failed = true;
  if (++crashes > 1) process.exit(1); // the 'exit' hook kills the nodes
  if (!stopping) stop('error');
  // The nodes bound their own shutdown (SHUTDOWN_TIMEOUT); do not wait forever either.
  setTimeout(() => process.exit(1), 30_000).unref();
});

for (const [i, addr] of addrs.entries()) {
  const env: NodeJS.ProcessEnv = { ...process.env, ADDR: addr, PEERS: addrs.filter((a) => a !== addr).join(','), NODE_ID: `node${i + 1}` };
  if (metricsAddrs) env.METRICS_ADDR = metricsAddrs[i];
  const child = spawn(process.execPath, [main], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.push(child);
  const tag = `[node${i + 1} ${addr}] `;
  // Forward whole lines only: a chunk may end in the middle of one.
  const forwarder = () => {
    let rest = '';
    return {
      data(buf: Buffer) {
        const lines = (rest + buf.toString('utf8')).split('\n');
        rest = lines.pop()!;
        if (!values.quiet) for (const line of lines) if (line) say(tag + line);
      },
      end() {
        if (rest && !values.quiet) say(tag + rest);
        rest = '';
      },
    };
  };
  for (const stream of [child.stdout!, child.stderr!]) {
    const f = forwarder();
    stream.on('data', f.data);
    stream.on('end', f.end);
  }
  child.on('error', (err) => {
    complain(`${tag}cannot start: ${err.message}`);
    failed = true;
    if (!finished.has(i)) {
      finished.set(i, { code: null, sig: null });
      maybeDone();
    }
  });
  // 'close' (not 'exit'): the node's last log lines have been forwarded by then.
  child.on('close', (code, sig) => {
    say(`${tag}exited (${sig ?? code})`);
    if (!finished.has(i)) {
      finished.set(i, { code, sig });
      maybeDone();
    }
  });
}

say(`cluster of ${n} nodes: ${addrs.join(' ')}`);
for (const [i, addr] of addrs.entries()) {
  let line = `  node${i + 1} ${addr} (pid ${children[i].pid ?? '?'})`;
  const m = metricsAddrs?.[i];
  if (m) line += ` metrics ${m} (${m.startsWith(':') ? `http://127.0.0.1${m}/metrics` : `http://${m}/metrics`})`;
  say(line);
}
say(`try: grpcurl -plaintext -d '{"key":"foo","value":"bar"}' ${addrs[0]} cache.v1.CacheService/Set`);
say('Ctrl-C stops all nodes');
