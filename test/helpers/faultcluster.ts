/**
 * Fault-injection cluster: real node processes (dist/main.js), one per network namespace
 * (TestNet), reached from the root namespace by IP. Faults: kill -9 and restart with the
 * same environment, SIGTERM (graceful leave), link cut/heal, bandwidth shaping with a tbf
 * qdisc on both ends of a host's link, and SIGSTOP/SIGCONT pauses.
 *
 * Every process started here is stopped by its PID (destroy(), also from an exit hook via
 * TestNet), every namespace and qdisc is removed by destroy(). Node output (JSON lines) goes
 * to one log file per process under logDir and to a bounded in-memory tail.
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { type ServiceName, serviceClient, TEST_SECURITY_VARIABLES, type Unary } from './grpc.ts';
import { type Host, TestNet } from './netns.ts';
import { MAIN } from './procs.ts';

export const PORT = 8080;
/** The node entry point; FAULTS_MAIN overrides it (e.g. a snapshot of dist/ while src/ is being edited). */
export const NODE_MAIN = process.env.FAULTS_MAIN || MAIN;

/** Failure detection fast enough for tests; anti-entropy every second (when the node has it). */
export const FAST_TIMINGS: Record<string, string> = {
  HEARTBEAT_INTERVAL: '200ms',
  SUSPECT_TIMEOUT: '600ms',
  DEAD_TIMEOUT: '1500ms',
  RPC_TIMEOUT: '1s',
  ANTI_ENTROPY_INTERVAL: '1s',
  SHUTDOWN_TIMEOUT: '10s',
};

const TAIL = 4_000;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One node process (a restart is a new ClusterNode with the same name and env). */
export class ClusterNode {
  readonly pid: number;
  readonly tail: string[] = [];
  readonly exited: Promise<Exit>;
  exit?: Exit;
  private readonly watchers: { re: RegExp; resolve: (l: string) => void }[] = [];
  private readonly out: WriteStream;
  private partial = '';

  constructor(
    readonly name: string,
    readonly host: Host,
    readonly env: Record<string, string>,
    readonly generation: number,
    readonly logFile: string,
    readonly proc: ChildProcess,
  ) {
    if (!proc.pid) throw new Error(`could not start node ${name}`);
    this.pid = proc.pid;
    this.out = createWriteStream(logFile, { flags: 'a' });
    const onData = (buf: Buffer) => {
      const text = this.partial + buf.toString('utf8');
      const parts = text.split('\n');
      this.partial = parts.pop() ?? '';
      for (const line of parts) if (line) this.line(line);
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    this.exited = new Promise((resolve) => {
      // 'close': the process exited and its output is fully read.
      proc.on('close', (code, signal) => {
        if (this.partial) this.line(this.partial);
        this.exit = { code, signal };
        this.out.end();
        resolve(this.exit);
      });
    });
  }

  get addr(): string {
    return `${this.host.ip}:${PORT}`;
  }
  get running(): boolean {
    return this.exit === undefined;
  }

  private line(l: string): void {
    this.out.write(`${l}\n`);
    this.tail.push(l);
    if (this.tail.length > TAIL) this.tail.splice(0, this.tail.length - TAIL);
    for (let i = this.watchers.length - 1; i >= 0; i--) {
      if (this.watchers[i].re.test(l)) {
        this.watchers[i].resolve(l);
        this.watchers.splice(i, 1);
      }
    }
  }

  waitFor(re: RegExp, ms = 15_000): Promise<string> {
    const seen = this.tail.find((l) => re.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`${this.name}: no line matching ${re} within ${ms}ms; last lines:\n${this.tail.slice(-10).join('\n')}`)),
        ms,
      );
      const w = {
        re,
        resolve: (l: string) => {
          clearTimeout(t);
          resolve(l);
        },
      };
      this.watchers.push(w);
      void this.exited.then(() => {
        const i = this.watchers.indexOf(w);
        if (i >= 0) {
          this.watchers.splice(i, 1);
          clearTimeout(t);
          reject(new Error(`${this.name} (pid ${this.pid}) exited before ${re}; last lines:\n${this.tail.slice(-10).join('\n')}`));
        }
      });
    });
  }

  /** Resident set size in kB from /proc/<pid>/status (undefined once the process is gone). */
  rssKb(): number | undefined {
    if (!this.running) return undefined;
    try {
      const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
      return m ? Number(m[1]) : undefined;
    } catch {
      return undefined;
    }
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running)
      try {
        process.kill(this.pid, sig);
      } catch {
        /* gone */
      }
  }

  /** Sends sig by PID and waits for the exit; SIGKILL after ms. */
  async stop(sig: NodeJS.Signals = 'SIGTERM', ms = 15_000): Promise<Exit> {
    if (!this.running) return this.exit!;
    this.signal('SIGCONT'); // a paused process would not handle SIGTERM
    this.signal(sig);
    const t = setTimeout(() => this.signal('SIGKILL'), ms);
    const r = await this.exited;
    clearTimeout(t);
    return r;
  }

  /** Log lines (parsed JSON) of this process matching a predicate. */
  logLines(pred: (o: Record<string, unknown>, raw: string) => boolean = () => true): string[] {
    return this.tail.filter((l) => {
      try {
        return pred(JSON.parse(l) as Record<string, unknown>, l);
      } catch {
        return pred({}, l);
      }
    });
  }
}

