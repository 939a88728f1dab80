/**
 * Flash sales: create one (setting its units aside), read one or the list with remaining
 * stock, and change one while it is open (pause, resume, end early, add units).
 */
import type { Router } from '../http.js';
import type { EdgeDeps } from '../deps.js';
import { validator } from '../schemas.js';
import { HttpProblem, problems } from '../problems.js';
import { uuidParam } from '../params.js';
import { newId } from '../../common/ids.js';
import { productKeys } from '../../common/keys.js';
import { closeSale, openSale } from '../../common/stock.js';
import { DependencyUnavailableError } from '../../common/errors.js';
import { withTransaction } from '../../common/db.js';
import { updateSale, type SaleOperation, type SaleUpdateResult } from '../inventory-counters.js';
import { samplerFor } from '../ops-sampler.js';

interface CreateFlashSaleBody {
  productId: string; quantity: number; perUserLimit: number; startsAt: string; endsAt: string; priceCents?: number;
}

interface SaleRow {
  flashSaleId: string; productId: string; quantity: number; perUserLimit: number; priceCents: number;
  startsAt: Date; endsAt: Date; state: 'scheduled' | 'paused' | 'ended';
}

const SALE_COLUMNS = `flash_sale_id AS "flashSaleId", product_id AS "productId", quantity, per_user_limit AS "perUserLimit",
  price_cents AS "priceCents", starts_at AS "startsAt", ends_at AS "endsAt", state`;

type SaleStatus = 'upcoming' | 'live' | 'paused' | 'ended';

interface UpdateFlashSaleBody { status?: 'paused' | 'live' | 'ended'; quantity?: number }

const OPERATIONS: Record<NonNullable<UpdateFlashSaleBody['status']>, { op: SaleOperation; state: SaleRow['state'] }> = {
  paused: { op: 'pause', state: 'paused' },
  live: { op: 'resume', state: 'scheduled' },
  ended: { op: 'end', state: 'ended' },
};

/** The problem for a sale change the counters refused. */
function refusedChange(result: Exclude<SaleUpdateResult, { kind: 'ok' }>, units: number): HttpProblem {
  switch (result.kind) {
    case 'insufficient':
      return new HttpProblem(409, 'insufficient-stock', 'Not enough stock',
        `${units} more units were asked for but only ${result.avail} are free outside sales and orders`,
        { errors: [{ field: 'quantity', message: `at most ${result.avail} more units` }], extra: { available: result.avail } });
    case 'ended':
      return problems.conflict('sale-ended', 'Sale ended', 'This flash sale has ended; it can no longer change');
    case 'missing':
      return problems.unavailable('The counters of this sale are not loaded; try again shortly', 2);
  }
}

function statusOf(sale: SaleRow, now: number): SaleStatus {
  if (sale.state === 'ended' || now >= sale.endsAt.getTime()) return 'ended';
  if (now < sale.startsAt.getTime()) return 'upcoming';
  return sale.state === 'paused' ? 'paused' : 'live';
}

