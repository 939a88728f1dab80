/**
 * SIGKILL and restart of each process of the product, under load: the edge (the one the
 * load goes to), and the workers mid-batch (at the load's rate each is always in the
 * middle of one): order writer, payment settler, notifier, reconciler. The process is
 * started again a second later, as a supervisor would.
 */
import type { ProcessName } from '../test/support/processes.js';
import { sleep } from './stack.js';
import { backlogPersisted, backlogSettled, faultWindow, type FaultWindow, type RowContext, type RowSpec } from './row.js';

const RESTART_AFTER_MS = 1_000;

function killRow(id: string, name: ProcessName, what: string, recovered: RowSpec['recovered']): RowSpec {
  return {
    id, family: 'process', fault: `SIGKILL ${what}, restarted ${RESTART_AFTER_MS / 1000} s later`,
    command: `kill -KILL <pid of ${name}>; start it again`,
    inject: (ctx) => faultWindow(ctx, async () => {
      await ctx.stack.kill(name, 'SIGKILL');
      await sleep(RESTART_AFTER_MS);
    }, async () => { await ctx.stack.start(name); }),
    recovered,
  };
}

/** Recovered when the notifier has handled every outbox row queued before the window's end. */
async function outboxDrained(ctx: RowContext, window: FaultWindow): Promise<boolean> {
  const { rows } = await ctx.db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM outbox_queue WHERE consumer = 'notifier' AND enqueued_at < to_timestamp($1 / 1000.0)`, [ctx.t0 + window.end]);
  return rows[0]!.n === 0;
}

/** Recovered when the restarted reconciler has measured drift once. */
async function driftMeasured(ctx: RowContext): Promise<boolean> {
  return (ctx.stack.procs.get('reconciler')?.output ?? []).some((line) => line.includes('drift measured'));
}

export const processRows: RowSpec[] = [
  killRow('kill-edge', 'edge', 'the edge (all orders go through it)', undefined),
  killRow('kill-writer', 'order-writer', 'the order writer mid-batch', backlogPersisted),
  killRow('kill-settler', 'payment-settler', 'the payment settler mid-batch', backlogSettled),
  killRow('kill-notifier', 'notifier', 'the notifier mid-batch', outboxDrained),
  killRow('kill-reconciler', 'reconciler', 'the reconciler mid-sweep', driftMeasured),
];
