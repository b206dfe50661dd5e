/** Certificates for tests, made at test time by scripts/dev-certs.sh (openssl): nothing is committed. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './procs.ts';

export interface CertDir {
  dir: string;
  ca: string;
  caKey: string;
  cert: string;
  key: string;
  clientCert: string;
  clientKey: string;
  read(file: 'ca' | 'cert' | 'key' | 'clientCert' | 'clientKey'): Buffer;
}

/** A new CA with a node and a client certificate in a fresh directory (or new certificates under the CA already in `dir`). */
export function makeCerts(dir = mkdtempSync(join(tmpdir(), 'tscache-certs-')), names: string[] = []): CertDir {
  execFileSync('bash', [join(ROOT, 'scripts/dev-certs.sh'), dir, ...names], { stdio: 'pipe' });
  const d = {
    dir,
    ca: join(dir, 'ca.pem'),
    caKey: join(dir, 'ca.key'),
    cert: join(dir, 'node.pem'),
    key: join(dir, 'node.key'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
  };
  return { ...d, read: (f) => readFileSync(d[f]) };
}

/** The env that turns TLS on with these certificates. */
export function tlsEnv(c: CertDir, clientAuth: 'none' | 'request' | 'require' = 'none'): Record<string, string> {
  return { TLS_CERT: c.cert, TLS_KEY: c.key, TLS_CA: c.ca, TLS_CLIENT_AUTH: clientAuth };
}

/**
 * Secures every test client of this process (and of processes that inherit its environment,
 * see test/helpers/grpc.ts) and returns the node environment of a matching secured cluster:
 * TLS with certificates of a new CA, client certificates requested, and a tokens file whose
 * admin token the clients send.
 */
export function secureAllClients(): Record<string, string> {
  const c = makeCerts();
  const token = `test-admin-${process.pid}-${Date.now()}`;
  const tokens = join(c.dir, 'tokens.json');
  writeFileSync(tokens, JSON.stringify([{ name: 'tests', role: 'admin', sha256: createHash('sha256').update(token).digest('hex') }]));
  process.env.TSCACHE_TEST_CA = c.ca;
  process.env.TSCACHE_TEST_TOKEN = token;
  return { ...tlsEnv(c, 'request'), AUTH_TOKENS_FILE: tokens };
}
