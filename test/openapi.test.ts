/**
 * GET /openapi.json and GET /docs against a real edge. The router's own registry
 * (edge/http.ts Router.routes, which the edge logs at debug level) is the list every
 * check walks: each route is in the document with its summary and access, each body
 * schema there is the very schema the validator compiles, each request example passes
 * that validator, each route has a success example and the problem answers it can give
 * (with examples that are problem documents). The document is checked against a
 * minimal OpenAPI 3.1 schema; the page is checked for every operation and with axe.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv } from 'ajv';
import { launchChromium } from './support/browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouteInfo } from '../edge/http.js';
import { openApiPath } from '../edge/openapi.js';
import { schemas, validator, type SchemaName } from '../edge/schemas.js';
import { startStack, type Stack } from './support/stack.js';

type Json = Record<string, unknown>;
interface Operation extends Json {
  operationId: string; summary: string; 'x-access': unknown; parameters?: Json[]; security?: unknown[];
  requestBody?: { content: Record<string, { schema: Json; example?: unknown }> };
  responses: Record<string, { description: string; content?: Record<string, { schema?: Json; example?: unknown }> }>;
}
interface Document { openapi: string; info: Json; paths: Record<string, Record<string, Operation>>; components: { schemas: Json; securitySchemes: Json } }

let stack: Stack;
let routes: RouteInfo[];
let doc: Document;

beforeAll(async () => {
  stack = await startStack({ without: ['order-writer', 'reconciler'], edgeEnv: { LOG_LEVEL: 'debug' } });
  const line = await stack.procs.edge!.waitFor(/"msg":"route registry"/);
  routes = (JSON.parse(line) as { routes: RouteInfo[] }).routes;
  const res = await stack.api.request<Document>('GET', '/openapi.json');
  expect(res.status).toBe(200);
  expect(res.contentType).toContain('application/json');
  doc = res.body;
});
afterAll(async () => { await stack?.stop(); });

const operations = (): { path: string; method: string; op: Operation }[] =>
  Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method, op })));
const operationOf = (route: RouteInfo): Operation | undefined => doc.paths[openApiPath(route.pattern)]?.[route.method];

/** The parts of OpenAPI 3.1 this document uses, as a JSON Schema (draft-07). */
const OPENAPI_31 = {
  type: 'object', required: ['openapi', 'info', 'paths', 'components'],
  properties: {
    openapi: { type: 'string', pattern: '^3\\.1\\.\\d+$' },
    info: { type: 'object', required: ['title', 'version'], properties: { title: { type: 'string', minLength: 1 }, version: { type: 'string', minLength: 1 } } },
    servers: { type: 'array', items: { type: 'object', required: ['url'] } },
    tags: { type: 'array', items: { type: 'object', required: ['name'] } },
    paths: {
      type: 'object', propertyNames: { pattern: '^/' },
      additionalProperties: {
        type: 'object', minProperties: 1, propertyNames: { enum: ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'] },
        additionalProperties: { $ref: '#/definitions/operation' },
      },
    },
    components: {
      type: 'object', required: ['schemas', 'securitySchemes'],
      properties: {
        schemas: { type: 'object', propertyNames: { pattern: '^[A-Za-z0-9._-]+$' }, additionalProperties: { type: ['object', 'boolean'] } },
        securitySchemes: { type: 'object', additionalProperties: { type: 'object', required: ['type'] } },
      },
    },
  },
  definitions: {
    operation: {
      type: 'object', required: ['operationId', 'summary', 'responses'],
      properties: {
        operationId: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9]*$' },
        summary: { type: 'string', minLength: 1 },
        tags: { type: 'array', items: { type: 'string' } },
        parameters: { type: 'array', items: { $ref: '#/definitions/parameter' } },
        requestBody: { type: 'object', required: ['content'], properties: { content: { $ref: '#/definitions/content' } } },
        responses: {
          type: 'object', minProperties: 1, propertyNames: { pattern: '^([1-5]\\d\\d|default)$' },
          additionalProperties: {
            type: 'object', required: ['description'],
            properties: { description: { type: 'string', minLength: 1 }, content: { $ref: '#/definitions/content' }, headers: { type: 'object' } },
          },
        },
        security: { type: 'array', items: { type: 'object' } },
      },
    },
    parameter: {
      type: 'object', required: ['name', 'in', 'schema'],
      properties: { name: { type: 'string', minLength: 1 }, in: { enum: ['path', 'query', 'header', 'cookie'] }, required: { type: 'boolean' } },
      if: { properties: { in: { const: 'path' } } }, then: { required: ['required'], properties: { required: { const: true } } },
    },
    content: {
      type: 'object', minProperties: 1, propertyNames: { pattern: '^[\\w.+*-]+/[\\w.+*-]+$' },
      additionalProperties: { type: 'object', properties: { schema: { type: ['object', 'boolean'] } } },
    },
  },
};

/** Every `$ref` in `value`, with where it is. */
function refsIn(value: unknown, at = '#'): { ref: string; at: string }[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => refsIn(item, `${at}/${i}`));
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, child]) =>
    key === '$ref' && typeof child === 'string' ? [{ ref: child, at }] : refsIn(child, `${at}/${key}`));
}

