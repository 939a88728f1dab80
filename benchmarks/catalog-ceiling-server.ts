/**
 * The ceiling of bench:catalog: bare uWebSockets.js answering every product detail and
 * every search with a fixed body of the size the edge sends (taken from real answers),
 * with the same headers. No routing work, no Redis, no Postgres: what this machine
 * allows a Node uWS server under the same load.
 *
 * env: PORT, DETAIL_BODY_FILE, SEARCH_BODY_FILE.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';

const require = createRequire(import.meta.url);
const uws = require('uWebSockets.js') as typeof UWS;
if (!Object.keys(require.cache).some((path) => /uws_[\w]+\.node$/.test(path))) {
  throw new Error('uWebSockets.js native binary did not load: the ceiling would run on the slow fallback');
}

const detailBody = readFileSync(process.env.DETAIL_BODY_FILE!);
const searchBody = readFileSync(process.env.SEARCH_BODY_FILE!);
const REQUEST_ID = '00000000-0000-4000-8000-000000000000';

const fixed = (body: Buffer) => (res: UWS.HttpResponse) => {
  res.cork(() => {
    res.writeStatus('200 OK').writeHeader('x-request-id', REQUEST_ID).writeHeader('content-type', 'application/json')
      .writeHeader('x-cache', 'hit').end(body);
  });
};

const app = uws.App();
app.get('/v1/products', fixed(searchBody));
app.get('/v1/products/:productId', fixed(detailBody));

let listenSocket: UWS.us_listen_socket | undefined;
app.listen('127.0.0.1', Number(process.env.PORT), (socket) => {
  if (!socket) {
    process.stderr.write('catalog ceiling: cannot listen\n');
    process.exit(1);
  }
  listenSocket = socket;
  process.stdout.write(`catalog ceiling listening on ${process.env.PORT}\n`);
});

const stop = () => {
  if (listenSocket) uws.us_listen_socket_close(listenSocket);
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
