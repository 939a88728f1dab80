/**
 * fast-check arbitraries for requests to every operation of an OpenAPI document: the
 * body from the very JSON Schema the edge validates with (valid, then broken in every
 * way: a field of the wrong type, unicode, huge numbers, a missing or extra field, deep
 * nesting, oversized, not JSON, the wrong content type), path parameters (real ids of
 * the fixture, made-up ones, injections, malformed percent-encoding), query parameters,
 * the headers the route reads, and the caller (anonymous, each role, a forged token).
 */
import fc from 'fast-check';

type Json = Record<string, unknown>;

export interface Parameter { name: string; in: 'path' | 'query' | 'header' | 'cookie'; required?: boolean }
export interface Operation { operationId?: string; parameters?: Parameter[]; requestBody?: { content: Record<string, { schema?: Json }> } }
export interface OpenApiDoc { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, Json> } }

export type CallerName = 'anonymous' | 'forged' | 'customer' | 'other-customer' | 'seller' | 'admin';
export const CALLERS: readonly CallerName[] = ['anonymous', 'forged', 'customer', 'other-customer', 'seller', 'admin'];

export interface Caller { token: string; userId: string }

export interface FuzzFixture {
  callers: Partial<Record<CallerName, Caller>>;
  /** Real ids by parameter name (productId, orderId, userId, flashSaleId, mediaId, cartId, file, ...). */
  ids: Record<string, string[]>;
}

export type BodyKind = 'none' | 'valid' | 'mutated' | 'huge-number' | 'random-json' | 'deep' | 'oversized' | 'not-json' | 'wrong-content-type' | 'empty';

export interface FuzzRequest {
  /** "METHOD /path/{template}" */
  route: string;
  method: string;
  /** The path with its query, percent-encoded (or deliberately not). */
  url: string;
  headers: Record<string, string>;
  body?: string;
  bodyKind: BodyKind;
  caller: CallerName;
}

export interface Route { method: string; path: string; operation: Operation }

export function routesOf(doc: OpenApiDoc): Route[] {
  return Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({ method: method.toUpperCase(), path, operation })));
}

/* ------------------------------------------------------------------ values */

/** Strings that have broken servers: SQL, Lua and template injection, traversal, control characters, odd numbers. */
export const NASTY = [
  "' OR '1'='1", "1; DROP TABLE users; --", "'); DELETE FROM orders; --", '" OR ""="', '\\', '%', '_', '%_%',
  "\"]]) redis.call('FLUSHALL') --[[", "') return redis.call('keys','*') --", '{p:x}:avail', '*', 'KEYS *',
  '../../../../etc/passwd', '..%2f..%2fetc%2fpasswd', '<script>alert(1)</script>', '${7*7}', '{{7*7}}', '__proto__', 'constructor',
  'null', 'undefined', 'true', 'NaN', 'Infinity', '-Infinity', '-1', '0', '1e309', '-0', '0x1F', '1.5', '99999999999999999999999999',
  '9223372036854775808', '', ' ', '\t', '\u0000', 'a\u0000b', '\u202e\u0644\u0627', '💥🔥🦄', 'Ω≈ç√∫', '\ud800', '\udfff', 'ß'.repeat(300),
  'a'.repeat(5_000),
];

const unicode = fc.oneof(
  fc.string({ unit: 'grapheme-ascii', maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
);

const hugeNumber = fc.constantFrom(1e308, -1e308, 2 ** 53 + 1, -(2 ** 53) - 1, 1e21, 2 ** 31, -(2 ** 31) - 1, 0.1, -0.5, 1e-300);

/** A value of any JSON type, some of them hostile. */
const weird: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null), fc.boolean(), fc.integer(), hugeNumber, fc.constantFrom(...NASTY), unicode,
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
);

