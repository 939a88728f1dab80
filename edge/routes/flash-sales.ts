/** Flash sales: create one (setting its units aside), read one or the list with remaining stock. */
import type { Router } from '../http.js';
import type { EdgeDeps } from '../deps.js';
import { validator } from '../schemas.js';
import { problems } from '../problems.js';
import { uuidParam } from '../params.js';
import { newId } from '../../common/ids.js';
import { productKeys } from '../../common/keys.js';
import { openSale } from '../../common/stock.js';
import { DependencyUnavailableError } from '../../common/errors.js';

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
}
