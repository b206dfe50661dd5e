/**
 * CacheService's batch calls: MGet, MSet, MDelete. Each key goes through the coordinator as
 * its single-key call would (the per-peer Exchange streams already send one batch per peer per
 * event-loop turn, so a call's keys travel grouped by replica), and the answer waits for every
 * key. A key that fails (invalid, quorum not reached) gets its own error; the call itself fails
 * only for what concerns all of it (too many keys, the gate: not joined, shutting down, rate
 * limit, which counts a batch as its number of keys).
 */
import type * as grpc from '@grpc/grpc-js';
import { type CacheError, invalid } from '../errors/errors.js';
import { type StatusError, toStatus } from '../errors/status.js';
import type { MethodIndex } from '../metrics/metrics.js';
import type { KeyError } from '../protos/generated/public/cache/v1/KeyError.js';
import type { MDeleteRequest__Output } from '../protos/generated/public/cache/v1/MDeleteRequest.js';
import type { MDeleteResponse } from '../protos/generated/public/cache/v1/MDeleteResponse.js';
import type { MDeleteResult } from '../protos/generated/public/cache/v1/MDeleteResult.js';
import type { MGetRequest__Output } from '../protos/generated/public/cache/v1/MGetRequest.js';
import type { MGetResponse } from '../protos/generated/public/cache/v1/MGetResponse.js';
import type { MGetResult } from '../protos/generated/public/cache/v1/MGetResult.js';
import type { MSetRequest__Output } from '../protos/generated/public/cache/v1/MSetRequest.js';
import type { MSetResponse } from '../protos/generated/public/cache/v1/MSetResponse.js';
import type { MSetResult } from '../protos/generated/public/cache/v1/MSetResult.js';
import type { Coordinator, WriteResult } from '../replication/coordinator.js';
import type { EntryRecord } from '../store/store.js';
import { versionText } from '../wire/codec.js';
import { absoluteDeadline } from './deadline.js';
import type { RequestGate } from './gate.js';
import { checkConsistency, checkKey, checkTtl, checkValue, type RequestLimits } from './validate.js';

export interface BatchLimits extends RequestLimits {
  maxBatchKeys: number;
}

function keyError(err: unknown): KeyError {
  const s = toStatus(err);
  return { code: s.code, message: s.details };
}

/**
 * Runs the keys at `indexes` of a call of `size` keys: `start(key, settle, i)` for each, which
 * validates (a throw is that key's error) and calls settle(result) when the key is done;
 * `finish(results)` once every one has settled (results has `size` slots, in request order).
 */
function runKeys<R extends { key?: string; error?: KeyError | null }>(
  indexes: readonly number[],
  size: number,
  keyOf: (i: number) => string,
  start: (key: string, settle: (r: R) => void, i: number) => void,
  finish: (results: R[]) => void,
): void {
  const results: R[] = new Array(size);
  let left = indexes.length;
  if (left === 0) {
    finish(results);
    return;
  }
  for (const i of indexes) {
    const key = keyOf(i);
    let settled = false;
    const settle = (r: R) => {
      if (settled) return;
      settled = true;
      results[i] = r;
      if (--left === 0) finish(results);
    };
    try {
      start(key, settle, i);
    } catch (e) {
      settle({ key, error: keyError(e) } as R);
    }
  }
}

