/**
 * docker-compose.yml with docker-compose.tls.yml on top, merged the way `docker compose -f
 * docker-compose.yml -f docker-compose.tls.yml` merges them (test/helpers/compose.ts), proved
 * without Docker like compose.test.ts: each service runs the image's CMD with the merged
 * environment, as the image's USER, in a network namespace where the service names resolve.
 * The user's steps come from the override's header: certificates by scripts/dev-certs.sh and
 * the token and tokens file by the header's own commands, in a scratch directory whose certs/
 * stands in for the ./certs bind mount (container paths under the mount are rewritten to it).
 * The test process is the Docker host: it calls localhost:<published port> (a forwarder to
 * the service), so clients check the node certificate for "localhost" as they would there.
 */

import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { parseTokens, sha256Hex } from '../../src/auth/tokens.ts';
import { parseConfig, VARIABLES } from '../../src/config/config.ts';
import { hostPath, loadCompose, mounts, serviceEnv, withVolumes } from '../helpers/compose.ts';
import { asUser, imageRuntime, type Proc, publishPort, runAsUnavailable, watch } from '../helpers/deploy.ts';
import { cacheClient, clusterClient, peerPing, status, type TestClient } from '../helpers/grpc.ts';
import { netnsUnavailable, TestNet, tearDown } from '../helpers/netns.ts';
import { eventually, ROOT } from '../helpers/procs.ts';

const OVERRIDE = 'docker-compose.tls.yml';
const project = loadCompose(ROOT, 'docker-compose.yml', OVERRIDE);
const plain = loadCompose(ROOT, 'docker-compose.yml');
const { services } = project;
const names = Object.keys(services);
const SECURITY_VARS = ['AUTH_TOKENS_FILE', 'TLS_CA', 'TLS_CERT', 'TLS_KEY'];

