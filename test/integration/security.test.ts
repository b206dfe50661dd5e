/**
 * A secured cluster of real node processes on loopback: TLS for clients, mutual TLS between
 * nodes, API tokens with roles and prefixes, JWTs, certificate and tokens-file reloads, the
 * CLUSTER_SECRET of plaintext clusters, and nodes stopped at start by bad security files.
 * Certificates are made with openssl (scripts/dev-certs.sh) at test time.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { sha256Hex } from '../../src/auth/tokens.ts';
import { CacheClient } from '../../src/index.ts';
import { healthApi } from '../../src/protos/protos.ts';
import { type CertDir, makeCerts, tlsEnv } from '../helpers/certs.ts';
import { addresses, converged, FAST, members, nodeEnv } from '../helpers/cluster.ts';
import { type ClientOptions, cacheClient, clusterClient, peerPing, status } from '../helpers/grpc.ts';
import { eventually, freePort, type NodeProc, ROOT, spawnNode, startNode } from '../helpers/procs.ts';

const TOKENS = {
  read: 'read-token-0123456789',
  write: 'write-token-0123456789',
  admin: 'admin-token-0123456789',
  late: 'late-token-0123456789',
};

function tokensJson(extra: object[] = []): string {
  return JSON.stringify([
    { name: 'reader', role: 'read', sha256: sha256Hex(TOKENS.read) },
    { name: 'app', role: 'write', sha256: sha256Hex(TOKENS.write), prefixes: ['user:'] },
    { name: 'ops', role: 'admin', sha256: sha256Hex(TOKENS.admin) },
    ...extra,
  ]);
}

function tlsCreds(ca: Buffer, cert?: Buffer, key?: Buffer): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(ca, key ?? null, cert ?? null);
}

async function metric(port: number, re: RegExp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => re.test(l));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

function codeOf(r: { err?: grpc.ServiceError }): string {
  return r.err ? grpc.status[r.err.code] : 'OK';
}

/** Waits for the child's exit, returns code and output (the child is killed by PID if it overstays). */
function runToExit(node: NodeProc, ms = 15_000): Promise<{ code: number | null; out: string }> {
  const t = setTimeout(() => void node.stop('SIGKILL'), ms);
  return node.exited.then((e) => {
    clearTimeout(t);
    return { code: e.code, out: node.lines.join('\n') };
  });
}

