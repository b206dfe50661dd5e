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
import type { KeyCounter } from '../hotkeys/topk.js';
import type { MethodIndex } from '../metrics/metrics.js';
import type { KeyError } from '../protos/generated/public/cache/v1/KeyError.js';
import type { MDeleteRequest__Output } from '../protos/generated/public/cache/v1/MDeleteRequest.js';
import type { MDeleteResponse } from '../protos/generated/public/cache/v1/MDeleteResponse.js';
import type { MDeleteResult } from '../protos/generated/public/cache/v1/MDeleteResult.js';
import type { Coordinator, WriteResult } from '../replication/coordinator.js';
import type { EntryRecord } from '../store/store.js';
import {
  type FoundValue,
  KeyFailure,
  type MGetAnswer,
  type MGetRequest,
  type MSetAnswer,
  type MSetRequest,
  type MSetWritten,
  versionText,
} from '../wire/codec.js';
import { absoluteDeadline } from './deadline.js';
import type { RequestGate } from './gate.js';
import type { NearTracking } from './invalidations.js';
import { checkConsistency, checkKey, checkTtl, checkValue, type RequestLimits } from './validate.js';

export interface BatchLimits extends RequestLimits {
  maxBatchKeys: number;
}

function keyFailure(err: unknown): KeyFailure {
  const s = toStatus(err);
  return new KeyFailure(s.code, s.details);
}

function keyError(err: unknown): KeyError {
  const s = toStatus(err);
  return { code: s.code, message: s.details };
}

/**
 * Runs the keys at `indexes` (every one of the `size` keys when null) of a call: `start(i, settle)`
 * for each, which validates (a throw is that key's error: `failed(i, err)`) and calls
 * settle(i, result) when key i is done (only its first settle counts); `finish(results)` once
 * every one has settled (results has `size` slots, in request order). One settle function and
 * one flag array per call, not a closure per key.
 */
function runKeys<R>(
  size: number,
  indexes: readonly number[] | null,
  start: (i: number, settle: (i: number, r: R) => void) => void,
  failed: (i: number, err: unknown) => R,
  finish: (results: R[]) => void,
): void {
  const results: R[] = new Array(size);
  const count = indexes === null ? size : indexes.length;
  let left = count;
  if (left === 0) {
    finish(results);
    return;
  }
  const settled = new Uint8Array(size);
  const settle = (i: number, r: R) => {
    if (settled[i] === 1) return;
    settled[i] = 1;
    results[i] = r;
    if (--left === 0) finish(results);
  };
  for (let j = 0; j < count; j++) {
    const i = indexes === null ? j : indexes[j]!;
    try {
      start(i, settle);
    } catch (e) {
      settle(i, failed(i, e));
    }
  }
}

/** Placeholder of a superseded MSet entry until its key's last entry is done. */
const SUPERSEDED: MSetWritten = { wall: 0, logical: 0, superseded: true };