/** Percent-encodes a value as UTF-8 bytes (lone surrogates become U+FFFD instead of throwing). */
export function pct(value: string): string {
  return [...Buffer.from(value, 'utf8')].map((b) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

/** A header value a client can send: visible ASCII and Latin-1, no control characters. */
const headerSafe = (value: string): string => [...value].filter((c) => { const n = c.charCodeAt(0); return (n >= 0x20 && n <= 0x7e) || (n >= 0xa0 && n <= 0xff); }).join('');

/* ---------------------------------------------------------- schemas → values */

interface Ctx { schemas: Record<string, Json>; ids: string[] }

const INT32 = 2 ** 31 - 1;

function integerArb(s: Json): fc.Arbitrary<number> {
  const min = typeof s.minimum === 'number' ? s.minimum : -INT32;
  const max = typeof s.maximum === 'number' ? s.maximum : INT32;
  return fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: Math.max(min, -INT32), max: Math.min(max, INT32) }) },
    { weight: 1, arbitrary: fc.constantFrom(min, max) },
  );
}

function stringArb(s: Json, ctx: Ctx): fc.Arbitrary<string> {
  const minLength = Number(s.minLength ?? 0);
  const maxLength = Math.min(Number(s.maxLength ?? 40), Math.max(minLength, 40));
  const fits = (v: string) => v.length >= minLength && v.length <= Number(s.maxLength ?? Infinity);
  if (s.format === 'uuid') return ctx.ids.length ? fc.oneof(fc.constantFrom(...ctx.ids), fc.uuid()) : fc.uuid();
  if (s.format === 'email') return fc.emailAddress().filter(fits);
  if (s.format === 'date-time') {
    return fc.date({ min: new Date('2020-01-01'), max: new Date('2035-01-01'), noInvalidDate: true }).map((d) => d.toISOString());
  }
  if (typeof s.pattern === 'string') return fc.stringMatching(new RegExp(s.pattern)).filter(fits);
  return fc.oneof(
    { weight: 3, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength, maxLength }) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength, maxLength }).filter(fits) },
  );
}

/** `if/then/else` of an object schema, as the two shapes it allows (the `then` one has the `if` fields). */
function branches(s: Json): Json[] {
  const base: Json = { ...s };
  delete base.if; delete base.then; delete base.else;
  const merge = (extra: Json | undefined, drop: string[]): Json => {
    const properties = { ...(base.properties as Json), ...(extra?.properties as Json | undefined) };
    for (const [name, value] of Object.entries(properties)) if (value === false || drop.includes(name)) delete properties[name];
    const required = [...new Set([...(base.required as string[] ?? []), ...(extra?.required as string[] ?? [])])].filter((n) => n in properties);
    return { ...base, properties, required };
  };
  const ifRequired = ((s.if as Json).required as string[] | undefined) ?? [];
  return [merge({ ...(s.then as Json), required: [...((s.then as Json).required as string[] ?? []), ...ifRequired] }, []), merge(s.else as Json, ifRequired)];
}

/** Values the schema accepts (mostly: formats and lengths are approximations). */
export function valueOf(schema: unknown, ctx: Ctx): fc.Arbitrary<unknown> {
  if (schema === true || schema === undefined) return fc.jsonValue({ maxDepth: 2 });
  if (typeof schema !== 'object' || schema === null) return fc.constant(null);
  const s = schema as Json;
  if (typeof s.$ref === 'string') return valueOf(ctx.schemas[s.$ref.split('/').pop()!], ctx);
  if (s.if) return fc.oneof(...branches(s).map((b) => valueOf(b, ctx)));
  if (Array.isArray(s.enum)) return fc.constantFrom(...(s.enum as unknown[]));
  if ('const' in s) return fc.constant(s.const);
  switch (s.type) {
    case 'object': {
      const properties = Object.entries((s.properties ?? {}) as Json).filter(([, v]) => v !== false);
      if (properties.length === 0) {
        return fc.dictionary(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }),
          { maxKeys: Math.min(Number(s.maxProperties ?? 5), 5) });
      }
      const model = Object.fromEntries(properties.map(([name, sub]) => [name, valueOf(sub, ctx)]));
      const required = (s.required as string[] | undefined) ?? [];
      return fc.record(model, { requiredKeys: required.filter((r) => r in model) });
    }
    case 'array':
      return fc.array(valueOf(s.items, ctx), { minLength: Number(s.minItems ?? 0), maxLength: Math.min(Number(s.maxItems ?? 5), 5) });
    case 'string': return stringArb(s, ctx);
    case 'integer': return integerArb(s);
    case 'number': return fc.double({ min: Number(s.minimum ?? -1e9), max: Number(s.maximum ?? 1e9), noNaN: true, noDefaultInfinity: true });
    case 'boolean': return fc.boolean();
    default: return fc.jsonValue({ maxDepth: 2 });
  }
}