describe('a secured cluster: mutual TLS between nodes, TLS and tokens for clients', { timeout: 240_000 }, () => {
  let ca: CertDir;
  let rogue: CertDir;
  let dir: string;
  let tokensFile: string;
  let jwtKeyFile: string;
  let signJwt: (claims: Record<string, unknown>, expSeconds?: number) => Promise<string>;
  let addrs: string[];
  let nodes: NodeProc[] = [];
  let metricsPort: number;
  const extra: NodeProc[] = [];
  let secure: (token?: string) => ClientOptions;

  before(async () => {
    ca = makeCerts();
    rogue = makeCerts();
    dir = mkdtempSync(join(tmpdir(), 'tscache-sec-'));
    tokensFile = join(dir, 'tokens.json');
    writeFileSync(tokensFile, tokensJson());
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    jwtKeyFile = join(dir, 'jwt.pem');
    writeFileSync(jwtKeyFile, await exportSPKI(publicKey));
    signJwt = (claims, expSeconds = 300) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256' })
        .setSubject('svc-jwt')
        .setExpirationTime(Math.floor(Date.now() / 1000) + expSeconds)
        .sign(privateKey);
    secure = (token) => ({ credentials: tlsCreds(ca.read('ca')), token });
    addrs = await addresses(3);
    metricsPort = await freePort();
    const env = (a: string, i: number) =>
      nodeEnv(a, addrs, {
        ...tlsEnv(ca, 'request'),
        AUTH_TOKENS_FILE: tokensFile,
        AUTH_JWT_KEY: jwtKeyFile,
        RELOAD_INTERVAL: '300ms',
        ...(i === 0 ? { METRICS_ADDR: `127.0.0.1:${metricsPort}` } : {}),
      });
    nodes = addrs.map((a, i) => spawnNode(env(a, i)));
    await Promise.all(nodes.map((n) => n.waitFor(/listening on/)));
    await converged(addrs, addrs, 20_000, secure(TOKENS.read));
  });

  after(async () => {
    await Promise.all([...nodes, ...extra].map((n) => n.stop('SIGKILL')));
  });

  test('plaintext calls fail; a client that does not trust the CA fails', async () => {
    const plain = cacheClient(addrs[0]!, { token: TOKENS.admin });
    const untrusting = cacheClient(addrs[0]!, { credentials: tlsCreds(rogue.read('ca')), token: TOKENS.admin });
    try {
      assert.equal(codeOf(await plain.call('Get', { key: 'user:1' }, 2_000)), 'UNAVAILABLE');
      const r = await untrusting.call('Get', { key: 'user:1' }, 2_000);
      assert.equal(codeOf(r), 'UNAVAILABLE');
      assert.match(r.err!.details, /certificate/i);
    } finally {
      plain.close();
      untrusting.close();
    }
  });

  test('tokens: none or unknown is UNAUTHENTICATED; role and prefixes give PERMISSION_DENIED saying which', async () => {
    const none = cacheClient(addrs[0]!, secure());
    const reader = cacheClient(addrs[0]!, secure(TOKENS.read));
    const writer = cacheClient(addrs[1]!, secure(TOKENS.write));
    const admin = cacheClient(addrs[2]!, secure(TOKENS.admin));
    try {
      const r0 = await none.call('Get', { key: 'user:1' });
      assert.equal(codeOf(r0), 'UNAUTHENTICATED');
      assert.match(r0.err!.details, /authorization: Bearer/);
      assert.equal(codeOf(await none.call('Get', { key: 'user:1' }, 5_000, md({ authorization: 'Bearer nope' }))), 'UNAUTHENTICATED');
      const r1 = await reader.call('Set', { key: 'user:1', value: 'v' });
      assert.equal(codeOf(r1), 'PERMISSION_DENIED');
      assert.match(r1.err!.details, /needs role write or higher; reader has read/);
      assert.equal(codeOf(await writer.call('Set', { key: 'user:1', value: 'v1' })), 'OK');
      const r2 = await writer.call('Set', { key: 'admin:1', value: 'v' });
      assert.equal(codeOf(r2), 'PERMISSION_DENIED');
      assert.match(r2.err!.details, /key "admin:1" is outside the prefixes of app \("user:"\)/);
      assert.equal(codeOf(await writer.call('Delete', { key: 'other' })), 'PERMISSION_DENIED');
      const got = await reader.call<{ value: string }>('Get', { key: 'user:1' });
      assert.equal(got.res?.value, 'v1', 'read may Get');
      assert.equal(codeOf(await admin.call('Set', { key: 'anything', value: 'x' })), 'OK', 'admin without prefixes: every key');
      const stats = clusterClient(addrs[0]!, secure(TOKENS.read));
      assert.equal(codeOf(await stats.call('Stats', {})), 'OK', 'read may call Stats and Members');
      stats.close();
    } finally {
      for (const c of [none, reader, writer, admin]) c.close();
    }
  });

  test('JWTs signed by AUTH_JWT_KEY: role and prefixes claims, exp enforced, another signer refused', async () => {
    const c = cacheClient(addrs[0]!, secure());
    try {
      const good = await signJwt({ role: 'write', prefixes: ['jwt:'] });
      assert.equal(codeOf(await c.call('Set', { key: 'jwt:1', value: 'v' }, 5_000, md({ authorization: `Bearer ${good}` }))), 'OK');
      const out = await c.call('Set', { key: 'user:1', value: 'v' }, 5_000, md({ authorization: `Bearer ${good}` }));
      assert.equal(codeOf(out), 'PERMISSION_DENIED');
      assert.match(out.err!.details, /svc-jwt/);
      const expired = await signJwt({ role: 'write' }, -10);
      const r = await c.call('Get', { key: 'jwt:1' }, 5_000, md({ authorization: `Bearer ${expired}` }));
      assert.equal(codeOf(r), 'UNAUTHENTICATED');
      assert.match(r.err!.details, /expired/);
      const other = await generateKeyPair('ES256');
      const forged = await new SignJWT({ role: 'admin' })
        .setProtectedHeader({ alg: 'ES256' })
        .setExpirationTime('5m')
        .sign(other.privateKey);
      assert.equal(codeOf(await c.call('Get', { key: 'jwt:1' }, 5_000, md({ authorization: `Bearer ${forged}` }))), 'UNAUTHENTICATED');
    } finally {
      c.close();
    }
  });

  test('health stays open (no token) over TLS', async () => {
    const h = new (healthApi().Health)(addrs[0]!, tlsCreds(ca.read('ca')));
    const res = await new Promise<{ status: number }>((resolve, reject) =>
      h.Check({ service: '' }, { deadline: Date.now() + 3_000 }, (err, r) => (err ? reject(err) : resolve(r!))),
    );
    h.close();
    assert.equal(res.status, 1, 'SERVING');
  });

  test('TLS_CLIENT_AUTH=request: no client certificate or one from our CA is fine; one from another CA is refused', async () => {
    const ours = clusterClient(addrs[0]!, {
      credentials: tlsCreds(ca.read('ca'), ca.read('clientCert'), ca.read('clientKey')),
      token: TOKENS.read,
    });
    const theirs = clusterClient(addrs[0]!, {
      credentials: tlsCreds(ca.read('ca'), rogue.read('clientCert'), rogue.read('clientKey')),
      token: TOKENS.read,
    });
    try {
      assert.equal(codeOf(await ours.call('Members', {})), 'OK');
      assert.equal(codeOf(await theirs.call('Members', {}, 2_000)), 'UNAVAILABLE');
    } finally {
      ours.close();
      theirs.close();
    }
  });

  test('peer calls need a node certificate of our CA: no certificate, or a client certificate, is UNAUTHENTICATED', async () => {
    const ask = (creds: grpc.ChannelCredentials) => peerPing(addrs[0]!, creds);
    assert.equal((await ask(tlsCreds(ca.read('ca'))))?.code, status.UNAUTHENTICATED);
    const asClient = await ask(tlsCreds(ca.read('ca'), ca.read('clientCert'), ca.read('clientKey')));
    assert.equal(asClient?.code, status.UNAUTHENTICATED);
    assert.match(asClient!.details, /not valid for server authentication/);
    const join = clusterClient(addrs[0]!, secure(TOKENS.admin));
    const j = await join.call('Join', { member: { node_id: 'evil', address: '127.0.0.1:1', state: 1, incarnation: 1 } });
    join.close();
    assert.equal(codeOf(j), 'UNAUTHENTICATED', 'not even an admin token makes a caller a node');
    assert.equal(
      (await members(addrs[0]!, secure(TOKENS.read))).members.some((m) => m.node_id === 'evil'),
      false,
    );
  });

  test('a node whose certificate comes from another CA (which trusts ours too) cannot join and receives no key', async () => {
    const bundle = join(dir, 'both-cas.pem');
    writeFileSync(bundle, Buffer.concat([rogue.read('ca'), ca.read('ca')]));
    // TLS_CLIENT_AUTH=request closes its connections at the handshake (untrusted_certificate);
    // with none, its calls would be refused one by one (peer_certificate).
    const refusals = async () =>
      (await metric(metricsPort, /^cache_auth_failures_total\{reason="peer_certificate"/)) +
      (await metric(metricsPort, /^cache_auth_failures_total\{reason="untrusted_certificate"/));
    const before = await refusals();
    const [addr] = await addresses(1);
    const r = spawnNode(
      nodeEnv(addr!, [addr!, ...addrs], { TLS_CERT: rogue.cert, TLS_KEY: rogue.key, TLS_CA: bundle, AUTH_TOKENS_FILE: tokensFile }),
    );
    extra.push(r);
    await r.waitFor(/listening on/);
    // Evidence that it tried and was refused, not just that time passed:
    await eventually(async () => (await refusals()) >= before + 2, 15_000);
    const w = cacheClient(addrs[0]!, secure(TOKENS.write));
    for (let i = 0; i < 20; i++) assert.equal(codeOf(await w.call('Set', { key: `user:r${i}`, value: 'v' })), 'OK');
    w.close();
    for (const a of addrs) {
      const m = await members(a, secure(TOKENS.read));
      assert.deepEqual(m.members.map((x) => x.address).sort(), [...addrs].sort(), `${a} does not list the rogue`);
    }
    const rs = clusterClient(addr!, { credentials: tlsCreds(rogue.read('ca')), token: TOKENS.read });
    const s = await rs.call<{ items: string }>('Stats', {});
    rs.close();
    assert.equal(s.res?.items, '0', 'the rogue holds no key');
    assert.ok(!r.lines.some((l) => l.includes('joined the cluster')));
    await r.stop('SIGKILL');
  });

  test('certificates replaced on disk are served to new connections without a restart; open ones keep working', async () => {
    const open = cacheClient(addrs[0]!, secure(TOKENS.write));
    assert.equal(codeOf(await open.call('Set', { key: 'user:before', value: 'v' })), 'OK');
    const fingerprint = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const port = Number(addrs[0]!.split(':')[1]);
        const s = connect({ host: '127.0.0.1', port, ca: ca.read('ca'), servername: 'localhost', ALPNProtocols: ['h2'] }, () => {
          const f = s.getPeerCertificate().fingerprint256;
          s.destroy();
          resolve(f);
        });
        s.on('error', reject);
      });
    const old = await fingerprint();
    // New node certificate and key from the same CA, made elsewhere and copied over the served files.
    const next = mkdtempSync(join(tmpdir(), 'tscache-next-'));
    copyFileSync(ca.ca, join(next, 'ca.pem'));
    copyFileSync(ca.caKey, join(next, 'ca.key'));
    const fresh = makeCerts(next);
    const want = new X509Certificate(fresh.read('cert')).fingerprint256;
    assert.notEqual(want, old);
    copyFileSync(fresh.key, ca.key);
    copyFileSync(fresh.cert, ca.cert);
    await eventually(async () => (await fingerprint()) === want, 10_000);
    assert.equal(codeOf(await open.call('Set', { key: 'user:after', value: 'v' })), 'OK', 'the connection opened before still works');
    open.close();
    assert.ok(nodes[0]!.lines.some((l) => l.includes('TLS files changed')));
    await converged(addrs, addrs, 20_000, secure(TOKENS.read));
  });

  test('the tokens file changed on disk takes effect; a malformed one keeps the old tokens and logs an error', async () => {
    const c = cacheClient(addrs[1]!, secure(TOKENS.late));
    try {
      assert.equal(codeOf(await c.call('Get', { key: 'user:1' })), 'UNAUTHENTICATED');
      writeFileSync(tokensFile, tokensJson([{ name: 'late', role: 'read', sha256: sha256Hex(TOKENS.late) }]));
      await eventually(async () => codeOf(await c.call('Get', { key: 'user:1' })) === 'OK', 10_000);
      writeFileSync(tokensFile, '[{"name": "broken", ');
      await eventually(
        () => nodes.every((n) => n.lines.some((l) => /AUTH_TOKENS_FILE changed but is not valid, keeping the previous one/.test(l))),
        10_000,
      );
      assert.equal(codeOf(await c.call('Get', { key: 'user:1' })), 'OK', 'the previous tokens are still in force');
    } finally {
      c.close();
      writeFileSync(tokensFile, tokensJson([{ name: 'late', role: 'read', sha256: sha256Hex(TOKENS.late) }]));
    }
  });

  test('the client library and cachectl take a CA, a client certificate and a token', async () => {
    const client = new CacheClient({
      seeds: addrs[0]!,
      tls: { ca: ca.read('ca'), cert: ca.read('clientCert'), key: ca.read('clientKey') },
      token: TOKENS.write,
    });
    try {
      await client.set('user:lib', 'v');
      assert.equal((await client.get('user:lib'))?.value, 'v');
      await assert.rejects(client.set('nope', 'v'), (e: Error & { code?: string }) => e.code === 'PERMISSION_DENIED');
    } finally {
      client.close();
    }
    const cli = (args: string[], env: Record<string, string>) =>
      new Promise<{ code: number; out: string }>((resolve) =>
        execFile(
          process.execPath,
          [`${ROOT}dist/cli/cachectl.js`, '--addr', addrs[0]!, ...args],
          { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 20_000 },
          (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, out: `${stdout}${stderr}` }),
        ),
      );
    const w = await cli(['--ca', ca.ca, 'set', 'user:cli', 'hello'], { CACHE_TOKEN: TOKENS.write });
    assert.equal(w.code, 0, w.out);
    const g = await cli(['--ca', ca.ca, '--cert', ca.clientCert, '--key', ca.clientKey, '--token', TOKENS.read, 'get', 'user:cli'], {});
    assert.deepEqual([g.code, g.out], [0, 'hello\n'], 'nothing else on stdout or stderr');
    const denied = await cli(['--ca', ca.ca, 'leave', 'nobody'], { CACHE_TOKEN: TOKENS.write });
    assert.equal(denied.code, 3);
    assert.match(denied.out, /PERMISSION_DENIED.*needs role admin/);
    assert.ok(!denied.out.includes(TOKENS.write), 'the token is not echoed');
  });

  test('admin Leave works and is logged with the caller; a write token cannot Leave', async () => {
    const w = clusterClient(addrs[0]!, secure(TOKENS.write));
    const a = clusterClient(addrs[0]!, secure(TOKENS.admin));
    try {
      const third = (await members(addrs[0]!, secure(TOKENS.read))).members.find((m) => m.address === addrs[2])!.node_id;
      assert.equal(codeOf(await w.call('Leave', { node_id: third })), 'PERMISSION_DENIED');
      assert.equal(codeOf(await a.call('Leave', { node_id: '' })), 'OK', 'the called node leaves itself');
      assert.equal((await nodes[0]!.exited).code, 0, 'it handed off and exited');
      assert.equal(nodes[0]!.lines.filter((l) => l.includes('admin call ClusterService/Leave by ops')).length, 1, 'logged once, by name');
      await converged(addrs.slice(1), addrs.slice(1), 20_000, secure(TOKENS.read));
    } finally {
      w.close();
      a.close();
    }
  });

  test('no token ever reaches a log line', () => {
    const all = [...nodes, ...extra].flatMap((n) => n.lines).join('\n');
    for (const t of Object.values(TOKENS)) assert.ok(!all.includes(t), 'a token appears in a log line');
  });
});

