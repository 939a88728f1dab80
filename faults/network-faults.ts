/**
 * A slow, lossy network between the edge and Redis, then Kafka (faults/network.ts: a
 * network namespace with a veth pair; the impairment is a proxy, since this kernel has
 * no netem): 100–300 ms each way and 5 % loss for 15 s. Expected: bounded latency, no
 * double accept, clear 503s (with Retry-After) where a deadline passes.
 */
import { NetemLab, netnsAvailable, type Link } from './network.js';
import { sleep } from './stack.js';
import { faultWindow, type RowContext, type RowSpec } from './row.js';

const labs = new WeakMap<RowContext, NetemLab>();

function networkRow(link: Link): RowSpec {
  return {
    id: `net-${link}`, family: 'network', fault: `edge ↔ ${link === 'redis' ? 'Redis' : 'Kafka'}: 100–300 ms delay each way, 5 % loss, for 15 s`,
    command: `ip netns + veth; tc qdisc add dev <veth> root netem delay 200ms 100ms loss 5% (here: faults/netem-proxy.ts, SIGUSR1 on ${link}'s proxy)`,
    skip: netnsAvailable,
    async prepare(ctx) {
      const lab = await NetemLab.create({});
      labs.set(ctx, lab);
      ctx.edgePid = () => lab.edge?.child.pid;
      return { baseUrl: lab.baseUrl };
    },
    inject: (ctx) => faultWindow(ctx, async () => {
      labs.get(ctx)!.impair(link, true);
      await sleep(15_000);
    }, () => Promise.resolve(labs.get(ctx)!.impair(link, false))),
    cleanup: async (ctx) => { await labs.get(ctx)?.destroy(); },
  };
}

export const networkRows: RowSpec[] = [networkRow('redis'), networkRow('kafka')];
