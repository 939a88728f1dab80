/**
 * Who may write what. Every write route of the edge (POST, PUT, PATCH, DELETE), taken
 * from the router's own registry (edge/http.ts Router.routes, logged by the edge at
 * debug level), so a new route cannot escape, is called by five actors: anonymous, a
 * customer, the seller who owns the thing, another seller, and an admin, each time on
 * a fresh thing (a product of the owning seller, an order of the customer of it, a sale,
 * a medium) with the route's example body (edge/openapi.ts, which the OpenAPI test
 * checks against the schema).
 *
 * What each actor should get follows from the registry's `access` and the thing the
 * route is about (its path parameters, or a productId in its body):
 *   - anonymous → 401 on any route that is not for anyone;
 *   - a role the route does not take → 403;
 *   - a seller's product or order (routes for admin and seller): its seller and admins
 *     may, another seller gets 403 (or 404 where others' things are not shown);
 *   - a user's own things (/{userId}): that user only; an order (signed-in routes): its
 *     buyer or an admin;
 *   - routes for anyone get the same answer whoever calls; signed upload URLs are their
 *     own credential: refused (403) to everyone without the signature, taken from anyone
 *     with it.
 * A route whose rule differs goes in EXCEPTIONS, on purpose. No call may answer 500.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Access, RouteInfo } from '../edge/http.js';
import { EXAMPLE_IDS, requestExample } from '../edge/openapi.js';
import { schemas, type SchemaName } from '../edge/schemas.js';
import type { Role } from '../edge/auth.js';
import { pool, type ApiResponse } from './support/api.js';
import { eventually, startStack, type Stack } from './support/stack.js';

const ACTORS = ['anonymous', 'customer', 'owner', 'otherSeller', 'admin'] as const;
type Actor = (typeof ACTORS)[number];
type User = { token: string; userId: string };

/** What a route is about, and so who besides admins may change it. */
type Thing = 'seller-product' | 'seller-order' | 'buyer-order' | 'path-user' | 'not-own-product' | 'none';

/** Routes whose rule is not the one their access and parameters imply. */
const EXCEPTIONS: Record<string, Thing> = {
  // Anyone signed in may review a product, except its own seller.
  'post /v1/products/:productId/reviews': 'not-own-product',
};

const ROLE: Record<Exclude<Actor, 'anonymous'>, Role> = { customer: 'customer', owner: 'seller', otherSeller: 'seller', admin: 'admin' };

const rolesOf = (access: Access): readonly Role[] =>
  access === 'anyone' ? [] : access === 'signed-in' ? ['customer', 'seller', 'admin'] : access;

function thingOf(route: RouteInfo): Thing {
  const exception = EXCEPTIONS[`${route.method} ${route.pattern}`];
  if (exception) return exception;
  if (route.pattern.includes(':userId')) return 'path-user';
  const forSellers = Array.isArray(route.access) && route.access.includes('seller');
  if (route.pattern.includes(':orderId')) return forSellers ? 'seller-order' : 'buyer-order';
  const properties = route.bodySchema ? (schemas[route.bodySchema as SchemaName] as { properties?: object }).properties ?? {} : {};
  if (forSellers && (route.pattern.includes(':productId') || 'productId' in properties)) return 'seller-product';
  return 'none';
}

type Expected = 'allowed' | 401 | 403 | 'not-owner';

function expected(route: RouteInfo, actor: Actor): Expected {
  if (route.access === 'anyone') return 'allowed';
  if (actor === 'anonymous') return 401;
  if (!rolesOf(route.access).includes(ROLE[actor])) return 403;
  switch (thingOf(route)) {
    case 'seller-product': case 'seller-order': return actor === 'owner' || actor === 'admin' ? 'allowed' : 'not-owner';
    case 'buyer-order': return actor === 'customer' || actor === 'admin' ? 'allowed' : 'not-owner';
    case 'path-user': return actor === 'customer' ? 'allowed' : 'not-owner';
    case 'not-own-product': return actor === 'owner' ? 'not-owner' : 'allowed';
    case 'none': return 'allowed';
  }
}

function verdict(want: Expected, status: number, thing: Thing, actor: Actor): string | undefined {
  if (status === 500) return 'a 500';
  switch (want) {
    case 401: case 403: return status === want ? undefined : `expected ${want}`;
    case 'not-owner': return status === 403 || status === 404 ? undefined : 'expected 403 (or 404: not shown to others)';
    case 'allowed':
      if (status === 401 || status === 403) return 'expected to be let through';
      // The thing is real: its owner must not be told it does not exist.
      if (thing !== 'none' && thing !== 'not-own-product' && actor === 'owner' && status === 404) return 'owner got 404';
      return undefined;
  }
}

let stack: Stack;
let routes: RouteInfo[];
let users: Record<Exclude<Actor, 'anonymous'>, User>;

beforeAll(async () => {
  stack = await startStack({ edgeEnv: { LOG_LEVEL: 'debug' } });
  const line = await stack.procs.edge!.waitFor(/"msg":"route registry"/);
  routes = (JSON.parse(line) as { routes: RouteInfo[] }).routes;
  const me = await stack.api.request<{ userId: string }>('GET', '/v1/users/me', { token: stack.adminToken });
  const [customer, owner, otherSeller] = await Promise.all([stack.api.newUser('customer'), stack.api.newUser('seller'), stack.api.newUser('seller')]);
  users = { customer, owner, otherSeller, admin: { token: stack.adminToken, userId: me.body.userId } };
  // The warehouses the examples move stock between.
  await stack.api.request('POST', '/v1/warehouses', { token: stack.adminToken, body: { warehouseId: 'east', name: 'East' } });
}, 180_000);
afterAll(async () => { await stack?.stop(); });

