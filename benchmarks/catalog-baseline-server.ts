/**
 * The conventional baseline of bench:catalog: node:http and a pg pool of 20, every request
 * straight to Postgres with the same statements the edge runs on a cache miss — the
 * product document by primary key, and the one-round-trip search (page, total, facets).
 * No cache, no Redis (so no `available` read either, which only flatters the baseline).
 *
 * env: PORT, DATABASE_URL.
 */
import { createServer, type ServerResponse } from 'node:http';
import { createPool } from '../common/db.js';
import { loadProductDocument, completeDocument } from '../edge/catalog-store.js';
import { CATALOG_PG_SETTINGS, parseSearch, runSearch } from '../edge/catalog-search.js';
import { HttpProblem } from '../edge/problems.js';
import type { RequestContext } from '../edge/http.js';

const port = Number(process.env.PORT);
// The same connection settings as the edge's catalog reads (JIT off), so the statements cost the same.
const pool = createPool(process.env.DATABASE_URL!, 20, CATALOG_PG_SETTINGS);

const DETAIL = /^\/v1\/products\/([0-9a-f-]{36})$/;

function reply(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': status === 200 ? 'application/json' : 'application/problem+json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function answer(url: string): Promise<[number, string]> {
  const [path = '', query = ''] = url.split('?', 2);
  const detail = DETAIL.exec(path);
  if (detail) {
    const doc = await loadProductDocument(pool, detail[1]!);
    return doc === null ? [404, '{"title":"Not found"}'] : [200, completeDocument(doc, 0, null)];
  }
  if (path === '/v1/products' || path === '/v1/products/search') {
    const ctx = { query: new URLSearchParams(query) } as RequestContext<unknown>;
    return [200, await runSearch(pool, parseSearch(ctx))];
  }
  return [404, '{"title":"Not found"}'];
}

const server = createServer((req, res) => {
  answer(req.url ?? '').then(
    ([status, body]) => reply(res, status, body),
    (error: unknown) => (error instanceof HttpProblem
      ? reply(res, error.status, JSON.stringify(error.body()))
      : reply(res, 503, '{"title":"Database unavailable"}')),
  );
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => process.stdout.write(`catalog baseline listening on ${port}\n`));

const stop = () => {
  server.close();
  server.closeAllConnections();
  void pool.end().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
