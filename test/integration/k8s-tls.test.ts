/**
 * deploy/k8s/tls/, checked without a cluster like k8s.test.ts checks deploy/k8s/: first
 * structurally (the secured StatefulSet, Services and PDB are the plaintext ones plus TLS,
 * tokens, exec probes and what those need; the environment is valid configuration whose files
 * are keys of the mounted Secrets; cert-manager.yaml issues what the pods mount), then by
 * running the pods as processes in network namespaces (cluster DNS as in k8s.test.ts), as the
 * pod's runAsUser/runAsGroup/fsGroup, with the Secrets projected the way the kubelet does and
 * tscache-tls issued as cert-manager.yaml asks (test/helpers/certmanager.ts). Readiness and
 * liveness are the probes' own exec commands run in the pod. The Secrets are then updated in
 * place, as cert-manager's renewal and `kubectl apply` of a new tokens Secret do: the pods
 * serve the new certificate and accept the new tokens within RELOAD_INTERVAL, without a restart.
 */

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { sha256Hex } from '../../src/auth/tokens.ts';
import { parseConfig, VARIABLES } from '../../src/config/config.ts';
import { parseAddress } from '../../src/config/parse.ts';
import { CertManager } from '../helpers/certmanager.ts';
import type { Members } from '../helpers/cluster.ts';
import type { Proc as DeployProc } from '../helpers/deploy.ts';
import { asUser, runAsUnavailable } from '../helpers/deploy.ts';
import { type ClientOptions, cacheClient, clusterClient, status, type TestClient } from '../helpers/grpc.ts';
import { exitWithin, loadManifests, type Obj, podEnv, quantity, SecretVolume, withClaims } from '../helpers/k8s.ts';
import { netnsUnavailable, TestNet, tearDown } from '../helpers/netns.ts';
import { eventually, ROOT } from '../helpers/procs.ts';

const { files, docs } = loadManifests(`${ROOT}deploy/k8s/tls/`);
const plain = loadManifests(`${ROOT}deploy/k8s/`).docs;

const ofKind = (kind: string, from = docs) => from.filter((d) => d.kind === kind);
const sts = ofKind('StatefulSet')[0];
const pod = sts?.spec.template;
const container = pod?.spec.containers[0];
const volumes: Obj[] = pod?.spec.volumes ?? [];
const mountsOf: Obj[] = container?.volumeMounts ?? [];
const headless = ofKind('Service').find((s) => s.spec.clusterIP === 'None');
const clientService = ofKind('Service').find((s) => (s.spec.type ?? 'ClusterIP') === 'ClusterIP' && s.spec.clusterIP !== 'None');

/** The variables the secured variant adds to the plaintext StatefulSet's, and the Secret key each names. */
const FILES = {
  TLS_CERT: ['tls', 'tls.crt'],
  TLS_KEY: ['tls', 'tls.key'],
  TLS_CA: ['tls', 'ca.crt'],
  AUTH_TOKENS_FILE: ['tokens', 'tokens.json'],
} as const;
const ADDED_VARIABLES = [...Object.keys(FILES), 'RELOAD_INTERVAL'];
/** Longest a healthcheck run takes: its default --timeout (2s), its 500 ms grace and the start of a node process (~1 s, measured). */
const PROBE_RUN_MS = 2_000 + 500 + 1_500;
/** Peak memory of one healthcheck process (measured ~72 MB with TLS) with a margin. */
const PROBE_MEMORY = 80 * 2 ** 20;

/** The Secret file behind a path in the container: mount, volume, Secret name and key. */
function secretFile(path: string): { mount: Obj; volume: Obj; secret: string; key: string } {
  const mount = mountsOf.find((m) => path.startsWith(`${m.mountPath}/`));
  assert.ok(mount, `${path} is inside a volume mount`);
  const volume = volumes.find((v) => v.name === mount.name);
  assert.ok(volume?.secret, `${path}: volume ${mount.name} is a Secret`);
  return { mount, volume, secret: volume.secret.secretName, key: path.slice(mount.mountPath.length + 1) };
}

/** RFC 6125 matching of a DNS name against a certificate name (a wildcard stands for one leftmost label). */
const covers = (pattern: string, host: string) =>
  pattern === host || (pattern.startsWith('*.') && host.includes('.') && host.slice(host.indexOf('.') + 1) === pattern.slice(2));