function md(entries: Record<string, string>): grpc.Metadata {
  const m = new grpc.Metadata();
  for (const [k, v] of Object.entries(entries)) m.set(k, v);
  return m;
}

describe('cache_auth_failures_total', { timeout: 60_000 }, () => {
  test('counts refusals by reason', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tscache-m-'));
    const file = join(dir, 'tokens.json');
    writeFileSync(file, tokensJson());
    const port = await freePort();
    const node = await startNode({ AUTH_TOKENS_FILE: file, METRICS_ADDR: `127.0.0.1:${port}` });
    try {
      assert.ok(
        node.lines.some((l) => l.includes('tokens travel in clear text')),
        'tokens without TLS: warned at start',
      );
      const c = cacheClient(node.addr);
      await c.call('Get', { key: 'a' });
      await c.call('Get', { key: 'a' }, 5_000, md({ authorization: 'Bearer wrong' }));
      await c.call('Set', { key: 'a', value: 'v' }, 5_000, md({ authorization: `Bearer ${TOKENS.read}` }));
      await c.call('Set', { key: 'a', value: 'v' }, 5_000, md({ authorization: `Bearer ${TOKENS.write}` }));
      c.close();
      assert.equal(await metric(port, /^cache_auth_failures_total\{reason="missing_token"/), 1);
      assert.equal(await metric(port, /^cache_auth_failures_total\{reason="unknown_token"/), 1);
      assert.equal(await metric(port, /^cache_auth_failures_total\{reason="role"/), 1);
      assert.equal(await metric(port, /^cache_auth_failures_total\{reason="prefix"/), 1);
    } finally {
      await node.stop('SIGKILL');
    }
  });
});

describe('without TLS, CLUSTER_SECRET keeps out a node that lacks it', { timeout: 90_000 }, () => {
  test('two nodes with the secret form a cluster; a third with another secret cannot join and gets no key', async () => {
    const addrs = await addresses(3);
    const port = await freePort();
    const secret = 'correct-horse-battery-staple';
    const good = addrs.slice(0, 2);
    const nodes = good.map((a, i) =>
      spawnNode(nodeEnv(a, good, { CLUSTER_SECRET: secret, ...(i === 0 ? { METRICS_ADDR: `127.0.0.1:${port}` } : {}) })),
    );
    try {
      await Promise.all(nodes.map((n) => n.waitFor(/listening on/)));
      await converged(good, good);
      const outsider = spawnNode({ ...FAST, ADDR: addrs[2]!, PEERS: good.join(','), CLUSTER_SECRET: 'another-secret-entirely' });
      nodes.push(outsider);
      await outsider.waitFor(/listening on/);
      await eventually(async () => (await metric(port, /^cache_auth_failures_total\{reason="cluster_secret"/)) >= 2, 15_000);
      const c = cacheClient(good[0]!);
      for (let i = 0; i < 10; i++) assert.equal(codeOf(await c.call('Set', { key: `k${i}`, value: 'v' })), 'OK');
      c.close();
      for (const a of good) assert.deepEqual((await members(a)).members.map((m) => m.address).sort(), [...good].sort());
      const o = clusterClient(addrs[2]!);
      const s = await o.call<{ items: string }>('Stats', {});
      o.close();
      assert.equal(s.res?.items, '0');
      const all = nodes.flatMap((n) => n.lines).join('\n');
      assert.ok(!all.includes(secret) && !all.includes('another-secret-entirely'), 'the secret is never logged');
    } finally {
      await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
    }
  });

  test('a node with neither TLS nor CLUSTER_SECRET says at start that it accepts any peer', async () => {
    const node = await startNode({});
    try {
      assert.ok(node.lines.some((l) => l.includes('neither TLS nor CLUSTER_SECRET is set')));
    } finally {
      await node.stop('SIGKILL');
    }
  });
});

describe('a node with bad security files stops before it binds, naming the variable', { timeout: 60_000 }, () => {
  const ca = makeCerts();
  const other = makeCerts();
  const dir = mkdtempSync(join(tmpdir(), 'tscache-bad-'));
  const garbage = join(dir, 'garbage.pem');
  writeFileSync(garbage, 'not a certificate\n');
  const badTokens = join(dir, 'tokens.json');
  writeFileSync(badTokens, JSON.stringify([{ name: 'x', role: 'superuser', sha256: sha256Hex('x') }]));
  const cases: [string, Record<string, string>, RegExp][] = [
    ['a certificate without its key', { TLS_CERT: ca.cert, TLS_CA: ca.ca }, /TLS_KEY="": required when TLS_CERT is set/],
    [
      'a key that does not match its certificate',
      { ...tlsEnv(ca), TLS_KEY: ca.clientKey },
      /TLS_KEY=".*": does not match the certificate in TLS_CERT/,
    ],
    ['an unparsable CA', { ...tlsEnv(ca), TLS_CA: garbage }, /TLS_CA=".*": no PEM certificate/],
    ['an unreadable certificate', { ...tlsEnv(ca), TLS_CERT: join(dir, 'missing.pem') }, /TLS_CERT=".*": cannot read the file: ENOENT/],
    ['a certificate from another CA', { ...tlsEnv(ca), TLS_CA: other.ca }, /TLS_CERT=".*": is not signed by a certificate in TLS_CA/],
    ['a malformed tokens file', { AUTH_TOKENS_FILE: badTokens }, /AUTH_TOKENS_FILE=".*": entry 0\.role: must be read, write or admin/],
    ['an unreadable JWT key', { AUTH_JWT_KEY: garbage }, /AUTH_JWT_KEY=".*": neither a JWKS nor a PEM public key/],
  ];
  for (const [what, env, re] of cases) {
    test(what, async () => {
      const port = await freePort();
      const node = spawnNode({ ADDR: `127.0.0.1:${port}`, ...env });
      const { code, out } = await runToExit(node);
      assert.equal(code, 2, out);
      assert.match(out, re);
      assert.ok(!out.includes('listening on'), 'it never bound');
    });
  }
});

describe('TLS_CLIENT_AUTH=require', { timeout: 60_000 }, () => {
  test('a client without a certificate of our CA cannot connect; one with it can', async () => {
    const ca = makeCerts();
    const node = await startNode(tlsEnv(ca, 'require'));
    try {
      const without = clusterClient(node.addr, { credentials: tlsCreds(ca.read('ca')) });
      const withCert = clusterClient(node.addr, { credentials: tlsCreds(ca.read('ca'), ca.read('clientCert'), ca.read('clientKey')) });
      assert.equal(codeOf(await without.call('Members', {}, 2_000)), 'UNAVAILABLE');
      assert.equal(codeOf(await withCert.call('Members', {})), 'OK');
      without.close();
      withCert.close();
      // The container probe speaks TLS with the node's own files (it runs beside the node).
      const probe = spawnNode({ ...node.env }, { script: `${ROOT}dist/healthcheck.js` });
      const { code, out } = await runToExit(probe);
      assert.equal(code, 0, out);
      assert.match(out, /SERVING/);
    } finally {
      await node.stop('SIGKILL');
    }
  });
});
