/**
 * What a fault row is (one fault, injected once, under the steady load) and what it may
 * use while it runs. Each fault family is a module of rows (process-faults.ts,
 * kafka-faults.ts, redis-faults.ts, postgres-faults.ts, network-faults.ts,
 * payment-faults.ts, overload.ts); faults/run.ts runs them one after another.
 */
import type pg from 'pg';
import type { Redis } from 'ioredis';
import type { Buyer, Probe, ProbeSample, RowProducts } from './load.js';
import type { Stack } from './stack.js';

/** The fault's window, ms since the row's start: from the first blow to the service being back. */
export interface FaultWindow { start: number; end: number }

/** How the row's load runs (defaults in faults/run.ts). */
export interface LoadPlan {
  baseUrl: string;
  /** Orders per second of the load driver. */
  rate: number;
  seconds: number;
  connections: number;
  probeIntervalMs: number;
  /** When the fault is injected, ms after the load starts. */
  injectAtMs: number;
  /** Units on sale in the row's flash sale, and per buyer. */
  quantity: number;
  perUserLimit: number;
}

export interface RowContext {
  stack: Stack;
  db: pg.Pool;
  redis: Redis;
  buyers: Buyer[];
  /** Date.now() at the row's start: the origin of every `t` and window. */
  t0: number;
  /** Set once the load starts. */
  products: RowProducts;
  plan: LoadPlan;
  /** The steady probe (one order every probeIntervalMs on the probe product). */
  probe: Probe;
  /** Every probe of the row (the steady one, storms, bursts): their 202s count as accepted. */
  probes: Probe[];
  /** Products besides the row's two whose invariants are checked too, and orders accepted outside the probes and the load. */
  extraProducts: string[];
  extraAccepted: string[];
  /** Resolves when the load driver has had every answer. */
  loadDone: Promise<void>;
  /** The pid whose memory is sampled (the edge the load goes to). */
  edgePid(): number | undefined;
  now(): number;
  note(text: string): void;
}

export interface RowSpec {
  id: string;
  family: string;
  /** What is done, in a few words (RELIABILITY.md's "fault" column). */
  fault: string;
  /** How to do it by hand. */
  command: string;
  /** Why the row cannot run on this machine, if so. */
  skip?(): string | undefined;
  /** Before the load starts: may start things and change the load. */
  prepare?(ctx: RowContext): Promise<Partial<LoadPlan> | void>;
  /** Injects the fault (at injectAtMs into the load) and restores the service; resolves with the window. */
  inject(ctx: RowContext): Promise<FaultWindow>;
  /** After the load: e.g. retries of refused orders. */
  after?(ctx: RowContext, window: FaultWindow): Promise<void>;
  /** Whether the pipeline has recovered (polled from the window's end; default: the probe gets a 202 again). */
  recovered?(ctx: RowContext, window: FaultWindow): Promise<boolean>;
  /** Always run at the end of the row, failed or not. */
  cleanup?(ctx: RowContext): Promise<void>;
}

export const sleepUntil = async (ctx: RowContext, t: number): Promise<void> => {
  const wait = t - ctx.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
};

const allSamples = (ctx: RowContext): ProbeSample[] => ctx.probes.flatMap((p) => p.samples);

/** Default recovery: a probe order sent after the window's end was accepted (once the load is over, the poll sends its own). */
export async function acceptedAgain(ctx: RowContext, window: FaultWindow): Promise<boolean> {
  const accepted = () => ctx.probe.samples.some((s) => s.t >= window.end && s.status === 202);
  if (accepted() || ctx.probe.running) return accepted();
  await ctx.probe.burst(1);
  return accepted();
}

/** Probe orders accepted before the window's end (the backlog the fault left). */
function backlog(ctx: RowContext, window: FaultWindow): string[] {
  return allSamples(ctx).filter((s) => s.status === 202 && s.orderId && s.t < window.end).map((s) => s.orderId!);
}

/** Recovered when the backlog is in Postgres (the order writer caught up). */
export async function backlogPersisted(ctx: RowContext, window: FaultWindow): Promise<boolean> {
  const ids = backlog(ctx, window);
  const { rows } = await ctx.db.query<{ n: number }>('SELECT count(*)::int AS n FROM orders WHERE order_id = ANY($1::uuid[])', [ids]);
  return rows[0]!.n === ids.length;
}

/** Recovered when the backlog's payments are settled (no order of it left accepted or pending_payment). */
export async function backlogSettled(ctx: RowContext, window: FaultWindow): Promise<boolean> {
  const ids = backlog(ctx, window);
  const { rows } = await ctx.db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM orders WHERE order_id = ANY($1::uuid[]) AND status NOT IN ('accepted', 'pending_payment')`, [ids]);
  return rows[0]!.n === ids.length;
}

/** Runs `during` for the fault, always running `restore` after; the window spans both. */
export async function faultWindow(ctx: RowContext, during: () => Promise<void>, restore: () => Promise<void>): Promise<FaultWindow> {
  const start = ctx.now();
  try {
    await during();
  } finally {
    await restore();
  }
  return { start, end: ctx.now() };
}
