/** Path and query parameters, checked like bodies: a bad one is a 400 naming it. */
import { isUuid } from '../common/ids.js';
import { problems } from './problems.js';
import type { RequestContext } from './http.js';

export function uuidParam(ctx: RequestContext<unknown>, name: string): string {
  const value = ctx.params[name] ?? '';
  if (!isUuid(value)) throw problems.badField(name, 'must be a UUID');
  return value.toLowerCase();
}

export interface Page { page: number; limit: number; offset: number }

export function pageParams(ctx: RequestContext<unknown>, maxLimit = 100): Page {
  const page = intQuery(ctx, 'page', 1, 1, 1_000_000);
  const limit = intQuery(ctx, 'limit', 20, 1, maxLimit);
  return { page, limit, offset: (page - 1) * limit };
}

function intQuery(ctx: RequestContext<unknown>, name: string, fallback: number, min: number, max: number): number {
  const raw = ctx.query.get(name);
  if (raw === null || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw problems.badField(name, `must be an integer from ${min} to ${max}`);
  }
  return value;
}