export interface ClusterOptions {
  /** Hosts started at once (they form the cluster). */
  names?: string[];
  /** Hosts that get a namespace but no process yet (e.g. a node that joins later). */
  spare?: string[];
  /** Extra environment for every node (FAST_TIMINGS are the defaults). */
  env?: Record<string, string>;
  logDir?: string;
  /** Wait until every node sees every other one alive (default true). */
  waitFormed?: boolean;
  /**
   * Give every node a DATA_DIR of its own, `<logDir>/<name>.data`, kept across its restarts
   * (a restart is then warm: it loads the snapshot and log written there).
   */
  dataDirs?: boolean;
}

export interface ShapeOptions {
  rateKbit: number;
  burstBytes: number;
  latencyMs: number;
}

/** Channel options for test clients: reconnect quickly to a node that comes back. */
export const CLIENT_CHANNEL: grpc.ChannelOptions = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 500,
  'grpc.min_reconnect_backoff_ms': 100,
  'grpc.enable_retries': 0,
};

/**
 * A promisified client. absoluteDeadline (default true) sends the call's absolute deadline
 * (x-cache-deadline, src/server/deadline.ts) like the client library; false behaves like a
 * plain gRPC client (grpcurl, other languages).
 */
export function unaryClient(service: ServiceName, addr: string, opts: { absoluteDeadline?: boolean } = {}): { call: Unary; close(): void } {
  const c = serviceClient(service, addr, { absoluteDeadline: opts.absoluteDeadline !== false, channel: CLIENT_CHANNEL });
  const call: Unary = <T>(method: string, req: object, deadlineMs = 3_000, md?: grpc.Metadata) => c.call<T>(method, req, deadlineMs, md);
  return { call, close: c.close };
}

export class FaultCluster {
  readonly nodes = new Map<string, ClusterNode>();
  readonly logDir: string;
  private readonly generations = new Map<string, number>();
  private readonly shaped = new Set<string>();
  private readonly paused = new Set<string>();
  private readonly adminClients = new Map<string, ReturnType<typeof unaryClient>>();
  private destroyed = false;

  private constructor(
    readonly net: TestNet,
    readonly env: Record<string, string>,
    logDir: string,
    readonly dataDirs: boolean,
  ) {
    this.logDir = logDir;
  }

  static async start(opts: ClusterOptions = {}): Promise<FaultCluster> {
    const names = opts.names ?? ['n1', 'n2', 'n3'];
    const all = [...names, ...(opts.spare ?? [])];
    const logDir = opts.logDir ?? join(tmpdir(), `faults-${process.pid}-${Date.now().toString(36)}`);
    mkdirSync(logDir, { recursive: true });
    const net = TestNet.create(all);
    const c = new FaultCluster(net, { ...FAST_TIMINGS, ...(opts.env ?? {}) }, logDir, opts.dataDirs === true);
    try {
      await Promise.all(
        names.map((n) =>
          c.startNode(
            n,
            names.filter((x) => x !== n),
          ),
        ),
      );
      if (opts.waitFormed !== false) await c.waitFormed(names);
    } catch (e) {
      await c.destroy();
      throw e;
    }
    return c;
  }

