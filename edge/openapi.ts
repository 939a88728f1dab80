/**
 * The OpenAPI 3.1 document, built at start-up from the router's registry (every route
 * with its method, pattern, summary, access and body schema: edge/http.ts) and the very
 * request schemas the validator compiles (edge/schemas.ts). Nothing here lists routes:
 * a route added to the router is in the document. What the registry cannot know is
 * added here: examples (request examples are checked against their schemas by
 * test/openapi.test.ts), answers that only some routes give, and query parameters.
 */
import type { Access, RouteInfo } from './http.js';
import { schemas, type SchemaName } from './schemas.js';
import { MEDIA_CONTENT_TYPES } from './media-types.js';

type Json = Record<string, unknown>;
export type OpenApiDocument = Json & { openapi: string; paths: Record<string, Record<string, Json>>; components: Json };

/* ------------------------------------------------------------------ examples */

/** The ids the examples use (tests put real ones in their place). */
export const EXAMPLE_IDS = {
  product: '0b6f1f8e-2f43-4c1e-9d4a-5a3b2f1e0c11', user: '7d2c9a40-8b1e-4f6a-a3c2-1e5f9b0d7a22',
  order: 'c5e8b7a1-3d2f-8a4b-9c6d-0e1f2a3b4c33', sale: '4a9e2c7b-1f3d-4e5a-8b6c-9d0e1f2a3b44',
  media: 'e1d2c3b4-a5f6-4789-8abc-def012345655', cart: '9f8e7d6c-5b4a-4392-8176-5f4e3d2c1b66',
  deadLetter: '2b3c4d5e-6f70-4182-9a3b-4c5d6e7f8a77',
};
const ID = EXAMPLE_IDS;
const address = { name: 'Ada Buyer', line1: '1 Main St', city: 'Springfield', postalCode: '12345', country: 'US' };
const at = '2025-11-28T09:00:00.000Z';

/** An example body per request schema; a schema without one gets one made from it (exampleOf). */
export const REQUEST_EXAMPLES: Partial<Record<SchemaName, unknown>> = {
  RegisterRequest: { name: 'Ada Lovelace', email: 'ada@example.com', password: 'correct-horse', role: 'customer' },
  LoginRequest: { email: 'ada@example.com', password: 'correct-horse' },
  CreateProductRequest: { name: 'Walnut desk lamp', description: 'Warm light', priceCents: 4550, currency: 'EUR', stock: 100, category: 'home', attributes: { color: 'walnut' } },
  UpdateProductRequest: { priceCents: 3990 },
  CreateFlashSaleRequest: { productId: ID.product, quantity: 100, perUserLimit: 2, startsAt: '2030-11-28T09:00:00.000Z', endsAt: '2030-11-28T10:00:00.000Z', priceCents: 1999 },
  CreateOrderRequest: { items: [{ productId: ID.product, quantity: 1 }], paymentMethod: 'pm_card_visa', shippingAddress: address },
  AddCartItemRequest: { productId: ID.product, quantity: 2 },
  SetCartItemRequest: { productId: ID.product, quantity: 0 },
  MergeCartRequest: { items: [{ productId: ID.product, quantity: 1 }] },
  InventoryAdjustmentRequest: { warehouseId: 'main', delta: 25, reason: 'restock from supplier' },
  InventoryTransferRequest: { productId: ID.product, fromWarehouseId: 'main', toWarehouseId: 'east', quantity: 10, reason: 'rebalance' },
  InventorySettingsRequest: { lowStockThreshold: 5 },
  CreateWarehouseRequest: { warehouseId: 'east', name: 'East coast' },
  UpdateFlashSaleRequest: { status: 'paused' },
  CreateReviewRequest: { rating: 5, title: 'Lovely', body: 'Bright and warm.' },
  PaymentWebhookEvent: { id: 'evt_123', type: 'payment_intent.succeeded', data: { object: { id: 'pi_123', metadata: { orderId: ID.order } } } },
  CreateMediaRequest: { contentType: 'video/mp4', bytes: 52_428_800, fileName: 'unboxing.mp4' },
  CreateShipmentRequest: { carrier: 'UPS', trackingNumber: '1Z999AA10123456784' },
};

