/**
 * deploy/k8s, checked without a cluster: first structurally (every document parsed; the
 * StatefulSet's environment is valid configuration, ports, probes, grace period, services,
 * PDB and resources agree with it), then by running the StatefulSet's pods as processes in
 * network namespaces where the headless Service's DNS names resolve as in Kubernetes
 * (tscache-peers -> every pod, tscache-N.tscache-peers -> pod N): ordered start, readiness
 * through the gRPC health service, scale down (graceful leave) and scale up again.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Config, parseConfig, VARIABLES } from '../../src/config/config.ts';
import { parseAddress } from '../../src/config/parse.ts';
import type { Members } from '../helpers/cluster.ts';
import type { Proc as DeployProc } from '../helpers/deploy.ts';
import { cacheClient, clusterClient, type TestClient } from '../helpers/grpc.ts';
import { podEnv as containerEnv, exitWithin, loadManifests, type Obj, quantity, withClaims } from '../helpers/k8s.ts';
import { netnsUnavailable, TestNet, tearDown } from '../helpers/netns.ts';
import { eventually, ROOT } from '../helpers/procs.ts';

const DIR = `${ROOT}deploy/k8s/`;
const { files, docs } = loadManifests(DIR);

const ofKind = (kind: string) => docs.filter((d) => d.kind === kind);
const sts = ofKind('StatefulSet')[0];
const pod = sts?.spec.template;
const container = pod?.spec.containers[0];
const podLabels: Record<string, string> = pod?.metadata.labels ?? {};
const services = ofKind('Service');
const headless = services.find((s) => s.spec.clusterIP === 'None');
const selects = (selector: Record<string, string> | undefined) =>
  !!selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => podLabels[k] === v);

/** The container's environment as the kubelet builds it for pod `podName` at `podIP`. */
const podEnv = (podName: string, podIP: string): Record<string, string> => containerEnv(container, podName, podIP);

const cfg0 = (): Config => parseConfig(podEnv(`${sts.metadata.name}-0`, '10.1.2.3'));

test('deploy/k8s: a StatefulSet, a headless Service, a ClusterIP and a NodePort Service, a PDB', () => {
  assert.ok(files.length > 0);
  for (const d of docs) {
    assert.ok(d.apiVersion && d.metadata?.name, `${d.file}: ${d.kind} has apiVersion and metadata.name`);
    assert.equal(d.metadata.namespace, undefined, `${d.file}: no hard-coded namespace (kubectl -n chooses)`);
  }
  assert.equal(ofKind('StatefulSet').length, 1);
  assert.equal(sts.apiVersion, 'apps/v1');
  assert.ok(headless, 'a headless Service');
  assert.ok(
    services.some((s) => (s.spec.type ?? 'ClusterIP') === 'ClusterIP' && s.spec.clusterIP !== 'None'),
    'a ClusterIP client Service',
  );
  assert.ok(
    services.some((s) => s.spec.type === 'NodePort'),
    'a NodePort Service',
  );
  assert.equal(ofKind('PodDisruptionBudget').length, 1);
  assert.equal(pod.spec.containers.length, 1);
});

test('StatefulSet: every env name is a configuration variable and the values parse', () => {
  for (const e of container.env as Obj[]) assert.ok(e.name in VARIABLES, `${e.name} is not in VARIABLES (src/config/config.ts)`);
  assert.equal(new Set((container.env as Obj[]).map((e) => e.name)).size, container.env.length, 'no variable twice');
  for (let i = 0; i < 3; i++) assert.doesNotThrow(() => parseConfig(podEnv(`${sts.metadata.name}-${i}`, `10.1.2.${i + 3}`)));
  const ids = [0, 1, 2].map((i) => parseConfig(podEnv(`${sts.metadata.name}-${i}`, `10.1.2.${i + 3}`)).NODE_ID);
  assert.equal(new Set(ids).size, 3, `each pod has its own NODE_ID: ${ids}`);
});

