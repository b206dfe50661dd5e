/**
 * node --import tsx scripts/bench/wait-cluster.ts N ADDR [ADDR...]
 * Polls cache.v1.ClusterService/Members on every ADDR until each sees N members ALIVE
 * (exit 0), or gives up after WAIT_SECONDS (default 30; exit 1). Used by compare.sh.
 */
import * as grpc from '@grpc/grpc-js';
import { MemberState } from '../../src/protos/generated/public/cache/v1/MemberState.ts';
import { publicApi } from '../../src/protos/protos.ts';

const [nArg, ...addrs] = process.argv.slice(2);
const want = Number(nArg);
if (!Number.isInteger(want) || want < 1 || addrs.length === 0) {
  process.stderr.write('usage: wait-cluster.ts N ADDR [ADDR...]\n');
  process.exit(2);
}
const { ClusterService } = publicApi();
const end = Date.now() + Number(process.env.WAIT_SECONDS ?? 30) * 1000;

for (const addr of addrs) {
  const c = new ClusterService(addr, grpc.credentials.createInsecure());
  let last = '';
  for (;;) {
    const alive = await new Promise<number>((resolve) => {
      c.Members({}, { deadline: Date.now() + 1000 }, (err, res) => {
        if (err || !res) {
          last = err ? `${grpc.status[err.code]}: ${err.details}` : 'empty answer';
          resolve(-1);
          return;
        }
        resolve(res.members.filter((m) => m.state === MemberState.MEMBER_STATE_ALIVE).length);
      });
    });
    if (alive >= want) break;
    if (alive >= 0) last = `${alive}/${want} members alive`;
    if (Date.now() > end) {
      process.stderr.write(`wait-cluster: ${addr} not ready: ${last}\n`);
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  c.close();
}
process.stdout.write(`wait-cluster: ${addrs.length} node(s) see ${want} members alive\n`);
