/**
 * The Kafka broker, under load: stopped cleanly for 10 s, SIGKILLed mid-produce, and
 * frozen with SIGSTOP for 10 s. While it cannot take orders the edge answers 503 with
 * Retry-After within its produce deadline and gives the units back (conservation).
 *
 * The hard case, in the freeze row: orders sent while the broker is frozen have their
 * produce in flight when the edge gives up on them; when the broker thaws, they may
 * still land. Each refused probe order is retried with its own Idempotency-Key once the
 * hold has run out: the retry returns that very order (it landed in time and is live),
 * or says the attempt expired (the writer dropped it), never a second order. The
 * invariants check the rest (no-ghost-order: no live order nobody was told about).
 */
import { service, sleep } from './stack.js';
import { faultWindow, sleepUntil, type FaultWindow, type RowContext, type RowSpec } from './row.js';

const OUTAGE_MS = 10_000;

/** After the load: every probe order refused during the window, retried with its key. */
async function retryRefused(ctx: RowContext, window: FaultWindow): Promise<void> {
  await sleep(Number(process.env.RESERVATION_HOLD_MS ?? 6_000) + 3_000); // holds run out; late produces land or are dropped
  const refused = ctx.probes.flatMap((p) => p.samples.map((s) => ({ probe: p, s })))
    .filter(({ s }) => s.status !== 202 && s.t >= window.start - 3_000 && s.t <= window.end);
  const outcomes: Record<string, number> = {};
  for (const { probe, s } of refused) {
    const again = await probe.retry(s);
    const key = again.status === 202 ? '202 (that order)' : `${again.status} ${again.type.split('/').pop() ?? ''}`.trim();
    outcomes[key] = (outcomes[key] ?? 0) + 1;
  }
  ctx.note(`retried ${refused.length} refused probe orders with their own keys: ${JSON.stringify(outcomes)}`);
}

export const kafkaRows: RowSpec[] = [
  {
    id: 'kafka-stop', family: 'kafka', fault: 'broker stopped cleanly for 10 s, then started',
    command: 'bash infra/services.sh kafka-stop; sleep 10; bash infra/services.sh kafka-start',
    inject: (ctx) => faultWindow(ctx, async () => {
      await service('kafka-stop');
      await sleep(OUTAGE_MS);
    }, () => service('kafka-start')),
  },
  {
    id: 'kafka-kill', family: 'kafka', fault: 'broker SIGKILLed mid-produce, started again',
    command: 'bash infra/services.sh kafka-kill; bash infra/services.sh kafka-start',
    inject: (ctx) => faultWindow(ctx, () => service('kafka-kill'), () => service('kafka-start')),
  },
  {
    id: 'kafka-freeze', family: 'kafka', fault: 'broker frozen (SIGSTOP) for 10 s; refused orders retried with their keys after',
    command: 'bash infra/services.sh kafka-pause; sleep 10; bash infra/services.sh kafka-resume',
    inject: (ctx) => faultWindow(ctx, async () => {
      const start = ctx.now();
      await service('kafka-pause');
      await sleepUntil(ctx, start + 2_000);
      await ctx.probe.burst(30); // many produces in flight when the edge gives up on them
      await sleepUntil(ctx, start + OUTAGE_MS);
    }, () => service('kafka-resume')),
    after: retryRefused,
  },
];