export function batchHandlers(
  coord: Coordinator,
  gate: RequestGate,
  limits: BatchLimits,
  fail: (reply: (err: StatusError | null) => void, err: unknown) => void,
  /** Counts each answer in the request metrics (method 3 MGet, 4 MSet, 5 MDelete). */
  observed: <T>(method: MethodIndex, reply: grpc.sendUnaryData<T>) => (err: StatusError | null, value?: T) => void,
  now: () => number = Date.now,
  /** Counts each key served (the hot keys). */
  hot: KeyCounter | undefined,
  /** Client near caches: an MGet naming a stream tracks its keys for it, an MSet the keys it wrote (src/server/invalidations.ts). */
  near: NearTracking,
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

  const MGet: grpc.handleUnaryCall<MGetRequest, MGetAnswer> = (call, reply) => {
    const callback = observed(3, reply);
    const { keys, invalid: notUtf8 } = call.request;
    admit(call, callback, keys.length, (level, finished) => {
      const tracked = near.active ? near.clientOf(call.metadata) : undefined;
      // A key asked for twice is read once: every duplicate gets the same result. A key that is
      // not valid UTF-8 is never one (its decoded text may equal another key's): it fails alone.
      const first = new Map<string, number>();
      let dups: number[] | undefined;
      for (let i = 0; i < keys.length; i++) {
        if (notUtf8?.includes(i)) continue;
        if (first.has(keys[i]!)) (dups ??= []).push(i);
        else first.set(keys[i]!, i);
      }
      let run: number[] | null = null; // null: every key
      if (dups) {
        run = [];
        for (let i = 0, d = 0; i < keys.length; i++) {
          if (dups[d] === i) d++;
          else run.push(i);
        }
      }
      runKeys<FoundValue | null | KeyFailure>(
        keys.length,
        run,
        (i, settle) => {
          const key = keys[i]!;
          if (notUtf8?.includes(i)) throw invalid('key is not valid UTF-8');
          checkKey(key, limits.maxKeyBytes);
          hot?.hit(key);
          if (tracked !== undefined) near.track(tracked, key); // before the read, as Get
          coord.get(key, level, (err: CacheError | null, rec?: EntryRecord) => settle(i, err ? keyFailure(err) : (rec ?? null)));
        },
        (_i, err) => keyFailure(err),
        (results) => {
          if (dups) for (const i of dups) results[i] = results[first.get(keys[i]!)!]!;
          finished();
          callback(null, { keys, results, now: now() });
        },
      );
    });
  };

  const MSet: grpc.handleUnaryCall<MSetRequest, MSetAnswer> = (call, reply) => {
    const callback = observed(4, reply);
    const entries = call.request.entries;
    admit(call, callback, entries.length, (level, finished) => {
      // The last entry of a key is written; earlier ones of the same key are superseded. An entry
      // whose key is not valid UTF-8 fails alone, whatever other key its decoded text equals.
      const last = new Map<string, number>();
      for (let i = 0; i < entries.length; i++) if (!entries[i]!.invalidKey) last.set(entries[i]!.key, i);
      // A client near cache writing through its stream keeps what it wrote (src/server/invalidations.ts).
      const tracked = near.active ? near.clientOf(call.metadata) : undefined;
      runKeys<MSetWritten | KeyFailure>(
        entries.length,
        null,
        (i, settle) => {
          const e = entries[i]!;
          if (e.invalidKey) throw invalid('key is not valid UTF-8');
          checkKey(e.key, limits.maxKeyBytes);
          if (e.invalidValue) throw invalid('value is not valid UTF-8');
          const { value, binary } = checkValue(e.data, e.value, limits);
          const ttl = checkTtl(e.ttlMs, limits);
          if (last.get(e.key) !== i) settle(i, SUPERSEDED);
          else {
            hot?.hit(e.key); // once per key and call, as MGet reads a repeated key once
            const done = (err: CacheError | null, r?: WriteResult) => {
              if (tracked !== undefined)
                near.written(tracked, e.key, err ? undefined : { wall: r!.wall, logical: r!.logical, ttlGiven: ttl > 0 });
              settle(i, err ? keyFailure(err) : r!);
            };
            if (tracked !== undefined) near.writing(tracked, e.key);
            try {
              coord.set(e.key, value, binary, ttl, level, done);
            } catch (err) {
              if (tracked !== undefined) near.written(tracked, e.key, undefined); // counted done, so that the key can be tracked again
              throw err;
            }
          }
        },
        (_i, err) => keyFailure(err),
        (results) => {
          // A superseded entry reports the version its key got (none if that write failed).
          if (last.size < entries.length)
            for (let i = 0; i < results.length; i++) {
              if (results[i] !== SUPERSEDED) continue;
              const w = results[last.get(entries[i]!.key)!]!;
              results[i] = w instanceof KeyFailure ? SUPERSEDED : { wall: w.wall, logical: w.logical, superseded: true };
            }
          finished();
          callback(null, { entries, results });
        },
      );
    });
  };

  const MDelete: grpc.handleUnaryCall<MDeleteRequest__Output, MDeleteResponse> = (call, reply) => {
    const callback = observed(5, reply);
    const keys = call.request.keys;
    admit(call, callback, keys.length, (level, finished) => {
      runKeys<MDeleteResult>(
        keys.length,
        null,
        (i, settle) => {
          const key = keys[i]!;
          checkKey(key, limits.maxKeyBytes);
          hot?.hit(key);
          coord.delete(key, level, (err: CacheError | null, r?: WriteResult) =>
            settle(
              i,
              err ? { key, error: keyError(err) } : { key, deleted: r!.deleted === true, version: versionText(r!.wall, r!.logical) },
            ),
          );
        },
        (i, err) => ({ key: keys[i]!, error: keyError(err) }),
        (results) => {
          finished();
          callback(null, { results });
        },
      );
    });
  };

  return { MGet, MSet, MDelete };
}