export function batchHandlers(
  coord: Coordinator,
  gate: RequestGate,
  limits: BatchLimits,
  fail: (reply: (err: StatusError | null) => void, err: unknown) => void,
  /** Counts each answer in the request metrics (method 3 MGet, 4 MSet, 5 MDelete). */
  observed: <T>(method: MethodIndex, reply: grpc.sendUnaryData<T>) => (err: StatusError | null, value?: T) => void,
  now: () => number = Date.now,
) {
  /** Checks the call as a whole, then runs it counted as in flight (one slot for the whole batch). */
  const admit = <Req extends { consistency: number }>(
    call: grpc.ServerUnaryCall<Req, unknown>,
    reply: (err: StatusError | null) => void,
    count: number,
    run: (level: number, finished: () => void) => void,
  ) => {
    if (count > limits.maxBatchKeys) {
      fail(reply, invalid(`${count} keys in one call; the limit is ${limits.maxBatchKeys} (MAX_BATCH_KEYS)`));
      return;
    }
    let level: number;
    try {
      level = checkConsistency(call.request.consistency);
    } catch (e) {
      fail(reply, e);
      return;
    }
    gate.pass(
      reply,
      () => {
        gate.begin();
        run(level, () => gate.end());
      },
      absoluteDeadline(call),
      Math.max(1, count),
    );
  };

  const MGet: grpc.handleUnaryCall<MGetRequest__Output, MGetResponse> = (call, reply) => {
    const callback = observed(3, reply);
    const keys = call.request.keys;
    admit(call, callback, keys.length, (level, finished) => {
      // A key asked for twice is read once: every duplicate gets the same result.
      const first = new Map<string, number>();
      const unique: number[] = [];
      for (let i = 0; i < keys.length; i++) if (!first.has(keys[i]!)) first.set(keys[i]!, unique.push(i) - 1);
      runKeys<MGetResult>(
        unique,
        keys.length,
        (i) => keys[i]!,
        (key, settle) => {
          checkKey(key, limits.maxKeyBytes);
          coord.get(key, level, (err: CacheError | null, rec?: EntryRecord) =>
            settle(err ? { key, error: keyError(err) } : rec ? found(key, rec, now()) : { key, found: false }),
          );
        },
        (results) => {
          for (let i = 0; i < keys.length; i++) results[i] ??= results[unique[first.get(keys[i]!)!]!]!;
          finished();
          callback(null, { results });
        },
      );
    });
  };

  const MSet: grpc.handleUnaryCall<MSetRequest__Output, MSetResponse> = (call, reply) => {
    const callback = observed(4, reply);
    const entries = call.request.entries;
    admit(call, callback, entries.length, (level, finished) => {
      // The last entry of a key is written; earlier ones of the same key are superseded.
      const last = new Map<string, number>();
      for (let i = 0; i < entries.length; i++) last.set(entries[i]!.key, i);
      runKeys<MSetResult>(
        entries.map((_, i) => i),
        entries.length,
        (i) => entries[i]!.key,
        (key, settle, i) => {
          const e = entries[i]!;
          checkKey(key, limits.maxKeyBytes);
          const { value, binary } = checkValue(e.payload === 'data' ? e.data : undefined, e.value, limits);
          const ttl = checkTtl(Number(e.ttl_ms), limits);
          if (last.get(key) !== i) settle({ key, superseded: true });
          else
            coord.set(key, value, binary, ttl, level, (err: CacheError | null, r?: WriteResult) =>
              settle(err ? { key, error: keyError(err) } : { key, version: versionText(r!.wall, r!.logical) }),
            );
        },
        (results) => {
          // A superseded entry reports the version its key got.
          for (const r of results) if (r.superseded) r.version = results[last.get(r.key!)!]!.version;
          finished();
          callback(null, { results });
        },
      );
    });
  };

  const MDelete: grpc.handleUnaryCall<MDeleteRequest__Output, MDeleteResponse> = (call, reply) => {
    const callback = observed(5, reply);
    const keys = call.request.keys;
    admit(call, callback, keys.length, (level, finished) => {
      runKeys<MDeleteResult>(
        keys.map((_, i) => i),
        keys.length,
        (i) => keys[i]!,
        (key, settle) => {
          checkKey(key, limits.maxKeyBytes);
          coord.delete(key, level, (err: CacheError | null, r?: WriteResult) =>
            settle(err ? { key, error: keyError(err) } : { key, deleted: r!.deleted === true, version: versionText(r!.wall, r!.logical) }),
          );
        },
        (results) => {
          finished();
          callback(null, { results });
        },
      );
    });
  };

  return { MGet, MSet, MDelete };
}

function found(key: string, rec: EntryRecord, now: number): MGetResult {
  const ttl = rec.expiresAt === 0 ? 0 : Math.max(1, rec.expiresAt - now);
  const r: MGetResult = { key, found: true, version: versionText(rec.wall, rec.logical), ttl_remaining_ms: ttl };
  if (rec.binary) r.data = Buffer.from(rec.value, 'latin1');
  else r.value = rec.value;
  return r;
}