export function flashSaleRoutes(router: Router, deps: EdgeDeps): void {
  async function present(sales: SaleRow[]): Promise<Record<string, unknown>[]> {
    const remaining = await Promise.all(sales.map((s) =>
      deps.redis.hget(`${productKeys(s.productId).prefix}:sale:${s.flashSaleId}`, 'remaining')))
      .catch((error: unknown) => { throw new DependencyUnavailableError('redis', error); });
    const now = Date.now();
    return sales.map((s, i) => {
      const status = statusOf(s, now);
      return {
        flashSaleId: s.flashSaleId, productId: s.productId, status, quantity: s.quantity,
        remaining: status === 'ended' ? 0 : Number(remaining[i] ?? 0),
        perUserLimit: s.perUserLimit, priceCents: s.priceCents,
        startsAt: s.startsAt.toISOString(), endsAt: s.endsAt.toISOString(), serverTime: new Date(now).toISOString(),
      };
    });
  }

  router.post<CreateFlashSaleBody>('/v1/flash-sales', {
    summary: 'Create a flash sale, setting its units aside',
    access: ['admin'],
    body: validator('CreateFlashSaleRequest'),
    handler: async ({ body }) => {
      const startsAt = Date.parse(body.startsAt);
      const endsAt = Date.parse(body.endsAt);
      if (endsAt <= startsAt) throw problems.badField('endsAt', 'must be after startsAt');
      if (endsAt <= Date.now()) throw problems.badField('endsAt', 'must be in the future');
      const flashSaleId = newId();
      const client = await deps.pool.connect();
      try {
        await client.query('BEGIN');
        const product = await client.query<{ price_cents: number }>(
          'SELECT price_cents FROM products WHERE product_id = $1 AND deleted_at IS NULL FOR UPDATE', [body.productId]);
        if (!product.rows[0]) throw problems.notFound(`Product ${body.productId}`);
        const overlap = await client.query(
          `SELECT flash_sale_id FROM flash_sales
            WHERE product_id = $1 AND state <> 'ended' AND starts_at < $3 AND ends_at > $2`,
          [body.productId, new Date(startsAt), new Date(endsAt)]);
        if (overlap.rowCount) {
          throw problems.conflict('sale-overlaps', 'Sale window overlaps', 'Another flash sale of this product overlaps this window',
            { flashSaleId: overlap.rows[0].flash_sale_id });
        }
        const priceCents = body.priceCents ?? product.rows[0].price_cents;
        await client.query(
          `INSERT INTO flash_sales (flash_sale_id, product_id, quantity, per_user_limit, price_cents, starts_at, ends_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [flashSaleId, body.productId, body.quantity, body.perUserLimit, priceCents, new Date(startsAt), new Date(endsAt)]);
        const opened = await openSale(deps.redis, body.productId, {
          flashSaleId, quantity: body.quantity, perUserLimit: body.perUserLimit, priceCents, startsAt, endsAt,
        }).catch((error: unknown) => { throw new DependencyUnavailableError('redis', error); });
        if (!opened.ok) {
          throw problems.conflict('insufficient-stock', 'Not enough stock',
            `The sale asks for ${body.quantity} units but only ${opened.available} are available`, { available: opened.available });
        }
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
      deps.decision.soldOut.clear(body.productId);
      samplerFor(deps).refresh(); // the dashboard shows the new sale now, not at the next sample
      return { status: 201, body: { success: true, flashSaleId }, headers: { location: `/v1/flash-sales/${flashSaleId}` } };
    },
  });

  router.get('/v1/flash-sales/:flashSaleId', {
    summary: 'A flash sale with its remaining units and the server time',
    access: 'anyone',
    handler: async (ctx) => {
      const flashSaleId = uuidParam(ctx, 'flashSaleId');
      const { rows } = await deps.pool.query<SaleRow>(`SELECT ${SALE_COLUMNS} FROM flash_sales WHERE flash_sale_id = $1`, [flashSaleId]);
      if (!rows[0]) throw problems.notFound(`Flash sale ${flashSaleId}`);
      const [sale] = await present(rows);
      return { status: 200, body: sale };
    },
  });

  router.get('/v1/flash-sales', {
    summary: 'Flash sales by status (live, upcoming, paused, ended)',
    access: 'anyone',
    handler: async (ctx) => {
      const wanted = ctx.query.get('status');
      if (wanted !== null && !['live', 'upcoming', 'ended', 'paused'].includes(wanted)) {
        throw problems.badField('status', 'must be live, upcoming, paused or ended');
      }
      const { rows } = await deps.pool.query<SaleRow>(
        `SELECT ${SALE_COLUMNS} FROM flash_sales
          WHERE ($1::text IS NULL OR ($1 = 'ended') = (state = 'ended' OR ends_at <= now()))
          ORDER BY starts_at LIMIT 200`, [wanted]);
      const sales = (await present(rows)).filter((s) => wanted === null || s.status === wanted);
      return { status: 200, body: { flashSales: sales, serverTime: new Date().toISOString() } };
    },
  });

  router.patch<UpdateFlashSaleBody>('/v1/flash-sales/:flashSaleId', {
    summary: 'Pause, resume or end a flash sale early, or add units to it (a larger quantity)',
    access: ['admin'],
    body: validator('UpdateFlashSaleRequest'),
    handler: async (ctx) => {
      const flashSaleId = uuidParam(ctx, 'flashSaleId');
      const { status, quantity } = ctx.body;
      if (status === undefined && quantity === undefined) {
        throw problems.badField('status', 'send status ("paused", "live" or "ended") or a larger quantity');
      }
      if (status === 'ended' && quantity !== undefined) throw problems.badField('quantity', 'cannot add units to a sale being ended');
      const sale = await withTransaction(deps.pool, async (client) => {
        const { rows } = await client.query<SaleRow>(`SELECT ${SALE_COLUMNS} FROM flash_sales WHERE flash_sale_id = $1 FOR UPDATE`, [flashSaleId]);
        const row = rows[0];
        if (!row) throw problems.notFound(`Flash sale ${flashSaleId}`);
        if (statusOf(row, Date.now()) === 'ended') {
          if (status === 'ended') return row; // ending an ended sale changes nothing
          throw refusedChange({ kind: 'ended', remaining: 0 }, 0);
        }
        if (quantity !== undefined) {
          if (quantity <= row.quantity) {
            throw problems.badField('quantity', `must be larger than the sale's ${row.quantity} units: units can be added, not taken away`);
          }
          const grown = await updateSale(deps.redis, row.productId, flashSaleId, 'grow', quantity - row.quantity);
          if (grown.kind !== 'ok') throw refusedChange(grown, quantity - row.quantity);
          row.quantity = quantity;
        }
        if (status !== undefined) {
          const { op, state } = OPERATIONS[status];
          const changed = await updateSale(deps.redis, row.productId, flashSaleId, op);
          if (changed.kind !== 'ok') throw refusedChange(changed, 0);
          // Ended: the unsold units go back to stock now (else the reconciler's sweep returns them).
          if (op === 'end') {
            await closeSale(deps.redis, row.productId, flashSaleId)
              .catch((error: unknown) => deps.log.warn({ flashSaleId, err: (error as Error).message }, 'sale ended; the reconciler will return its units'));
          }
          row.state = state;
        }
        await client.query('UPDATE flash_sales SET quantity = $2, state = $3 WHERE flash_sale_id = $1', [flashSaleId, row.quantity, row.state]);
        return row;
      });
      // Units came back to the product (more sale units, or a sale's units back in stock): sellable at once here.
      if (quantity !== undefined || status === 'ended') deps.decision.soldOut.clear(sale.productId);
      samplerFor(deps).refresh(); // the dashboard shows the change now, not at the next sample
      const [body] = await present([sale]);
      return { status: 200, body };
    },
  });
}
