/**
 * docker-compose.yml, proved without Docker: every service runs exactly the image's CMD (from
 * the Dockerfile) with exactly the image's and the service's environment, in a network
 * namespace of its own where the service names resolve like on a compose network. A name
 * resolves only once its "container" has started, as with Docker's DNS, and the services
 * start in an order where some peers' names or ports are not up yet. The test process, in
 * the root namespace, stands in for the host using the published port.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseConfig, VARIABLES } from '../../src/config/config.ts';
import { parseAddress } from '../../src/config/parse.ts';
import { serviceEnv as envOfService, isNamedVolume, loadCompose, mounts, withVolumes } from '../helpers/compose.ts';
import { imageRuntime, type Proc, seconds, watch } from '../helpers/deploy.ts';
import { cacheClient, clusterClient, type TestClient } from '../helpers/grpc.ts';
import { netnsUnavailable, TestNet, tearDown } from '../helpers/netns.ts';
import { eventually, ROOT } from '../helpers/procs.ts';

const project = loadCompose(ROOT, 'docker-compose.yml');
const { services } = project;
const names = Object.keys(services);

function serviceEnv(name: string): Record<string, string> {
  return envOfService(services[name]);
}

test('docker-compose.yml: three nodes built from the Dockerfile, configured only by known variables', () => {
  assert.deepEqual(names, ['cache1', 'cache2', 'cache3']);
  const image = imageRuntime();
  assert.deepEqual(image.cmd, ['node', 'dist/main.js']);
  for (const [name, s] of Object.entries(services)) {
    assert.equal(s.build, '.', `${name} is built from the Dockerfile`);
    assert.equal(s.restart, 'unless-stopped', name);
    const env = serviceEnv(name);
    for (const k of Object.keys(env)) assert.ok(k in VARIABLES, `${name}: ${k} is not a configuration variable`);
    const cfg = parseConfig({ ...image.env, ...env });
    const { host, port } = parseAddress(cfg.ADDR);
    assert.equal(host, name, `${name}: ADDR names the service, so peers reach it by its compose DNS name`);
    assert.equal(cfg.LISTEN_ADDR, `0.0.0.0:${port}`, `${name} listens on all interfaces`);
    assert.equal(cfg.NODE_ID, name);
    assert.deepEqual(
      [...cfg.PEERS].sort(),
      names.filter((n) => n !== name),
      `${name}: PEERS are the other services`,
    );
    assert.ok(
      seconds(s.stop_grace_period ?? '10s') * 1000 >= cfg.SHUTDOWN_TIMEOUT + 5_000,
      `${name}: stop_grace_period (${s.stop_grace_period}) leaves room for SHUTDOWN_TIMEOUT (${cfg.SHUTDOWN_TIMEOUT}ms)`,
    );
    assert.deepEqual(s.healthcheck?.test, ['CMD', 'node', 'dist/healthcheck.js'], `${name}: healthcheck uses the script`);
    assert.ok(seconds(s.healthcheck!.timeout!) >= 3, `${name}: healthcheck timeout covers the script's 2s deadline`);
  }
  assert.ok(services.cache1.ports?.includes('8080:8080'), 'cache1 publishes 8080:8080');
});

test('docker-compose.yml: each node keeps its snapshot and log (DATA_DIR) on a named volume of its own', () => {
  const image = imageRuntime();
  const used = new Set<string>();
  for (const name of names) {
    const cfg = parseConfig({ ...image.env, ...serviceEnv(name) });
    assert.ok(cfg.DATA_DIR, `${name}: DATA_DIR is set`);
    const m = mounts(services[name]).find((x) => cfg.DATA_DIR === x.target || cfg.DATA_DIR.startsWith(`${x.target}/`));
    assert.ok(m, `${name}: DATA_DIR=${cfg.DATA_DIR} is inside a mount`);
    assert.ok(isNamedVolume(project, m), `${name}: ${m.source} is a named volume declared at the top level`);
    assert.equal(m.readOnly, false, `${name}: writable`);
    assert.ok(!used.has(m.source), `${name}: its volume is its own (a node's data belongs to its node id)`);
    used.add(m.source);
  }
  // A new named volume copies the image's directory, owner included: the image's USER must own it.
  const dockerfile = readFileSync(`${ROOT}Dockerfile`, 'utf8');
  const target = mounts(services.cache1).find((m) => isNamedVolume(project, m))!.target;
  assert.match(dockerfile, new RegExp(`^RUN mkdir ${target} && chown ${image.user!.uid}:${image.user!.gid} ${target}$`, 'm'));
});

interface Members {
  members: { node_id: string; address: string; state: number }[];
  ring_version: string;
}

test('docker-compose.yml services run as processes: out-of-order start, cross-node reads, healthcheck, graceful stop', {
  skip: netnsUnavailable(),
}, async (t) => {
  const image = imageRuntime();
  // The image's WORKDIR is /app with dist/ and proto/; the repository root holds the same.
  process.chdir(ROOT);
  const net = TestNet.create(names);
  const procs = new Map<string, Proc>();
  const clients: TestClient[] = [];
  t.after(() => tearDown(net, procs, clients)); // DUMP_NODE_LOGS=1 prints every node's log lines

  // Docker's DNS knows a service once its container is running: rewrite every namespace's
  // hosts file (in place: it is bind-mounted over /etc/hosts of the processes already running).
  const resolvable = new Set<string>();
  const publishDns = (name: string) => {
    resolvable.add(name);
    const text = ['127.0.0.1 localhost', ...net.hosts.filter((h) => resolvable.has(h.name)).map((h) => `${h.ip} ${h.name}`)].join('\n');
    for (const h of net.hosts) writeFileSync(`/etc/netns/${h.ns}/hosts`, `${text}\n`);
  };
  for (const h of net.hosts) writeFileSync(`/etc/netns/${h.ns}/hosts`, '127.0.0.1 localhost\n');

  // The named volumes: a directory each, kept across the services' restarts.
  const volumes = mkdtempSync(join(tmpdir(), 'tscache-compose-volumes-'));
  t.after(() => rmSync(volumes, { recursive: true, force: true }));
  const envOf = (name: string) => ({
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    ...image.env,
    ...withVolumes(project, services[name], volumes, serviceEnv(name)),
  });
  const run = (name: string, argv: string[]) =>
    net.spawnIn(name, argv[0] === 'node' ? process.execPath : argv[0], argv.slice(1), envOf(name));
  const start = (name: string) => {
    const pr = watch(name, run(name, image.cmd));
    procs.set(name, pr);
    return pr;
  };
  const addrOf = (name: string) => `${net.host(name).ip}:${parseAddress(serviceEnv(name).ADDR).port}`;

  // cache3 first: neither cache1 nor cache2 resolves.
  publishDns('cache3');
  await start('cache3').waitFor(/listening on/);
  // cache2's name resolves but nothing listens there yet; cache1 starts against that.
  publishDns('cache2');
  publishDns('cache1');
  await start('cache1').waitFor(/listening on/);
  await new Promise((r) => setTimeout(r, 1_000));
  await start('cache2').waitFor(/listening on/);

  // The host reaches cache1 on its published port: 8080:8080, here cache1's namespace IP.
  const published = services.cache1.ports!.find((p) => p.endsWith(':8080'))!.split(':')[0];
  assert.equal(published, '8080');
  const c1 = clusterClient(`${net.host('cache1').ip}:${published}`);
  clients.push(c1);
  const want = names.map((n) => ({ node_id: n, address: `${n}:8080`, state: 1 }));
  for (const name of names) {
    const c = clusterClient(addrOf(name));
    clients.push(c);
    await eventually(
      async () => {
        const r = await c.call<Members>('Members', {}, 2_000);
        if (r.err) return false;
        const got = r
          .res!.members.map((m) => ({ node_id: m.node_id, address: m.address, state: m.state }))
          .sort((a, b) => a.node_id.localeCompare(b.node_id));
        return JSON.stringify(got) === JSON.stringify(want);
      },
      20_000,
      200,
    ).catch(async (e) => {
      throw new Error(
        `${name} does not see three ALIVE members: ${(e as Error).message}\n${JSON.stringify((await c.call('Members', {})).res)}`,
      );
    });
  }
  const rings = await Promise.all(clients.slice(1).map(async (c) => (await c.call<Members>('Members', {})).res!.ring_version));
  assert.equal(new Set(rings).size, 1, `one ring everywhere: ${rings}`);

  const k1 = cacheClient(`${net.host('cache1').ip}:${published}`);
  clients.push(k1);
  const set = await k1.call<{ version: string }>('Set', { key: 'foo', value: 'bar' });
  assert.equal(set.err, undefined, set.err?.details);
  for (const name of ['cache2', 'cache3']) {
    const c = cacheClient(addrOf(name));
    clients.push(c);
    const g = await c.call<{ value: string; version: string }>('Get', { key: 'foo' });
    assert.equal(g.err, undefined, `${name}: ${g.err?.details}`);
    assert.equal(g.res!.value, 'bar', name);
    assert.equal(g.res!.version, set.res!.version, name);
  }

  // The compose healthcheck, run inside a service's namespace with that service's environment.
  const hcArgv = services.cache2.healthcheck!.test.slice(1);
  const hc = watch('healthcheck', run('cache2', hcArgv));
  assert.equal(await hc.exited, 0, hc.lines.join('\n'));
  assert.match(hc.lines.join('\n'), /SERVING/);
  // Unhealthy answers exit 1 within the script's timeout: an unreachable node, a closed port.
  net.cut('cache3');
  const t0 = Date.now();
  const cut = watch('healthcheck', run('cache2', [...hcArgv, 'cache3:8080', '--timeout', '1000']));
  assert.equal(await cut.exited, 1, cut.lines.join('\n'));
  assert.ok(Date.now() - t0 < 4_000, `healthcheck of a cut-off node took ${Date.now() - t0}ms`);
  net.heal('cache3');
  const closed = watch('healthcheck', run('cache2', [...hcArgv, '9']));
  assert.equal(await closed.exited, 1, closed.lines.join('\n'));

  // docker compose stop / down: SIGTERM, exit 0 well within stop_grace_period, data handed on.
  const stop = async (name: string) => {
    const pr = procs.get(name)!;
    const began = Date.now();
    process.kill(pr.p.pid!, 'SIGTERM');
    const grace = seconds(services[name].stop_grace_period!) * 1000;
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      pr.exited,
      new Promise<'timeout'>((r) => {
        timer = setTimeout(() => r('timeout'), grace);
      }),
    ]);
    clearTimeout(timer);
    assert.equal(code, 0, `${name} exits 0 on SIGTERM within ${grace}ms:\n${pr.lines.slice(-10).join('\n')}`);
    return Date.now() - began;
  };
  await eventually(async () => (await c1.call<Members>('Members', {})).res?.members.every((m) => m.state === 1), 10_000);
  await stop('cache3');
  await eventually(
    async () => (await c1.call<Members>('Members', {})).res?.members.find((m) => m.node_id === 'cache3')?.state === 4,
    5_000,
  );
  const g = await k1.call<{ value: string }>('Get', { key: 'foo' });
  assert.equal(g.res?.value, 'bar', g.err?.details);
  await stop('cache2');
  await stop('cache1');

  // docker compose up again: every node starts from its own volume and serves the key.
  for (const name of names) await start(name).waitFor(/listening on/);
  for (const name of names)
    assert.match(procs.get(name)!.lines.join('\n'), /loaded [1-9]\d* entries and \d+ tombstones from DATA_DIR/, name);
  await eventually(async () => (await k1.call<{ value: string }>('Get', { key: 'foo' })).res?.value === 'bar', 20_000, 200);
  for (const name of names) await stop(name);
});