test('StatefulSet: ADDR is reachable by the other pods and PEERS finds every pod through the headless Service', () => {
  const cfg = cfg0();
  assert.equal(sts.spec.serviceName, headless!.metadata.name, 'pods get DNS names under the headless Service');
  const { host } = parseAddress(cfg.ADDR);
  const podName = `${sts.metadata.name}-0`;
  // Either the pod's IP (downward API) or its stable DNS name <pod>.<headless service>[.<ns>.svc...].
  assert.ok(
    host === '10.1.2.3' || host.startsWith(`${podName}.${headless!.metadata.name}`),
    `ADDR ${cfg.ADDR} is the pod IP or the pod's DNS name`,
  );
  assert.equal(parseAddress(cfg.LISTEN_ADDR).host, host === '10.1.2.3' ? '10.1.2.3' : '0.0.0.0');
  assert.ok(
    cfg.PEERS.some(
      (p) => p.split(':')[0].split('.')[0] === headless!.metadata.name && (!p.includes(':') || Number(p.split(':')[1]) === cfg.port),
    ),
    `PEERS ${cfg.PEERS} includes the headless Service`,
  );
  assert.equal(headless!.spec.publishNotReadyAddresses, true, 'starting pods find each other before they are Ready');
  assert.ok(selects(headless!.spec.selector), 'the headless Service selects the pods');
});

test('StatefulSet: container port, probes and client Services all use the port of ADDR', () => {
  const cfg = cfg0();
  const ports = container.ports as Obj[];
  assert.deepEqual(
    ports.map((p) => p.containerPort),
    [cfg.port],
  );
  const portName = ports[0].name;
  for (const probe of ['readinessProbe', 'livenessProbe']) {
    const p = container[probe];
    assert.ok(p?.grpc, `${probe} is a native gRPC probe`);
    assert.equal(p.grpc.port, cfg.port, `${probe} port`);
    if (probe === 'readinessProbe') assert.ok(!p.grpc.service, 'readiness checks the whole node (service ""): SERVING once joined');
    else assert.equal(p.grpc.service, 'liveness', 'liveness checks that the process answers, joined or not');
    assert.ok((p.timeoutSeconds ?? 1) >= 1);
  }
  for (const s of services) {
    assert.ok(selects(s.spec.selector), `${s.metadata.name} selects the pods`);
    for (const sp of s.spec.ports as Obj[]) {
      const target = sp.targetPort ?? sp.port;
      assert.ok(target === cfg.port || target === portName, `${s.metadata.name}: targetPort ${target} is the container port`);
    }
  }
  const np = services.find((s) => s.spec.type === 'NodePort')!;
  for (const sp of np.spec.ports as Obj[]) if (sp.nodePort !== undefined) assert.ok(sp.nodePort >= 30000 && sp.nodePort <= 32767);
});

test('StatefulSet: graceful leave fits in terminationGracePeriodSeconds; PDB allows one pod down', () => {
  const cfg = cfg0();
  const grace = pod.spec.terminationGracePeriodSeconds;
  assert.ok(
    grace * 1000 >= cfg.SHUTDOWN_TIMEOUT + 5_000,
    `terminationGracePeriodSeconds ${grace} > SHUTDOWN_TIMEOUT ${cfg.SHUTDOWN_TIMEOUT}ms with margin`,
  );
  const pdb = ofKind('PodDisruptionBudget')[0];
  assert.equal(pdb.apiVersion, 'policy/v1');
  assert.equal(pdb.spec.maxUnavailable, 1);
  assert.ok(selects(pdb.spec.selector?.matchLabels), 'the PDB selects the pods');
  assert.ok(selects(sts.spec.selector.matchLabels), 'the StatefulSet selects its pods');
});

test('StatefulSet: memory requests/limits leave room for MAX_MEMORY; non-root like the image', () => {
  const cfg = cfg0();
  const { requests, limits } = container.resources;
  assert.ok(cfg.MAX_MEMORY > 0, 'MAX_MEMORY is bounded in Kubernetes');
  assert.ok(
    quantity(requests.memory) >= cfg.MAX_MEMORY * 1.2 + 100 * 2 ** 20,
    `requests.memory ${requests.memory} covers MAX_MEMORY ${cfg.MAX_MEMORY} x1.2 + runtime`,
  );
  assert.ok(quantity(limits.memory) >= quantity(requests.memory));
  assert.ok(quantity(requests.cpu) > 0);
  const sc = pod.spec.securityContext;
  assert.equal(sc.runAsNonRoot, true);
  const user = /^USER\s+(\S+)/m.exec(readFileSync(`${ROOT}Dockerfile`, 'utf8'))![1].split(':')[0];
  assert.equal(String(sc.runAsUser), user, 'runAsUser is the Dockerfile USER');
});

