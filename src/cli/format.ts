/** Text and JSON renderings of cachectl's answers (pure). */
import type { BatchDeleteResult, BatchGetResult, BatchWriteResult, GetResult, MembersResult, NodeStats } from '../client/client.js';

/** JSON.stringify that writes bigints as decimal strings. */
export function toJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));
}

export function getJson(key: string, r: GetResult): string {
  const binary = typeof r.value !== 'string';
  return toJson({
    key,
    value: binary ? (r.value as Buffer).toString('base64') : r.value,
    encoding: binary ? 'base64' : 'utf8',
    version: r.version,
    ttlRemainingMs: r.ttlRemainingMs,
  });
}

/** Columns padded to their widest cell, two spaces apart. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.length);
    });
  return rows
    .map((row) =>
      row
        .map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function membersText(m: MembersResult): string {
  const rows = [['NODE ID', 'ADDRESS', 'STATE', 'INCARNATION', 'CLOCK']];
  for (const x of m.members) {
    const self = x.nodeId === m.self;
    const clock = self ? '' : `${x.clockOffsetMs >= 0 ? '+' : ''}${x.clockOffsetMs}ms`;
    rows.push([x.nodeId + (self ? ' *' : ''), x.address, x.state, x.incarnation.toString(), clock]);
  }
  return (
    `${table(rows)}\n\nring version: ${m.ringVersion}\nreplication factor: ${m.replicationFactor}, vnodes: ${m.vnodes}; ` +
    "* = the node that answered; CLOCK = how far a member's clock is ahead of (-: behind) its own, as it measured\n"
  );
}

/** The counters as `name: value` lines, then the hot keys as a table (when the node sent them). */
export function statsText(s: NodeStats): string {
  const { hotKeys, ...counters } = s;
  const lines = `${Object.entries(counters)
    .map(([k, v]) => `${k}: ${String(v)}`)
    .join('\n')}\n`;
  if (hotKeys === undefined) return lines;
  if (hotKeys.length === 0) return `${lines}\nhot keys: none yet\n`;
  const rows = [['HOT KEY', 'REQUESTS', 'ERROR']];
  for (const h of hotKeys) rows.push([JSON.stringify(h.key), String(h.count), String(h.error)]);
  return `${lines}\n${table(rows)}\n(requests halve every minute; the true number lies between REQUESTS - ERROR and REQUESTS)\n`;
}

/** A batch result for JSON: bytes as base64, like getJson. */
export function batchGetJson(r: BatchGetResult): object {
  const binary = r.value !== undefined && typeof r.value !== 'string';
  return { ...r, value: binary ? (r.value as Buffer).toString('base64') : r.value, encoding: binary ? 'base64' : 'utf8' };
}

/** One line per key of a batch call: what it got, or its error. */
export function batchText(rs: readonly (BatchGetResult | BatchWriteResult | BatchDeleteResult)[]): string {
  const rows = [['KEY', 'RESULT', 'VERSION']];
  for (const r of rs) {
    let result: string;
    if (r.error) result = `${r.error.code}: ${r.error.message}`;
    else if ('found' in r) result = !r.found ? '(not found)' : typeof r.value === 'string' ? r.value : `(${r.value!.length} bytes)`;
    else if ('deleted' in r) result = r.deleted ? 'deleted' : '(not found)';
    else result = r.superseded ? 'OK (superseded by a later entry)' : 'OK';
    rows.push([r.key, result, r.version?.toString() ?? '']);
  }
  return `${table(rows)}\n`;
}
