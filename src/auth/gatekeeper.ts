/**
 * The check every call passes before its handler (src/server/server.ts runs it): the method's
 * rule (src/auth/access.ts) applied to the caller.
 *  - peer methods: with TLS, the connection's certificate must chain to TLS_CA and be valid for
 *    server authentication (every node's is: it serves; a client certificate is not); with
 *    CLUSTER_SECRET, the call must carry it (compared in constant time). Neither configured:
 *    any caller, as the node warns at start.
 *  - client methods: with AUTH_TOKENS_FILE or AUTH_JWT_KEY, a token (src/auth/authenticator.ts)
 *    whose role and prefixes allow the call; without, anyone.
 *  - admin calls are logged once each, with the caller's name (never the token).
 * Refusals are counted by reason (cache_auth_failures_total{reason}).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { CacheError } from '../errors/errors.js';
import { type StatusError, toStatus } from '../errors/status.js';
import type { Logger } from '../log/logger.js';
import { type Rule, requestDenial } from './access.js';
import { type Authenticator, isFailure } from './authenticator.js';
import type { Principal } from './tokens.js';

/** Metadata a node sends to its peers when CLUSTER_SECRET is set. */
export const CLUSTER_SECRET_HEADER = 'tscache-cluster-secret';

const SERVER_AUTH_OID = '1.3.6.1.5.5.7.3.1';

export const FAILURE_REASONS = [
  'missing_token',
  'unknown_token',
  'invalid_jwt',
  'expired_jwt',
  'role',
  'prefix',
  'peer_certificate',
  'cluster_secret',
  'untrusted_certificate',
] as const;
export type FailureLabel = (typeof FAILURE_REASONS)[number];

/** What the gatekeeper needs of a call (every grpc-js server call has it). */
export interface CallFacts {
  metadata: grpc.Metadata;
  request?: unknown;
  getAuthContext(): { sslPeerCertificate?: { ext_key_usage?: string[] } } | null;
  getPeer(): string;
}

export interface GatekeeperOptions {
  /** Set when client calls need a token. */
  authenticator?: Authenticator;
  /** TLS is on: peers prove themselves by certificate. */
  peerTls: boolean;
  clusterSecret?: string;
  log: Logger;
}

const ANONYMOUS: Principal = { name: 'anonymous', role: 'admin' };

export class Gatekeeper {
  readonly failures = new Map<FailureLabel, number>(FAILURE_REASONS.map((r) => [r, 0]));
  private readonly secretHash?: Buffer;

  constructor(private readonly opts: GatekeeperOptions) {
    if (opts.clusterSecret) this.secretHash = sha256(opts.clusterSecret);
  }

  /** Whether calls of a method with this rule are checked at all (decided once per method; unchecked calls cost nothing). */
  checks(rule: Rule): boolean {
    switch (rule.need) {
      case 'open':
        return false;
      case 'peer':
        return this.opts.peerTls || this.secretHash !== undefined;
      case 'admin':
        return true; // logged even without tokens
      default:
        return this.opts.authenticator !== undefined;
    }
  }

  /** undefined: the call may go on; otherwise its refusal (a promise only while a JWT is verified). */
  admit(rule: Rule, call: CallFacts): StatusError | undefined | Promise<StatusError | undefined> {
    if (rule.need === 'peer') return this.admitPeer(rule.method, call);
    const auth = this.opts.authenticator;
    if (!auth) return this.authorize(rule, call, ANONYMOUS);
    const header = call.metadata.get('authorization')[0];
    const who = auth.authenticate(typeof header === 'string' ? header : undefined);
    if (who instanceof Promise)
      return who.then((p) => (isFailure(p) ? this.refuse(p.reason, 'unauthenticated', p.message) : this.authorize(rule, call, p)));
    if (isFailure(who)) return this.refuse(who.reason, 'unauthenticated', who.message);
    return this.authorize(rule, call, who);
  }

  private authorize(rule: Rule, call: CallFacts, p: Principal): StatusError | undefined {
    const method = rule.method;
    const no = requestDenial(p, rule, call.request);
    if (no) return this.refuse(no.reason, 'denied', no.message);
    if (rule.need === 'admin') this.opts.log.info({ caller: p.name, method, peer: call.getPeer() }, `admin call ${method} by ${p.name}`);
    return undefined;
  }

  private admitPeer(method: string, call: CallFacts): StatusError | undefined {
    if (this.opts.peerTls) {
      const cert = call.getAuthContext()?.sslPeerCertificate;
      if (!cert) {
        return this.refuse(
          'peer_certificate',
          'unauthenticated',
          `${method} is for cluster nodes: present a certificate signed by the cluster's CA (TLS_CA)`,
        );
      }
      const eku = cert.ext_key_usage;
      if (eku && !eku.includes(SERVER_AUTH_OID)) {
        return this.refuse(
          'peer_certificate',
          'unauthenticated',
          `${method} is for cluster nodes: this certificate is not valid for server authentication, as a node's must be`,
        );
      }
    }
    if (this.secretHash) {
      const given = call.metadata.get(CLUSTER_SECRET_HEADER)[0];
      if (typeof given !== 'string' || !timingSafeEqual(sha256(given), this.secretHash)) {
        return this.refuse(
          'cluster_secret',
          'unauthenticated',
          `${method} is for cluster nodes: the call lacks this cluster's CLUSTER_SECRET`,
        );
      }
    }
    return undefined;
  }

  /** TLS_CLIENT_AUTH=request closed a connection whose certificate does not chain to TLS_CA (src/server/server.ts). */
  refusedConnection(): void {
    this.failures.set('untrusted_certificate', (this.failures.get('untrusted_certificate') ?? 0) + 1);
  }

  private refuse(label: FailureLabel, kind: 'unauthenticated' | 'denied', message: string): StatusError {
    this.failures.set(label, (this.failures.get(label) ?? 0) + 1);
    this.opts.log.debug({ reason: label }, `call refused: ${message}`); // the message never holds a token
    return toStatus(new CacheError(kind, message));
  }
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}
