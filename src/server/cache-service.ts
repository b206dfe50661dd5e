/** cache.v1.CacheService: validates requests, hands them to the coordinator, shapes answers. */
import type * as grpc from '@grpc/grpc-js';
import type { Coordinator, WriteResult } from '../replication/coordinator.js';
import type { EntryRecord } from '../store/store.js';
import { decodeKeyRequest, decodeSetRequest, encodeGetResponse, encodeWriteResponse, type GetAnswer, type KeyRequest, type SetRequest } from './codec.js';
import { CacheError, invalid } from '../errors/errors.js';
import type { Logger } from '../log/logger.js';
import type { RequestGate } from './gate.js';
import { notFound, toStatus, type StatusError } from './status.js';
import { absoluteDeadline } from './deadline.js';
import { withCodecs } from './protos.js';
import { NO_OBSERVER, type MethodIndex, type RequestObserver } from '../metrics/metrics.js';

export interface RequestLimits {
  maxKeyBytes: number;
  maxValueBytes: number;
  maxTtlMs: number;
}


type Reply = grpc.sendUnaryData<unknown>;

const CONSISTENCY_HELP = 'one of CONSISTENCY_UNSPECIFIED (0), CONSISTENCY_ONE (1), CONSISTENCY_QUORUM (2), CONSISTENCY_ALL (3)';

export function checkKey(key: string | undefined, maxKeyBytes: number): string {
  if (!key) throw invalid('key must not be empty');
  // Cheap bound first: a UTF-16 code unit is at most 3 UTF-8 bytes.
  if (key.length * 3 > maxKeyBytes) {
    const bytes = Buffer.byteLength(key, 'utf8');
    if (bytes > maxKeyBytes) throw invalid(`key is ${bytes} bytes; the limit is ${maxKeyBytes} (MAX_KEY_SIZE)`);
  }
  return key;
}

export function checkConsistency(c: number | undefined): number {
  if (c === undefined || c === 0) return 0;
  if (c === 1 || c === 2 || c === 3) return c;
  throw invalid(`consistency ${c} is not ${CONSISTENCY_HELP}`);
}

export function cacheServiceHandlers(
  coord: Coordinator, gate: RequestGate, limits: RequestLimits, log: Logger,
  metrics: RequestObserver = NO_OBSERVER, now: () => number = Date.now,
): grpc.UntypedServiceImplementation {
  const debug = log.isLevelEnabled('debug');

  /** Wraps a call's callback so that every answer is counted once, with its status code. */
  const observed = (method: MethodIndex, reply: Reply): Reply => {
    if (metrics === NO_OBSERVER) return reply;
    const t0 = performance.now();
    return (err, value) => {
      metrics.observe(method, err ? ((err as StatusError).code ?? 2) : 0, t0);
      reply(err, value);
    };
  };

  const fail = (reply: Reply, err: unknown) => {
    const s = toStatus(err);
    if (s.code === 13) log.error({ err }, 'internal error');
    reply(s);
  };

  /** Runs a coordinator call counted as in flight; a synchronous throw (a bug) still answers and frees the slot. */
  const guarded = (reply: Reply, run: () => void) => {
    gate.begin();
    try {
      run();
    } catch (err) {
      gate.end();
      fail(reply, err);
    }
  };

  const writeAnswer = (reply: Reply) => (err: CacheError | null, r?: WriteResult) => {
    gate.end();
    if (err) fail(reply, err);
    else reply(null, r);
  };

  /** Get and Delete: a key and a consistency level, validated, then `run`. */
  function keyed(method: MethodIndex, name: string, run: (key: string, level: number, reply: Reply) => void) {
    return (call: grpc.ServerUnaryCall<KeyRequest, unknown>, callback: Reply): void => {
      const reply = observed(method, callback);
      gate.pass(reply, () => {
        const req = call.request;
        let key: string, level: number;
        try {
          key = checkKey(req.key, limits.maxKeyBytes);
          level = checkConsistency(req.consistency);
        } catch (e) { fail(reply, e); return; }
        if (debug) log.debug({ method: name, key, level }, 'request');
        guarded(reply, () => run(key, level, reply));
      }, absoluteDeadline(call));
    };
  }

  const get = keyed(0, 'Get', (key, level, reply) => coord.get(key, level, (err: CacheError | null, rec?: EntryRecord) => {
    gate.end();
    if (err) fail(reply, err);
    else if (rec === undefined) reply(notFound(key));
    else reply(null, getResponse(rec, now()));
  }));

  const del = keyed(2, 'Delete', (key, level, reply) => coord.delete(key, level, writeAnswer(reply)));

  function set(call: grpc.ServerUnaryCall<SetRequest, unknown>, callback: Reply): void {
    const reply = observed(1, callback);
    gate.pass(reply, () => {
      const req = call.request;
      let key: string, level: number, value: string, binary: boolean, ttl: number;
      try {
        key = checkKey(req.key, limits.maxKeyBytes);
        level = checkConsistency(req.consistency);
        binary = req.binary;
        let bytes: number;
        if (binary) {
          const data = req.data!;
          bytes = data.length;
          value = bytes > limits.maxValueBytes ? '' : data.toString('latin1'); // a copy: the request buffer is not retained
        } else {
          value = req.value;
          bytes = value.length * 3 > limits.maxValueBytes ? Buffer.byteLength(value, 'utf8') : value.length;
        }
        if (bytes > limits.maxValueBytes) {
          throw invalid(`value is ${bytes} bytes; the limit is ${limits.maxValueBytes} bytes (MAX_RECV_MSG_SIZE/MAX_SEND_MSG_SIZE less key and framing)`);
        }
        ttl = req.ttlMs;
        if (ttl > limits.maxTtlMs) throw invalid(`ttl_ms ${ttl} is too large; the limit is ${limits.maxTtlMs}`);
      } catch (e) { fail(reply, e); return; }
      if (debug) log.debug({ method: 'Set', key, level, ttl, binary }, 'request');
      guarded(reply, () => coord.set(key, value, binary, ttl, level, writeAnswer(reply)));
    }, absoluteDeadline(call));
  }

  return { Get: get, Set: set, Delete: del } as grpc.UntypedServiceImplementation;
}

function getResponse(rec: EntryRecord, now: number): GetAnswer {
  return {
    value: rec.value,
    binary: rec.binary,
    wall: rec.wall,
    logical: rec.logical,
    ttlMs: rec.expiresAt === 0 ? 0 : Math.max(1, rec.expiresAt - now),
  };
}

/** The CacheService definition with the hand-written codecs of src/server/codec.ts. */
export function withFastCodecs(def: grpc.ServiceDefinition): grpc.ServiceDefinition {
  return withCodecs(def, {
    Get: { requestDeserialize: decodeKeyRequest, responseSerialize: encodeGetResponse },
    Set: { requestDeserialize: decodeSetRequest, responseSerialize: encodeWriteResponse },
    Delete: { requestDeserialize: decodeKeyRequest, responseSerialize: encodeWriteResponse },
  });
}
