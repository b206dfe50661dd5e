/**
 * A node's security settings, read and checked before it binds (a bad file stops the process
 * with a ConfigError naming its variable), and kept current while it runs: TLS files through
 * CheckedCertificates (src/security/tls.ts), the tokens file and the JWT key by re-reading them
 * every RELOAD_INTERVAL. A changed file that does not parse keeps the previous contents in force
 * and is logged as an error, once per distinct content.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type * as grpc from '@grpc/grpc-js';
import { Authenticator, type JwtKey, JwtKeyError, parseJwtKey } from '../auth/authenticator.js';
import { Gatekeeper } from '../auth/gatekeeper.js';
import { parseTokens, TokensFileError } from '../auth/tokens.js';
import { type Config, ConfigError } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import { CheckedCertificates, peerChannelCredentials, readTls, serverCredentials } from './tls.js';

export interface Security {
  gatekeeper: Gatekeeper;
  /** Undefined: plaintext. */
  tls?: {
    server: grpc.ServerCredentials;
    peers: grpc.ChannelCredentials;
    /** TLS_CLIENT_AUTH=request: connections presenting a certificate that does not chain to TLS_CA are closed. */
    refuseUntrustedClientCertificates: boolean;
  };
  /** Sent to peers when CLUSTER_SECRET is set. */
  clusterSecret?: string;
  /** Stops re-reading files. */
  close(): void;
}

type Variable = 'AUTH_TOKENS_FILE' | 'AUTH_JWT_KEY';

function readAtStart<T>(variable: Variable, path: string, parse: (text: string) => T): { value: T; text: Buffer } {
  let text: Buffer;
  try {
    text = readFileSync(path);
  } catch (e) {
    throw new ConfigError(variable, path, `cannot read the file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return { value: parse(text.toString('utf8')), text };
  } catch (e) {
    if (e instanceof TokensFileError || e instanceof JwtKeyError) throw new ConfigError(variable, path, e.message);
    throw e;
  }
}

/** Re-reads a file every intervalMs; a changed content that parses is applied, one that does not is logged (once). */
function watch<T>(
  variable: Variable,
  path: string,
  first: Buffer,
  intervalMs: number,
  parse: (text: string) => T,
  apply: (value: T) => void,
  log: Logger,
): NodeJS.Timeout {
  let last = first;
  let reading = false;
  const t = setInterval(async () => {
    if (reading) return;
    reading = true;
    try {
      const text = await readFile(path);
      if (text.equals(last)) return;
      last = text;
      try {
        apply(parse(text.toString('utf8')));
        log.info({ variable, path }, `${variable} changed: applied`);
      } catch (e) {
        if (!(e instanceof TokensFileError || e instanceof JwtKeyError)) throw e;
        log.error({ variable, path }, `${variable} changed but is not valid, keeping the previous one: ${e.message}`);
      }
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      if (last.length > 0) log.error({ variable, path }, `${variable} cannot be read, keeping the previous one: ${why}`);
      last = Buffer.alloc(0); // log again only after it was readable once more
    } finally {
      reading = false;
    }
  }, intervalMs);
  t.unref();
  return t;
}

/** Reads every security file of cfg (throws ConfigError) and says at start what the node accepts. */
export function loadSecurity(cfg: Config, log: Logger): Security {
  const timers: NodeJS.Timeout[] = [];
  const tlsOn = cfg.TLS_CERT !== '';
  const files = tlsOn ? readTls(cfg) : undefined;

  let authenticator: Authenticator | undefined;
  if (cfg.AUTH_TOKENS_FILE || cfg.AUTH_JWT_KEY) {
    const tokens = cfg.AUTH_TOKENS_FILE ? readAtStart('AUTH_TOKENS_FILE', cfg.AUTH_TOKENS_FILE, parseTokens) : undefined;
    const jwt = cfg.AUTH_JWT_KEY ? readAtStart('AUTH_JWT_KEY', cfg.AUTH_JWT_KEY, parseJwtKey) : undefined;
    const a = new Authenticator(
      tokens?.value ?? new Map(),
      jwt && { key: jwt.value, issuer: cfg.AUTH_JWT_ISSUER || undefined, audience: cfg.AUTH_JWT_AUDIENCE || undefined },
    );
    if (tokens) {
      timers.push(
        watch('AUTH_TOKENS_FILE', cfg.AUTH_TOKENS_FILE, tokens.text, cfg.RELOAD_INTERVAL, parseTokens, (t) => a.setTokens(t), log),
      );
    }
    if (jwt) {
      timers.push(watch<JwtKey>('AUTH_JWT_KEY', cfg.AUTH_JWT_KEY, jwt.text, cfg.RELOAD_INTERVAL, parseJwtKey, (k) => a.setJwtKey(k), log));
    }
    authenticator = a;
    if (!tlsOn) log.warn('AUTH_TOKENS_FILE/AUTH_JWT_KEY without TLS: tokens travel in clear text; set TLS_CERT, TLS_KEY and TLS_CA');
  }
  if (!tlsOn && !cfg.CLUSTER_SECRET) {
    log.warn('neither TLS nor CLUSTER_SECRET is set: any process that reaches this port can join the cluster and receive replicas');
  }

  const gatekeeper = new Gatekeeper({ authenticator, peerTls: tlsOn, clusterSecret: cfg.CLUSTER_SECRET || undefined, log });
  let certs: CheckedCertificates | undefined;
  if (files) certs = new CheckedCertificates(cfg, files, cfg.RELOAD_INTERVAL, log);
  return {
    gatekeeper,
    tls: certs && {
      server: serverCredentials(certs, cfg.TLS_CLIENT_AUTH === 'require'),
      peers: peerChannelCredentials(certs),
      refuseUntrustedClientCertificates: cfg.TLS_CLIENT_AUTH === 'request',
    },
    clusterSecret: cfg.CLUSTER_SECRET || undefined,
    close() {
      for (const t of timers) clearInterval(t);
      certs?.close();
    },
  };
}
