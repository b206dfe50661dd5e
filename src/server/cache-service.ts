/** cache.v1.CacheService: validates requests, hands them to the coordinator, shapes answers. */
import * as grpc from '@grpc/grpc-js';
import { type CacheError, invalid } from '../errors/errors.js';
import { type StatusError, statusOf, toStatus } from '../errors/status.js';
import type { KeyCounter } from '../hotkeys/topk.js';
import type { Logger } from '../log/logger.js';
import { type MethodIndex, NO_OBSERVER, type RequestObserver } from '../metrics/metrics.js';
import type { GetOrLeaseRequest__Output } from '../protos/generated/public/cache/v1/GetOrLeaseRequest.js';
import type { GetOrLeaseResponse } from '../protos/generated/public/cache/v1/GetOrLeaseResponse.js';
import type { ReleaseLeaseRequest__Output } from '../protos/generated/public/cache/v1/ReleaseLeaseRequest.js';
import type { ReleaseLeaseResponse } from '../protos/generated/public/cache/v1/ReleaseLeaseResponse.js';
import { publicApi } from '../protos/protos.js';
import type { Coordinator, LeaseAnswer, WriteResult } from '../replication/coordinator.js';
import type { EntryRecord } from '../store/store.js';
import {
  decodeDeleteResponse,
  decodeGetResponse,
  decodeKeyRequest,
  decodeMGetRequest,
  decodeMGetResponse,
  decodeMSetRequest,
  decodeMSetResponse,
  decodeSetRequest,
  decodeSetResponse,
  encodeGetResponse,
  encodeKeyRequest,
  encodeMGetRequest,
  encodeMGetResponse,
  encodeMSetRequest,
  encodeMSetResponse,
  encodeSetRequest,
  encodeWriteResponse,
  type GetAnswer,
  type KeyRequest,
  type MGetAnswer,
  type MGetRequest,
  type MSetAnswer,
  type MSetRequest,
  type SetRequest,
  versionText,
  type WriteAnswer,
} from '../wire/codec.js';
import { type BatchLimits, batchHandlers } from './batch.js';
import { absoluteDeadline } from './deadline.js';
import type { RequestGate } from './gate.js';
import type { NearTracking } from './invalidations.js';
import type { ServiceBinding } from './server.js';
import { checkConsistency, checkKey, checkLeaseMs, checkTtl, checkValue } from './validate.js';
import type { Watchers } from './watch.js';

/** CacheService with the hand-written codecs of src/wire/codec.ts (both ends) on every method but MDelete. */
export function cacheDefinition() {
  const generated = publicApi().CacheService.service;
  const codecs = <Req, Res>(
    encodeReq: (r: Req) => Buffer,
    decodeReq: (b: Buffer) => Req,
    encodeRes: (r: Res) => Buffer,
    decodeRes: (b: Buffer) => Res,
  ) => ({
    requestSerialize: encodeReq,
    requestDeserialize: decodeReq,
    responseSerialize: encodeRes,
    responseDeserialize: decodeRes,
  });
  const get: grpc.MethodDefinition<KeyRequest, GetAnswer> = {
    ...generated.Get,
    ...codecs(encodeKeyRequest, decodeKeyRequest, encodeGetResponse, decodeGetResponse),
  };
  const set: grpc.MethodDefinition<SetRequest, WriteAnswer> = {
    ...generated.Set,
    ...codecs(encodeSetRequest, decodeSetRequest, encodeWriteResponse, decodeSetResponse),
  };
  const del: grpc.MethodDefinition<KeyRequest, WriteAnswer> = {
    ...generated.Delete,
    ...codecs(encodeKeyRequest, decodeKeyRequest, encodeWriteResponse, decodeDeleteResponse),
  };
  const mget: grpc.MethodDefinition<MGetRequest, MGetAnswer> = {
    ...generated.MGet,
    ...codecs(encodeMGetRequest, decodeMGetRequest, encodeMGetResponse, decodeMGetResponse),
  };
  const mset: grpc.MethodDefinition<MSetRequest, MSetAnswer> = {
    ...generated.MSet,
    ...codecs(encodeMSetRequest, decodeMSetRequest, encodeMSetResponse, decodeMSetResponse),
  };
  // MDelete (src/server/batch.ts), GetOrLease and ReleaseLease use the generated codec.
  return { ...generated, Get: get, Set: set, Delete: del, MGet: mget, MSet: mset };
}