test("StatefulSet: DATA_DIR is on the pod's own PersistentVolumeClaim, writable by the node's user", () => {
  const cfg = cfg0();
  assert.ok(cfg.DATA_DIR, 'DATA_DIR is set');
  const templates = sts.spec.volumeClaimTemplates as Obj[];
  const m = (container.volumeMounts as Obj[]).find((x) => cfg.DATA_DIR === x.mountPath || cfg.DATA_DIR.startsWith(`${x.mountPath}/`));
  assert.ok(m, `DATA_DIR=${cfg.DATA_DIR} is inside a volumeMount`);
  assert.notEqual(m.readOnly, true);
  const claim = templates.find((t) => t.metadata.name === m.name);
  assert.ok(claim, `the mount ${m.name} is a volumeClaimTemplate: one claim per pod, kept across restarts`);
  assert.ok(!(pod.spec.volumes ?? []).some((v: Obj) => v.name === m.name), 'not also a pod volume');
  assert.deepEqual(claim.spec.accessModes, ['ReadWriteOnce']);
  assert.ok(quantity(claim.spec.resources.requests.storage) >= 2 * cfg.MAX_MEMORY, 'room for a snapshot and a log of MAX_MEMORY');
  const sc = pod.spec.securityContext;
  assert.equal(sc.fsGroup, sc.runAsGroup, "fsGroup: the volume is writable by the node's group");
});

// ---- the pods as processes ----

/** A pod's process (the parts of test/helpers/deploy.ts's Proc these tests use). */
type Proc = Pick<DeployProc, 'p' | 'lines' | 'exited'>;

