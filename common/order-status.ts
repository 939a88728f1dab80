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
  if (!mustMove(orderId, from, to)) return { changed: false, from };
  await db.query('UPDATE orders SET status = $2, updated_at = now() WHERE order_id = $1', [orderId, to]);
  await db.query(
    `INSERT INTO order_history (order_id, status, reason, at) VALUES ($1, $2, $3, clock_timestamp())
     ON CONFLICT (order_id, status) DO NOTHING`, [orderId, to, reason]);
  await db.query(
    `INSERT INTO order_events (order_id, status, reason) VALUES ($1, $2, $3)
     ON CONFLICT (order_id, status) DO NOTHING`, [orderId, to, reason]);
  return { changed: true, from };
}

/** False for a missing order or a replay (already in `to`); throws when the state machine forbids the move. */
function mustMove(orderId: string, from: OrderStatus | null, to: OrderStatus): from is OrderStatus {
  if (from === null || from === to) return false;
  if (!canTransition(from, to)) throw new IllegalTransitionError(orderId, from, to);
  return true;
}

/**
 * transitionOrder for many orders at once, for throughput (the payment settler confirms
 * orders in batches): the same checks, history and outbox rows, in three statements for
 * the whole batch. Locks the rows in order_id order (no deadlock between batches).
 * Throws IllegalTransitionError, changing nothing, if any one move is forbidden.
 */
export async function transitionOrders(db: Queryable, moves: readonly { orderId: string; reason: string | null }[],
  to: OrderStatus): Promise<Map<string, TransitionResult>> {
  const ids = moves.map((m) => m.orderId);
  const { rows } = await db.query<{ orderId: string; status: OrderStatus }>(
    'SELECT order_id AS "orderId", status FROM orders WHERE order_id = ANY($1::uuid[]) ORDER BY order_id FOR UPDATE', [ids]);
  const current = new Map(rows.map((r) => [r.orderId, r.status]));
  const results = new Map<string, TransitionResult>();
  const moving = moves.filter((m) => {
    const from = current.get(m.orderId) ?? null;
    const move = mustMove(m.orderId, from, to);
    results.set(m.orderId, move ? { changed: true, from } : { changed: false, from });
    return move;
  });
  if (moving.length === 0) return results;
  const movingIds = moving.map((m) => m.orderId);
  const reasons = moving.map((m) => m.reason);
  await db.query('UPDATE orders SET status = $2, updated_at = now() WHERE order_id = ANY($1::uuid[])', [movingIds, to]);
  await db.query(
    `INSERT INTO order_history (order_id, status, reason, at)
     SELECT id, $2, reason, clock_timestamp() FROM unnest($1::uuid[], $3::text[]) AS m(id, reason)
     ON CONFLICT (order_id, status) DO NOTHING`, [movingIds, to, reasons]);
  await db.query(
    `INSERT INTO order_events (order_id, status, reason)
     SELECT id, $2, reason FROM unnest($1::uuid[], $3::text[]) AS m(id, reason) ORDER BY id
     ON CONFLICT (order_id, status) DO NOTHING`, [movingIds, to, reasons]);
  return results;
}
