/**
 * `npm run loadtest -- <scenario> [options]`: runs a scenario (loadtest/scenarios/NAME.json)
 * with the Node driver (autocannon), the same checks and thresholds as the k6 scripts,
 * then, where it can reach the stack's Postgres and Redis, the invariant check.
 * `npm run loadtest -- check [options]`: the invariant check alone.
 * A run fails (exit 1) when a threshold or an invariant fails. See loadtest/README.md.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createFixture } from './client.js';
import { drive } from './driver.js';
import { checkInvariants, type InvariantReport } from './invariants.js';
import { applyThresholds, formatReport, scaleArrival, seconds, type Scenario } from './shared/scenario.js';

const USAGE = `usage: npm run loadtest -- <flash-spike|browse|soak|path/to/scenario.json> [options]
       npm run loadtest -- check [--products ID,ID] [--orders FILE.json] [--settle 15s] [--drain 60s]
options:
  --base-url URL      the shop (env BASE_URL; default http://localhost:8080)
  --duration D        stretch or squeeze the arrival profile to D in total (e.g. 10s, 5m; soak: env SOAK_DURATION)
  --rate-scale X      multiply every arrival rate by X
  --buyers N          buyers to register and sign in (default: the scenario's)
  --connections N     most connections at once (default: the scenario's maxVUs, at most 200)
  --no-invariants     skip the invariant check (it runs when DATABASE_URL and REDIS_URL are set
                      and the base URL is on this machine; --invariants forces it)
  --out DIR           where the summary goes (default artifacts/loadtest)
env: ADMIN_EMAIL / ADMIN_PASSWORD (an admin of the shop), DATABASE_URL / REDIS_URL (invariants)`;

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('package.json not found above the load test');
    dir = parent;
  }
  return dir;
}

const log = (message: string) => process.stderr.write(`[loadtest ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

function loadScenario(root: string, name: string): Scenario {
  const path = name.endsWith('.json') ? resolve(name) : join(root, 'loadtest', 'scenarios', `${name}.json`);
  if (!existsSync(path)) throw new Error(`no scenario ${name} (${path})`);
  return JSON.parse(readFileSync(path, 'utf8')) as Scenario;
}

function isLocal(baseUrl: string): boolean {
  const host = new URL(baseUrl).hostname;
  return host === 'localhost' || host === '[::1]' || host.startsWith('127.');
}

function printInvariants(report: InvariantReport): void {
  for (const r of report.results) log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}: ${r.detail}`);
}

async function runCheck(values: Record<string, string | boolean | undefined>): Promise<number> {
  const databaseUrl = process.env.DATABASE_URL;
  const redisUrl = process.env.REDIS_URL;
  if (!databaseUrl || !redisUrl) throw new Error('the check needs DATABASE_URL and REDIS_URL');
  const orders = typeof values.orders === 'string' ? JSON.parse(readFileSync(values.orders, 'utf8')) as string[] | { acceptedOrders: string[] } : undefined;
  const report = await checkInvariants({
    databaseUrl, redisUrl, log,
    productIds: typeof values.products === 'string' ? values.products.split(',').filter(Boolean) : undefined,
    acceptedOrderIds: orders === undefined ? undefined : Array.isArray(orders) ? orders : orders.acceptedOrders,
    settleMs: typeof values.settle === 'string' ? seconds(values.settle) * 1000 : undefined,
    drainMs: typeof values.drain === 'string' ? seconds(values.drain) * 1000 : undefined,
  });
  printInvariants(report);
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  return report.ok ? 0 : 1;
}

async function runScenario(root: string, name: string, values: Record<string, string | boolean | undefined>): Promise<number> {
  const scenario = loadScenario(root, name);
  const baseUrl = String(values['base-url'] ?? process.env.BASE_URL ?? 'http://localhost:8080').replace(/\/$/, '');
  const duration = typeof values.duration === 'string' ? values.duration : scenario.name === 'soak' ? process.env.SOAK_DURATION : undefined;
  const arrival = scaleArrival(scenario.arrival, duration ? seconds(duration) : undefined, Number(values['rate-scale'] ?? 1));
  const buyers = Number(values.buyers ?? scenario.buyers);
  const connections = Number(values.connections ?? Math.min(scenario.arrival.maxVUs, 200));
  const admin = { email: process.env.ADMIN_EMAIL ?? 'admin@example.com', password: process.env.ADMIN_PASSWORD ?? '' };
  const databaseUrl = process.env.DATABASE_URL;
  const redisUrl = process.env.REDIS_URL;
  const invariants = values['no-invariants'] ? false : values.invariants ? true : Boolean(databaseUrl && redisUrl && isLocal(baseUrl));
  if (invariants && (!databaseUrl || !redisUrl)) throw new Error('--invariants needs DATABASE_URL and REDIS_URL');

  log(`${scenario.name} against ${baseUrl}: ${arrival.stages.map((s) => `${s.duration}→${s.target}/${arrival.timeUnit}`).join(', ')}, ${buyers} buyers`);
  const fixture = await createFixture(baseUrl, scenario, admin, buyers, log);
  const startedAt = new Date().toISOString();
  const result = await drive({ baseUrl, scenario, fixture, arrival, connections, log });
  const thresholdsOk = applyThresholds(scenario.thresholds, result.metrics);

  let report: InvariantReport | null = null;
  let note: string | undefined;
  if (invariants) {
    log('waiting for the pipeline to drain, then checking the invariants');
    report = await checkInvariants({
      databaseUrl: databaseUrl!, redisUrl: redisUrl!, log,
      productIds: Object.values(fixture.products).flat(), acceptedOrderIds: result.acceptedOrders,
    });
  } else {
    note = 'invariants not checked (no DATABASE_URL / REDIS_URL, or a remote base URL): answers and thresholds only';
  }
  const ok = thresholdsOk && (report?.ok ?? true);
  const text = formatReport(`${scenario.name} (node driver, autocannon) against ${baseUrl}`, result.metrics, report?.results, note);
  const out = resolve(String(values.out ?? join(root, 'artifacts', 'loadtest')));
  mkdirSync(out, { recursive: true });
  const summary = {
    scenario: scenario.name, driver: 'node-autocannon', baseUrl, startedAt, durationS: result.durationS, arrival, buyers,
    fixture: { products: fixture.products, sales: fixture.sales, missingRoutes: fixture.missingRoutes },
    metrics: result.metrics, answers: result.answers, invariants: report, thresholdsOk, ok,
    acceptedOrders: result.acceptedOrders,
  };
  writeFileSync(join(out, `${scenario.name}-node-summary.json`), JSON.stringify(summary, null, 2) + '\n');
  writeFileSync(join(out, `${scenario.name}-node-summary.txt`), text);
  process.stdout.write(text);
  log(`summary: ${join(out, `${scenario.name}-node-summary.json`)}`);
  return ok ? 0 : 1;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'base-url': { type: 'string' }, duration: { type: 'string' }, 'rate-scale': { type: 'string' }, buyers: { type: 'string' },
      connections: { type: 'string' }, invariants: { type: 'boolean' }, 'no-invariants': { type: 'boolean' }, out: { type: 'string' },
      products: { type: 'string' }, orders: { type: 'string' }, settle: { type: 'string' }, drain: { type: 'string' }, help: { type: 'boolean' },
    },
  });
  const [command] = positionals;
  if (!command || values.help) {
    process.stderr.write(USAGE + '\n');
    return command ? 0 : 2;
  }
  return command === 'check' ? runCheck(values) : runScenario(repoRoot(), command, values);
}

main().then((code) => process.exit(code), (error: unknown) => {
  process.stderr.write(`loadtest: ${(error as Error).message}\n`);
  process.exit(2);
});
