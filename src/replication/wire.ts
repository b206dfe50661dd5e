/** Conversions between store records and the peer protocol's Entry message. */
import type { EntryRecord } from '../store/store.js';

export interface WireEntry {
  key: string;
  text?: string;
  data?: Buffer;
  payload?: 'text' | 'data';
  wall?: number;
  logical?: number;
  node?: string;
  expires_at?: number;
  tombstone?: boolean;
}

export function toWire(key: string, rec: EntryRecord): WireEntry {
  const e: WireEntry = rec.binary
    ? { key, data: Buffer.from(rec.value, 'latin1'), wall: rec.wall, logical: rec.logical, node: rec.node }
    : { key, text: rec.value, wall: rec.wall, logical: rec.logical, node: rec.node };
  if (rec.expiresAt !== 0) e.expires_at = rec.expiresAt;
  if (rec.tombstone) e.tombstone = true;
  return e;
}

export function fromWire(e: WireEntry): EntryRecord {
  const binary = e.payload === 'data';
  return {
    value: binary ? (e.data ?? Buffer.alloc(0)).toString('latin1') : (e.text ?? ''),
    binary,
    wall: Number(e.wall ?? 0),
    logical: e.logical ?? 0,
    node: e.node ?? '',
    expiresAt: Number(e.expires_at ?? 0),
    tombstone: e.tombstone === true,
  };
}

