/**
 * The payment sandbox: a small local server that speaks the Stripe API for the calls
 * the project makes (sandbox/stripe-sandbox.ts), so tests and the demo run with no
 * network. Point the SDK at it with STRIPE_API_BASE=http://127.0.0.1:PORT.
 *
 *   node dist/sandbox/payments-server.js
 *
 * env: SANDBOX_PORT (12111; 0 picks a free one), SANDBOX_HOST (127.0.0.1),
 *      SANDBOX_LATENCY_MS ("0", or "100-300": each API answer takes a uniform random
 *      time in that range), SANDBOX_SLOW_MS (pm_sandbox_slow's extra wait, 1500),
 *      SANDBOX_HANG_MS (how long a withheld answer holds the connection, 120000),
 *      SANDBOX_WEBHOOK_URL (where events are POSTed, signed; unset: kept, not sent),
 *      STRIPE_WEBHOOK_SECRET (the signing secret).
 *
 * Besides /v1, for tests and the demo:
 *   GET  /_sandbox/stats                     totals (intents, charges, declines, refunds, replays…)
 *   GET  /_sandbox/stats?orderId=ID          one order: its intents, charges, refunds, requests under its key
 *   GET  /_sandbox/events?payment_intent=ID  the events the sandbox made (unsigned JSON objects)
 *   POST /_sandbox/payment_intents/ID/authenticate  {"result":"succeed"|"fail"}: the customer's 3-D Secure step
 *   POST /_sandbox/config                    {"webhookUrl": URL | null}: where events go from now on
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import Stripe from 'stripe';
import { decodeForm, type Form } from './form.js';
import { StripeSandbox, type SandboxEvent, type SandboxReply } from './stripe-sandbox.js';

function latencyRange(raw: string | undefined): [number, number] {
  const match = /^(\d+)(?:-(\d+))?$/.exec((raw ?? '0').trim());
  if (!match) throw new Error(`SANDBOX_LATENCY_MS must be N or MIN-MAX, got "${raw}"`);
  const low = Number(match[1]);
  return [low, Math.max(low, Number(match[2] ?? low))];
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function jsonBody(raw: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(raw || '{}');
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, reply: SandboxReply): void {
  if (res.destroyed) return;
  const body = JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    'content-type': 'application/json', 'request-id': `req_${randomBytes(8).toString('hex')}`, 'stripe-version': '2026-02-25.clover',
    ...reply.headers,
  });
  res.end(body);
}

export interface SandboxServerOptions {
  port: number;
  host: string;
  latencyMs: [number, number];
  slowMs: number;
  hangMs: number;
  webhookUrl: string | undefined;
  webhookSecret: string | undefined;
  log: (message: string) => void;
}

export async function startSandbox(options: SandboxServerOptions): Promise<{ url: string; sandbox: StripeSandbox; close(): Promise<void> }> {
  const signer = new Stripe('sk_test_sandbox_signer');
  let baseUrl = '';
  let webhookUrl = options.webhookUrl;
  const deliver = async (event: SandboxEvent) => {
    const target = webhookUrl;
    if (!target || !options.webhookSecret) return;
    const payload = JSON.stringify(event);
    for (let attempt = 1; attempt <= 4; attempt++) {
      try {
        const header = signer.webhooks.generateTestHeaderString({ payload, secret: options.webhookSecret });
        const res = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': header }, body: payload });
        if (res.ok) return;
        options.log(`webhook ${event.type} ${event.id}: ${res.status}`);
      } catch (error) {
        options.log(`webhook ${event.type} ${event.id}: ${(error as Error).message}`);
      }
      await sleep(250 * attempt);
    }
  };
  const sandbox = new StripeSandbox({
    get baseUrl() { return baseUrl; },
    slowMs: options.slowMs,
    onEvent: (event) => { void deliver(event); },
  });
  const [low, high] = options.latencyMs;
  const latency = () => (high > 0 ? sleep(low + Math.random() * (high - low)) : Promise.resolve());
  const hung = new Set<ServerResponse>();

  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      options.log(`request failed: ${(error as Error).stack ?? String(error)}`);
      send(res, { status: 500, body: { error: { type: 'api_error', message: 'sandbox failure' } } });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const method = req.method ?? 'GET';
    const raw = await readBody(req);
    if (url.pathname.startsWith('/_sandbox/')) {
      send(res, sandboxRoute(method, url, raw));
      return;
    }
    if (!url.pathname.startsWith('/v1/')) {
      send(res, { status: 404, body: { error: { type: 'invalid_request_error', message: `Unrecognized request URL (${method}: ${url.pathname})` } } });
      return;
    }
    const auth = req.headers.authorization ?? '';
    if (!/^Bearer (sk|rk)_test_\S+$/.test(auth)) {
      send(res, { status: 401, body: { error: { type: 'invalid_request_error', message: 'Invalid API Key provided: the sandbox takes test keys (sk_test_…) only' } } });
      return;
    }
    const params: Form = method === 'GET' ? decodeForm(url.search.slice(1)) : decodeForm(raw);
    const key = req.headers['idempotency-key'];
    const reply = await sandbox.request(method, url.pathname, params, typeof key === 'string' && key ? key : undefined, latency);
    if (reply.hang) {
      hung.add(res);
      const timer = setTimeout(() => res.destroy(), options.hangMs);
      res.on('close', () => { clearTimeout(timer); hung.delete(res); });
      return;
    }
    if (reply.delayMs) await sleep(reply.delayMs);
    send(res, reply);
  }

  function sandboxRoute(method: string, url: URL, raw: string): SandboxReply {
    const parts = url.pathname.split('/').filter(Boolean); // _sandbox, ...
    if (method === 'GET' && parts[1] === 'stats') {
      const orderId = url.searchParams.get('orderId');
      return { status: 200, body: orderId ? sandbox.orderStats(orderId) : sandbox.totals };
    }
    if (method === 'GET' && parts[1] === 'events') {
      return { status: 200, body: { data: sandbox.eventsOf(url.searchParams.get('payment_intent')) } };
    }
    const body = jsonBody(raw);
    if (method === 'POST' && parts[1] === 'config' && body && (body.webhookUrl === null || typeof body.webhookUrl === 'string')) {
      webhookUrl = (body.webhookUrl as string | null) ?? undefined;
      return { status: 200, body: { webhookUrl: webhookUrl ?? null } };
    }
    if (method === 'POST' && parts[1] === 'payment_intents' && parts[3] === 'authenticate' && parts[2]) {
      const result = body?.result ?? 'succeed';
      if (result !== 'succeed' && result !== 'fail') {
        return { status: 400, body: { error: { type: 'invalid_request_error', message: 'body must be {"result":"succeed"|"fail"}', param: 'result' } } };
      }
      return sandbox.authenticate(parts[2], result);
    }
    return { status: 404, body: { error: { type: 'invalid_request_error', message: `No sandbox route ${method} ${url.pathname}` } } };
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  baseUrl = `http://${options.host}:${port}`;
  return {
    url: baseUrl,
    sandbox,
    close: () => new Promise<void>((resolve) => {
      for (const res of hung) res.destroy();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

async function main(): Promise<void> {
  const log = (message: string) => process.stderr.write(`[payment-sandbox] ${message}\n`);
  const running = await startSandbox({
    port: Number(process.env.SANDBOX_PORT ?? 12111),
    host: process.env.SANDBOX_HOST || '127.0.0.1',
    latencyMs: latencyRange(process.env.SANDBOX_LATENCY_MS),
    slowMs: Number(process.env.SANDBOX_SLOW_MS ?? 1_500),
    hangMs: Number(process.env.SANDBOX_HANG_MS ?? 120_000),
    webhookUrl: process.env.SANDBOX_WEBHOOK_URL || undefined,
    webhookSecret: process.env.STRIPE_WEBHOOK_SECRET || undefined,
    log,
  });
  log(`payment sandbox listening on ${running.url} (webhooks: ${process.env.SANDBOX_WEBHOOK_URL || 'kept, not sent'})`);
  const stop = () => { void running.close().then(() => process.exit(0)); };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`payment sandbox failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
}