/** A made-up instance of a JSON Schema (the simple shapes request schemas use). */
export function exampleOf(schema: unknown): unknown {
  if (typeof schema !== 'object' || schema === null) return null;
  const s = schema as Json;
  if (Array.isArray(s.enum)) return s.enum[0];
  switch (s.type) {
    case 'object': {
      const properties = (s.properties ?? {}) as Json;
      const required = (s.required ?? Object.keys(properties)) as string[];
      return Object.fromEntries(required.map((name) => [name, exampleOf(properties[name])]));
    }
    case 'array': return Array.from({ length: Math.max(1, Number(s.minItems ?? 1)) }, () => exampleOf(s.items));
    case 'integer': case 'number': return Math.max(Number(s.minimum ?? 1), 1);
    case 'boolean': return true;
    case 'string':
      if (s.format === 'uuid') return ID.product;
      if (s.format === 'email') return 'ada@example.com';
      if (s.format === 'date-time') return at;
      return 'x'.repeat(Math.max(1, Number(s.minLength ?? 1)));
    default: return {};
  }
}

export const requestExample = (name: SchemaName): unknown => REQUEST_EXAMPLES[name] ?? exampleOf(schemas[name]);

interface RouteDoc {
  /** The success answer (default: 200). */
  status?: number;
  example?: unknown;
  /** Answers beyond those the registry implies (e.g. 401 from login, 429, 422). */
  errors?: number[];
  /** Query parameters: name → description (a trailing "(required)" marks the required ones). */
  query?: Record<string, string>;
  /** Problem examples of this route, where they differ from the general ones. */
  problems?: Record<number, Json>;
  /** Content types of the success answer when it is not JSON (a string example is text/plain otherwise). */
  contentTypes?: readonly string[];
}

/** Pages and files outside /v1 without docs of their own: an HTML page. */
const PAGE_DOC: RouteDoc = { example: '<!doctype html>…', contentTypes: ['text/html'] };

const page = { page: 'page number, from 1', limit: 'page size (capped)' };
const problem = (status: number, slug: string, title: string, detail: string, extra: Json = {}): Json =>
  ({ type: `/problems/${slug}`, title, status, detail, ...extra });
const signedUrlProblems = {
  403: problem(403, 'upload-url-invalid', 'Invalid upload URL', 'This upload URL is not signed for this medium; ask POST /v1/products/{productId}/media for one'),
};
const signed = { expires: 'expiry of the signed URL, unix seconds (required)', sig: 'signature of the URL (required)' };
const productDoc = {
  productId: ID.product, name: 'Walnut desk lamp', description: 'Warm light', priceCents: 4550, currency: 'EUR', category: 'home',
  sellerId: ID.user, attributes: { color: 'walnut' }, available: 87, flashSaleId: null, rating: 4.5, reviewCount: 12,
  images: [{ mediaId: ID.media, url: `/media/${ID.media}`, contentType: 'image/jpeg', bytes: 482_113 }], videos: [],
};
const list = (key: string, item: unknown) => ({ [key]: [item], page: 1, limit: 20, total: 1 });

