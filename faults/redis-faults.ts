/**
 * Redis restarted with its memory lost (stopped, its AOF deleted, started empty), under
 * load. The edge must refuse orders (503) until the reconciler has rebuilt the counters
 * and open reservations from Postgres and the accepted orders still in Kafka
 * (reconciler/rebuild.ts); after that, no oversell. The row notes how long the rebuild
 * took and how many probe orders were accepted before /readyz said ready (0 expected).
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { service, sleep } from './stack.js';
import type { RowSpec } from './row.js';

export const redisRows: RowSpec[] = [
  {
    id: 'redis-memory-loss', family: 'redis', fault: 'Redis stopped, its AOF deleted, started empty',
    command: 'bash infra/services.sh redis-stop; rm -rf $DATA_DIR/redis/appendonlydir; bash infra/services.sh redis-start',
    async inject(ctx) {
      const start = ctx.now();
      await service('redis-stop');
      await rm(join(process.env.DATA_DIR!, 'redis', 'appendonlydir'), { recursive: true, force: true });
      await service('redis-start');
      const back = ctx.now();
      // From here the counters are gone until the rebuild: /readyz says when they are whole again.
      let ready = back;
      for (; ctx.now() - back < 120_000; await sleep(100)) {
        const res = await ctx.stack.api.request('GET', '/readyz').catch(() => undefined);
        if (res?.status === 200) { ready = ctx.now(); break; }
      }
      // Sent after Redis came back empty and answered before the counters were whole (the edge re-reads the marker every 500 ms).
      const early = ctx.probe.samples.filter((s) => s.status === 202 && s.t >= back && s.t + s.ms < ready - 600);
      ctx.note(`Redis back empty at ${(back / 1000).toFixed(1)} s; counters rebuilt (/readyz 200) ${((ready - back) / 1000).toFixed(1)} s later; `
        + `probe orders accepted before that: ${early.length}`);
      return { start, end: back };
    },
  },
];