const resolve = (ref: string): unknown => ref.slice(2).split('/').reduce<unknown>((node, key) => (node as Json | undefined)?.[key], doc);

describe('/openapi.json', () => {
  it('is a well-formed OpenAPI 3.1 document: structure, unique operation ids, path parameters, references', () => {
    const ajv = new Ajv({ allErrors: true, strict: false });
    const valid = ajv.validate(OPENAPI_31, doc);
    expect(ajv.errors ?? [], ajv.errorsText()).toEqual([]);
    expect(valid).toBe(true);
    const ids = operations().map(({ op }) => op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { path, method, op } of operations()) {
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      const declared = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name).sort();
      expect(declared, `${method} ${path}`).toEqual(inPath);
    }
    for (const { ref, at } of refsIn(doc)) expect(resolve(ref), `${ref} at ${at}`).toBeDefined();
  });

  it('has every route of the router\'s registry, and nothing else, with its summary and access', () => {
    expect(routes.length).toBeGreaterThan(40);
    for (const route of routes) {
      const op = operationOf(route);
      expect(op, `${route.method} ${route.pattern} is missing`).toBeDefined();
      expect(route.summary, `${route.method} ${route.pattern} has no summary`).not.toBe('');
      expect(op!.summary).toBe(route.summary);
      expect(op!['x-access']).toEqual(route.access);
      expect(op!.security !== undefined, `${route.method} ${route.pattern}: bearer security`).toBe(route.access !== 'anyone');
    }
    expect(operations()).toHaveLength(routes.length);
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('gives each body the very schema the validator uses, with an example that validator takes', () => {
    const withBodies = routes.filter((route) => route.bodySchema);
    expect(withBodies.length).toBeGreaterThan(15);
    for (const name of Object.keys(schemas) as SchemaName[]) expect(doc.components.schemas[name], name).toEqual(schemas[name]);
    for (const route of withBodies) {
      const name = route.bodySchema as SchemaName;
      const media = operationOf(route)!.requestBody!.content['application/json']!;
      expect(media.schema).toEqual({ $ref: `#/components/schemas/${name}` });
      expect(resolve(media.schema.$ref as string)).toEqual(schemas[name]);
      expect(() => validator(name).parse(media.example), `${route.method} ${route.pattern}: example of ${name}`).not.toThrow();
    }
    for (const route of routes.filter((r) => r.upload)) {
      expect(Object.keys(operationOf(route)!.requestBody!.content).sort()).toEqual([...route.upload!.contentTypes].sort());
    }
  });

  it('gives each route a success example and the problems it can answer, each example a problem document', () => {
    const ajv = new Ajv({ strict: false });
    const isProblem = ajv.compile(doc.components.schemas.Problem as object);
    for (const route of routes) {
      const where = `${route.method} ${route.pattern}`;
      const responses = operationOf(route)!.responses;
      const success = Object.keys(responses).filter((status) => /^2\d\d$/.test(status));
      expect(success, where).toHaveLength(1);
      expect(Object.values(responses[success[0]!]!.content ?? {})[0]?.example, where).toBeDefined();
      const expected = ['503'];
      if (route.access !== 'anyone') expected.push('401', '403');
      if (route.bodySchema) expected.push('400', '413', '415');
      if (route.pattern.includes(':')) expected.push('400', '404');
      if (route.upload?.signedUrl) expected.push('403');
      for (const status of expected) expect(Object.keys(responses), `${where} answers ${status}`).toContain(status);
      for (const [status, response] of Object.entries(responses).filter(([s]) => Number(s) >= 400)) {
        const media = response.content?.['application/problem+json'];
        expect(media?.schema, `${where} ${status}`).toEqual({ $ref: '#/components/schemas/Problem' });
        const example = media!.example as { status: number; type: string };
        expect(isProblem(example), `${where} ${status} example`).toBe(true);
        expect(example.status, `${where} ${status} example`).toBe(Number(status));
        expect(example.type).toMatch(/^\/problems\/[a-z-]+$/);
      }
      if (route.bodySchema) {
        const example = responses['400']!.content!['application/problem+json']!.example as { errors: { field: string }[] };
        expect(example.errors.length, `${where}: a 400 example names a field`).toBeGreaterThan(0);
      }
    }
  });
});

describe('/docs', () => {
  it('renders every operation on one page that passes axe', async () => {
    const res = await fetch(`${stack.api.baseUrl}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    const html = await res.text();
    for (const route of routes) {
      const path = openApiPath(route.pattern).replace(/&/g, '&amp;');
      expect(html, route.pattern).toContain(`<span class="method ${route.method}">${route.method.toUpperCase()}</span> <code>${path}</code>`);
    }
    for (const name of Object.keys(schemas)) expect(html).toContain(`id="schema-${name}"`);
    expect(html).not.toMatch(/<script/i);

    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ bypassCSP: true }); // to inject axe: the page itself runs no script
      await page.goto(`${stack.api.baseUrl}/docs`);
      await page.addScriptTag({ content: readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8') });
      const violations = await page.evaluate<{ id: string; nodes: unknown[] }[]>(
        'axe.run(document, { resultTypes: ["violations"] }).then((r) => r.violations.map((v) => ({ id: v.id, nodes: v.nodes.slice(0, 3).map((n) => n.target) })))');
      expect(violations).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