type Reply<T> = (err: StatusError | null, value?: T) => void;

export function cacheService(
  coord: Coordinator,
  gate: RequestGate,
  limits: BatchLimits,
  log: Logger,
  metrics: RequestObserver = NO_OBSERVER,
  now: () => number = Date.now,
  /** Counts each key of a client call (the hot keys, src/hotkeys/topk.ts). */
  hot: KeyCounter | undefined,
  /** Client near caches (src/server/invalidations.ts): Gets track their key for the caller's stream. */
  near: NearTracking,
  /** Watch streams (src/server/watch.ts). */
  watch: Watchers,
): ServiceBinding {
  const debug = log.isLevelEnabled('debug');

  /** Wraps a call's callback so that every answer is counted once, with its status code. */
  const observed = <T>(method: MethodIndex, reply: grpc.sendUnaryData<T>): Reply<T> => {
    if (metrics === NO_OBSERVER) return reply;
    const t0 = performance.now();
    return (err, value) => {
      metrics.observe(method, err ? err.code : grpc.status.OK, t0);
      reply(err, value);
    };
  };

  const fail = (reply: Reply<never>, err: unknown) => {
    const s = toStatus(err);
    if (s.code === grpc.status.INTERNAL) log.error({ err }, 'internal error');
    reply(s);
  };

  /** Runs a coordinator call counted as in flight; a synchronous throw (a bug) still answers and frees the slot. */
  const guarded = (reply: Reply<never>, run: () => void) => {
    gate.begin();
    try {
      run();
    } catch (err) {
      gate.end();
      fail(reply, err);
    }
  };

  const writeAnswer = (reply: Reply<WriteAnswer>) => (err: CacheError | null, r?: WriteResult) => {
    gate.end();
    if (err) fail(reply, err);
    else reply(null, r);
  };

  /** Get and Delete: a key and a consistency level, validated, then `run`. */
  function keyed<T>(
    method: MethodIndex,
    name: string,
    run: (key: string, level: number, reply: Reply<T>) => void,
  ): grpc.handleUnaryCall<KeyRequest, T> {
    return (call, callback) => {
      const reply = observed(method, callback);
      gate.pass(
        reply,
        () => {
          const req = call.request;
          let key: string, level: number;
          try {
            key = checkKey(req.key, limits.maxKeyBytes);
            level = checkConsistency(req.consistency);
          } catch (e) {
            fail(reply, e);
            return;
          }
          if (debug) log.debug({ method: name, key, level }, 'request');
          hot?.hit(key);
          // tracked before the read starts: a write applied after it is always pushed
          if (method === 0 && near.active) {
            const c = near.clientOf(call.metadata);
            if (c !== undefined) near.track(c, key);
          }
          guarded(reply, () => run(key, level, reply));
        },
        absoluteDeadline(call),
      );
    };
  }

  const get = keyed<GetAnswer>(0, 'Get', (key, level, reply) =>
    coord.get(key, level, (err: CacheError | null, rec?: EntryRecord) => {
      gate.end();
      if (err) fail(reply, err);
      else if (rec === undefined) reply(statusOf('not_found', `key not found: ${JSON.stringify(key)}`));
      else reply(null, getAnswer(rec, now()));
    }),
  );

  const del = keyed<WriteAnswer>(2, 'Delete', (key, level, reply) => coord.delete(key, level, writeAnswer(reply)));

  const set: grpc.handleUnaryCall<SetRequest, WriteAnswer> = (call, callback) => {
    const reply = observed(1, callback);
    gate.pass(
      reply,
      () => {
        const req = call.request;
        let key: string, level: number, value: string, binary: boolean, ttl: number;
        try {
          key = checkKey(req.key, limits.maxKeyBytes);
          level = checkConsistency(req.consistency);
          ({ value, binary } = checkValue(req.data, req.value, limits));
          ttl = checkTtl(req.ttlMs, limits);
        } catch (e) {
          fail(reply, e);
          return;
        }
        if (debug) log.debug({ method: 'Set', key, level, ttl, binary, leased: req.leaseToken !== '' }, 'request');
        hot?.hit(key);
        const token = req.leaseToken;
        if (token) guarded(reply, () => coord.setLeased(key, value, binary, ttl, level, token, writeAnswer(reply)));
        else guarded(reply, () => coord.set(key, value, binary, ttl, level, writeAnswer(reply)));
      },
      absoluteDeadline(call),
    );
  };

  const getOrLease: grpc.handleUnaryCall<GetOrLeaseRequest__Output, GetOrLeaseResponse> = (call, callback) => {
    const reply = observed(6, callback);
    gate.pass(
      reply,
      () => {
        const req = call.request;
        let key: string, level: number, leaseMs: number;
        try {
          key = checkKey(req.key, limits.maxKeyBytes);
          level = checkConsistency(req.consistency);
          leaseMs = checkLeaseMs(req.lease_ms);
        } catch (e) {
          fail(reply, e);
          return;
        }
        if (debug) log.debug({ method: 'GetOrLease', key, level, leaseMs }, 'request');
        hot?.hit(key);
        guarded(reply, () =>
          coord.getOrLease(key, leaseMs, level, (err: CacheError | null, a?: LeaseAnswer) => {
            gate.end();
            if (err) fail(reply, err);
            else reply(null, leaseAnswer(a!, now()));
          }),
        );
      },
      absoluteDeadline(call),
    );
  };

  const releaseLease: grpc.handleUnaryCall<ReleaseLeaseRequest__Output, ReleaseLeaseResponse> = (call, callback) => {
    const reply = observed(7, callback);
    gate.pass(
      reply,
      () => {
        const req = call.request;
        let key: string;
        try {
          key = checkKey(req.key, limits.maxKeyBytes);
          if (!req.lease_token) throw invalid('lease_token must not be empty');
        } catch (e) {
          fail(reply, e);
          return;
        }
        if (debug) log.debug({ method: 'ReleaseLease', key }, 'request');
        guarded(reply, () =>
          coord.releaseLease(key, req.lease_token, (err: CacheError | null, released?: boolean) => {
            gate.end();
            if (err) fail(reply, err);
            else reply(null, { released: released === true });
          }),
        );
      },
      absoluteDeadline(call),
    );
  };

  return {
    definition: cacheDefinition(),
    handlers: {
      Get: get,
      Set: set,
      Delete: del,
      GetOrLease: getOrLease,
      ReleaseLease: releaseLease,
      Invalidations: near.handler,
      Watch: watch.handler,
      ...batchHandlers(coord, gate, limits, fail, observed, now, hot, near),
    },
  };
}

function getAnswer(rec: EntryRecord, now: number): GetAnswer {
  return {
    value: rec.value,
    binary: rec.binary,
    wall: rec.wall,
    logical: rec.logical,
    ttlMs: rec.expiresAt === 0 ? 0 : Math.max(1, rec.expiresAt - now),
  };
}

/** GetOrLeaseResponse (generic codec: the version as decimal text). A lease token is never logged. */
function leaseAnswer(a: LeaseAnswer, now: number): GetOrLeaseResponse {
  if (a.kind === 'lease') return { lease_token: a.token };
  const rec = a.kind === 'value' ? a.rec : a.stale;
  const out: GetOrLeaseResponse = a.kind === 'wait' ? { wait_ms: a.waitMs, stale: rec !== undefined } : { found: true };
  if (rec) {
    if (rec.binary) out.data = Buffer.from(rec.value, 'latin1');
    else out.value = rec.value;
    out.version = versionText(rec.wall, rec.logical);
    if (a.kind === 'value' && rec.expiresAt !== 0) out.ttl_remaining_ms = Math.max(1, rec.expiresAt - now);
    if (a.kind === 'wait') out.stale_age_ms = Math.max(0, now - rec.expiresAt);
  }
  return out;
}