/** The override's header comment, '#' and indentation removed. */
const overrideLines = readFileSync(`${ROOT}${OVERRIDE}`, 'utf8').split('\n');
const header = overrideLines
  .slice(
    0,
    overrideLines.findIndex((l) => !l.startsWith('#')),
  )
  .map((l) => l.replace(/^#\s*/, ''));

test('docker-compose.tls.yml: every service gets the certificates (a read-only ./certs mount), TLS and tokens; nothing else changes', () => {
  assert.deepEqual(names, Object.keys(plain.services));
  assert.ok(header.includes(`docker compose -f docker-compose.yml -f ${OVERRIDE} up -d --build`), 'the header shows how to start it');
  const image = imageRuntime();
  // scripts/dev-certs.sh without OUTDIR writes ./certs: what the services mount.
  const defaultOut = /^out=\$\{1:-(\S+)\}$/m.exec(readFileSync(`${ROOT}scripts/dev-certs.sh`, 'utf8'))![1];
  for (const name of names) {
    const { environment, volumes, ...rest } = services[name];
    const { environment: plainEnvironment, volumes: plainVolumes, ...plainRest } = plain.services[name];
    assert.deepEqual(rest, plainRest, `${name}: only environment and volumes differ from docker-compose.yml`);
    const plainMounts = mounts(plain.services[name]);
    assert.equal(plainMounts.length, (plainVolumes ?? []).length);
    const env = serviceEnv(services[name]);
    const before = serviceEnv(plain.services[name]);
    for (const [k, v] of Object.entries(before)) assert.equal(env[k], v, `${name}: ${k} as in docker-compose.yml`);
    assert.deepEqual(
      Object.keys(env)
        .filter((k) => !(k in before))
        .sort(),
      SECURITY_VARS,
      name,
    );
    for (const k of Object.keys(env)) assert.ok(k in VARIABLES, `${name}: ${k} is not a configuration variable`);
    const cfg = parseConfig({ ...image.env, ...env });
    assert.equal(cfg.CLUSTER_SECRET, '', `${name}: with TLS the nodes need no CLUSTER_SECRET`);

    const all = mounts(services[name]);
    for (const m of plainMounts)
      assert.ok(
        all.some((x) => x.target === m.target && x.source === m.source),
        `${name}: keeps ${m.source}`,
      );
    const ms = all.filter((m) => !plainMounts.some((x) => x.target === m.target));
    assert.equal(ms.length, 1, `${name}: one mount added`);
    assert.equal(ms[0].readOnly, true, `${name}: the certificates are mounted read-only`);
    assert.equal(hostPath(project, ms[0]), join(ROOT, defaultOut), `${name}: mounts what scripts/dev-certs.sh writes by default`);
    for (const k of SECURITY_VARS) assert.ok(env[k].startsWith(`${ms[0].target}/`), `${name}: ${k}=${env[k]} is inside the mount`);
    assert.deepEqual(
      [cfg.TLS_CERT, cfg.TLS_KEY, cfg.TLS_CA].map((p) => basename(p)),
      ['node.pem', 'node.key', 'ca.pem'],
      `${name}: the files scripts/dev-certs.sh makes`,
    );
  }
});

interface Members {
  members: { node_id: string; address: string; state: number }[];
  ring_version: string;
}

const skip = netnsUnavailable() ?? runAsUnavailable();

test('the secured services as processes: a cluster over mutual TLS, token calls over TLS from the host, plaintext refused, healthcheck over TLS', {
  skip,
}, async (t) => {
  const image = imageRuntime();
  assert.ok(image.user, 'the Dockerfile names a USER');
  process.chdir(ROOT); // the image's WORKDIR holds dist/ and proto/ like the repository root

  // The header's steps in a scratch checkout: certificates, a token, the tokens file.
  const work = mkdtempSync(join(tmpdir(), 'tscache-compose-tls-'));
  chmodSync(work, 0o755); // like a checkout: the containers' user reads the bind mount
  const certs = join(work, 'certs');
  execFileSync('bash', [`${ROOT}scripts/dev-certs.sh`, certs], { stdio: 'pipe' });
  const steps = header.filter((l) => l.startsWith('TOKEN=') || l.startsWith("printf '["));
  assert.equal(steps.length, 2, `the header makes a token and certs/tokens.json:\n${header.join('\n')}`);
  const token = execFileSync('bash', ['-euo', 'pipefail', '-c', `${steps.join('\n')}\nprintf %s "$TOKEN"`], { cwd: work }).toString();
  assert.match(token, /^[0-9a-f]{64}$/);
  const table = parseTokens(readFileSync(join(certs, 'tokens.json'), 'utf8'));
  assert.equal(table.get(sha256Hex(token))?.role, 'admin', 'certs/tokens.json holds the hash of the token, not the token');
  assert.ok(!readFileSync(join(certs, 'tokens.json'), 'utf8').includes(token));

  // The ./certs:/certs mount: container paths under /certs are files in the scratch certs/.
  const mount = mounts(services.cache1).find((m) => m.target === '/certs')!;
  const inMount = (v: string) => (v.startsWith(`${mount.target}/`) ? join(certs, v.slice(mount.target.length + 1)) : v);
  const envOf = (name: string) => ({
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    ...image.env,
    ...withVolumes(
      project,
      services[name],
      join(work, 'volumes'),
      Object.fromEntries(Object.entries(serviceEnv(services[name])).map(([k, v]) => [k, inMount(v)])),
      image.user!.uid,
    ),
  });

  const net = TestNet.create(names);
  const procs = new Map<string, Proc>();
  const clients: TestClient[] = [];
  const forwarders: { close(): Promise<void> }[] = [];
  t.after(async () => {
    tearDown(net, procs, clients); // DUMP_NODE_LOGS=1 prints every node's log lines
    for (const f of forwarders) await f.close();
    rmSync(work, { recursive: true, force: true });
  });
  // As the image's USER, like the container (the dev keys are 0644 for that reason).
  const run = (name: string, argv: string[], env: Record<string, string> = envOf(name)) => {
    const [cmd, args] = asUser(image.user!, argv[0] === 'node' ? process.execPath : argv[0], argv.slice(1));
    return net.spawnIn(name, cmd, args, env);
  };
  for (const name of names) procs.set(name, watch(name, run(name, image.cmd)));
  await Promise.all(names.map((n) => procs.get(n)!.waitFor(/listening on/)));
  const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${procs.get('cache1')!.p.pid}/status`, 'utf8'))?.[1];
  assert.equal(Number(uid), image.user!.uid, 'the node runs as the image USER');

  // Published ports: localhost:<host port> -> the service's container port.
  const hostAddr = new Map<string, string>();
  for (const name of names) {
    const [hostPort, containerPort] = services[name].ports![0].split(':');
    const f = await publishPort(`${net.host(name).ip}:${containerPort}`);
    forwarders.push(f);
    hostAddr.set(name, `localhost:${f.port}`);
    assert.match(hostPort, /^808\d$/);
  }
  const ca = readFileSync(join(certs, 'ca.pem'));
  const tls = (cert?: Buffer, key?: Buffer) => grpc.credentials.createSsl(ca, key ?? null, cert ?? null);
  const client = (kind: typeof cacheClient, name: string, opts: Parameters<typeof cacheClient>[1]) => {
    const c = kind(hostAddr.get(name)!, opts);
    clients.push(c);
    return c;
  };

  // The nodes found each other: they can only have, over TLS, presenting their certificates.
  const want = names.map((n) => `${n}@${n}:8080=1`).join(' ');
  const rings: string[] = [];
  for (const name of names) {
    const c = client(clusterClient, name, { credentials: tls(), token });
    let seen = '';
    await eventually(
      async () => {
        const r = await c.call<Members>('Members', {}, 2_000);
        seen = (r.res?.members ?? [])
          .map((m) => `${m.node_id}@${m.address}=${m.state}`)
          .sort()
          .join(' ');
        if (seen === want) rings.push(r.res!.ring_version);
        return seen === want;
      },
      20_000,
      200,
    ).catch((e) => {
      throw new Error(`${name} sees ${seen || 'nothing'}, want ${want}: ${(e as Error).message}`);
    });
  }
  assert.equal(new Set(rings).size, 1, `one ring everywhere: ${rings}`);
  for (const name of names) assert.match(procs.get(name)!.lines.join('\n'), /joined the cluster|member \S+ new -> alive/);

  // Mutual: a peer method needs a node certificate of the CA; none, or a client-only one, is refused.
  const ping = (creds: grpc.ChannelCredentials) => peerPing(hostAddr.get('cache1')!, creds);
  assert.equal((await ping(tls()))?.code, status.UNAUTHENTICATED, 'Ping without a certificate');
  const asClient = await ping(tls(readFileSync(join(certs, 'client.pem')), readFileSync(join(certs, 'client.key'))));
  assert.equal(asClient?.code, status.UNAUTHENTICATED, 'Ping with the client certificate');

  // The header's calls: Set through cache1 (localhost:8080), Get through the others, with the token.
  const k1 = client(cacheClient, 'cache1', { credentials: tls(), token });
  const set = await k1.call<{ version: string }>('Set', { key: 'foo', value: 'bar' });
  assert.equal(set.err, undefined, set.err?.details);
  for (const name of ['cache2', 'cache3']) {
    const g = await client(cacheClient, name, { credentials: tls(), token }).call<{ value: string; version: string }>('Get', {
      key: 'foo',
    });
    assert.equal(g.err, undefined, `${name}: ${g.err?.details}`);
    assert.deepEqual([g.res!.value, g.res!.version], ['bar', set.res!.version], name);
  }
  const anonymous = await client(cacheClient, 'cache2', { credentials: tls() }).call('Get', { key: 'foo' });
  assert.equal(anonymous.err?.code, status.UNAUTHENTICATED, 'no token');
  const wrong = await client(cacheClient, 'cache2', { credentials: tls(), token: `${token}x` }).call('Get', { key: 'foo' });
  assert.equal(wrong.err?.code, status.UNAUTHENTICATED, 'an unknown token');
  const plaintext = await client(cacheClient, 'cache1', { token }).call('Get', { key: 'foo' }, 2_000);
  assert.equal(plaintext.err?.code, status.UNAVAILABLE, `plaintext: ${plaintext.err?.details}`);

  // cachectl from the host, as the header shows it (the token from CACHE_TOKEN).
  const cli = await new Promise<{ code: number; out: string; err: string }>((resolve) =>
    execFile(
      process.execPath,
      [`${ROOT}dist/cli/cachectl.js`, '--ca', join(certs, 'ca.pem'), '--addr', hostAddr.get('cache1')!, 'get', 'foo'],
      { env: { PATH: process.env.PATH ?? '', CACHE_TOKEN: token }, timeout: 20_000 },
      (e, stdout, stderr) => resolve({ code: e ? Number((e as { code?: number }).code ?? -1) : 0, out: stdout, err: stderr }),
    ),
  );
  assert.deepEqual([cli.code, cli.out], [0, 'bar\n'], cli.err);

  // The Compose healthcheck in cache2's container: it speaks TLS because the environment says so.
  const hcArgv = services.cache2.healthcheck!.test.slice(1);
  const hc = watch('healthcheck', run('cache2', hcArgv));
  assert.equal(await hc.exited, 0, hc.lines.join('\n'));
  assert.match(hc.lines.join('\n'), /SERVING/);
  const withoutTls = Object.fromEntries(Object.entries(envOf('cache2')).filter(([k]) => !k.startsWith('TLS_')));
  const hcPlain = watch('healthcheck', run('cache2', hcArgv, withoutTls));
  assert.equal(await hcPlain.exited, 1, `the same check in plaintext fails: ${hcPlain.lines.join('\n')}`);

  // docker compose down: SIGTERM, exit 0.
  for (const name of [...names].reverse()) {
    const pr = procs.get(name)!;
    process.kill(pr.p.pid!, 'SIGTERM');
    assert.equal(await pr.exited, 0, `${name} exits 0 on SIGTERM:\n${pr.lines.slice(-8).join('\n')}`);
  }
});
