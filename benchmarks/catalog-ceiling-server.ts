/**
 * The ceiling of bench:catalog: bare uWebSockets.js answering every product detail and
 * every search with a fixed answer taken from the edge (a body of typical size and the
 * same headers). No routing work, no Redis, no Postgres: what this machine allows a Node
 * uWS server under the same load.
 *
 * env: PORT, CATALOG_ANSWERS_FILE ({detail, search}: {body, headers: [name, value][]}).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';

const require = createRequire(import.meta.url);
const uws = require('uWebSockets.js') as typeof UWS;
if (!Object.keys(require.cache).some((path) => /uws_[\w]+\.node$/.test(path))) {
  throw new Error('uWebSockets.js native binary did not load: the ceiling would run on the slow fallback');
}

interface FixedAnswer { body: string; headers: [string, string][] }
const answers = JSON.parse(readFileSync(process.env.CATALOG_ANSWERS_FILE!, 'utf8')) as { detail: FixedAnswer; search: FixedAnswer };

const fixed = ({ body, headers }: FixedAnswer) => {
  const payload = Buffer.from(body);
  return (res: UWS.HttpResponse) => {
    res.cork(() => {
      res.writeStatus('200 OK');
      for (const [name, value] of headers) res.writeHeader(name, value);
      res.end(payload);
    });
  };
};

const app = uws.App();
app.get('/v1/products', fixed(answers.search));
app.get('/v1/products/:productId', fixed(answers.detail));

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