  host(name: string): Host {
    return this.net.host(name);
  }
  node(name: string): ClusterNode {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }
  /** Nodes whose process is running. */
  running(): ClusterNode[] {
    return [...this.nodes.values()].filter((n) => n.running);
  }

  /** Starts (or restarts with the same env) the node of host `name`; waits for its "listening" line. */
  async startNode(name: string, peers?: string[]): Promise<ClusterNode> {
    const prev = this.nodes.get(name);
    if (prev?.running) throw new Error(`${name} is running (pid ${prev.pid})`);
    const h = this.host(name);
    const env = prev?.env ?? {
      PATH: process.env.PATH ?? '',
      LOG_LEVEL: 'info',
      ...this.env,
      NODE_ID: name,
      ADDR: `${h.ip}:${PORT}`,
      PEERS: (peers ?? []).map((p) => `${this.host(p).ip}:${PORT}`).join(','),
      ...(this.dataDirs ? { DATA_DIR: this.dataDir(name) } : {}),
    };
    const gen = (this.generations.get(name) ?? 0) + 1;
    this.generations.set(name, gen);
    const logFile = join(this.logDir, `${name}.${gen}.log`);
    const proc = this.net.spawnIn(name, process.execPath, [NODE_MAIN], env);
    const node = new ClusterNode(name, h, env, gen, logFile, proc);
    this.nodes.set(name, node);
    await node.waitFor(/listening on/, 15_000);
    return node;
  }

  /** The DATA_DIR of host `name` when the cluster was started with dataDirs. */
  dataDir(name: string): string {
    return join(this.logDir, `${name}.data`);
  }

  /** kill -9 by PID; resolves when the process is gone. */
  async crash(name: string): Promise<Exit> {
    return this.node(name).stop('SIGKILL', 5_000);
  }

  /** Graceful leave (SIGTERM); resolves with the exit (SIGKILL after ms). */
  async leave(name: string, ms = 20_000): Promise<Exit> {
    return this.node(name).stop('SIGTERM', ms);
  }

  cut(name: string): void {
    this.net.cut(name);
  }
  heal(name: string): void {
    this.net.heal(name);
  }

  /**
   * A slow link: a token-bucket filter (tbf) on both ends of the host's veth pair, so traffic
   * to and from the node is limited to rateKbit; packets queue up to latencyMs behind the
   * bucket (that queueing is the added latency) and are dropped beyond it (TCP retransmits).
   * There is no netem here, so no fixed delay: the latency grows with the node's traffic.
   */
  shape(name: string, o: ShapeOptions): void {
    const h = this.host(name);
    const args = [
      'qdisc',
      'replace',
      'dev',
      'X',
      'root',
      'tbf',
      'rate',
      `${o.rateKbit}kbit`,
      'burst',
      `${o.burstBytes}`,
      'latency',
      `${o.latencyMs}ms`,
    ];
    execFileSync(
      'tc',
      args.map((a) => (a === 'X' ? h.veth : a)),
      { stdio: 'pipe' },
    );
    execFileSync('ip', ['netns', 'exec', h.ns, 'tc', ...args.map((a) => (a === 'X' ? 'eth0' : a))], { stdio: 'pipe' });
    this.shaped.add(name);
  }

