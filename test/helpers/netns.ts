/**
 * Private test networks: one Linux network namespace per host, each with a veth pair to a
 * bridge in the root namespace, and its own /etc/hosts (ip netns exec bind-mounts
 * /etc/netns/<ns>/hosts), so processes reach each other by service name like containers
 * do. Needs root and iproute2. Every namespace, link and process is removed by destroy(),
 * and by an exit hook if a test dies first.
 *
 * Addresses are 10.213.<subnet>.x inside namespaces this harness creates; nothing else is
 * ever addressed.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';

export interface Host {
  name: string;
  ns: string;
  ip: string;
  /** Host-side end of the host's veth pair (in the root namespace). */
  veth: string;
}

const live = new Set<TestNet>();
process.on('exit', () => {
  for (const n of live) n.destroySync();
});

function sh(cmd: string, args: string[], allowFail = false): void {
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    if (!allowFail) throw new Error(`${cmd} ${args.join(' ')}: ${(e as { stderr?: Buffer }).stderr?.toString().trim() ?? e}`);
  }
}

/**
 * The end of a test that ran node processes in a TestNet: prints every process's log lines
 * when DUMP_NODE_LOGS is set (for debugging), closes the clients, SIGKILLs every process
 * still running (by PID) and removes the network.
 */
export function tearDown(net: TestNet, procs: Map<string, { p: ChildProcess; lines: string[] }>, clients: { close(): void }[]): void {
  if (process.env.DUMP_NODE_LOGS) for (const [n, pr] of procs) console.log(`== ${n}\n${pr.lines.join('\n')}`);
  for (const c of clients) c.close();
  for (const pr of procs.values())
    if (pr.p.pid && pr.p.exitCode === null)
      try {
        process.kill(pr.p.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
  net.destroySync();
}

/** Why netns tests cannot run here, or undefined if they can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'needs iproute2 (ip)';
  }
  return undefined;
}

export class TestNet {
  readonly hosts: Host[] = [];
  readonly bridge: string;
  readonly gateway: string;
  private readonly procs = new Set<ChildProcess>();
  private destroyed = false;

  private constructor(
    readonly tag: string,
    readonly subnet: number,
  ) {
    this.bridge = `br${tag}`;
    this.gateway = `10.213.${subnet}.1`;
  }

  /** Creates a bridge and one namespace per name; names resolve to the hosts' IPs in every namespace. */
  static create(names: string[], extraHosts: Record<string, string> = {}): TestNet {
    const tag = (process.pid % 100_000).toString(36) + Math.floor(Math.random() * 1296).toString(36);
    const subnet = 1 + Math.floor(Math.random() * 250);
    const net = new TestNet(tag, subnet);
    live.add(net);
    try {
      sh('ip', ['link', 'add', net.bridge, 'type', 'bridge']);
      sh('ip', ['addr', 'add', `${net.gateway}/24`, 'dev', net.bridge]);
      sh('ip', ['link', 'set', net.bridge, 'up']);
      names.forEach((name, i) => {
        const ns = `t${tag}${i}`;
        const veth = `v${tag}${i}`;
        const ip = `10.213.${subnet}.${i + 2}`;
        sh('ip', ['netns', 'add', ns]);
        sh('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', `${veth}p`]);
        sh('ip', ['link', 'set', `${veth}p`, 'netns', ns]);
        sh('ip', ['link', 'set', veth, 'master', net.bridge]);
        sh('ip', ['link', 'set', veth, 'up']);
        sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
        sh('ip', ['-n', ns, 'link', 'set', `${veth}p`, 'name', 'eth0']);
        sh('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
        sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
        sh('ip', ['-n', ns, 'route', 'add', 'default', 'via', net.gateway]);
        net.hosts.push({ name, ns, ip, veth });
      });
      const lines = [
        '127.0.0.1 localhost',
        ...net.hosts.map((h) => `${h.ip} ${h.name}`),
        ...Object.entries(extraHosts).map(([n, ip]) => `${ip} ${n}`),
      ];
      for (const h of net.hosts) {
        mkdirSync(`/etc/netns/${h.ns}`, { recursive: true });
        writeFileSync(`/etc/netns/${h.ns}/hosts`, `${lines.join('\n')}\n`);
      }
    } catch (e) {
      net.destroySync();
      throw e;
    }
    return net;
  }

  host(name: string): Host {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host ${name}`);
    return h;
  }

  /** Runs a command inside a host's namespace (same PID as the command: ip execs it). */
  spawnIn(name: string, cmd: string, args: string[], env: Record<string, string>): ChildProcess {
    const p = spawn('ip', ['netns', 'exec', this.host(name).ns, cmd, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.add(p);
    p.on('exit', () => this.procs.delete(p));
    return p;
  }

  /** Cuts a host off the network (peers and clients alike) by taking its link down. */
  cut(name: string): void {
    sh('ip', ['link', 'set', this.host(name).veth, 'down']);
  }

  heal(name: string): void {
    sh('ip', ['link', 'set', this.host(name).veth, 'up']);
  }

  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    live.delete(this);
    for (const p of this.procs)
      if (p.pid && p.exitCode === null)
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
    for (const h of this.hosts) {
      sh('ip', ['link', 'del', h.veth], true);
      sh('ip', ['netns', 'del', h.ns], true);
      rmSync(`/etc/netns/${h.ns}`, { recursive: true, force: true });
    }
    sh('ip', ['link', 'del', this.bridge], true);
  }
}