/* ------------------------------------------------------------ broken bodies */

type Path = (string | number)[];

function pathsOf(value: unknown, at: Path = []): Path[] {
  if (value === null || typeof value !== 'object') return [at];
  const children = Array.isArray(value) ? value.map((v, i) => pathsOf(v, [...at, i])) : Object.entries(value).map(([k, v]) => pathsOf(v, [...at, k]));
  return [at, ...children.flat()];
}

/** The value with one place replaced by `replacement`, removed, or given an extra field. */
function mutate(value: unknown, pick: number, replacement: unknown, how: 'replace' | 'delete' | 'add'): unknown {
  const copy = JSON.parse(JSON.stringify(value ?? null)) as unknown;
  const paths = pathsOf(copy);
  const path = paths[pick % paths.length]!;
  if (path.length === 0) return how === 'replace' ? replacement : copy;
  const parent = path.slice(0, -1).reduce<unknown>((node, key) => (node as Record<string | number, unknown>)[key], copy) as Record<string | number, unknown>;
  const key = path[path.length - 1]!;
  if (how === 'delete' && !Array.isArray(parent)) delete parent[key];
  else if (how === 'add' && typeof parent === 'object') parent[`x-${String(key)}-extra`] = replacement;
  else parent[key] = replacement;
  return copy;
}

function deepText(depth: number, kind: 'object' | 'array'): string {
  return kind === 'object' ? '{"a":'.repeat(depth) + '1' + '}'.repeat(depth) : '['.repeat(depth) + ']'.repeat(depth);
}

const NOT_JSON = ['{', '{"a":', 'nul', "{'a': 1}", '[1,]', '{"a":1}}', '\u0000', '\ufeff{}', 'undefined', '{"a":NaN}', '<xml/>', 'a=1&b=2'];

interface Body { kind: BodyKind; text?: string; contentType?: string }

function bodyArb(schema: Json | undefined, ctx: Ctx): fc.Arbitrary<Body> {
  if (!schema) return fc.constant<Body>({ kind: 'none' });
  const valid = valueOf(schema, ctx);
  const json = (kind: BodyKind) => (value: unknown): Body => ({ kind, text: JSON.stringify(value) ?? 'null' });
  return fc.oneof(
    { weight: 4, arbitrary: valid.map(json('valid')) },
    { weight: 5, arbitrary: fc.tuple(valid, fc.nat(), weird, fc.constantFrom('replace', 'delete', 'add') as fc.Arbitrary<'replace' | 'delete' | 'add'>)
      .map(([v, pick, replacement, how]) => json('mutated')(mutate(v, pick, replacement, how))) },
    { weight: 1, arbitrary: fc.tuple(valid, fc.constantFrom('1e400', '-1e400', '123456789012345678901234567890', '1.0000000000000000000001', '-0'))
      .map(([v, n]): Body => ({ kind: 'huge-number', text: (JSON.stringify(v) ?? 'null').replace(/-?\d+(\.\d+)?(e[+-]?\d+)?/i, n) })) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map(json('random-json')) },
    { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 33, max: 12_000 }), fc.constantFrom('object', 'array') as fc.Arbitrary<'object' | 'array'>)
      .map(([depth, kind]): Body => ({ kind: 'deep', text: deepText(depth, kind) })) },
    { weight: 1, arbitrary: fc.tuple(valid, fc.integer({ min: 70_000, max: 300_000 }))
      .map(([v, size]): Body => ({ kind: 'oversized', text: JSON.stringify({ ...(typeof v === 'object' && v ? v : {}), padding: 'x'.repeat(size) }) })) },
    { weight: 1, arbitrary: fc.oneof(fc.constantFrom(...NOT_JSON), unicode).map((text): Body => ({ kind: 'not-json', text })) },
    { weight: 1, arbitrary: fc.tuple(valid, fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', ''))
      .map(([v, contentType]): Body => ({ kind: 'wrong-content-type', text: JSON.stringify(v) ?? 'null', contentType })) },
    { weight: 1, arbitrary: fc.constant<Body>({ kind: 'empty', text: '' }) },
  );
}

