/**
 * The ceiling of bench:flash: bare uWebSockets.js and ioredis with auto-pipelining,
 * one small Lua reservation (DECRBY when stock >= qty) per request. No auth, no body
 * parsing or validation, no idempotency, no Kafka: what the machine allows a Node
 * edge in front of one Redis.
 *
 * env: PORT, REDIS_URL, STOCK_KEY (bench:flash sets the stock).
 */
import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';
import { Redis } from 'ioredis';

const require = createRequire(import.meta.url);
const uws = require('uWebSockets.js') as typeof UWS;
if (!Object.keys(require.cache).some((path) => /uws_[\w]+\.node$/.test(path))) {
  throw new Error('uWebSockets.js native binary did not load: the ceiling would run on the slow fallback');
}

const RESERVE = `
local stock = tonumber(redis.call('GET', KEYS[1]) or '0')
local qty = tonumber(ARGV[1])
if stock < qty then return -1 end
return redis.call('DECRBY', KEYS[1], qty)`;

type Reserving = Redis & { reserve(key: string, qty: number): Promise<number> };

const redis = new Redis(process.env.REDIS_URL!, { enableAutoPipelining: true, maxRetriesPerRequest: 1 }) as Reserving;
redis.defineCommand('reserve', { numberOfKeys: 1, lua: RESERVE });
const stockKey = process.env.STOCK_KEY!;
const ACCEPTED = JSON.stringify({ success: true, status: 'accepted' });
const SOLD_OUT = JSON.stringify({ title: 'Sold out' });

const app = uws.App();
app.post('/v1/orders', (res) => {
  let aborted = false;
  res.onAborted(() => { aborted = true; });
  res.onData((_chunk, isLast) => {
    if (!isLast) return;
    redis.reserve(stockKey, 1).then(
      (left) => {
        if (aborted) return;
        res.cork(() => {
          if (left >= 0) res.writeStatus('202 Accepted').writeHeader('content-type', 'application/json').end(ACCEPTED);
          else res.writeStatus('409 Conflict').writeHeader('content-type', 'application/problem+json').end(SOLD_OUT);
        });
      },
      () => { if (!aborted) res.cork(() => res.writeStatus('503 Service Unavailable').end()); },
    );
  });
});

let listenSocket: UWS.us_listen_socket | undefined;
app.listen('127.0.0.1', Number(process.env.PORT), (socket) => {
  if (!socket) {
    process.stderr.write('ceiling: cannot listen\n');
    process.exit(1);
  }
  listenSocket = socket;
  process.stdout.write(`ceiling listening on ${process.env.PORT}\n`);
});

const stop = () => {
  if (listenSocket) uws.us_listen_socket_close(listenSocket);
  redis.disconnect();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
