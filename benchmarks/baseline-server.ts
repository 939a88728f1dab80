/**
 * The conventional baseline of bench:flash: node:http and a pg pool of 20, one
 * conditional UPDATE of the hot product row per order (the seeds' "preferred"
 * approach), 202 or 409. No auth, no Redis, no Kafka.
 *
 * env: PORT, DATABASE_URL. Expects the table products_bench (bench:flash creates it).
 */
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import pg from 'pg';

const port = Number(process.env.PORT);
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 20 });
pool.on('error', () => undefined);

const UPDATE = 'UPDATE products_bench SET stock = stock - $1 WHERE id = $2 AND stock >= $1';

function reply(res: import('node:http').ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': status === 202 ? 'application/json' : 'application/problem+json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

const server = createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/v1/orders') {
    reply(res, 404, { title: 'Not found' });
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    let line: { productId: string; quantity: number };
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { items: { productId: string; quantity: number }[] };
      line = body.items[0]!;
    } catch {
      reply(res, 400, { title: 'Malformed JSON' });
      return;
    }
    pool.query(UPDATE, [line.quantity, line.productId]).then(
      (result) => (result.rowCount === 1
        ? reply(res, 202, { success: true, orderId: randomUUID(), status: 'accepted' })
        : reply(res, 409, { title: 'Sold out' })),
      () => reply(res, 503, { title: 'Database unavailable' }),
    );
  });
});
server.keepAliveTimeout = 60_000;

server.listen(port, '127.0.0.1', () => process.stdout.write(`baseline listening on ${port}\n`));

const stop = () => {
  server.close();
  server.closeAllConnections();
  void pool.end().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
