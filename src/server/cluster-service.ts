/** cache.v1.ClusterService: Join, Leave, Members, Stats. */
import type * as grpc from '@grpc/grpc-js';
import type { MemberRecord, MemberView } from '../membership/table.js';
import { STATE_NAMES, STATE_NUMBERS } from '../membership/membership.js';
import { invalid } from '../errors/errors.js';
import { toStatus } from './status.js';

export interface ClusterOps {
  selfId: string;
  replicationFactor: number;
  vnodes: number;
  join(member: MemberRecord): MemberRecord[];
  members(): MemberView[];
  ringVersion(): string;
  /** Leave of this node (graceful stop) when id is self; removal of another node otherwise. */
  leave(id: string): boolean;
  stats(): Promise<Record<string, number | string>>;
}

interface WireMember { node_id?: string; address?: string; state?: number; incarnation?: string }

export function memberToWire(m: MemberRecord): WireMember {
  return { node_id: m.id, address: m.address, state: STATE_NUMBERS[m.state], incarnation: String(m.incarnation) };
}

export function clusterServiceHandlers(ops: ClusterOps): grpc.UntypedServiceImplementation {
  const Join: grpc.handleUnaryCall<{ member?: WireMember }, unknown> = (call, reply) => {
    const m = call.request.member;
    const state = STATE_NAMES[m?.state ?? 1];
    const incarnation = Number(m?.incarnation ?? 0);
    if (!m?.node_id || !m.address || !/:\d+$/.test(m.address) || !state || !Number.isSafeInteger(incarnation)) {
      reply(toStatus(invalid('member needs node_id, address (host:port), a state and an incarnation')));
      return;
    }
    const members = ops.join({ id: m.node_id, address: m.address, state: state as MemberRecord['state'], incarnation });
    reply(null, { members: members.map(memberToWire), ring_version: ops.ringVersion() });
  };

  const Leave: grpc.handleUnaryCall<{ node_id?: string }, unknown> = (call, reply) => {
    const id = call.request.node_id || ops.selfId;
    if (!ops.members().some((m) => m.id === id)) {
      reply(toStatus(invalid(`no member with node_id ${JSON.stringify(id)}`)));
      return;
    }
    reply(null, { ok: ops.leave(id) });
  };

  const Members: grpc.handleUnaryCall<unknown, unknown> = (_call, reply) => {
    reply(null, {
      members: ops.members().map(memberToWire),
      ring_version: ops.ringVersion(),
      self: ops.selfId,
      replication_factor: ops.replicationFactor,
      vnodes: ops.vnodes,
    });
  };

  const Stats: grpc.handleUnaryCall<unknown, unknown> = (_call, reply) => {
    ops.stats().then((s) => reply(null, s), (err: Error) => reply(toStatus(err)));
  };

  return { Join, Leave, Members, Stats } as grpc.UntypedServiceImplementation;
}