test('StatefulSet pods as processes: ordered start, Ready via gRPC health, scale down and up', { skip: netnsUnavailable() }, async (t) => {
  process.chdir(ROOT); // the image's WORKDIR holds dist/ and proto/ like the repository root
  const argv = JSON.parse([...readFileSync(`${ROOT}Dockerfile`, 'utf8').matchAll(/^CMD\s+(.*)$/gm)].at(-1)![1]) as string[];
  assert.deepEqual(argv, ['node', 'dist/main.js']);
  const pods = [0, 1, 2].map((i) => `${sts.metadata.name}-${i}`);
  const svc = headless!.metadata.name as string;
  const net = TestNet.create(pods);
  const procs = new Map<string, Proc>();
  const clients: TestClient[] = [];
  t.after(() => tearDown(net, procs, clients)); // DUMP_NODE_LOGS=1 prints every pod's log lines

  // Cluster DNS: a pod's records exist while the pod exists (publishNotReadyAddresses: before it is Ready).
  const existing = new Set<string>();
  const writeDns = () => {
    const lines = ['127.0.0.1 localhost'];
    for (const h of net.hosts) if (existing.has(h.name)) lines.push(`${h.ip} ${h.name}`, `${h.ip} ${h.name}.${svc}`, `${h.ip} ${svc}`);
    for (const h of net.hosts) writeFileSync(`/etc/netns/${h.ns}/hosts`, `${lines.join('\n')}\n`);
  };
  writeDns();

  const cfgOf = (name: string) => parseConfig(podEnv(name, net.host(name).ip));
  const podAddr = (name: string) => `${net.host(name).ip}:${cfgOf(name).port}`;
  // The PersistentVolumeClaims: a directory per pod, kept when the pod goes and comes back.
  const claims = mkdtempSync(join(tmpdir(), 'tscache-k8s-claims-'));
  t.after(() => rmSync(claims, { recursive: true, force: true }));
  const spawn = (name: string, args: string[]) => {
    const p = net.spawnIn(name, args[0] === 'node' ? process.execPath : args[0], args.slice(1), {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      ...withClaims(sts, container, name, claims, podEnv(name, net.host(name).ip)),
    });
    const lines: string[] = [];
    const onData = (b: Buffer) => {
      for (const l of b.toString('utf8').split('\n')) if (l) lines.push(l);
    };
    p.stdout!.on('data', onData);
    p.stderr!.on('data', onData);
    return { p, lines, exited: new Promise<number | null>((r) => p.on('exit', (code) => r(code))) };
  };
  // The kubelet's grpc probe: Health/Check on podIP:<probe port>, here through the shipped script.
  const probe = async (name: string): Promise<boolean> => {
    const pr = spawn(name, [
      'node',
      'dist/healthcheck.js',
      `${net.host(name).ip}:${container.readinessProbe.grpc.port}`,
      '--timeout',
      '1000',
    ]);
    return (await pr.exited) === 0;
  };
  const startPod = async (name: string) => {
    existing.add(name);
    writeDns();
    procs.set(name, spawn(name, argv));
    await eventually(
      () => {
        const p = procs.get(name)!.p;
        if (p.exitCode !== null) throw new Error(`${name} exited: ${procs.get(name)!.lines.slice(-5).join('\n')}`);
        return probe(name);
      },
      15_000,
      200,
    );
  };
  const membersOf = async (name: string): Promise<Members['members']> => {
    const c = clusterClient(podAddr(name));
    try {
      return (await c.call<Members>('Members', {}, 2_000)).res?.members ?? [];
    } finally {
      c.close();
    }
  };
  const view = (ms: Members['members']) =>
    ms
      .map((m) => `${m.node_id}@${m.address}=${m.state}`)
      .sort()
      .join(' ');
  const expectView = async (on: string[], want: string) => {
    for (const name of on) {
      await eventually(async () => view(await membersOf(name)) === want, 20_000, 200).catch(async (e) => {
        throw new Error(`${name}: ${(e as Error).message}; sees ${view(await membersOf(name))}, want ${want}`);
      });
    }
  };

  // OrderedReady: each pod starts when the previous one is Ready.
  for (const name of pods) await startPod(name);
  const alive = (names: string[], left: string[] = []) =>
    [...names.map((n) => `${n}@${n}.${svc}:${cfgOf(n).port}=1`), ...left.map((n) => `${n}@${n}.${svc}:${cfgOf(n).port}=4`)]
      .sort()
      .join(' ');
  await expectView(pods, alive(pods));

  const k0 = cacheClient(podAddr(pods[0]));
  clients.push(k0);
  const keys = Array.from({ length: 50 }, (_, i) => `key-${i}`);
  for (const key of keys) assert.equal((await k0.call('Set', { key, value: `v-${key}` })).err, undefined);
  const readAll = async (name: string) => {
    const c = cacheClient(podAddr(name));
    try {
      for (const key of keys) {
        const g = await c.call<{ value: string }>('Get', { key });
        assert.equal(g.res?.value, `v-${key}`, `${name} Get ${key}: ${g.err?.code} ${g.err?.message}`);
      }
    } finally {
      c.close();
    }
  };
  for (const name of pods) await readAll(name);

  // kubectl scale --replicas=2: the highest ordinal gets SIGTERM, leaves, exits 0 in time.
  const last = pods[2];
  const began = Date.now();
  process.kill(procs.get(last)!.p.pid!, 'SIGTERM');
  const code = await exitWithin(procs.get(last)!.exited, pod.spec.terminationGracePeriodSeconds * 1000);
  assert.equal(code, 0, `${last} exits 0 within terminationGracePeriodSeconds:\n${procs.get(last)!.lines.slice(-8).join('\n')}`);
  assert.ok(Date.now() - began < cfgOf(last).SHUTDOWN_TIMEOUT + 1_000);
  assert.match(procs.get(last)!.lines.join('\n'), /handed \d+ keys/);
  existing.delete(last);
  writeDns();
  await expectView(pods.slice(0, 2), alive(pods.slice(0, 2), [last]));
  for (const name of pods.slice(0, 2)) await readAll(name);

  // kubectl scale --replicas=3: the same pod name comes back (with its claim) and is a member again.
  await startPod(last);
  assert.match(
    procs.get(last)!.lines.join('\n'),
    /loaded 50 entries and \d+ tombstones from DATA_DIR/,
    'the pod starts from its own claim',
  );
  await expectView(pods, alive(pods));
  await readAll(last);

  for (const name of [...pods].reverse()) {
    process.kill(procs.get(name)!.p.pid!, 'SIGTERM');
    assert.equal(await procs.get(name)!.exited, 0, name);
  }
});
