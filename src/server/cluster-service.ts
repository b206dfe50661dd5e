/** cache.v1.ClusterService: Join, Leave, Members, Stats, Flush. */

import { ParseError, parseAddress } from '../config/parse.js';
import { invalid } from '../errors/errors.js';
import { toStatus } from '../errors/status.js';
import type { MemberRecord, MemberView } from '../membership/table.js';
import { memberFromWire, memberToWire } from '../peer/service.js';
import type { ClusterServiceHandlers } from '../protos/generated/public/cache/v1/ClusterService.js';
import type { StatsResponse } from '../protos/generated/public/cache/v1/StatsResponse.js';
import { publicApi } from '../protos/protos.js';
import type { FlushOutcome } from '../replication/flush.js';
import { versionText } from '../wire/codec.js';
import type { ServiceBinding } from './server.js';

export interface ClusterOps {
  selfId: string;
  replicationFactor: number;
  vnodes: number;
  join(member: MemberRecord): MemberRecord[];
  members(): MemberView[];
  /** This node's estimate of a member's clock minus its own (ms); undefined for itself or a member not measured. */
  clockOffset(id: string): number | undefined;
  ringVersion(): string;
  /** Leave of this node (graceful stop) when id is self; removal of another node otherwise. */
  leave(id: string): boolean;
  stats(): Promise<StatsResponse>;
  /** Cluster flush (src/replication/flush.ts). */
  flush(prefix: string): Promise<FlushOutcome>;
  /** Longest key, in UTF-8 bytes (a longer prefix could match nothing). */
  maxKeyBytes: number;
}

export function clusterService(ops: ClusterOps): ServiceBinding {
  const handlers: ClusterServiceHandlers = {
    Join(call, reply) {
      const m = call.request.member ? memberFromWire(call.request.member) : undefined;
      let why = m ? '' : 'member needs node_id, address (host:port), a state and an incarnation';
      if (m) {
        try {
          parseAddress(m.address);
        } catch (e) {
          if (!(e instanceof ParseError)) throw e;
          why = `member address: ${e.message}`;
        }
      }
      if (!m || why) {
        reply(toStatus(invalid(why)));
        return;
      }
      reply(null, { members: ops.join(m).map(memberToWire), ring_version: ops.ringVersion() });
    },

    Leave(call, reply) {
      const id = call.request.node_id || ops.selfId;
      if (!ops.members().some((m) => m.id === id)) {
        reply(toStatus(invalid(`no member with node_id ${JSON.stringify(id)}`)));
        return;
      }
      reply(null, { ok: ops.leave(id) });
    },

    Members(_call, reply) {
      reply(null, {
        members: ops.members().map((m) => ({ ...memberToWire(m), clock_offset_ms: Math.round(ops.clockOffset(m.id) ?? 0) })),
        ring_version: ops.ringVersion(),
        self: ops.selfId,
        replication_factor: ops.replicationFactor,
        vnodes: ops.vnodes,
      });
    },

    Flush(call, reply) {
      const prefix = call.request.prefix;
      const bytes = Buffer.byteLength(prefix, 'utf8');
      if (bytes > ops.maxKeyBytes) {
        reply(toStatus(invalid(`prefix is ${bytes} bytes; no key is longer than ${ops.maxKeyBytes} (MAX_KEY_SIZE)`)));
        return;
      }
      ops.flush(prefix).then(
        ({ mark, pending }) => reply(null, { version: versionText(mark.wall, mark.logical), pending }),
        (err: unknown) => reply(toStatus(err)),
      );
    },

    Stats(_call, reply) {
      ops.stats().then(
        (s) => reply(null, s),
        (err: unknown) => reply(toStatus(err)),
      );
    },
  };
  return { definition: publicApi().ClusterService.service, handlers };
}