const writeRoutes = (): RouteInfo[] => routes.filter((route) => route.method !== 'get');

/** A fresh thing for one call: the owner's product, and what the route's path names. */
async function fixture(route: RouteInfo): Promise<{ productId: string; params: Record<string, string>; uploadQuery: string }> {
  const { api, adminToken, db } = stack;
  const productId = await api.createProduct(users.owner.token, 100);
  const params: Record<string, string> = {};
  let uploadQuery = '';
  for (const [, name] of route.pattern.matchAll(/:(\w+)/g)) {
    switch (name!) {
      case 'productId': params.productId = productId; break;
      case 'userId': params.userId = users.customer.userId; break;
      case 'orderId': {
        const placed = await api.order(users.customer.token, productId);
        expect(placed.status, JSON.stringify(placed.body)).toBe(202);
        const orderId = String(placed.body.orderId);
        await eventually(async () => (await db.query('SELECT 1 FROM orders WHERE order_id = $1', [orderId])).rowCount === 1, 30_000, 'the order persisted');
        params.orderId = orderId;
        break;
      }
      case 'flashSaleId': params.flashSaleId = await api.createSale(adminToken, productId, 10, 2); break;
      case 'mediaId': {
        const media = await api.request<{ mediaId: string; uploadUrl: string }>('POST', `/v1/products/${productId}/media`,
          { token: users.owner.token, body: { contentType: 'video/mp4', bytes: 1000 } });
        params.mediaId = media.body.mediaId;
        uploadQuery = media.body.uploadUrl.split('?')[1]!;
        break;
      }
      default: params[name!] = randomUUID(); // nothing to own: roles alone decide
    }
  }
  return { productId, params, uploadQuery };
}

/** The route's example body, about this call's product; a fresh account for register and login. */
async function bodyOf(route: RouteInfo, productId: string): Promise<unknown> {
  if (!route.bodySchema) return undefined;
  const body = JSON.parse(JSON.stringify(requestExample(route.bodySchema as SchemaName)).replaceAll(EXAMPLE_IDS.product, productId)) as Record<string, unknown>;
  if (typeof body.email === 'string') {
    body.email = `matrix-${randomUUID()}@test.local`;
    if (route.bodySchema === 'LoginRequest') {
      const registered = await stack.api.request('POST', '/v1/users/register', { body: { name: 'M', email: body.email, password: body.password } });
      expect(registered.status).toBe(201);
    }
  }
  return body;
}

/** An MP4's first 64 bytes: the first chunk of the 1000-byte medium the fixture declared. */
const MP4_HEAD = `\x00\x00\x00\x18ftypmp42${'\x00'.repeat(52)}`;

async function call(route: RouteInfo, actor: Actor, signed: boolean): Promise<{ status: number; path: string; body: unknown }> {
  const { productId, params, uploadQuery } = await fixture(route);
  const path = route.pattern.replace(/:(\w+)/g, (_m, name: string) => params[name]!);
  const token = actor === 'anonymous' ? undefined : users[actor].token;
  const headers = { 'idempotency-key': randomUUID() };
  let res: ApiResponse<unknown>;
  if (route.upload) {
    res = await stack.api.request(route.method.toUpperCase(), signed ? `${path}?${uploadQuery}` : path, {
      token, rawBody: MP4_HEAD, headers: { ...headers, 'content-type': 'application/octet-stream', 'content-range': 'bytes 0-63/1000' },
    });
  } else {
    res = await stack.api.request(route.method.toUpperCase(), path, { token, headers, body: await bodyOf(route, productId) });
  }
  return { status: res.status, path, body: res.body };
}

describe('role and ownership matrix over every write route', () => {
  it('covers every write route of the registry', () => {
    expect(writeRoutes().length).toBeGreaterThan(20);
    for (const route of writeRoutes()) expect(route.summary, `${route.method} ${route.pattern}`).not.toBe('');
  });

  it('lets in exactly who may, and answers everyone else 401 or 403', async () => {
    const cases = writeRoutes().flatMap((route) => ACTORS.flatMap((actor) =>
      route.upload?.signedUrl ? [{ route, actor, signed: true }, { route, actor, signed: false }] : [{ route, actor, signed: false }]));
    const results = await pool(cases.length, 6, async (i) => {
      const { route, actor, signed } = cases[i]!;
      return { route, actor, signed, ...await call(route, actor, signed) };
    });

    const wrong: string[] = [];
    const table: string[] = [];
    for (const { route, actor, signed, status, body } of results) {
      const thing = thingOf(route);
      let want: Expected = expected(route, actor);
      if (route.upload?.signedUrl) want = signed ? 'allowed' : 403;
      const problem = verdict(want, status, thing, actor);
      const label = `${route.method.toUpperCase()} ${route.pattern}${route.upload?.signedUrl ? (signed ? ' (signed)' : ' (unsigned)') : ''}`;
      table.push(`${label.padEnd(58)} ${actor.padEnd(12)} ${String(want).padEnd(10)} ${status}`);
      if (problem) wrong.push(`${label} as ${actor}: ${status} (${problem}) ${JSON.stringify(body).slice(0, 160)}`);
    }
    // Routes for anyone answer the same whoever calls (their own checks, e.g. a signature, decide).
    for (const route of writeRoutes().filter((r) => r.access === 'anyone' && !r.upload?.signedUrl)) {
      const statuses = new Set(results.filter((r) => r.route === route).map((r) => r.status));
      if (statuses.size !== 1) wrong.push(`${route.method} ${route.pattern}: answers differ by caller: ${[...statuses].join(', ')}`);
    }
    expect(wrong, `\n${table.join('\n')}`).toEqual([]);
    expect(results.length).toBeGreaterThanOrEqual(writeRoutes().length * ACTORS.length);
  }, 240_000);
});
