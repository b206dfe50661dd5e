/**
 * From an `authorization: Bearer <token>` header to a principal: an API token of
 * AUTH_TOKENS_FILE (looked up by its SHA-256), or a JWT signed by AUTH_JWT_KEY (verified by
 * jose, `exp` required and enforced, `role` and `prefixes` claims, `sub` as the name).
 *
 * Accepted tokens are remembered (header value -> principal, until a JWT's exp), so a caller pays the
 * hash or the signature check once, not per call; unknown tokens are never remembered, and the
 * memory is emptied when the tokens or the key change. Time is passed in.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTPayload, jwtVerify } from 'jose';
import { type Principal, ROLES, type Role, sha256Hex } from './tokens.js';

type FailureReason = 'missing_token' | 'unknown_token' | 'invalid_jwt' | 'expired_jwt';

export interface AuthFailure {
  reason: FailureReason;
  /** The UNAUTHENTICATED message; never contains the token. */
  message: string;
}

export type JwtKey = KeyObject | ReturnType<typeof createLocalJWKSet>;

export interface JwtSettings {
  key: JwtKey;
  issuer?: string;
  audience?: string;
}

export class JwtKeyError extends Error {
  override readonly name = 'JwtKeyError';
}

/** AUTH_JWT_KEY's text: a JWKS (JSON with "keys") or a PEM public key. Throws JwtKeyError. */
export function parseJwtKey(text: string): JwtKey {
  const t = text.trim();
  if (t.startsWith('{')) {
    let jwks: JSONWebKeySet;
    try {
      jwks = JSON.parse(t) as JSONWebKeySet;
    } catch (e) {
      throw new JwtKeyError(`not a JWKS: ${(e as Error).message}`);
    }
    if (!Array.isArray(jwks.keys) || jwks.keys.length === 0) throw new JwtKeyError('a JWKS needs a non-empty "keys" array');
    try {
      return createLocalJWKSet(jwks);
    } catch (e) {
      throw new JwtKeyError(`not a JWKS: ${(e as Error).message}`);
    }
  }
  try {
    const key = createPublicKey(t);
    if (key.asymmetricKeyType === undefined) throw new Error('not an asymmetric key');
    return key;
  } catch (e) {
    throw new JwtKeyError(`neither a JWKS nor a PEM public key: ${(e as Error).message}`);
  }
}

/** At most this many accepted tokens are remembered; beyond, the memory starts over. */
const MAX_REMEMBERED = 10_000;

const MISSING: AuthFailure = {
  reason: 'missing_token',
  message: "this node needs a token: send metadata 'authorization: Bearer <token>'",
};
const UNKNOWN: AuthFailure = { reason: 'unknown_token', message: 'unknown token' };

function isFailure(x: Principal | AuthFailure): x is AuthFailure {
  return 'reason' in x;
}

export { isFailure };

export class Authenticator {
  private readonly remembered = new Map<string, Principal>();

  constructor(
    private tokens: ReadonlyMap<string, Principal>,
    private jwt: JwtSettings | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  setTokens(tokens: ReadonlyMap<string, Principal>): void {
    this.tokens = tokens;
    this.remembered.clear();
  }

  setJwtKey(key: JwtKey): void {
    if (this.jwt) this.jwt = { ...this.jwt, key };
    this.remembered.clear();
  }

  /** The principal of an authorization header value (or its absence); a promise only when a JWT must be verified. */
  authenticate(header: string | undefined): Principal | AuthFailure | Promise<Principal | AuthFailure> {
    if (header === undefined) return MISSING;
    // Remembered by the whole header value: a hit costs one Map lookup, no parsing.
    const known = this.remembered.get(header);
    if (known !== undefined) {
      if (known.expiresAt === undefined || known.expiresAt > this.now()) return known;
      this.remembered.delete(header);
    }
    const token = bearer(header);
    if (token === undefined) return MISSING;
    const p = this.tokens.get(sha256Hex(token));
    if (p !== undefined) {
      this.remember(header, p);
      return p;
    }
    if (this.jwt && looksLikeJwt(token)) return this.verifyJwt(header, token, this.jwt);
    return UNKNOWN;
  }

  private remember(header: string, p: Principal): void {
    if (this.remembered.size >= MAX_REMEMBERED) this.remembered.clear();
    this.remembered.set(header, p);
  }

  private async verifyJwt(header: string, token: string, jwt: JwtSettings): Promise<Principal | AuthFailure> {
    let payload: JWTPayload;
    try {
      const opts = { issuer: jwt.issuer, audience: jwt.audience, requiredClaims: ['exp'], currentDate: new Date(this.now()) };
      // jose takes either form of key; the overloads want them apart.
      payload =
        typeof jwt.key === 'function' ? (await jwtVerify(token, jwt.key, opts)).payload : (await jwtVerify(token, jwt.key, opts)).payload;
    } catch (e) {
      if (e instanceof errors.JWTExpired) return { reason: 'expired_jwt', message: 'token expired' };
      if (e instanceof errors.JOSEError) return { reason: 'invalid_jwt', message: `invalid token: ${e.message}` };
      throw e;
    }
    const p = principalOf(payload);
    if (isFailure(p)) return p;
    if (jwt === this.jwt) this.remember(header, p); // not if the key changed meanwhile
    return p;
  }
}

/** The principal a verified JWT's claims describe. */
function principalOf(c: JWTPayload): Principal | AuthFailure {
  const role = c.role;
  if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role)) {
    return { reason: 'invalid_jwt', message: 'invalid token: its role claim must be read, write or admin' };
  }
  let prefixes: string[] | undefined;
  if (c.prefixes !== undefined) {
    if (!Array.isArray(c.prefixes) || !c.prefixes.every((x) => typeof x === 'string')) {
      return { reason: 'invalid_jwt', message: 'invalid token: its prefixes claim must be an array of strings' };
    }
    prefixes = c.prefixes;
  }
  const name = typeof c.sub === 'string' && c.sub ? c.sub : 'jwt';
  return { name, role: role as Role, prefixes, expiresAt: (c.exp as number) * 1000 };
}

/** "Bearer <token>" (scheme in any case) -> token; undefined if not that form. */
function bearer(header: string): string | undefined {
  if (header.length < 8 || header.charCodeAt(6) !== 32 || header.slice(0, 6).toLowerCase() !== 'bearer') return undefined;
  const t = header.slice(7).trim();
  return t === '' ? undefined : t;
}

function looksLikeJwt(token: string): boolean {
  const first = token.indexOf('.');
  return first > 0 && token.indexOf('.', first + 1) > first + 1 && token.split('.').length === 3;
}
