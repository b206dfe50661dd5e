/**
 * Hand-written codec (src/wire/codec.ts) against the generated/default path (@grpc/proto-loader's
 * protobufjs serializers, which every other method uses), side by side in one run, for the
 * messages that go through the hand-written one. Each side does what the server would do with
 * it: the default path includes turning its message objects into the core's records (and
 * back), since those are what the node works with.
 *
 *   node --import tsx scripts/bench-codec.ts [--rounds 5] [--ms 300]
 *
 * Prints ns per message for both and the ratio (default / hand-written), the median of the
 * rounds; rounds alternate the two so that machine drift hits both alike.
 */
import { parseArgs } from 'node:util';
import { entryFromWire, entryToWire } from '../src/peer/service.ts';
import type { Batch__Output } from '../src/protos/generated/peer/cache/peer/v1/Batch.ts';
import type { BatchReply__Output } from '../src/protos/generated/peer/cache/peer/v1/BatchReply.ts';
import { OpKind } from '../src/protos/generated/peer/cache/peer/v1/OpKind.ts';
import { peerApi, publicApi } from '../src/protos/protos.ts';
import type { EntryRecord } from '../src/store/store.ts';
import {
  decodeBatch,
  decodeBatchReply,
  decodeKeyRequest,
  decodeMGetRequest,
  decodeMSetRequest,
  decodeSetRequest,
  encodeBatch,
  encodeBatchReply,
  encodeGetResponse,
  encodeMGetResponse,
  encodeMSetResponse,
  encodeWriteResponse,
  type PeerBatch,
  type PeerBatchReply,
  type PeerOp,
} from '../src/wire/codec.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, ms: { type: 'string', default: '300' } } });
const ROUNDS = Number(values.rounds);
const MS = Number(values.ms);

const cache = publicApi().CacheService.service;
const peer = peerApi().PeerService.service;
const wall = Date.now();
const rec = (i: number): EntryRecord => ({
  value: 'v'.repeat(100),
  binary: false,
  wall: wall + i,
  logical: i % 7,
  node: 'node-a',
  expiresAt: 0,
  tombstone: false,
});
const version = (w: number, l: number) => ((BigInt(w) << 16n) | BigInt(l)).toString();

// ---- inputs, encoded once by the generic path ----
const getReq = cache.Get.requestSerialize({ key: 'user:12345', consistency: 2 });
const setReq = cache.Set.requestSerialize({ key: 'user:12345', value: 'v'.repeat(100), consistency: 2 });
const r0 = rec(0);
const ops: PeerOp[] = Array.from({ length: 64 }, (_, i) =>
  i % 2 === 0 ? { kind: 1, key: `key:${i}`, rec: rec(i) } : { kind: 2, key: `key:${i}`, have: { ...rec(i), value: '' } },
);
const batch: PeerBatch = { seq: 7, ops, hlcWall: wall, hlcLogical: 1, from: 'node-a' };
const reply: PeerBatchReply = {
  seq: 7,
  hlcWall: wall,
  hlcLogical: 1,
  results: ops.map((o, i) => (o.kind === 1 ? { existed: true } : { found: true, rec: rec(i) })),
};
// batch calls: 100 keys, 100 B values (scripts/bench-batch.sh's bodies)
const keys = Array.from({ length: 100 }, (_, i) => `bench:b:${String(i).padStart(3, '0')}`);
const recs = keys.map((_, i) => rec(i));
const mgetReq = cache.MGet.requestSerialize({ keys, consistency: 2 });
const msetReq = cache.MSet.requestSerialize({ entries: keys.map((key) => ({ key, value: 'v'.repeat(100) })), consistency: 2 });
const batchBytes = encodeBatch(batch);
const replyBytes = encodeBatchReply(reply);

// ---- the default path, with the conversions the node would need ----
function genericBatch(b: PeerBatch) {
  return {
    seq: b.seq,
    hlc_wall: b.hlcWall,
    hlc_logical: b.hlcLogical,
    from: b.from,
    ops: b.ops.map((o) =>
      o.rec
        ? { kind: OpKind.OP_KIND_WRITE, entry: entryToWire(o.key, o.rec) }
        : { kind: OpKind.OP_KIND_READ, key: o.key, have_wall: o.have?.wall, have_logical: o.have?.logical, have_node: o.have?.node },
    ),
  };
}
function fromGenericBatch(m: Batch__Output): PeerBatch {
  return {
    seq: m.seq,
    hlcWall: m.hlc_wall,
    hlcLogical: m.hlc_logical,
    from: m.from,
    ops: m.ops.map((o) =>
      o.entry
        ? { kind: o.kind, key: o.entry.key, rec: entryFromWire(o.entry) }
        : {
            kind: o.kind,
            key: o.key,
            have: o.have_wall ? { ...r0, value: '', wall: o.have_wall, logical: o.have_logical, node: o.have_node } : undefined,
          },
    ),
  };
}
function genericReply(r: PeerBatchReply) {
  return {
    seq: r.seq,
    hlc_wall: r.hlcWall,
    hlc_logical: r.hlcLogical,
    results: r.results.map((x) => ({ ...x, entry: x.rec ? entryToWire('', x.rec) : undefined })),
  };
}
function fromGenericReply(m: BatchReply__Output): PeerBatchReply {
  return {
    seq: m.seq,
    hlcWall: m.hlc_wall,
    hlcLogical: m.hlc_logical,
    results: m.results.map((x) => ({
      found: x.found,
      existed: x.existed,
      same: x.same,
      rec: x.entry ? entryFromWire(x.entry) : undefined,
    })),
  };
}