/* ------------------------------------------------------ parameters, headers */

/** A path parameter: a real id of the fixture, a made-up one, an injection, or broken encoding. */
function pathValue(name: string, fixture: FuzzFixture): fc.Arbitrary<string> {
  const known = fixture.ids[name] ?? [];
  return fc.oneof(
    ...(known.length ? [{ weight: 5, arbitrary: fc.constantFrom(...known).map(pct) }] : []),
    { weight: 2, arbitrary: fc.uuid().map(pct) },
    { weight: 2, arbitrary: fc.constantFrom(...NASTY).map(pct) },
    { weight: 1, arbitrary: unicode.map(pct) },
    { weight: 1, arbitrary: fc.constantFrom('%E0%A4%A', '%', '%zz', '%C0%AF', '%ED%A0%80', '%00', '%FF%FE') },
  );
}

const QUERY_VALUES: Record<string, fc.Arbitrary<string>> = {
  page: fc.integer({ min: -5, max: 2_000_000 }).map(String),
  limit: fc.integer({ min: -5, max: 500 }).map(String),
  date: fc.oneof(fc.date({ min: new Date('1970-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)),
    fc.constantFrom('2025-02-30', '9999-99-99', '0000-00-00', '2025-1-1', 'yesterday')),
  minPriceCents: fc.oneof(fc.integer().map(String), fc.constantFrom('99999999999999999999', '1e30', '-1')),
  maxPriceCents: fc.oneof(fc.integer().map(String), fc.constantFrom('99999999999999999999', '1e30', '-1')),
  sort: fc.constantFrom('relevance', 'price_asc', 'price_desc', 'newest', 'rating', 'price; DROP TABLE products', 'RANDOM()'),
  status: fc.constantFrom('live', 'upcoming', 'ended', 'paused', 'everything'),
  state: fc.constantFrom('open', 'replay_requested', 'replayed', 'discarded', 'closed'),
  format: fc.constantFrom('csv', 'json', 'xml'),
  scope: fc.constantFrom('self', 'all'),
  kind: fc.constantFrom('order_confirmed', 'low_stock', 'whatever'),
};

function queryValue(name: string, fixture: FuzzFixture): fc.Arbitrary<string> {
  const known = fixture.ids[name] ?? [];
  return fc.oneof(
    { weight: 3, arbitrary: QUERY_VALUES[name] ?? (known.length ? fc.constantFrom(...known) : fc.string({ unit: 'grapheme-ascii', maxLength: 20 })) },
    { weight: 1, arbitrary: fc.uuid() },
    { weight: 2, arbitrary: fc.constantFrom(...NASTY) },
    { weight: 1, arbitrary: unicode },
  );
}

const HEADER_VALUES: Record<string, fc.Arbitrary<string>> = {
  'idempotency-key': fc.oneof(fc.uuid(), fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 250 }), fc.constantFrom(...NASTY)),
  'stripe-signature': fc.oneof(fc.constantFrom('t=1,v1=abc', 't=,v1=', 'v1=' + 'a'.repeat(64)), fc.string({ maxLength: 60 })),
  'content-range': fc.oneof(fc.tuple(fc.nat(), fc.nat(), fc.nat()).map(([a, b, c]) => `bytes ${a}-${b}/${c}`), fc.constantFrom('bytes */*', 'bytes 5-1/3', 'items 0-1/2')),
  range: fc.oneof(fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => `bytes=${a}-${b}`), fc.constantFrom('bytes=-5', 'bytes=5-', 'bytes=0-1,3-4', 'pages=1')),
  'if-none-match': fc.oneof(fc.constant('*'), fc.string({ maxLength: 40 })),
};

function headerValue(name: string): fc.Arbitrary<string | undefined> {
  const value = fc.oneof({ weight: 3, arbitrary: HEADER_VALUES[name] ?? fc.string({ maxLength: 40 }) }, { weight: 1, arbitrary: fc.constantFrom(...NASTY) });
  return fc.option(value.map(headerSafe), { freq: 6 }).map((v) => v ?? undefined);
}

