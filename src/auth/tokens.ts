/**
 * Who a caller is, and the API tokens file (AUTH_TOKENS_FILE) that says so. Pure: text in, a
 * table out; reading and re-reading the file is src/security/watch.ts's job.
 *
 * The file is a JSON array of {"name", "role", "sha256", "prefixes"?}:
 *  - name: who the token belongs to (logged for admin calls; never the token itself);
 *  - role: read (Get, Members, Stats), write (also Set, Delete), admin (also Leave and every
 *    administrative call);
 *  - sha256: the lowercase or uppercase hex SHA-256 of the token: the file holds no token;
 *  - prefixes: the keys the token may touch (a key is allowed if it starts with one of them);
 *    absent = every key. An empty list allows no key (Members and Stats only).
 * Unknown fields are refused (a "token" field holding the secret itself is a mistake to stop).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

export const ROLES = ['read', 'write', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Read < write < admin: a role may do what every lower role may. */
export function roleAtLeast(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

/** An authenticated caller. */
export interface Principal {
  name: string;
  role: Role;
  /** Keys this caller may touch, by prefix; undefined = every key. */
  prefixes?: readonly string[];
  /** When the credential stops being valid (ms since epoch; JWT exp), undefined = never. */
  expiresAt?: number;
}

export class TokensFileError extends Error {
  override readonly name = 'TokensFileError';
}

const entry = z.strictObject({
  name: z.string().min(1, 'must not be empty').max(256),
  role: z.enum(ROLES, { error: 'must be read, write or admin' }),
  sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be the 64 hex digits of the SHA-256 of the token'),
  prefixes: z.array(z.string()).optional(),
});

/** Parses the file's text: sha256 (lowercase hex) -> principal. Throws TokensFileError saying which entry and field is wrong. */
export function parseTokens(text: string): Map<string, Principal> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new TokensFileError(`not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(json)) throw new TokensFileError('must be a JSON array of {"name", "role", "sha256", "prefixes"?}');
  const out = new Map<string, Principal>();
  json.forEach((raw, i) => {
    const r = entry.safeParse(raw);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      const where = issue.path.length > 0 ? `.${issue.path.join('.')}` : '';
      throw new TokensFileError(`entry ${i}${where}: ${issue.message}`);
    }
    const hash = r.data.sha256.toLowerCase();
    if (out.has(hash)) throw new TokensFileError(`entry ${i} (${r.data.name}): the same sha256 as ${out.get(hash)!.name}`);
    out.set(hash, { name: r.data.name, role: r.data.role, prefixes: r.data.prefixes });
  });
  return out;
}

export function sha256Hex(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