type Case = [name: string, handWritten: () => unknown, generic: () => unknown];
const cases: Case[] = [
  ['GetRequest decode', () => decodeKeyRequest(getReq), () => cache.Get.requestDeserialize(getReq)],
  ['SetRequest decode (100 B value)', () => decodeSetRequest(setReq), () => cache.Set.requestDeserialize(setReq)],
  [
    'GetResponse encode (100 B value)',
    () => encodeGetResponse({ value: r0.value, binary: false, wall: r0.wall, logical: r0.logical, ttlMs: 0 }),
    () => cache.Get.responseSerialize({ value: r0.value, version: version(r0.wall, r0.logical), ttl_remaining_ms: 0 }),
  ],
  ['SetResponse encode', () => encodeWriteResponse({ wall, logical: 3 }), () => cache.Set.responseSerialize({ version: version(wall, 3) })],
  ['MGetRequest decode (100 keys)', () => decodeMGetRequest(mgetReq), () => cache.MGet.requestDeserialize(mgetReq)],
  ['MSetRequest decode (100 entries of 100 B)', () => decodeMSetRequest(msetReq), () => cache.MSet.requestDeserialize(msetReq)],
  [
    'MGetResponse encode (100 values of 100 B)',
    () => encodeMGetResponse({ keys, results: recs, now: wall }),
    () =>
      cache.MGet.responseSerialize({
        results: recs.map((r, i) => ({
          key: keys[i],
          found: true,
          version: version(r.wall, r.logical),
          ttl_remaining_ms: 0,
          value: r.value,
        })),
      }),
  ],
  [
    'MSetResponse encode (100 results)',
    () => encodeMSetResponse({ entries: recs.map((_, i) => ({ key: keys[i]! })), results: recs }),
    () => cache.MSet.responseSerialize({ results: recs.map((r, i) => ({ key: keys[i], version: version(r.wall, r.logical) })) }),
  ],
  ['Batch encode (64 ops)', () => encodeBatch(batch), () => peer.Exchange.requestSerialize(genericBatch(batch))],
  ['Batch decode (64 ops)', () => decodeBatch(batchBytes), () => fromGenericBatch(peer.Exchange.requestDeserialize(batchBytes))],
  ['BatchReply encode (64 results)', () => encodeBatchReply(reply), () => peer.Exchange.responseSerialize(genericReply(reply))],
  [
    'BatchReply decode (64 results)',
    () => decodeBatchReply(replyBytes),
    () => fromGenericReply(peer.Exchange.responseDeserialize(replyBytes)),
  ],
];

/** ns per call of fn, measured for about MS milliseconds. */
function nsPerCall(fn: () => unknown): number {
  let sink = 0;
  let n = 0;
  const start = process.hrtime.bigint();
  const stop = start + BigInt(MS) * 1_000_000n;
  let now = start;
  while (now < stop) {
    for (let i = 0; i < 200; i++) if (fn()) sink++;
    n += 200;
    now = process.hrtime.bigint();
  }
  if (sink < 0) console.log(sink);
  return Number(now - start) / n;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`node ${process.version}, ${ROUNDS} rounds of ${MS} ms per side, alternating; ns per message (median)\n`);
console.log('| message | hand-written | generic | generic / hand-written |');
console.log('|---|---:|---:|---:|');
for (const [name, hand, generic] of cases) {
  nsPerCall(hand);
  nsPerCall(generic); // warm-up
  const h: number[] = [];
  const g: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    h.push(nsPerCall(hand));
    g.push(nsPerCall(generic));
  }
  const mh = median(h);
  const mg = median(g);
  console.log(`| ${name} | ${mh.toFixed(0)} | ${mg.toFixed(0)} | ${(mg / mh).toFixed(2)}x |`);
}