/** What the registry cannot say, by "METHOD pattern". */
const ROUTE_DOCS: Record<string, RouteDoc> = {
  'get /healthz': { example: { status: 'ok' } },
  'get /readyz': { example: { status: 'ready', dependencies: { redis: 'up', postgres: 'up', kafka: 'up' } } },
  'post /v1/users/register': { status: 201, example: { success: true, userId: ID.user }, errors: [409, 429] },
  'post /v1/users/login': {
    example: { success: true, token: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.sig', userId: ID.user, role: 'customer' }, errors: [401, 429],
    problems: { 401: problem(401, 'unauthorized', 'Unauthorized', 'The email or password is wrong') },
  },
  'get /v1/users/me': { example: { userId: ID.user, name: 'Ada Lovelace', email: 'ada@example.com', role: 'customer', createdAt: at } },
  'post /v1/products': { status: 201, example: { success: true, productId: ID.product } },
  'get /v1/products': {
    example: { ...list('products', productDoc), facets: { category: [{ value: 'home', count: 1 }] } },
    query: { q: 'full-text words', category: 'category', sellerId: 'seller', minPriceCents: 'lowest price', maxPriceCents: 'highest price', sort: 'relevance, price_asc, price_desc, newest, rating', ...page },
  },
  'get /v1/products/search': { example: { ...list('products', productDoc), facets: {} }, query: { term: 'full-text words', ...page } },
  'get /v1/products/:productId': { example: productDoc },
  'put /v1/products/:productId': { example: { success: true, product: productDoc } },
  'delete /v1/products/:productId': { example: { success: true, productId: ID.product } },
  'get /v1/products/:productId/reviews': { example: { productId: ID.product, rating: 4.5, reviewCount: 1, reviews: [{ rating: 5, title: 'Lovely', body: 'Bright and warm.' }], page: 1, limit: 20, total: 1 }, query: page },
  'post /v1/products/:productId/reviews': { status: 201, example: { success: true, reviewId: ID.cart, productId: ID.product, rating: 4.6, reviewCount: 13 } },
  'post /v1/products/:productId/media': {
    status: 201,
    example: {
      success: true, mediaId: ID.media, productId: ID.product, status: 'pending', uploadUrl: `/v1/media/${ID.media}/upload?expires=1764320400&sig=Jc2…`,
      uploadMethod: 'PUT', expiresAt: at, totalBytes: 52_428_800, chunkBytes: 8_388_608, maxChunkBytes: 67_108_864,
    },
  },
  'get /v1/products/:productId/media': { example: { productId: ID.product, media: [{ mediaId: ID.media, status: 'pending', contentType: 'video/mp4', sizeBytes: 52_428_800 }] } },
  'put /v1/media/:mediaId/upload': {
    example: { success: true, mediaId: ID.media, status: 'pending', receivedBytes: 8_388_608, totalBytes: 52_428_800, url: null },
    errors: [409, 411, 413, 415], query: signed,
    problems: {
      ...signedUrlProblems,
      409: problem(409, 'upload-offset-mismatch', 'Chunk out of place', 'This medium has 8388608 bytes; send the chunk starting at byte 8388608', { receivedBytes: 8_388_608 }),
      413: problem(413, 'chunk-too-large', 'Chunk too large', 'One request may carry at most 67108864 bytes; send larger files in chunks with Content-Range'),
      415: problem(415, 'media-type-mismatch', 'Not the declared type', "The file's first bytes are not those of video/mp4; the upload has failed", { errors: [{ field: 'body', message: 'is not video/mp4' }] }),
    },
  },
  'get /v1/media/:mediaId/upload': {
    example: { mediaId: ID.media, status: 'pending', receivedBytes: 8_388_608, totalBytes: 52_428_800, uploading: false, url: null, failure: null },
    query: signed, problems: signedUrlProblems,
  },
  'get /media/:mediaId': { example: '(the bytes of the image or video)', errors: [416], contentTypes: MEDIA_CONTENT_TYPES },
  'post /v1/flash-sales': { status: 201, example: { success: true, flashSaleId: ID.sale } },
  'get /v1/flash-sales': { example: { flashSales: [{ flashSaleId: ID.sale, productId: ID.product, status: 'live' }], serverTime: at }, query: { status: 'live, upcoming or ended' } },
  'get /v1/flash-sales/:flashSaleId': {
    example: { flashSaleId: ID.sale, productId: ID.product, status: 'live', quantity: 100, remaining: 42, perUserLimit: 2, priceCents: 1999, startsAt: at, endsAt: at, serverTime: at },
  },
  'patch /v1/flash-sales/:flashSaleId': { example: { flashSaleId: ID.sale, status: 'paused', quantity: 100, remaining: 42 } },
  'post /v1/orders': {
    status: 202, example: { success: true, orderId: ID.order, status: 'accepted' }, errors: [422, 429],
    problems: { 429: problem(429, 'limit-exceeded', 'Per-buyer limit reached', 'This sale allows 2 units per buyer', { orderId: ID.order, productId: ID.product, perUserLimit: 2 }) },
  },
  'get /v1/orders/:orderId': {
    example: { orderId: ID.order, status: 'paid', items: [{ productId: ID.product, quantity: 1, unitPriceCents: 1999 }], totalCents: 1999, currency: 'USD', paymentStatus: 'succeeded', trackingNumber: null, shipments: [], history: [{ status: 'accepted', at }] },
  },
  'get /v1/orders/user/:userId': { example: { userId: ID.user, ...list('orders', { orderId: ID.order, status: 'paid', totalCents: 1999, currency: 'USD' }) }, query: page },
  'post /v1/orders/:orderId/cancel': { example: { success: true, orderId: ID.order, status: 'cancelled', refund: { status: 'succeeded' } } },
  'post /v1/orders/:orderId/shipments': { status: 201, example: { success: true, shipmentId: ID.order, orderId: ID.order, carrier: 'UPS', trackingNumber: '1Z999AA10123456784', shippedAt: at, items: [{ productId: ID.product, quantity: 1, warehouseId: 'main' }], status: 'shipped' } },
  'post /v1/orders/:orderId/delivered': { example: { success: true, orderId: ID.order, status: 'delivered' } },
  'post /v1/payments/webhook': { example: { received: true, eventId: 'evt_123', duplicate: false, outcome: 'paid' } },
  'post /v1/cart': { example: { success: true, userId: ID.user, cart: { cartId: ID.cart, items: [{ productId: ID.product, quantity: 2 }], totalCents: 9100 } } },
  'get /v1/cart/:userId': { example: { userId: ID.user, cart: { cartId: ID.cart, items: [], totalCents: 0 } } },
  'put /v1/cart/:userId': { example: { success: true, userId: ID.user, cart: { cartId: ID.cart, items: [], totalCents: 0 } } },
  'delete /v1/cart/:userId/items/:productId': { example: { success: true, userId: ID.user, cart: { cartId: ID.cart, items: [], totalCents: 0 } } },
  'post /v1/cart/merge': { example: { success: true, userId: ID.user, cart: { cartId: ID.cart, items: [{ productId: ID.product, quantity: 1 }], totalCents: 4550 }, skipped: [], capped: [] } },
  'get /v1/inventory/:productId': { example: { productId: ID.product, stock: 100, reserved: 3, available: 97, warehouses: [{ warehouseId: 'main', name: 'Main warehouse', stock: 100, reserved: 3, available: 97 }] } },
  'put /v1/inventory/:productId': { example: { success: true, productId: ID.product, lowStockThreshold: 5 } },
  'post /v1/inventory/:productId/adjustments': { status: 201, example: { success: true, entry: { delta: 25, reason: 'restock from supplier', stockBefore: 75, stockAfter: 100 }, stock: 100 } },
  'post /v1/inventory/transfers': { status: 201, example: { success: true, transferId: ID.cart, entries: [{ warehouseId: 'main', delta: -10 }, { warehouseId: 'east', delta: 10 }] } },
  'get /v1/inventory/:productId/ledger': { example: { productId: ID.product, ...list('entries', { delta: 25, reason: 'restock from supplier', actorId: ID.user, createdAt: at }) }, query: page },
  'get /v1/warehouses': { example: { warehouses: [{ warehouseId: 'main', name: 'Main warehouse', createdAt: at }] } },
  'post /v1/warehouses': { status: 201, example: { success: true, warehouseId: 'east' } },
  'get /v1/notifications': { example: list('notifications', { kind: 'order_shipped', title: 'Your order has shipped', orderId: ID.order, createdAt: at, email: { status: 'sent', sentAt: at } }), query: { kind: 'one kind only', ...page } },
  'get /v1/reports/sales/daily': {
    example: { date: '2025-11-28', products: [{ productId: ID.product, units: 120, revenueCents: 239_880, orders: 97 }], totals: [{ currency: 'USD', units: 120, revenueCents: 239_880, orders: 97 }], page: 1, limit: 100, total: 1 },
    query: { date: 'a UTC day, YYYY-MM-DD (required)', format: 'csv for a CSV file', ...page },
  },
  'get /v1/ops/stats': { example: { queues: [], rates: {}, reservationsOpen: 0, drift: {} } },
  'get /v1/ops/dead-letters': { example: list('deadLetters', { deadLetterId: ID.deadLetter, topic: 'payments.requested', reason: 'provider timeout', state: 'open' }), query: { state: 'open, replay_requested, replayed or discarded', topic: 'topic', ...page } },
  'post /v1/ops/dead-letters/:deadLetterId/replay': { status: 202, example: { success: true, deadLetter: { deadLetterId: ID.deadLetter, state: 'replay_requested' } } },
  'post /v1/ops/dead-letters/:deadLetterId/discard': { example: { success: true, deadLetter: { deadLetterId: ID.deadLetter, state: 'discarded' } } },
  'get /metrics': { example: '# HELP flashsale_orders_total …', query: { scope: 'self for this edge alone' } },
  'get /ops': PAGE_DOC,
  'get /ops/assets/:file': { example: '(a file of the dashboard)', contentTypes: ['text/javascript', 'text/css'] },
  'get /openapi.json': { example: { openapi: '3.1.0', info: { title: 'Flash-sale shop API' } } },
  'get /docs': PAGE_DOC,
};

/* ------------------------------------------------------------------ problems */

const ERRORS: Record<number, { description: string; example: Json }> = {
  400: { description: 'Invalid input: the body, a path or query parameter, or a header; `errors` names each field', example: problem(400, 'validation-failed', 'Invalid request', 'quantity: must be >= 1', { errors: [{ field: 'quantity', message: 'must be >= 1' }] }) },
  401: { description: 'Not signed in, or the token is invalid or expired', example: problem(401, 'unauthorized', 'Unauthorized', 'Sign in: send Authorization: Bearer <token> from POST /v1/users/login') },
  403: { description: 'Signed in, but this role (or this user, for something of someone else) may not do this', example: problem(403, 'forbidden', 'Forbidden', 'Sellers may change only their own products') },
  404: { description: 'No such resource', example: problem(404, 'not-found', 'Not found', `Product ${ID.product} was not found`) },
  409: { description: 'Conflicts with the current state (sold out, already shipped, taken)', example: problem(409, 'sold-out', 'Sold out', `Product ${ID.product} has no units left`, { productId: ID.product }) },
  411: { description: 'No Content-Length', example: problem(411, 'length-required', 'Length required', 'Send each chunk with a Content-Length', { errors: [{ field: 'Content-Length', message: 'is required' }] }) },
  413: { description: 'The body is larger than allowed', example: problem(413, 'body-too-large', 'Body too large', 'The body must be at most 65536 bytes') },
  415: { description: 'The body is not of a type this route takes', example: problem(415, 'unsupported-media-type', 'Unsupported media type', 'Send the body as application/json') },
  416: { description: 'The byte range asked for is outside the file', example: problem(416, 'range-not-satisfiable', 'Range not satisfiable', 'The medium has 482113 bytes') },
  422: { description: 'The Idempotency-Key was used with a different body', example: problem(422, 'idempotency-key-reused', 'Idempotency-Key reused', 'This Idempotency-Key was used with a different request body; use a new key for a new order') },
  429: { description: 'Too many: `rate-limited` (throttling, with Retry-After) or `limit-exceeded` (a sale\'s per-buyer limit)', example: problem(429, 'rate-limited', 'Too many requests', 'Too many sign-in requests; try again in 42 s', { retryAfterSeconds: 42 }) },
  503: { description: 'A dependency is unavailable; try again after Retry-After', example: problem(503, 'service-unavailable', 'Service unavailable', 'redis is unavailable; try again shortly') },
};

/** The error answers a route can give: from its registry entry, plus those its docs name. */
function errorStatuses(route: RouteInfo, doc: RouteDoc, hasParams: boolean): number[] {
  const statuses = new Set<number>(doc.errors ?? []);
  if (route.bodySchema || hasParams || doc.query || route.upload || route.headers.length > 0) statuses.add(400);
  if (route.access !== 'anyone') statuses.add(401);
  if (route.access !== 'anyone' || route.upload?.signedUrl || doc.query?.sig) statuses.add(403);
  if (hasParams) statuses.add(404);
  if (route.method !== 'get') statuses.add(409);
  if (route.bodySchema) { statuses.add(413); statuses.add(415); }
  statuses.add(503);
  return [...statuses].sort((a, b) => a - b);
}

/* ------------------------------------------------------------------ document */

export const openApiPath = (pattern: string): string => pattern.replace(/:(\w+)/g, '{$1}');

export function accessText(access: Access, signedUrl = false): string {
  if (signedUrl) return 'anyone holding the signed URL (its signature is the credential)';
  if (access === 'anyone') return 'anyone';
  if (access === 'signed-in') return 'any signed-in user (a route about one user or order: that user, or an admin)';
  return access.join(' or ') + (access.includes('seller') ? ' (a seller only for their own products and their orders)' : '');
}

function operationId(method: string, path: string): string {
  const words = path.split('/').filter(Boolean)
    .map((part) => (part.startsWith('{') ? `by-${part.slice(1, -1)}` : part))
    .join('-').split(/[^A-Za-z0-9]+/).filter(Boolean);
  return method + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
}

/** The API's part (/v1/<part>/…); everything outside /v1 is the site's pages and service routes. */
const tagOf = (path: string): string => /^\/v1\/([\w-]+)/.exec(path)?.[1] ?? 'pages and service';

function successContent(doc: RouteDoc): Json {
  const example = doc.example ?? { success: true };
  if (typeof example !== 'string') return { 'application/json': { schema: { type: 'object' }, example } };
  return Object.fromEntries((doc.contentTypes ?? ['text/plain']).map((type) => [type, { schema: { type: 'string' }, example }]));
}

function operation(route: RouteInfo): Json {
  const path = openApiPath(route.pattern);
  const doc = ROUTE_DOCS[`${route.method} ${route.pattern}`] ?? (route.pattern.startsWith('/v1/') ? {} : PAGE_DOC);
  const pathParams = [...route.pattern.matchAll(/:(\w+)/g)].map((m) => m[1]!);
  const parameters: Json[] = [
    ...pathParams.map((name) => ({
      name, in: 'path', required: true, schema: /Id$/.test(name) ? { type: 'string', format: 'uuid' } : { type: 'string' },
    })),
    ...Object.entries(doc.query ?? {}).map(([name, description]) => ({
      name, in: 'query', required: description.endsWith('(required)'), description, schema: { type: 'string' },
    })),
    ...route.headers.filter((name) => name !== 'authorization').map((name) => ({
      name, in: 'header', required: false, schema: { type: 'string' },
    })),
  ];
  const successStatus = doc.status ?? 200;
  const responses: Json = {
    [successStatus]: { description: 'Success', content: successContent(doc) },
  };
  for (const status of errorStatuses(route, doc, pathParams.length > 0)) {
    const { description, example } = ERRORS[status]!;
    const specific = doc.problems?.[status] ?? (status === 400 && route.bodySchema ? validationExample(route.bodySchema as SchemaName) : example);
    responses[status] = {
      description,
      ...(status === 429 || status === 503 ? { headers: { 'Retry-After': { schema: { type: 'integer' }, description: 'seconds to wait' } } } : {}),
      content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' }, example: specific } },
    };
  }
  const op: Json = {
    operationId: operationId(route.method, path),
    summary: route.summary,
    description: `Who: ${accessText(route.access, route.upload?.signedUrl)}.`,
    tags: [tagOf(path)],
    'x-access': route.access,
    ...(parameters.length ? { parameters } : {}),
    responses,
  };
  if (route.access !== 'anyone') op.security = [{ bearerAuth: [] }];
  if (route.bodySchema) {
    op.requestBody = {
      required: true,
      content: { 'application/json': { schema: { $ref: `#/components/schemas/${route.bodySchema}` }, example: requestExample(route.bodySchema as SchemaName) } },
    };
  }
  if (route.upload) {
    op.requestBody = {
      required: true,
      description: 'The file\'s bytes, whole or one chunk (Content-Range: bytes first-last/total), streamed',
      content: Object.fromEntries(route.upload.contentTypes.map((type) => [type, { schema: { type: 'string', contentMediaType: type } }])),
    };
  }
  return op;
}

/** A 400 example for a body schema: its first required field, missing. */
function validationExample(name: SchemaName): Json {
  const field = ((schemas[name] as Json).required as string[] | undefined)?.[0] ?? '(body)';
  return problem(400, 'validation-failed', 'Invalid request', `${field}: is required`, { errors: [{ field, message: 'is required' }] });
}

const PROBLEM_SCHEMA = {
  type: 'object', required: ['type', 'title', 'status', 'detail'],
  properties: {
    type: { type: 'string', description: 'URI reference ending in the problem\'s slug, e.g. /problems/sold-out' },
    title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' },
    errors: {
      type: 'array', description: 'Validation errors, one per bad field',
      items: { type: 'object', required: ['field', 'message'], properties: { field: { type: 'string' }, message: { type: 'string' } } },
    },
  },
};

const DESCRIPTION = `The shop's HTTP API: users, catalog and search, media, flash sales, carts, orders,
payments, shipping, inventory, notifications, reports and operations.

- JSON in and out; money in integer minor units (\`priceCents\`) with an ISO 4217 \`currency\`.
- Auth: \`Authorization: Bearer <token>\` from \`POST /v1/users/login\`. Roles: customer, seller, admin.
- Errors are RFC 9457 \`application/problem+json\`; validation errors list each bad field in \`errors\`.
- Writes that create something take an \`Idempotency-Key\` header (required on \`POST /v1/orders\`).
- Lists take \`?page=&limit=\` and answer \`page\`, \`limit\`, \`total\`.
- Login and register are rate limited per client address and per account (429 \`rate-limited\`, Retry-After).`;

/** The document for every route in `routes`, with every request schema under components. */
export function buildOpenApi(routes: readonly RouteInfo[]): OpenApiDocument {
  const paths: Record<string, Record<string, Json>> = {};
  for (const route of routes) {
    const path = openApiPath(route.pattern);
    (paths[path] ??= {})[route.method] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Flash-sale shop API', version: '1.0.0', description: DESCRIPTION },
    servers: [{ url: '/' }],
    tags: [...new Set(Object.keys(paths).map(tagOf))].sort().map((name) => ({ name })),
    paths,
    components: {
      schemas: { ...schemas, Problem: PROBLEM_SCHEMA },
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    },
  };
}