  unshape(name: string): void {
    const h = this.host(name);
    for (const cmd of [
      ['tc', 'qdisc', 'del', 'dev', h.veth, 'root'],
      ['ip', 'netns', 'exec', h.ns, 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root'],
    ]) {
      try {
        execFileSync(cmd[0], cmd.slice(1), { stdio: 'pipe' });
      } catch {
        /* not shaped */
      }
    }
    this.shaped.delete(name);
  }

  /** tc -s statistics of the host-side qdisc (sent, dropped, overlimits). */
  shapeStats(name: string): string {
    try {
      return execFileSync('tc', ['-s', 'qdisc', 'show', 'dev', this.host(name).veth], { encoding: 'utf8' })
        .replace(/\s+/g, ' ')
        .trim();
    } catch {
      return '';
    }
  }

  pause(name: string): void {
    this.paused.add(name);
    this.node(name).signal('SIGSTOP');
  }
  resume(name: string): void {
    this.node(name).signal('SIGCONT');
    this.paused.delete(name);
  }

  admin(name: string): ReturnType<typeof unaryClient> {
    const addr = this.node(name).addr;
    let c = this.adminClients.get(addr);
    if (!c) {
      c = unaryClient('cache.v1.ClusterService', addr);
      this.adminClients.set(addr, c);
    }
    return c;
  }

  /** Waits until each of `names` sees exactly `names` alive (others absent or left) with one ring version. */
  async waitFormed(names: string[], ms = 20_000): Promise<void> {
    const end = Date.now() + ms;
    let last = '';
    while (Date.now() < end) {
      const views = await Promise.all(
        names.map(async (n) => {
          const r = await this.admin(n).call('Members', {}, 1_000);
          if (r.err) return undefined;
          const ms = (r.res!.members as { node_id: string; state: number }[]) ?? [];
          const alive = ms
            .filter((m) => m.state === 1)
            .map((m) => m.node_id)
            .sort();
          return { alive: alive.join(','), ring: r.res!.ring_version as string };
        }),
      );
      const want = [...names].sort().join(',');
      last = JSON.stringify(views);
      if (views.every((v) => v && v.alive === want) && new Set(views.map((v) => v!.ring)).size === 1) return;
      await sleep(100);
    }
    throw new Error(`cluster ${names.join(',')} did not form within ${ms}ms: ${last}`);
  }

  /** Stats of one node (undefined if it does not answer). */
  async stats(name: string, deadlineMs = 1_000): Promise<Record<string, unknown> | undefined> {
    const r = await this.admin(name).call('Stats', {}, deadlineMs);
    return r.err ? undefined : r.res;
  }

  rss(): Record<string, number | undefined> {
    const out: Record<string, number | undefined> = {};
    for (const n of this.running()) out[n.name] = n.rssKb();
    return out;
  }

  /** Stops every process by PID (SIGKILL), removes shaping, namespaces and the bridge. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const c of this.adminClients.values()) c.close();
    for (const n of this.paused) this.nodes.get(n)?.signal('SIGCONT');
    await Promise.all([...this.nodes.values()].map((n) => n.stop('SIGKILL', 3_000)));
    for (const n of this.shaped) this.unshape(n);
    this.net.destroySync();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface ProbeCall {
  code: string;
  ms: number;
}
export interface ProbeResult {
  setQuorum: ProbeCall[];
  getQuorum: ProbeCall[];
  getOne: ProbeCall[];
  ms: number;
}

const PROBE = new URL('./probe.ts', import.meta.url).pathname;

/**
 * Calls node `name` from inside its own namespace (test/helpers/probe.ts): QUORUM Sets of
 * setKeys, QUORUM and ONE Gets of getKeys. Works while the host is cut off.
 */
export async function probeFrom(
  cluster: FaultCluster,
  name: string,
  setKeys: string[],
  getKeys: string[],
  deadlineMs = 4_000,
): Promise<ProbeResult> {
  const job = { addr: cluster.node(name).addr, setKeys, getKeys, deadlineMs };
  const tsx = import.meta.resolve('tsx');
  const p = cluster.net.spawnIn(name, process.execPath, ['--import', tsx, PROBE], {
    PATH: process.env.PATH ?? '',
    PROBE_JOB: JSON.stringify(job),
    ...Object.fromEntries(TEST_SECURITY_VARIABLES.flatMap((v) => (process.env[v] ? [[v, process.env[v]]] : []))),
  });
  let out = '';
  p.stdout!.on('data', (b: Buffer) => {
    out += b.toString('utf8');
  });
  p.stderr!.on('data', (b: Buffer) => {
    out += b.toString('utf8');
  });
  const killer = setTimeout(() => {
    if (p.pid)
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
  }, deadlineMs + 15_000);
  const code = await new Promise<number | null>((resolve) => p.on('close', (c) => resolve(c)));
  clearTimeout(killer);
  const line = out.split('\n').find((l) => l.startsWith('{"setQuorum"'));
  if (code !== 0 || !line) throw new Error(`probe in ${name} failed (exit ${code}): ${out.slice(-2000)}`);
  return JSON.parse(line) as ProbeResult;
}
