/**
 * TLS of a node: its certificate, key and the cluster's CA (TLS_CERT, TLS_KEY, TLS_CA), checked
 * at start and re-read while it runs, and the grpc-js credentials built from them:
 *  - the server's: every connection is asked for a certificate (peers share the client port and
 *    identify themselves with theirs); TLS_CLIENT_AUTH=require refuses clients without one;
 *  - the peer channels': our certificate as the client's, the peer's checked against TLS_CA by
 *    chain, not by name (members are often dialled by IP: a PEERS name resolves to pod IPs).
 *
 * Re-reading is grpc-js's FileWatcherCertificateProvider, behind a filter (CheckedCertificates)
 * that passes on only a set that parses and matches: grpc-js would hand a half-written rotation
 * (a new certificate with the old key) to the server, which then refuses every new connection
 * until the next read; the filter keeps the old set instead and logs why.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { ConfigError } from '../config/config.js';
import type { Logger } from '../log/logger.js';

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

export interface TlsProblem {
  variable: 'TLS_CERT' | 'TLS_KEY' | 'TLS_CA';
  problem: string;
}

function certificates(pem: Buffer): X509Certificate[] {
  const blocks = pem.toString('latin1').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

/** What is wrong with a certificate, key and CA set, or undefined (pure but for the clock). */
export function checkTls(files: TlsFiles, now = Date.now()): TlsProblem | undefined {
  let chain: X509Certificate[];
  try {
    chain = certificates(files.cert);
  } catch (e) {
    return { variable: 'TLS_CERT', problem: `unparsable certificate: ${(e as Error).message}` };
  }
  if (chain.length === 0) return { variable: 'TLS_CERT', problem: 'no PEM certificate (-----BEGIN CERTIFICATE-----) in the file' };
  let key: KeyObject;
  try {
    key = createPrivateKey(files.key);
  } catch (e) {
    return { variable: 'TLS_KEY', problem: `not a readable PEM private key (encrypted keys are not supported): ${(e as Error).message}` };
  }
  const leaf = chain[0]!;
  if (!leaf.checkPrivateKey(key)) return { variable: 'TLS_KEY', problem: 'does not match the certificate in TLS_CERT' };
  if (Date.parse(leaf.validTo) <= now) return { variable: 'TLS_CERT', problem: `expired on ${leaf.validTo}` };
  let cas: X509Certificate[];
  try {
    cas = certificates(files.ca);
  } catch (e) {
    return { variable: 'TLS_CA', problem: `unparsable certificate: ${(e as Error).message}` };
  }
  if (cas.length === 0) return { variable: 'TLS_CA', problem: 'no PEM certificate (-----BEGIN CERTIFICATE-----) in the file' };
  const signed = chain.some((c) => cas.some((ca) => c.checkIssued(ca) && c.verify(ca.publicKey)));
  if (!signed) {
    return {
      variable: 'TLS_CERT',
      problem: 'is not signed by a certificate in TLS_CA (nor through the chain in the file): peers would refuse this node',
    };
  }
  return undefined;
}

