/**
 * npm run cluster [-- --nodes 3 --base-port 8080 --host 127.0.0.1]
 * Starts a local cluster in the foreground (node i listens on base-port + i), prints the
 * addresses, forwards the nodes' log lines (prefixed), and stops every node by PID on
 * Ctrl-C / SIGTERM (SIGTERM = graceful leave, so they exit one after the other).
 * Extra environment variables are passed through to the nodes (e.g. EVICTION_POLICY=lfu).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

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
if (!Number.isInteger(n) || n < 1 || n > 16 || !Number.isInteger(base) || base < 1 || base + n > 65535) {
  console.error('usage: npm run cluster -- [--nodes 1..16] [--base-port PORT] [--host 127.0.0.x]');
  process.exit(2);
}
if (!/^127\.\d+\.\d+\.\d+$/.test(host) && host !== 'localhost') {
  console.error('--host must be a loopback address (127.x.y.z)');
  process.exit(2);
}
const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const addrs = Array.from({ length: n }, (_, i) => `${host}:${base + i}`);
const children: ChildProcess[] = [];

for (const [i, addr] of addrs.entries()) {
  const child = spawn(process.execPath, [main], {
    env: { ...process.env, ADDR: addr, PEERS: addrs.filter((a) => a !== addr).join(','), NODE_ID: `node${i + 1}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const tag = `[node${i + 1} ${addr}] `;
  const forward = (buf: Buffer) => {
    if (values.quiet) return;
    for (const line of buf.toString().split('\n')) if (line) process.stdout.write(tag + line + '\n');
  };
  child.stdout!.on('data', forward);
  child.stderr!.on('data', forward);
  child.on('exit', (code, sig) => {
    console.log(`${tag}exited (${sig ?? code})`);
    if (children.every((c) => c.exitCode !== null || c.signalCode !== null)) process.exit(0);
  });
}

console.log(`cluster of ${n} nodes: ${addrs.join(' ')}`);
console.log(`try: grpcurl -plaintext -d '{"key":"foo","value":"bar"}' ${addrs[0]} cache.v1.CacheService/Set`);
console.log('Ctrl-C stops all nodes');

let stopping = false;
const stop = () => {
  if (stopping) {
    for (const c of children) if (c.pid && c.exitCode === null) try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ }
    process.exit(1);
  }
  stopping = true;
  console.log('stopping all nodes (SIGTERM; again to kill)');
  for (const c of children) if (c.pid && c.exitCode === null) try { process.kill(c.pid, 'SIGTERM'); } catch { /* gone */ }
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
