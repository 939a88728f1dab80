/**
 * GET /openapi.json (the OpenAPI 3.1 document, edge/openapi.ts) and GET /docs (the same
 * document as a plain HTML page: no script, no CDN). Both are built from the router's
 * registry once start-up has registered every route (main.ts registers them in one go).
 */
import type { Router } from '../http.js';
import type { EdgeDeps } from '../deps.js';
import { buildOpenApi, type OpenApiDocument } from '../openapi.js';

type Json = Record<string, unknown>;

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const pretty = (value: unknown): string => `<pre><code>${escapeHtml(typeof value === 'string' ? value : JSON.stringify(value, null, 2))}</code></pre>`;

const STYLE = `
  body { font: 16px/1.5 system-ui, sans-serif; margin: 0; color: #1b1b1b; background: #fff; }
  header, main, nav { max-width: 64rem; margin: 0 auto; padding: 0 1rem; }
  h1 { margin-top: 1.5rem; } h2 { border-bottom: 2px solid #ddd; margin-top: 2.5rem; }
  article { border: 1px solid #ccc; border-radius: 6px; padding: 0 1rem 1rem; margin: 1rem 0; }
  .method { display: inline-block; min-width: 4.5rem; font-family: monospace; font-weight: bold; color: #fff; background: #2a4d8f; border-radius: 4px; padding: 0 .4rem; text-align: center; }
  .method.post { background: #1d6b38; } .method.put, .method.patch { background: #7a4a00; } .method.delete { background: #a1232b; }
  pre { background: #f4f4f4; padding: .5rem; overflow-x: auto; font-size: 14px; }
  table { border-collapse: collapse; } th, td { border: 1px solid #ccc; padding: .2rem .5rem; text-align: left; vertical-align: top; }
  a { color: #1a4fa3; } nav ul { columns: 2; }
  a:focus, summary:focus { outline: 3px solid #f5a623; }`;

function parametersTable(parameters: Json[] | undefined): string {
  if (!parameters?.length) return '';
  const rows = parameters.map((p) => `<tr><td><code>${escapeHtml(String(p.name))}</code></td><td>${escapeHtml(String(p.in))}</td>`
    + `<td>${p.required ? 'yes' : 'no'}</td><td>${escapeHtml(String(p.description ?? ''))}</td></tr>`).join('');
  return `<table><caption>Parameters</caption><thead><tr><th scope="col">Name</th><th scope="col">In</th><th scope="col">Required</th><th scope="col">About</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function requestBody(body: Json | undefined, schemas: Json): string {
  if (!body) return '';
  const content = body.content as Record<string, Json>;
  return `<h4>Request body</h4>${body.description ? `<p>${escapeHtml(String(body.description))}</p>` : ''}`
    + Object.entries(content).map(([type, media]) => {
      const ref = (media.schema as Json | undefined)?.$ref as string | undefined;
      const name = ref?.split('/').pop();
      return `<p>Content type <code>${escapeHtml(type)}</code>${name ? `, schema <a href="#schema-${escapeHtml(name)}">${escapeHtml(name)}</a>` : ''}</p>`
        + (name ? `<details><summary>Schema ${escapeHtml(name)}</summary>${pretty(schemas[name])}</details>` : '')
        + (media.example !== undefined ? `<p>Example:</p>${pretty(media.example)}` : '');
    }).join('');
}

function responses(list: Record<string, Json>): string {
  return '<h4>Responses</h4>' + Object.entries(list).map(([status, response]) => {
    const content = (response.content ?? {}) as Record<string, Json>;
    const [type, media] = Object.entries(content)[0] ?? [];
    return `<details><summary><strong>${escapeHtml(status)}</strong> ${escapeHtml(String(response.description))}</summary>`
      + (type ? `<p>Content type <code>${escapeHtml(type)}</code>; example:</p>${pretty(media?.example)}` : '') + '</details>';
  }).join('');
}

/** The document as an accessible HTML page: a table of contents, then every operation grouped by tag. */
export function renderDocsPage(doc: OpenApiDocument): string {
  const info = doc.info as { title: string; version: string; description: string };
  const schemas = (doc.components.schemas ?? {}) as Json;
  const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ path, method, op: op as Json & { operationId: string; tags: string[] } })));
  const tags = [...new Set(operations.map((o) => o.op.tags[0]!))].sort();
  const nav = tags.map((tag) => `<li><a href="#tag-${escapeHtml(tag)}">${escapeHtml(tag)}</a></li>`).join('');
  const sections = tags.map((tag) => {
    const articles = operations.filter((o) => o.op.tags[0] === tag).map(({ path, method, op }) =>
      `<article id="${escapeHtml(op.operationId)}" aria-labelledby="${escapeHtml(op.operationId)}-title">`
      + `<h3 id="${escapeHtml(op.operationId)}-title"><span class="method ${method}">${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code></h3>`
      + `<p>${escapeHtml(String(op.summary ?? ''))}</p><p>${escapeHtml(String(op.description ?? ''))}`
      + `${op.security ? ' Send <code>Authorization: Bearer &lt;token&gt;</code>.' : ''}</p>`
      + parametersTable(op.parameters as Json[] | undefined)
      + requestBody(op.requestBody as Json | undefined, schemas)
      + responses(op.responses as Record<string, Json>)
      + '</article>').join('');
    return `<section aria-labelledby="tag-${escapeHtml(tag)}"><h2 id="tag-${escapeHtml(tag)}">${escapeHtml(tag)}</h2>${articles}</section>`;
  }).join('');
  const schemaList = Object.entries(schemas).map(([name, schema]) =>
    `<h3 id="schema-${escapeHtml(name)}">${escapeHtml(name)}</h3>${pretty(schema)}`).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">`
    + `<title>${escapeHtml(info.title)}: API reference</title><style>${STYLE}</style></head><body>`
    + `<header><h1>${escapeHtml(info.title)} <small>${escapeHtml(info.version)}</small></h1>`
    + `<p>OpenAPI ${escapeHtml(doc.openapi)} document: <a href="/openapi.json">/openapi.json</a>.</p>${pretty(info.description)}</header>`
    + `<nav aria-label="Sections"><h2>Sections</h2><ul>${nav}<li><a href="#schemas">Request schemas</a></li></ul></nav>`
    + `<main>${sections}<section aria-labelledby="schemas"><h2 id="schemas">Request schemas</h2>${schemaList}</section></main></body></html>`;
}

export function docsRoutes(router: Router, deps: EdgeDeps): void {
  let built: { json: string; html: string } | undefined;
  const documents = (): { json: string; html: string } => {
    if (!built) {
      const doc = buildOpenApi(router.routes);
      built = { json: JSON.stringify(doc), html: renderDocsPage(doc) };
    }
    return built;
  };
  // Once main.ts has registered every route (it does so in one go): build, and log the registry
  // itself at debug level, for tests that walk every route.
  setImmediate(() => {
    documents();
    deps.log.debug({ routes: router.routes }, 'route registry');
  });

  router.get('/openapi.json', {
    summary: 'This API as an OpenAPI 3.1 document',
    access: 'anyone',
    handler: () => ({ status: 200, body: documents().json, contentType: 'application/json', headers: { 'cache-control': 'no-cache' } }),
  });

  router.get('/docs', {
    summary: 'This API as a readable page',
    access: 'anyone',
    handler: () => ({ status: 200, body: documents().html, contentType: 'text/html; charset=utf-8', headers: { 'cache-control': 'no-cache' } }),
  });

}