/** Reads and checks the three files at start; throws ConfigError naming the variable. */
export function readTls(paths: { TLS_CERT: string; TLS_KEY: string; TLS_CA: string }): TlsFiles {
  const read = (variable: TlsProblem['variable']): Buffer => {
    try {
      return readFileSync(paths[variable]);
    } catch (e) {
      throw new ConfigError(
        variable,
        paths[variable],
        `cannot read the file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
  };
  const files = { cert: read('TLS_CERT'), key: read('TLS_KEY'), ca: read('TLS_CA') };
  const bad = checkTls(files);
  if (bad) throw new ConfigError(bad.variable, paths[bad.variable], bad.problem);
  return files;
}

/**
 * grpc-js's file watcher behind a check: listeners get the set checked at start at once, then
 * every change that passes checkTls. One instance serves the server and every peer channel.
 */
export class CheckedCertificates implements grpc.experimental.CertificateProvider {
  private readonly inner: grpc.experimental.FileWatcherCertificateProvider;
  private current: TlsFiles;
  private readIdentity: grpc.experimental.IdentityCertificateUpdate | null = null;
  private readonly caListeners = new Set<grpc.experimental.CaCertificateUpdateListener>();
  private readonly identityListeners = new Set<grpc.experimental.IdentityCertificateUpdateListener>();
  private watching = false;
  private lastProblem = '';

  constructor(
    paths: { TLS_CERT: string; TLS_KEY: string; TLS_CA: string },
    initial: TlsFiles,
    refreshMs: number,
    private readonly log: Logger,
  ) {
    this.current = initial;
    this.inner = new grpc.experimental.FileWatcherCertificateProvider({
      certificateFile: paths.TLS_CERT,
      privateKeyFile: paths.TLS_KEY,
      caCertificateFile: paths.TLS_CA,
      refreshIntervalMs: refreshMs,
    });
  }

  // The watcher reports the identity, then the CA, of each read: the pair is checked on the second.
  private readonly onIdentity = (u: grpc.experimental.IdentityCertificateUpdate | null) => {
    this.readIdentity = u;
  };

  private readonly onCa = (u: grpc.experimental.CaCertificateUpdate | null) => {
    const id = this.readIdentity;
    if (!id || !u) {
      this.problem('cannot read TLS_CERT, TLS_KEY or TLS_CA');
      return;
    }
    const next = { cert: id.certificate, key: id.privateKey, ca: u.caCertificate };
    const c = this.current;
    if (next.cert.equals(c.cert) && next.key.equals(c.key) && next.ca.equals(c.ca)) return;
    const bad = checkTls(next);
    if (bad) {
      this.problem(`${bad.variable} ${bad.problem}`);
      return;
    }
    this.current = next;
    this.lastProblem = '';
    this.log.info({ subject: new X509Certificate(next.cert).subject.replace(/\n/g, ', ') }, 'TLS files changed: new connections use them');
    for (const l of this.identityListeners) l({ certificate: next.cert, privateKey: next.key });
    for (const l of this.caListeners) l({ caCertificate: next.ca });
  };

  private problem(why: string): void {
    if (why === this.lastProblem) return; // once per distinct problem, not every interval
    this.lastProblem = why;
    this.log.error(`TLS files not reloaded, still using the previous ones: ${why}`);
  }

  private watch(): void {
    if (this.watching) return;
    this.watching = true;
    this.inner.addIdentityCertificateListener(this.onIdentity);
    this.inner.addCaCertificateListener(this.onCa);
  }

  addCaCertificateListener(l: grpc.experimental.CaCertificateUpdateListener): void {
    this.caListeners.add(l);
    this.watch();
    process.nextTick(l, { caCertificate: this.current.ca });
  }

  removeCaCertificateListener(l: grpc.experimental.CaCertificateUpdateListener): void {
    this.caListeners.delete(l);
  }

  addIdentityCertificateListener(l: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.add(l);
    this.watch();
    process.nextTick(l, { certificate: this.current.cert, privateKey: this.current.key });
  }

  removeIdentityCertificateListener(l: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.delete(l);
  }

  /** Stops re-reading (the watcher's timer would keep the process alive). */
  close(): void {
    if (!this.watching) return;
    this.watching = false;
    this.inner.removeIdentityCertificateListener(this.onIdentity);
    this.inner.removeCaCertificateListener(this.onCa);
  }
}

/** The node's server credentials. Both provider arguments are the same object, so grpc-js's order of them does not matter. */
export function serverCredentials(certs: CheckedCertificates, requireClientCertificate: boolean): grpc.ServerCredentials {
  return grpc.experimental.createCertificateProviderServerCredentials(certs, certs, requireClientCertificate);
}

/** Credentials of the channels to peers: mutual TLS, the peer checked by chain to TLS_CA (see the header). */
export function peerChannelCredentials(certs: CheckedCertificates): grpc.ChannelCredentials {
  return grpc.experimental.createCertificateProviderChannelCredentials(certs, certs, { checkServerIdentity: () => undefined });
}

/**
 * grpc-js passes an IP target to TLS as the server name, which Node flags once per process
 * (DEP0123). Harmless here (the certificate is checked against the IP), so the node and
 * cachectl drop that one warning; every other warning is still printed.
 */
export function ignoreIpServerNameWarning(): void {
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((...args: unknown[]) => {
    const [, typeOrOptions, code] = args;
    const c = typeof typeOrOptions === 'object' && typeOrOptions !== null ? (typeOrOptions as { code?: string }).code : code;
    if (c !== 'DEP0123') emit(...args);
  }) as typeof process.emitWarning;
}