function authHeader(caller: CallerName, fixture: FuzzFixture): fc.Arbitrary<string | undefined> {
  if (caller === 'anonymous') return fc.constant(undefined);
  if (caller === 'forged') {
    const real = Object.values(fixture.callers)[0]?.token ?? 'a.b.c';
    const [head, payload] = real.split('.');
    const none = Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url');
    const admin = Buffer.from(JSON.stringify({ sub: 'x', role: 'admin', exp: 9_999_999_999 })).toString('base64url');
    return fc.constantFrom(`Bearer ${none}.${payload}.`, `Bearer ${head}.${admin}.${real.split('.')[2]}`, 'Bearer x.y.z', 'Basic YWRtaW46YWRtaW4=',
      'Bearer', `Bearer ${real}${real}`, `bearer ${real}`, `Bearer ${'a'.repeat(3000)}`);
  }
  const token = fixture.callers[caller]?.token;
  return fc.constant(token ? `Bearer ${token}` : undefined);
}

/* ------------------------------------------------------------------ request */

function expand(path: string, values: Record<string, string>): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => values[name] ?? '');
}

function requestArb(route: Route, doc: OpenApiDoc, fixture: FuzzFixture): fc.Arbitrary<FuzzRequest> {
  const params = route.operation.parameters ?? [];
  const pathParams = params.filter((p) => p.in === 'path');
  const queryParams = params.filter((p) => p.in === 'query');
  const headerParams = params.filter((p) => p.in === 'header');
  const content = route.operation.requestBody?.content ?? {};
  const jsonSchema = content['application/json']?.schema;
  const uploadTypes = Object.keys(content).filter((t) => t !== 'application/json');
  const ctx: Ctx = { schemas: doc.components.schemas, ids: [...new Set(Object.values(fixture.ids).flat())] };
  const body: fc.Arbitrary<Body> = uploadTypes.length > 0
    ? fc.tuple(fc.constantFrom(...uploadTypes, 'text/html'), fc.uint8Array({ maxLength: 2_000 }))
      .map(([contentType, bytes]) => ({ kind: 'valid' as const, text: Buffer.from(bytes).toString('latin1'), contentType }))
    : bodyArb(jsonSchema, ctx);
  return fc.record({
    caller: fc.constantFrom(...CALLERS),
    path: fc.record(Object.fromEntries(pathParams.map((p) => [p.name, pathValue(p.name, fixture)]))),
    query: fc.record(Object.fromEntries(queryParams.map((p) => [p.name, fc.option(queryValue(p.name, fixture), { freq: 3 })]))),
    extraQuery: fc.option(fc.tuple(fc.constantFrom(...NASTY, 'page', 'limit'), fc.constantFrom(...NASTY)), { freq: 5 }),
    headers: fc.record(Object.fromEntries(headerParams.map((p) => [p.name, headerValue(p.name)]))),
    requestId: fc.option(fc.oneof(fc.uuid(), fc.string({ maxLength: 200 }).map(headerSafe)), { freq: 4 }),
    body,
  }).chain((parts) => authHeader(parts.caller, fixture).map((authorization) => {
    const query = Object.entries(parts.query).filter(([, v]) => v !== null).map(([k, v]) => `${k}=${pct(v as string)}`);
    if (parts.extraQuery) query.push(`${pct(parts.extraQuery[0])}=${pct(parts.extraQuery[1])}`);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(parts.headers)) if (value !== undefined) headers[name] = value as string;
    if (authorization) headers.authorization = authorization;
    if (parts.requestId) headers['x-request-id'] = parts.requestId;
    if (parts.body.text !== undefined) headers['content-type'] = parts.body.contentType ?? 'application/json';
    if (headers['content-type'] === '') delete headers['content-type'];
    return {
      route: `${route.method} ${route.path}`, method: route.method, caller: parts.caller, bodyKind: parts.body.kind,
      url: expand(route.path, parts.path as Record<string, string>) + (query.length ? `?${query.join('&')}` : ''),
      headers, ...(parts.body.text !== undefined ? { body: parts.body.text } : {}),
    };
  }));
}

/** Requests to every route of the document, each route as likely as any other. */
export function requestsFor(doc: OpenApiDoc, fixture: FuzzFixture): fc.Arbitrary<FuzzRequest> {
  return fc.oneof(...routesOf(doc).map((route) => requestArb(route, doc, fixture)));
}
