/**
 * The lease table of the keys this node owns (is the first replica of): who may load a
 * missing key. Pure: time comes in with every call, tokens from the injected generator.
 *
 * A lease is a load-shedding device, not a lock. It lives only in this table, on the key's
 * first replica: when that node dies, restarts or stops being the first replica, the lease
 * is simply gone and the next caller gets a new one. Nothing is ever blocked by a lease:
 * a plain Set or Delete is always applied; only a Set that carries a token is checked.
 *
 * The contract:
 *  - per key at most one live lease {token, expiresAt, grantedAfter}; `grantedAfter` is the
 *    key's version on this node when the lease was granted (undefined: none);
 *  - grant(key, now, leaseMs, version): a token when the key has no live lease (an expired
 *    one is replaced), else {waitMs}: how long the live lease has left (at least 1);
 *  - check(key, token, now, version): undefined when the token is the key's live lease and
 *    the key's version is still `grantedAfter` (no write or delete of the key since the
 *    grant); then the lease is used up (removed). Otherwise a reason (the Set is refused with
 *    FAILED_PRECONDITION); a lease whose token matched but whose key has changed is removed
 *    too (its loader lost the race, the key has a newer value);
 *  - release(key, token): removes the lease if the token is its; true if it did;
 *  - bounded: at most `maxLeases`; granting beyond that drops the oldest grants (expired
 *    ones, and if the oldest is still live, that one: its key is simply leased again), in O(1)
 *    amortized, so a burst of keys never grows it further;
 *  - tokens are opaque random strings (never logged: whoever holds one may write the key).
 */
import { randomBytes } from 'node:crypto';
import { compareVersions } from '../hlc/hlc.js';

/** A key's version: what check() compares. */
export interface LeaseVersion {
  wall: number;
  logical: number;
  node: string;
}

interface Lease {
  token: string;
  expiresAt: number;
  grantedAfter: LeaseVersion | undefined;
}

export type Grant = { token: string } | { waitMs: number };

const DEFAULT_MAX_LEASES = 100_000;

const randomToken = (): string => randomBytes(16).toString('base64url');

export class LeaseTable {
  /** In grant order (a Map keeps insertion order; a re-grant moves the key to the end). */
  private readonly leases = new Map<string, Lease>();

  constructor(
    private readonly maxLeases = DEFAULT_MAX_LEASES,
    private readonly newToken: () => string = randomToken,
  ) {
    if (!Number.isInteger(maxLeases) || maxLeases < 1) throw new RangeError('leases: maxLeases must be an integer >= 1');
  }

  grant(key: string, now: number, leaseMs: number, version: LeaseVersion | undefined): Grant {
    const cur = this.leases.get(key);
    if (cur && cur.expiresAt > now) return { waitMs: Math.max(1, cur.expiresAt - now) };
    if (cur) this.leases.delete(key);
    else if (this.leases.size >= this.maxLeases) this.makeRoom(now);
    const token = this.newToken();
    this.leases.set(key, {
      token,
      expiresAt: now + leaseMs,
      grantedAfter: version && { wall: version.wall, logical: version.logical, node: version.node },
    });
    return { token };
  }

  check(key: string, token: string, now: number, version: LeaseVersion | undefined): string | undefined {
    const cur = this.leases.get(key);
    if (!cur || cur.token !== token) return "the lease token is not the key's current lease (expired, used, superseded or lost)";
    if (cur.expiresAt <= now) {
      this.leases.delete(key);
      return 'the lease has expired';
    }
    this.leases.delete(key);
    if (!sameVersion(cur.grantedAfter, version)) return 'the key was written or deleted after the lease was granted';
    return undefined;
  }

  release(key: string, token: string): boolean {
    const cur = this.leases.get(key);
    if (!cur || cur.token !== token) return false;
    this.leases.delete(key);
    return true;
  }

  /** Live and expired leases held (expired ones go when their key is granted again or room is needed). */
  get size(): number {
    return this.leases.size;
  }

  /** Drops the oldest grant, and every expired one right behind it. */
  private makeRoom(now: number): void {
    let first = true;
    for (const [k, l] of this.leases) {
      if (!first && l.expiresAt > now) return;
      this.leases.delete(k);
      first = false;
    }
  }
}

function sameVersion(a: LeaseVersion | undefined, b: LeaseVersion | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return compareVersions(a.wall, a.logical, a.node, b.wall, b.logical, b.node) === 0;
}
