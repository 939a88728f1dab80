/**
 * GET /v1/reports/sales/daily?date=YYYY-MM-DD[&format=csv]: admins only. Per product and
 * currency: units, revenue (minor units) and orders, read from the roll-ups the analytics
 * worker keeps (workers/analytics.ts says what counts: orders confirmed on that UTC day
 * and not cancelled since). `totals` are per currency, with each order counted once
 * however many of its products sold. JSON is paginated (page, limit, total); CSV holds
 * every row.
 */
import type { Router, RequestContext } from '../http.js';
import type { EdgeDeps } from '../deps.js';
import { problems } from '../problems.js';
import { pageParams } from '../params.js';
import { orUnavailable } from './payments.js';

interface ProductRow { productId: string; name: string | null; currency: string; units: number; revenueCents: number; orders: number }

const DAY_RE = /^(19[7-9]\d|[2-9]\d{3})-\d{2}-\d{2}$/;

/** ?date: a real UTC calendar day, YYYY-MM-DD (from 1970). */
function dayParam(ctx: RequestContext<unknown>): string {
  const raw = ctx.query.get('date');
  if (!raw) throw problems.badField('date', 'is required: a UTC day, YYYY-MM-DD');
  const day = new Date(`${raw}T00:00:00Z`); // an impossible day such as 9999-99-99 is an Invalid Date
  if (!DAY_RE.test(raw) || Number.isNaN(day.getTime()) || day.toISOString().slice(0, 10) !== raw) {
    throw problems.badField('date', 'must be a UTC calendar day, YYYY-MM-DD (from 1970)');
  }
  return raw;
}

function formatParam(ctx: RequestContext<unknown>): 'json' | 'csv' {
  const format = ctx.query.get('format') || 'json';
  if (format !== 'json' && format !== 'csv') throw problems.badField('format', 'must be json or csv');
  return format;
}

/** One CSV field (RFC 4180), with text that a spreadsheet would run as a formula defused. */
function csvField(value: string | number | null): string {
  if (value === null) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

const PRODUCTS = `
  SELECT d.product_id AS "productId", p.name, d.currency, d.units, d.revenue_cents AS "revenueCents", d.orders
    FROM daily_sales d LEFT JOIN products p USING (product_id)
   WHERE d.day = $1 AND (d.units <> 0 OR d.orders <> 0 OR d.revenue_cents <> 0)
   ORDER BY d.revenue_cents DESC, d.product_id`;

export function reportRoutes(router: Router, deps: EdgeDeps): void {
  router.get('/v1/reports/sales/daily', {
    summary: 'Sales of one UTC day per product: units, revenue, orders (?date=YYYY-MM-DD, ?format=csv)',
    access: ['admin'],
    handler: async (ctx) => {
      const date = dayParam(ctx);
      const format = formatParam(ctx);
      if (format === 'csv') {
        const { rows } = await orUnavailable(deps.pool.query<ProductRow>(PRODUCTS, [date]), 'postgres');
        const lines = ['date,product_id,product_name,currency,units,revenue_cents,orders',
          ...rows.map((r) => [date, r.productId, r.name, r.currency, r.units, r.revenueCents, r.orders].map(csvField).join(','))];
        return {
          status: 200, body: `${lines.join('\r\n')}\r\n`, contentType: 'text/csv; charset=utf-8',
          headers: { 'content-disposition': `attachment; filename="sales-${date}.csv"` },
        };
      }
      const { page, limit, offset } = pageParams(ctx, 1_000);
      const [list, totals] = await orUnavailable(Promise.all([
        deps.pool.query<ProductRow & { total: number }>(
          `SELECT *, count(*) OVER ()::int AS total FROM (${PRODUCTS}) r LIMIT $2 OFFSET $3`, [date, limit, offset]),
        deps.pool.query(
          `SELECT s.currency, s.units, s.revenue_cents AS "revenueCents", COALESCE(o.orders, 0) AS orders
             FROM (SELECT currency, sum(units)::bigint AS units, sum(revenue_cents)::bigint AS revenue_cents
                     FROM daily_sales WHERE day = $1 GROUP BY currency) s
             LEFT JOIN (SELECT currency, count(*)::int AS orders FROM sales_orders WHERE day = $1 AND counted GROUP BY currency) o
               USING (currency)
            WHERE s.units <> 0 OR s.revenue_cents <> 0 OR COALESCE(o.orders, 0) <> 0
            ORDER BY s.currency`, [date]),
      ]), 'postgres');
      const total = list.rows[0]?.total ?? (offset > 0 ? (await deps.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM (${PRODUCTS}) r`, [date])).rows[0]?.n ?? 0 : 0);
      return {
        status: 200,
        body: {
          date, products: list.rows.map(({ total: _total, ...row }) => row), totals: totals.rows, page, limit, total,
        },
      };
    },
  });
}
