/**
 * TLS files (src/security/tls.ts): what a half-configured node is stopped for, and the reload
 * filter in front of grpc-js's file watcher (a broken rotation keeps the previous set).
 * Certificates are made by scripts/dev-certs.sh (openssl) at test time.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { ConfigError } from '../../src/config/config.ts';
import { CheckedCertificates, checkTls, readTls } from '../../src/security/tls.ts';
import { makeCerts } from '../helpers/certs.ts';
import { eventually } from '../helpers/procs.ts';

const a = makeCerts();
const b = makeCerts();

test('checkTls names the variable at fault', () => {
  const good = { cert: a.read('cert'), key: a.read('key'), ca: a.read('ca') };
  assert.equal(checkTls(good), undefined);
  assert.equal(
    checkTls({ ...good, cert: a.read('clientCert'), key: a.read('clientKey') }),
    undefined,
    'any certificate of the CA with its key',
  );
  const cases: [Partial<typeof good>, string, RegExp][] = [
    [{ key: a.read('clientKey') }, 'TLS_KEY', /does not match the certificate in TLS_CERT/],
    [{ key: Buffer.from('not a key') }, 'TLS_KEY', /not a readable PEM private key/],
    [{ cert: Buffer.from('hello') }, 'TLS_CERT', /no PEM certificate/],
    [{ cert: Buffer.from('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n') }, 'TLS_CERT', /unparsable/],
    [{ ca: Buffer.from('') }, 'TLS_CA', /no PEM certificate/],
    [{ ca: b.read('ca') }, 'TLS_CERT', /not signed by a certificate in TLS_CA/],
  ];
  for (const [change, variable, re] of cases) {
    const p = checkTls({ ...good, ...change });
    assert.equal(p?.variable, variable, JSON.stringify(p));
    assert.match(p!.problem, re);
  }
  assert.match(checkTls(good, Date.now() + 1000 * 86_400_000)?.problem ?? '', /expired on/);
  assert.equal(checkTls({ ...good, ca: Buffer.concat([b.read('ca'), a.read('ca')]) }), undefined, 'a bundle with the issuer in it');
});

test('readTls: an unreadable file stops the node naming its variable', () => {
  const paths = { TLS_CERT: a.cert, TLS_KEY: a.key, TLS_CA: join(a.dir, 'missing.pem') };
  assert.throws(
    () => readTls(paths),
    (e: Error) => e instanceof ConfigError && e.variable === 'TLS_CA' && /ENOENT/.test(e.message),
  );
  assert.throws(
    () => readTls({ ...paths, TLS_CA: a.ca, TLS_KEY: a.clientKey }),
    (e: Error) => e instanceof ConfigError && e.variable === 'TLS_KEY',
  );
  assert.ok(readTls({ ...paths, TLS_CA: a.ca }).cert.length > 0);
});

test('CheckedCertificates: listeners get the set at once, then each valid change; a broken rotation keeps the old set', async () => {
  const dir = makeCerts();
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (l: string) => lines.push(l) });
  const paths = { TLS_CERT: dir.cert, TLS_KEY: dir.key, TLS_CA: dir.ca };
  const certs = new CheckedCertificates(paths, readTls(paths), 50, log);
  const seen: Buffer[] = [];
  certs.addIdentityCertificateListener((u) => {
    if (u) seen.push(u.certificate);
  });
  certs.addCaCertificateListener(() => undefined);
  try {
    await eventually(() => seen.length === 1);
    assert.ok(seen[0]!.equals(dir.read('cert')));
    // A new certificate and key from the same CA, made elsewhere; then half a rotation: the new certificate with the old key.
    const other = mkdtempSync(join(tmpdir(), 'tscache-rotate-'));
    copyFileSync(dir.ca, join(other, 'ca.pem'));
    copyFileSync(dir.caKey, join(other, 'ca.key'));
    const next = makeCerts(other);
    const old = { cert: dir.read('cert'), key: dir.read('key') };
    const fresh = { cert: next.read('cert'), key: next.read('key') };
    writeFileSync(dir.cert, fresh.cert);
    await eventually(() => lines.some((l) => l.includes('TLS files not reloaded') && l.includes('TLS_KEY does not match')));
    assert.equal(seen.length, 1, 'the broken set was not handed on');
    writeFileSync(dir.key, fresh.key);
    await eventually(() => seen.length === 2);
    assert.ok(seen[1]!.equals(fresh.cert));
    assert.ok(!old.cert.equals(fresh.cert));
    assert.equal(lines.filter((l) => l.includes('TLS files not reloaded')).length, 1, 'the problem was logged once, not every interval');
  } finally {
    certs.close();
  }
});
