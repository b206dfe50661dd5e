/**
 * The auth core, directly: the tokens file's rules, who may call what (RULES, denial), token
 * and JWT authentication (time passed in), and the gatekeeper's decisions on call facts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { pino } from 'pino';
import { denial, RULES, ruleOf } from '../../src/auth/access.ts';
import { Authenticator, isFailure, JwtKeyError, parseJwtKey } from '../../src/auth/authenticator.ts';
import { type CallFacts, CLUSTER_SECRET_HEADER, FAILURE_REASONS, Gatekeeper } from '../../src/auth/gatekeeper.ts';
import { type Principal, parseTokens, roleAtLeast, sha256Hex, TokensFileError } from '../../src/auth/tokens.ts';
import { peerDefinition } from '../../src/peer/service.ts';
import { publicApi } from '../../src/protos/protos.ts';
import { createServer } from '../../src/server/server.ts';

const silent = pino({ level: 'silent' });

function tokensFile(entries: object[]): string {
  return JSON.stringify(entries);
}

test('tokens file: hashes to principals; every mistake is named by entry and field', () => {
  const t = parseTokens(
    tokensFile([
      { name: 'app', role: 'write', sha256: sha256Hex('s3cret').toUpperCase(), prefixes: ['user:'] },
      { name: 'ops', role: 'admin', sha256: sha256Hex('root') },
    ]),
  );
  assert.deepEqual(t.get(sha256Hex('s3cret')), { name: 'app', role: 'write', prefixes: ['user:'] }, 'uppercase hex is accepted');
  assert.equal(t.get(sha256Hex('root'))?.prefixes, undefined, 'no prefixes = every key');
  const bad: [string, RegExp][] = [
    ['{', /not JSON/],
    ['{"name":"x"}', /JSON array/],
    [tokensFile([{ name: 'x', role: 'root', sha256: sha256Hex('a') }]), /entry 0\.role: must be read, write or admin/],
    [tokensFile([{ name: 'x', role: 'read', sha256: 'abc' }]), /entry 0\.sha256: must be the 64 hex digits/],
    [tokensFile([{ name: '', role: 'read', sha256: sha256Hex('a') }]), /entry 0\.name/],
    [tokensFile([{ name: 'x', role: 'read', sha256: sha256Hex('a'), token: 'a' }]), /entry 0.*token/],
    [tokensFile([{ name: 'x', role: 'read', sha256: sha256Hex('a'), prefixes: 'user:' }]), /entry 0\.prefixes/],
    [
      tokensFile([
        { name: 'x', role: 'read', sha256: sha256Hex('a') },
        { name: 'y', role: 'admin', sha256: sha256Hex('a') },
      ]),
      /entry 1 \(y\): the same sha256 as x/,
    ],
  ];
  for (const [text, re] of bad)
    assert.throws(
      () => parseTokens(text),
      (e: Error) => e instanceof TokensFileError && re.test(e.message),
      text,
    );
});

test('roles are ordered read < write < admin', () => {
  assert.ok(roleAtLeast('admin', 'write') && roleAtLeast('write', 'read') && roleAtLeast('read', 'read'));
  assert.ok(!roleAtLeast('read', 'write') && !roleAtLeast('write', 'admin'));
});

test('every method the node serves has a rule, and no rule names a method that does not exist', () => {
  const api = publicApi();
  const served = [api.CacheService.service, api.ClusterService.service, peerDefinition()].flatMap((s) =>
    Object.values(s).map((m) => m.path),
  );
  for (const path of served) assert.ok(RULES.has(path), `${path} has no rule in src/auth/access.ts`);
  const health = ['Check', 'Watch', 'List'].map((m) => `/grpc.health.v1.Health/${m}`);
  const known = new Set([...served, ...health]);
  for (const path of RULES.keys()) assert.ok(known.has(path) || path.includes('ServerReflection'), `${path} is not served`);
  // The real server asks for the rule of every method of every service it adds (health and reflection included).
  const { server } = createServer({ maxRecv: 1 << 20, maxSend: 1 << 20 }, [
    { definition: api.CacheService.service, handlers: {} },
    { definition: api.ClusterService.service, handlers: {} },
    { definition: peerDefinition(), handlers: {} },
  ]);
  server.forceShutdown();
  assert.throws(
    () =>
      createServer({ maxRecv: 1024, maxSend: 1024 }, [
        { definition: { X: { ...api.CacheService.service.Get, path: '/x.Y/Z' } }, handlers: {} },
      ]),
    /\/x\.Y\/Z has no access rule/,
  );
  assert.throws(() => ruleOf('/cache.v1.CacheService/Flush'), /has no access rule/, 'a method without a rule cannot be served');
});

test('denial: role below the method, key outside the prefixes', () => {
  const read: Principal = { name: 'r', role: 'read' };
  const app: Principal = { name: 'app', role: 'write', prefixes: ['user:', 'session:'] };
  const none: Principal = { name: 'n', role: 'admin', prefixes: [] };
  const get = ruleOf('/cache.v1.CacheService/Get');
  const set = ruleOf('/cache.v1.CacheService/Set');
  assert.equal(denial(read, get, 'any'), undefined);
  assert.deepEqual(denial(read, set, 'k'), {
    reason: 'role',
    message: 'CacheService/Set needs role write or higher; r has read',
  });
  assert.equal(denial(app, set, 'user:1'), undefined);
  assert.equal(denial(app, get, 'session:9'), undefined);
  const out = denial(app, set, 'admin:1');
  assert.equal(out?.reason, 'prefix');
  assert.match(out!.message, /key "admin:1" is outside the prefixes of app \("user:", "session:"\)/);
  assert.equal(denial(none, get, 'x')?.reason, 'prefix', 'an empty prefix list allows no key');
  assert.equal(denial(none, ruleOf('/cache.v1.ClusterService/Members'), undefined), undefined);
  assert.equal(denial(app, set, ''), undefined, 'an empty key is left to INVALID_ARGUMENT');
  assert.equal(denial(app, ruleOf('/cache.v1.ClusterService/Leave'), undefined)?.reason, 'role');
});

test('static tokens: Bearer scheme, unknown and missing tokens, reload forgets the old ones', () => {
  const tokens = parseTokens(tokensFile([{ name: 'app', role: 'read', sha256: sha256Hex('tok-1') }]));
  const a = new Authenticator(tokens, undefined);
  assert.deepEqual(a.authenticate('Bearer tok-1'), { name: 'app', role: 'read', prefixes: undefined });
  assert.deepEqual(a.authenticate('bearer tok-1'), a.authenticate('Bearer tok-1'), 'the scheme is case-insensitive');
  const fail = (h: string | undefined) => {
    const r = a.authenticate(h);
    assert.ok(!(r instanceof Promise) && isFailure(r), `${h} fails`);
    return r.reason;
  };
  assert.equal(fail(undefined), 'missing_token');
  assert.equal(fail('Bearer '), 'missing_token');
  assert.equal(fail('Basic dG9rLTE='), 'missing_token');
  assert.equal(fail('Bearer tok-2'), 'unknown_token');
  a.setTokens(parseTokens(tokensFile([{ name: 'new', role: 'admin', sha256: sha256Hex('tok-2') }])));
  assert.equal(fail('Bearer tok-1'), 'unknown_token', 'a remembered token is forgotten when the file changes');
  assert.equal((a.authenticate('Bearer tok-2') as Principal).name, 'new');
});

test('JWTs: signature, exp (required and enforced), role and prefixes claims, issuer and audience; PEM and JWKS keys', async () => {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const other = await generateKeyPair('ES256');
  const pem = await exportSPKI(publicKey);
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] });
  let now = Date.UTC(2026, 11, 2);
  const sign = (claims: Record<string, unknown>, key = privateKey, exp: number | null = now / 1000 + 60) => {
    const j = new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setSubject('svc-a').setIssuer('idp').setAudience('cache');
    if (exp !== null) j.setExpirationTime(exp);
    return j.sign(key);
  };
  for (const keyText of [pem, jwks]) {
    const a = new Authenticator(new Map(), { key: parseJwtKey(keyText), issuer: 'idp', audience: 'cache' }, () => now);
    const ok = await a.authenticate(`Bearer ${await sign({ role: 'write', prefixes: ['jwt:'] })}`);
    assert.ok(!isFailure(ok), JSON.stringify(ok));
    assert.equal(ok.name, 'svc-a');
    assert.equal(ok.role, 'write');
    assert.deepEqual(ok.prefixes, ['jwt:']);
    const reason = async (token: string) => {
      const r = await a.authenticate(`Bearer ${token}`);
      return isFailure(r) ? r.reason : 'accepted';
    };
    assert.equal(await reason(await sign({ role: 'read' }, other.privateKey)), 'invalid_jwt', 'another key');
    assert.equal(await reason(await sign({ role: 'read' }, privateKey, null)), 'invalid_jwt', 'no exp');
    assert.equal(await reason(await sign({ role: 'root' })), 'invalid_jwt', 'bad role');
    assert.equal(await reason(await sign({ role: 'read', prefixes: 'x' })), 'invalid_jwt', 'bad prefixes');
    assert.equal(await reason(await sign({ role: 'read' }, privateKey, now / 1000 - 1)), 'expired_jwt');
    const short = await sign({ role: 'read' }, privateKey, now / 1000 + 5);
    assert.equal(await reason(short), 'accepted');
    now += 10_000;
    assert.equal(await reason(short), 'expired_jwt', 'a remembered JWT still expires');
    now -= 10_000;
  }
  assert.throws(() => parseJwtKey('not a key'), JwtKeyError);
  assert.throws(() => parseJwtKey('{"keys": []}'), /non-empty "keys"/);
  assert.throws(() => parseJwtKey('{"keys": '), /not a JWKS/);
});

function facts(md: Record<string, string> = {}, request?: unknown, cert?: { ext_key_usage?: string[] }): CallFacts {
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(md)) metadata.set(k, v);
  return { metadata, request, getAuthContext: () => (cert ? { sslPeerCertificate: cert } : {}), getPeer: () => '127.0.0.1:1' };
}

test('gatekeeper: tokens for client calls, certificates and the cluster secret for peer calls, failures counted', () => {
  const tokens = parseTokens(
    tokensFile([
      { name: 'reader', role: 'read', sha256: sha256Hex('r') },
      { name: 'app', role: 'write', sha256: sha256Hex('w'), prefixes: ['user:'] },
      { name: 'ops', role: 'admin', sha256: sha256Hex('a') },
    ]),
  );
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (l: string) => lines.push(l) });
  const g = new Gatekeeper({ authenticator: new Authenticator(tokens, undefined), peerTls: true, clusterSecret: 'x'.repeat(16), log });
  const code = (path: string, f: CallFacts) => {
    const r = g.admit(ruleOf(path), f);
    assert.ok(!(r instanceof Promise));
    return r === undefined ? 'OK' : grpc.status[r.code];
  };
  const SET = '/cache.v1.CacheService/Set';
  assert.equal(code(SET, facts()), 'UNAUTHENTICATED');
  assert.equal(code(SET, facts({ authorization: 'Bearer r' }, { key: 'user:1' })), 'PERMISSION_DENIED');
  assert.equal(code(SET, facts({ authorization: 'Bearer w' }, { key: 'user:1' })), 'OK');
  assert.equal(code(SET, facts({ authorization: 'Bearer w' }, { key: 'other' })), 'PERMISSION_DENIED');
  const MGET = '/cache.v1.CacheService/MGet';
  const MSET = '/cache.v1.CacheService/MSet';
  assert.equal(code(MGET, facts({ authorization: 'Bearer w' }, { keys: ['user:1', 'user:2'] })), 'OK');
  assert.equal(
    code(MGET, facts({ authorization: 'Bearer w' }, { keys: ['user:1', 'other'] })),
    'PERMISSION_DENIED',
    'every key of a batch is checked',
  );
  assert.equal(code(MSET, facts({ authorization: 'Bearer r' }, { entries: [{ key: 'user:1' }] })), 'PERMISSION_DENIED', 'MSet needs write');
  assert.equal(code(MSET, facts({ authorization: 'Bearer w' }, { entries: [{ key: 'user:1' }, { key: 'x' }] })), 'PERMISSION_DENIED');
  const LEAVE = '/cache.v1.ClusterService/Leave';
  assert.equal(code(LEAVE, facts({ authorization: 'Bearer w' })), 'PERMISSION_DENIED');
  assert.equal(code(LEAVE, facts({ authorization: 'Bearer a' })), 'OK');
  assert.equal(lines.filter((l) => l.includes('admin call ClusterService/Leave by ops')).length, 1, 'admin call logged once, by name');
  assert.ok(!lines.join('').includes('Bearer'), 'no token in the log');

  const PING = '/cache.peer.v1.PeerService/Ping';
  const node = { ext_key_usage: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'] };
  const secret = { [CLUSTER_SECRET_HEADER]: 'x'.repeat(16) };
  assert.equal(code(PING, facts(secret, {}, node)), 'OK');
  assert.equal(code(PING, facts(secret)), 'UNAUTHENTICATED', 'no verified certificate');
  assert.equal(code(PING, facts(secret, {}, { ext_key_usage: ['1.3.6.1.5.5.7.3.2'] })), 'UNAUTHENTICATED', 'a client certificate');
  assert.equal(code(PING, facts({ [CLUSTER_SECRET_HEADER]: 'y'.repeat(16) }, {}, node)), 'UNAUTHENTICATED', 'wrong secret');
  assert.equal(code(PING, facts({ authorization: 'Bearer a' }, {}, node)), 'UNAUTHENTICATED', 'an admin token is no peer proof');

  assert.deepEqual(Object.fromEntries([...g.failures].filter(([, n]) => n > 0)), {
    missing_token: 1,
    role: 3,
    prefix: 3,
    peer_certificate: 2,
    cluster_secret: 2,
  });
  for (const r of g.failures.keys()) assert.ok((FAILURE_REASONS as readonly string[]).includes(r));
});

test('gatekeeper without tokens, TLS or secret: client and peer calls are not checked at all; admin calls are still logged', () => {
  const lines: string[] = [];
  const g = new Gatekeeper({ peerTls: false, log: pino({ level: 'info' }, { write: (l: string) => lines.push(l) }) });
  assert.equal(g.checks(ruleOf('/cache.v1.CacheService/Get')), false);
  assert.equal(g.checks(ruleOf('/cache.peer.v1.PeerService/Exchange')), false);
  assert.equal(g.checks(ruleOf('/grpc.health.v1.Health/Check')), false);
  assert.equal(g.checks(ruleOf('/cache.v1.ClusterService/Leave')), true);
  assert.equal(g.admit(ruleOf('/cache.v1.ClusterService/Leave'), facts()), undefined);
  assert.match(lines.join(''), /admin call ClusterService\/Leave by anonymous/);
  const secretOnly = new Gatekeeper({ peerTls: false, clusterSecret: 's'.repeat(16), log: silent });
  assert.equal(secretOnly.checks(ruleOf('/cache.peer.v1.PeerService/Exchange')), true);
  assert.equal(secretOnly.checks(ruleOf('/cache.v1.CacheService/Get')), false);
});
