/**
 * Operations: GET /metrics (Prometheus text: this edge merged with every other
 * process's snapshot), GET /v1/ops/stats (admin, JSON), the /ops dashboard (static
 * files bundled into dist/ops at build time) and its live feed, the WebSocket
 * /v1/ops/stream: the client sends {"type":"auth","token":"<admin JWT>"} first, then
 * gets {"type":"stats",...} once a second, and at once after a flash sale changes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TemplatedApp, WebSocket } from 'uWebSockets.js';
import type { Router } from '../http.js';
import type { EdgeDeps } from '../deps.js';
import { problems, HttpProblem } from '../problems.js';
import { samplerFor, type OpsSampler } from '../ops-sampler.js';
import type { OpsMessage } from '../ops-types.js';
import {
  METRICS_CONTENT_TYPE, metricsEnabled, metricsText, readSnapshots, startProcessMetrics,
} from '../../common/metrics.js';

const OPS_TOPIC = 'ops';
const AUTH_TIMEOUT_MS = 5_000;

interface StreamUser { authed: boolean; closed: boolean; userId?: string }

const ASSET_TYPES: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
  'app.js.map': 'application/json',
};

/** The dashboard's files from dist/ops (built by `npm run build`), read once. */
function loadAssets(): Map<string, Buffer> {
  const dir = fileURLToPath(new URL('../../ops/', import.meta.url));
  const assets = new Map<string, Buffer>();
  for (const name of ['index.html', ...Object.keys(ASSET_TYPES)]) {
    const path = dir + name;
    if (existsSync(path)) assets.set(name, readFileSync(path));
  }
  return assets;
}

export function opsRoutes(router: Router, deps: EdgeDeps, app: TemplatedApp): OpsSampler {
  const sampler = samplerFor(deps);
  const metricsToken = process.env.METRICS_TOKEN || undefined;
  const assets = loadAssets();
  if (metricsEnabled) {
    const metrics = startProcessMetrics({ process: 'edge', redis: deps.redis, pool: deps.pool, port: 0 });
    // Registered before main's own handlers: the snapshot is deleted before the Redis connection quits.
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => { sampler.stop(); void metrics.stop(); });
    sampler.start();
    sampler.onSample((stats) => {
      if (app.numSubscribers(OPS_TOPIC) > 0) app.publish(OPS_TOPIC, JSON.stringify({ type: 'stats', stats } satisfies OpsMessage));
    });
  }

  router.get('/metrics', {
    summary: 'Prometheus metrics of every process (this edge merged with the others; ?scope=self for this edge alone)',
    access: 'anyone',
    headers: ['authorization'],
    handler: async (ctx) => {
      if (metricsToken && ctx.headers.authorization !== `Bearer ${metricsToken}`) {
        throw problems.unauthorized('Send Authorization: Bearer <METRICS_TOKEN>');
      }
      if (!metricsEnabled) throw problems.notFound('Metrics (METRICS=off)');
      const others = ctx.query.get('scope') === 'self' ? [] : await readSnapshots(deps.redis).catch(() => []);
      return { status: 200, body: await metricsText(others), contentType: METRICS_CONTENT_TYPE };
    },
  });

  router.get('/v1/ops/stats', {
    summary: 'Operations figures: Kafka depth and lag, order rates, latency, flash-sale stock, payments, drift, health',
    access: ['admin'],
    handler: async () => {
      if (!metricsEnabled) throw problems.unavailable('Operations figures are off (METRICS=off)', 60);
      return { status: 200, body: sampler.latest ?? await sampler.sample(), headers: { 'cache-control': 'no-store' } };
    },
  });

  const page = (name: string, contentType: string) => {
    const file = assets.get(name);
    if (!file) throw problems.unavailable('The dashboard is not built: run `npm run build`', 60);
    return { status: 200, body: file, contentType, headers: { 'cache-control': 'no-cache' } };
  };

  router.get('/ops', {
    summary: 'The live operations dashboard (admin login in the page)',
    access: 'anyone',
    handler: () => page('index.html', 'text/html; charset=utf-8'),
  });

  router.get('/ops/assets/:file', {
    summary: "The dashboard's script and style sheet",
    access: 'anyone',
    handler: (ctx) => {
      const file = ctx.params.file ?? '';
      // Own keys only: "constructor" or "__proto__" must not find Object's.
      const type = Object.hasOwn(ASSET_TYPES, file) ? ASSET_TYPES[file] : undefined;
      if (!type) throw problems.notFound(`Asset ${file}`);
      return page(file, type);
    },
  });

  const send = (ws: WebSocket<StreamUser>, message: OpsMessage) => {
    if (!ws.getUserData().closed) ws.send(JSON.stringify(message));
  };
  const refuse = (ws: WebSocket<StreamUser>, code: number, reason: string) => {
    if (ws.getUserData().closed) return;
    send(ws, { type: 'error', message: reason });
    ws.end(code, reason);
  };

  app.ws<StreamUser>('/v1/ops/stream', {
    idleTimeout: 60,
    sendPingsAutomatically: true,
    maxPayloadLength: 16 * 1024,
    upgrade: (res, req, context) => {
      res.upgrade<StreamUser>({ authed: false, closed: false }, req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
    },
    open: (ws) => {
      setTimeout(() => {
        if (!ws.getUserData().authed) refuse(ws, 4401, 'send {"type":"auth","token":"<admin token>"} first');
      }, AUTH_TIMEOUT_MS).unref();
    },
    message: (ws, raw) => {
      const user = ws.getUserData();
      if (user.authed) return;
      let token = '';
      try {
        const message = JSON.parse(Buffer.from(raw).toString('utf8')) as { type?: unknown; token?: unknown };
        if (message.type === 'auth' && typeof message.token === 'string') token = message.token;
      } catch {
        // not JSON: refused below
      }
      try {
        const verified = deps.tokens.verifyHeader(`Bearer ${token}`);
        if (verified.role !== 'admin') {
          refuse(ws, 4403, 'the operations stream is for admins');
          return;
        }
        user.authed = true;
        user.userId = verified.userId;
      } catch (error) {
        refuse(ws, 4401, error instanceof HttpProblem ? error.message : 'sign in first');
        return;
      }
      if (!metricsEnabled) {
        refuse(ws, 4503, 'operations figures are off (METRICS=off)');
        return;
      }
      ws.subscribe(OPS_TOPIC);
      send(ws, { type: 'hello', userId: user.userId! });
      if (sampler.latest) send(ws, { type: 'stats', stats: sampler.latest });
    },
    close: (ws) => {
      ws.getUserData().closed = true;
    },
  });
  return sampler;
}
