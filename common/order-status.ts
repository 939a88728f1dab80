/**
 * The one way an order's status changes after it is persisted: checked against the
 * state machine (common/order.ts), recorded in history with its time and reason, and
 * announced in the order_events outbox, all in the caller's transaction.
 */
import { canTransition, type OrderStatus } from './order.js';
import { PipelineError } from './errors.js';

export interface Queryable {
  query<R extends object = Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: R[]; rowCount: number | null }>;
}

export class IllegalTransitionError extends PipelineError {
  constructor(readonly orderId: string, readonly from: OrderStatus, readonly to: OrderStatus) {
    super(`order ${orderId} cannot go from ${from} to ${to}`, { retriable: false });
  }
}

export type TransitionResult =
  | { changed: true; from: OrderStatus }
  | { changed: false; from: OrderStatus | null };

/**
 * Moves `orderId` to `to`. Call inside a transaction: the row is locked until it ends.
 * Returns changed=false when the order is missing or already in `to` (a replay);
 * throws IllegalTransitionError when the state machine forbids the move.
 */
export async function transitionOrder(db: Queryable, orderId: string, to: OrderStatus, reason: string | null = null): Promise<TransitionResult> {
  const { rows } = await db.query<{ status: OrderStatus }>('SELECT status FROM orders WHERE order_id = $1 FOR UPDATE', [orderId]);
  const from = rows[0]?.status ?? null;
  if (from === null || from === to) return { changed: false, from };
  if (!canTransition(from, to)) throw new IllegalTransitionError(orderId, from, to);
  await db.query('UPDATE orders SET status = $2, updated_at = now() WHERE order_id = $1', [orderId, to]);
  await db.query(
    `INSERT INTO order_history (order_id, status, reason, at) VALUES ($1, $2, $3, clock_timestamp())
     ON CONFLICT (order_id, status) DO NOTHING`, [orderId, to, reason]);
  await db.query(
    `INSERT INTO order_events (order_id, status, reason) VALUES ($1, $2, $3)
     ON CONFLICT (order_id, status) DO NOTHING`, [orderId, to, reason]);
  return { changed: true, from };
}