/** A copy without the given paths (dot-separated; a path into an array applies to every element). */
function without(o: Obj, paths: string[]): Obj {
  const copy = structuredClone(o);
  for (const p of paths) {
    const parts = p.split('.');
    const drop = (x: any, i: number): void => {
      if (Array.isArray(x)) for (const el of x) drop(el, i);
      else if (x && typeof x === 'object') {
        if (i === parts.length - 1) delete x[parts[i]];
        else drop(x[parts[i]], i + 1);
      }
    };
    drop(copy, 0);
  }
  return copy;
}

test('deploy/k8s/tls: the StatefulSet, Services and PDB of deploy/k8s, and cert-manager Issuers and Certificates', () => {
  assert.ok(files.includes('cert-manager.yaml'));
  for (const d of docs) {
    assert.ok(d.apiVersion && d.metadata?.name, `${d.file}: ${d.kind} has apiVersion and metadata.name`);
    assert.equal(d.metadata.namespace, undefined, `${d.file}: no hard-coded namespace (kubectl -n chooses)`);
  }
  const kinds = (from: Obj[]) =>
    from
      .map((d) => `${d.kind}/${d.metadata.name}`)
      .filter((k) => !/^(Issuer|Certificate)\//.test(k))
      .sort();
  assert.deepEqual(kinds(docs), kinds(plain), 'the same objects as the plaintext set, besides cert-manager.yaml');
  assert.equal(ofKind('Issuer').length, 2);
  assert.equal(ofKind('Certificate').length, 2);
});

test('the secured StatefulSet is the plaintext one plus TLS and tokens, exec probes, fsGroup and memory for the probes', () => {
  const plainSts = ofKind('StatefulSet', plain)[0];
  const c = 'spec.template.spec.containers';
  const differs = [
    'file',
    `${c}.env`,
    `${c}.volumeMounts`,
    `${c}.readinessProbe`,
    `${c}.livenessProbe`,
    `${c}.resources`,
    'spec.template.spec.volumes',
    'spec.template.spec.securityContext.fsGroup',
  ];
  assert.deepEqual(without(sts, differs), without(plainSts, differs));
  const plainEnv = plainSts.spec.template.spec.containers[0].env as Obj[];
  const env = container.env as Obj[];
  assert.deepEqual(env.slice(0, plainEnv.length), plainEnv, 'the plaintext variables first, unchanged');
  assert.deepEqual(
    env.slice(plainEnv.length).map((e) => e.name),
    ADDED_VARIABLES,
  );
  // The Services and the PDB: the same, but no port claims cleartext HTTP/2 (h2c): it speaks TLS.
  for (const d of [...ofKind('Service', plain), ...ofKind('PodDisruptionBudget', plain)]) {
    const mine = docs.find((x) => x.kind === d.kind && x.metadata.name === d.metadata.name)!;
    assert.deepEqual(without(mine, ['file']), without(d, ['file', 'spec.ports.appProtocol']), `${d.kind}/${d.metadata.name}`);
  }
  for (const s of ofKind('Service'))
    for (const p of s.spec.ports) assert.equal(p.appProtocol, undefined, `${s.metadata.name}: appProtocol`);
});

test('StatefulSet: every env name is a configuration variable and parses; TLS_* and AUTH_TOKENS_FILE are keys of mounted Secrets', () => {
  for (const e of container.env as Obj[]) assert.ok(e.name in VARIABLES, `${e.name} is not in VARIABLES (src/config/config.ts)`);
  assert.equal(new Set((container.env as Obj[]).map((e) => e.name)).size, container.env.length, 'no variable twice');
  const cfgs = [0, 1, 2].map((i) => parseConfig(podEnv(container, `${sts.metadata.name}-${i}`, `10.1.2.${i + 3}`)));
  assert.equal(new Set(cfgs.map((c) => c.NODE_ID)).size, 3);
  const cfg = cfgs[0];
  assert.equal(cfg.CLUSTER_SECRET, '', 'TLS: no CLUSTER_SECRET needed');
  const secrets = new Map<string, string>();
  for (const [variable, [volume, key]] of Object.entries(FILES)) {
    const f = secretFile(cfg[variable as keyof typeof FILES]);
    assert.equal(f.volume.name, volume, variable);
    assert.equal(f.key, key, `${variable}: the key ${key} of the Secret (as cert-manager names them for TLS)`);
    assert.equal(f.mount.readOnly, true, `${variable}: mounted read-only`);
    assert.equal(f.mount.subPath, undefined, `${variable}: a subPath mount would never see the Secret's updates`);
    secrets.set(volume, f.secret);
  }
  assert.deepEqual(Object.fromEntries(secrets), { tls: 'tscache-tls', tokens: 'tscache-tokens' });
  // The key is readable by the node (via fsGroup), by nobody else.
  const sc = pod.spec.securityContext;
  for (const v of volumes) {
    const mode = v.secret.defaultMode;
    assert.equal(mode & 0o007, 0, `${v.name}: not readable by others (defaultMode ${mode.toString(8)})`);
    assert.ok(mode & 0o040, `${v.name}: group-readable`);
  }
  assert.ok(sc.fsGroup !== undefined && sc.fsGroup === sc.runAsGroup, 'the Secret files belong to the group the node runs as');
  assert.ok(cfg.RELOAD_INTERVAL <= 60_000, 'rotations apply within a minute of the kubelet updating the Secret');
});

test('StatefulSet: exec probes run the image healthcheck over TLS (gRPC probes cannot); time and memory for them', () => {
  const [readiness, liveness] = [container.readinessProbe, container.livenessProbe];
  for (const p of [readiness, liveness]) {
    assert.equal(p.grpc, undefined, 'the kubelet gRPC probe cannot speak TLS');
    assert.deepEqual(p.exec?.command.slice(0, 2), ['node', 'dist/healthcheck.js']);
    assert.ok(p.timeoutSeconds * 1000 >= PROBE_RUN_MS, `timeoutSeconds ${p.timeoutSeconds} covers a run (${PROBE_RUN_MS} ms)`);
    assert.ok(p.periodSeconds > p.timeoutSeconds, 'runs do not pile up');
  }
  assert.deepEqual(readiness.exec.command.slice(2), [], 'readiness asks the whole node (service ""): SERVING once joined');
  assert.deepEqual(liveness.exec.command.slice(2), ['--service', 'liveness'], 'liveness asks "liveness": alive, joined or not');
  const cfg = parseConfig(podEnv(container, `${sts.metadata.name}-0`, '10.1.2.3'));
  const { requests, limits } = container.resources;
  const need = cfg.MAX_MEMORY * 1.2 + 100 * 2 ** 20 + 2 * PROBE_MEMORY;
  assert.ok(quantity(requests.memory) >= need, `requests.memory ${requests.memory} covers MAX_MEMORY x1.2 + runtime + two probe processes`);
  assert.ok(quantity(limits.memory) >= quantity(requests.memory));
});

test('cert-manager.yaml: a self-signed bootstrap, a CA Issuer, and one node certificate for serving and for the other nodes', () => {
  const leaf = ofKind('Certificate').find((c) => c.spec.secretName === 'tscache-tls');
  assert.ok(leaf, 'a Certificate writes the Secret the pods mount');
  for (const u of ['server auth', 'client auth']) assert.ok(leaf.spec.usages.includes(u), `usages: ${u} (nodes serve and call each other)`);
  const issuer = ofKind('Issuer').find((i) => i.metadata.name === leaf.spec.issuerRef.name);
  assert.ok(issuer?.spec.ca?.secretName, 'the node certificate comes from a CA Issuer');
  const caCert = ofKind('Certificate').find((c) => c.spec.secretName === issuer.spec.ca.secretName);
  assert.equal(caCert?.spec.isCA, true, 'whose Secret is a CA certificate');
  assert.equal(caCert.spec.privateKey?.rotationPolicy, 'Never', 'a renewed CA keeps its key: the certificates it signed stay valid');
  const bootstrap = ofKind('Issuer').find((i) => i.metadata.name === caCert.spec.issuerRef.name);
  assert.deepEqual(bootstrap?.spec, { selfSigned: {} }, 'made by a self-signed Issuer');
  // Names clients use: the client Service, and each pod's ADDR host, short and fully qualified.
  const names: string[] = leaf.spec.dnsNames;
  const svc = clientService!.metadata.name;
  for (const n of [svc, `${svc}.default.svc`, `${svc}.default.svc.cluster.local`])
    assert.ok(
      names.some((p) => covers(p, n)),
      `dnsNames cover ${n}`,
    );
  for (let i = 0; i < 5; i++) {
    const host = parseAddress(parseConfig(podEnv(container, `${sts.metadata.name}-${i}`, '10.1.2.3')).ADDR).host;
    assert.ok(host.endsWith(`.${headless!.metadata.name}`));
    for (const n of [host, `${host}.default.svc.cluster.local`])
      assert.ok(
        names.some((p) => covers(p, n)),
        `dnsNames cover ${n}`,
      );
  }
});

// ---- the pods as processes ----

/** A pod's process (the parts of test/helpers/deploy.ts's Proc these tests use). */
type Proc = Pick<DeployProc, 'p' | 'lines' | 'exited'>;

const TOKENS = { app: 'app-token-0123456789abcdef', ops: 'ops-token-0123456789abcdef', app2: 'app2-token-0123456789abcdef' };

test('secured StatefulSet pods as processes: mutual TLS, exec probes, tokens, Secret rotation without restarts, scale down', {
  skip: netnsUnavailable() ?? runAsUnavailable(),
}, async (t) => {
  process.chdir(ROOT); // the image's WORKDIR holds dist/ and proto/ like the repository root
  const argv = JSON.parse([...readFileSync(`${ROOT}Dockerfile`, 'utf8').matchAll(/^CMD\s+(.*)$/gm)].at(-1)![1]) as string[];
  const pods = [0, 1, 2].map((i) => `${sts.metadata.name}-${i}`);
  const svc = headless!.metadata.name as string;
  const sc = pod.spec.securityContext;
  const user = { uid: sc.runAsUser, gid: sc.runAsGroup, groups: [sc.fsGroup] };

  // The Secrets: tscache-tls as cert-manager issues it for cert-manager.yaml, tscache-tokens by hand.
  const work = mkdtempSync(join(tmpdir(), 'tscache-k8s-tls-'));
  chmodSync(work, 0o755); // the pods' user reaches the volumes below it
  mkdirSync(join(work, 'cert-manager'), { mode: 0o700 });
  const certManager = new CertManager(docs, join(work, 'cert-manager'));
  const tokensJson = (entries: [string, string, string][]) =>
    JSON.stringify(entries.map(([name, role, token]) => ({ name, role, sha256: sha256Hex(token) })));
  const data: Record<string, () => Record<string, string | Buffer>> = {
    'tscache-tls': () => certManager.secret('tscache-tls'),
    'tscache-tokens': () => ({
      'tokens.json': tokensJson([
        ['app', 'write', TOKENS.app],
        ['ops', 'admin', TOKENS.ops],
      ]),
    }),
  };
  // One projection per Secret, shared by the pods (the kubelet makes one per pod, with the same content).
  const secretVolumes = new Map<string, SecretVolume>();
  for (const v of volumes) {
    const sv = new SecretVolume(join(work, v.name), v.secret.defaultMode, sc.fsGroup);
    sv.update(data[v.secret.secretName]());
    secretVolumes.set(v.name, sv);
  }
  const inVolumes = (value: string) => {
    const m = mountsOf.find((x) => value.startsWith(`${x.mountPath}/`));
    return m ? join(secretVolumes.get(m.name)!.dir, value.slice(m.mountPath.length + 1)) : value;
  };
  const envOf = (name: string, ip: string) =>
    withClaims(
      sts,
      container,
      name,
      join(work, 'claims'),
      Object.fromEntries(Object.entries(podEnv(container, name, ip)).map(([k, v]) => [k, inVolumes(v)])),
    );

  const net = TestNet.create(pods);
  const procs = new Map<string, Proc>();
  const clients: TestClient[] = [];
  t.after(() => {
    tearDown(net, procs, clients); // DUMP_NODE_LOGS=1 prints every pod's log lines
    rmSync(work, { recursive: true, force: true });
  });

  const existing = new Set<string>();
  const writeDns = () => {
    const lines = ['127.0.0.1 localhost'];
    for (const h of net.hosts) if (existing.has(h.name)) lines.push(`${h.ip} ${h.name}`, `${h.ip} ${h.name}.${svc}`, `${h.ip} ${svc}`);
    for (const h of net.hosts) writeFileSync(`/etc/netns/${h.ns}/hosts`, `${lines.join('\n')}\n`);
  };
  writeDns();

  const ipOf = (name: string) => net.host(name).ip;
  const podAddr = (name: string) => `${ipOf(name)}:${parseConfig(envOf(name, ipOf(name))).port}`;
  const spawn = (name: string, args: string[]): Proc => {
    const [cmd, rest] = asUser(user, args[0] === 'node' ? process.execPath : args[0], args.slice(1));
    const p = net.spawnIn(name, cmd, rest, { PATH: process.env.PATH ?? '/usr/bin:/bin', ...envOf(name, ipOf(name)) });
    const lines: string[] = [];
    const onData = (b: Buffer) => {
      for (const l of b.toString('utf8').split('\n')) if (l) lines.push(l);
    };
    p.stdout!.on('data', onData);
    p.stderr!.on('data', onData);
    return { p, lines, exited: new Promise<number | null>((r) => p.on('exit', (code) => r(code))) };
  };
  // The kubelet's exec probe: the command in the container, killed (a failure) after timeoutSeconds.
  const probe = async (name: string, which: 'readinessProbe' | 'livenessProbe'): Promise<{ ok: boolean; out: string }> => {
    const spec = container[which];
    const pr = spawn(name, spec.exec.command);
    const timer = setTimeout(() => pr.p.pid && pr.p.exitCode === null && process.kill(pr.p.pid, 'SIGKILL'), spec.timeoutSeconds * 1000);
    const code = await pr.exited;
    clearTimeout(timer);
    return { ok: code === 0, out: pr.lines.join('\n') };
  };
  const startPod = async (name: string) => {
    existing.add(name);
    writeDns();
    procs.set(name, spawn(name, argv));
    let last = '';
    await eventually(
      async () => {
        const pr = procs.get(name)!;
        if (pr.p.exitCode !== null) throw new Error(`${name} exited ${pr.p.exitCode}: ${pr.lines.slice(-5).join('\n')}`);
        const r = await probe(name, 'readinessProbe');
        last = r.out;
        return r.ok;
      },
      30_000,
      200,
    ).catch((e) => {
      throw new Error(`${name} not Ready: ${(e as Error).message}; last probe: ${last}`);
    });
  };

  // In-cluster clients: TLS checked against the CA for the name of the client Service (tscache).
  const ca = readFileSync(join(secretVolumes.get('tls')!.dir, 'ca.crt'));
  const secure = (token: string, serverName = clientService!.metadata.name as string): ClientOptions => ({
    credentials: grpc.credentials.createSsl(ca),
    token,
    channel: { 'grpc.ssl_target_name_override': serverName, 'grpc.default_authority': serverName },
  });
  const call = async <T>(name: string, kind: typeof cacheClient, opts: ClientOptions, method: string, req: object) => {
    const c = kind(podAddr(name), opts);
    try {
      return await c.call<T>(method, req, 3_000);
    } finally {
      c.close();
    }
  };
  const view = async (name: string) => {
    const r = await call<Members>(name, clusterClient, secure(TOKENS.ops), 'Members', {}); // ops: in both tokens files
    if (r.err) return `(${status[r.err.code]}: ${r.err.details})`;
    return r
      .res!.members.map((m) => `${m.node_id}@${m.address}=${m.state}`)
      .sort()
      .join(' ');
  };
  const expectView = async (on: string[], alive: string[], left: string[] = []) => {
    const want = [...alive.map((n) => `${n}@${n}.${svc}:8080=1`), ...left.map((n) => `${n}@${n}.${svc}:8080=4`)].sort().join(' ');
    for (const name of on)
      await eventually(async () => (await view(name)) === want, 20_000, 200).catch(async (e) => {
        throw new Error(`${name}: ${(e as Error).message}; sees ${await view(name)}, want ${want}`);
      });
  };

  // OrderedReady: each pod starts when the previous one's readiness probe (over TLS) passes.
  for (const name of pods) await startPod(name);
  for (const name of pods) {
    const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${procs.get(name)!.p.pid}/status`, 'utf8'))![1];
    assert.equal(Number(uid), user.uid, `${name} runs as runAsUser`);
  }
  await expectView(pods, pods);
  const liveness = await probe(pods[1], 'livenessProbe');
  assert.ok(liveness.ok, liveness.out);

  const keys = Array.from({ length: 30 }, (_, i) => `key-${i}`);
  const k0 = cacheClient(podAddr(pods[0]), secure(TOKENS.app));
  clients.push(k0);
  for (const key of keys) assert.equal((await k0.call('Set', { key, value: `v-${key}` })).err?.details, undefined);
  const readAll = async (name: string, token: string) => {
    const c = cacheClient(podAddr(name), secure(token));
    try {
      for (const key of keys) {
        const g = await c.call<{ value: string }>('Get', { key });
        assert.equal(g.res?.value, `v-${key}`, `${name} Get ${key}: ${g.err?.code} ${g.err?.details}`);
      }
    } finally {
      c.close();
    }
  };
  for (const name of pods) await readAll(name, TOKENS.app);
  // A pod by its full DNS name (what cert-manager.yaml's *.tscache-peers.default.svc.cluster.local is for).
  const full = await call<Members>(
    pods[2],
    clusterClient,
    secure(TOKENS.app, `${pods[2]}.${svc}.default.svc.cluster.local`),
    'Members',
    {},
  );
  assert.equal(full.err, undefined, full.err?.details);
  assert.equal((await call(pods[0], cacheClient, {}, 'Get', { key: 'key-1' })).err?.code, status.UNAVAILABLE, 'plaintext');
  assert.equal(
    (await call(pods[0], cacheClient, { ...secure(''), token: undefined }, 'Get', { key: 'key-1' })).err?.code,
    status.UNAUTHENTICATED,
    'no token',
  );

  // Rotation: cert-manager renews tscache-tls (new key), and tscache-tokens is replaced (app out, app2 in).
  const fingerprint = (name: string) =>
    new Promise<string>((resolve, reject) => {
      const s = connect({ host: ipOf(name), port: 8080, ca, servername: 'tscache', ALPNProtocols: ['h2'] }, () => {
        const f = s.getPeerCertificate().fingerprint256;
        s.destroy();
        resolve(f);
      });
      s.on('error', reject);
    });
  const before = new X509Certificate(certManager.secret('tscache-tls')['tls.crt']).fingerprint256;
  for (const name of pods) assert.equal(await fingerprint(name), before);
  const pids = pods.map((n) => procs.get(n)!.p.pid);
  const renewed = certManager.issue('tscache-tls');
  const after = new X509Certificate(renewed['tls.crt']).fingerprint256;
  assert.notEqual(after, before);
  const reload = parseConfig(envOf(pods[0], ipOf(pods[0]))).RELOAD_INTERVAL;
  const rotatedAt = Date.now();
  secretVolumes.get('tls')!.update(renewed);
  secretVolumes.get('tokens')!.update({
    'tokens.json': tokensJson([
      ['app2', 'write', TOKENS.app2],
      ['ops', 'admin', TOKENS.ops],
    ]),
  });
  const applied = async (name: string) =>
    (await fingerprint(name)) === after &&
    (await call(name, cacheClient, secure(TOKENS.app2), 'Get', { key: 'key-2' })).err === undefined &&
    (await call(name, cacheClient, secure(TOKENS.app), 'Get', { key: 'key-2' })).err?.code === status.UNAUTHENTICATED;
  for (const name of pods)
    await eventually(() => applied(name), reload + 5_000 - (Date.now() - rotatedAt), 250).catch((e) => {
      throw new Error(`${name}: the rotated Secrets are not in effect ${reload}ms (RELOAD_INTERVAL) + 5s after the update: ${e}`);
    });
  assert.deepEqual(
    pods.map((n) => procs.get(n)!.p.pid),
    pids,
  );
  for (const name of pods) {
    assert.equal(procs.get(name)!.p.exitCode, null, `${name} still runs`);
    assert.ok(
      procs.get(name)!.lines.some((l) => l.includes('TLS files changed')),
      `${name} logged the new certificate`,
    );
  }
  // The cluster works on with the new certificates: peers' new connections, replication, reads.
  const k1 = cacheClient(podAddr(pods[1]), secure(TOKENS.app2));
  clients.push(k1);
  assert.equal((await k1.call('Set', { key: 'key-0', value: 'v-key-0' })).err?.details, undefined);
  for (const name of pods) await readAll(name, TOKENS.app2);
  await expectView(pods, pods);

  // kubectl scale --replicas=2: the last pod leaves gracefully over mutual TLS and exits 0.
  const last = pods[2];
  process.kill(procs.get(last)!.p.pid!, 'SIGTERM');
  const code = await exitWithin(procs.get(last)!.exited, pod.spec.terminationGracePeriodSeconds * 1000);
  assert.equal(code, 0, `${last} exits 0 within terminationGracePeriodSeconds:\n${procs.get(last)!.lines.slice(-8).join('\n')}`);
  assert.match(procs.get(last)!.lines.join('\n'), /handed \d+ keys/);
  existing.delete(last);
  writeDns();
  await expectView(pods.slice(0, 2), pods.slice(0, 2), [last]);
  for (const name of pods.slice(0, 2)) await readAll(name, TOKENS.app2);

  for (const name of pods.slice(0, 2).reverse()) {
    process.kill(procs.get(name)!.p.pid!, 'SIGTERM');
    assert.equal(await procs.get(name)!.exited, 0, name);
  }
});
