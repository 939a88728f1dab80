/**
 * `npm run loadtest -- <scenario> [options]`: runs a scenario (loadtest/scenarios/NAME.json)
 * with the Node driver (autocannon), the same checks and thresholds as the k6 scripts,
 * then the invariant check: always against a stack on this machine (the stores from the
 * environment or the local stack's files, see local-stack.ts), against another host only
 * when asked. A check that cannot run is never skipped in silence.
 * `npm run loadtest -- check [options]`: the invariant check alone.
 * A run fails (exit 1) when a threshold or an invariant fails; setup problems exit 2. See loadtest/README.md.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createFixture, login, SignInThrottledError } from './client.js';
import { drive } from './driver.js';
import { checkInvariants, productsFound, type InvariantReport } from './invariants.js';
import { dataDir, stackSettings, type StackSettings } from './local-stack.js';
import { applyThresholds, formatReport, scaleArrival, seconds, withProfile, type Scenario } from './shared/scenario.js';

const USAGE = `usage: npm run loadtest -- <flash-spike|browse|soak|path/to/scenario.json> [options]
       npm run loadtest -- check [--products ID,ID] [--orders FILE.json] [--settle 15s] [--drain 60s]
       npm run loadtest -- watch-ops [--base-url URL] [--out DIR] [--timeout 10m]   (Chromium on /ops, see watch-ops.ts)
options:
  --base-url URL      the shop (env BASE_URL; default http://localhost:8080)
  --profile NAME      a variant named in the scenario file's "profiles" (e.g. flash-spike's smoke): its
                      duration, rate scale, buyers and thresholds; the options below still win
  --duration D        stretch or squeeze the arrival profile to D in total (e.g. 10s, 5m; soak: env SOAK_DURATION)
  --rate-scale X      multiply every arrival rate by X
  --buyers N          buyers to register and sign in (default: the scenario's)
  --connections N     most connections at once (default: the scenario's maxVUs, at most 200)
  --no-invariants     answers and thresholds only. Without it, a run against this machine ends with the
                      invariant check and fails when it cannot run it; against another host the check
                      runs only with --invariants (and DATABASE_URL / REDIS_URL set)
  --out DIR           where the summary goes (default artifacts/loadtest)
env: ADMIN_EMAIL / ADMIN_PASSWORD (an admin of the shop), DATABASE_URL / REDIS_URL (invariants). Against
     this machine, what is not set comes from the local stack's DATA_DIR (default .data): services.env
     (REDIS_URL, DATABASE_URL) and secrets.env (DEMO_ADMIN_PASSWORD), as \`npm start\` writes them.`;

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

function printInvariants(report: InvariantReport): void {
  for (const r of report.results) log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}: ${r.detail}`);
}

type Values = Record<string, string | boolean | undefined>;

const baseUrlOf = (values: Values): string => String(values['base-url'] ?? process.env.BASE_URL ?? 'http://localhost:8080').replace(/\/$/, '');

/** Whether the run ends with the invariant check, and with which stores; an error when it should and cannot. */
type InvariantPlan = { run: true; databaseUrl: string; redisUrl: string } | { run: false; reason: string };

function planInvariants(values: Values, settings: StackSettings, dir: string): InvariantPlan {
  const { databaseUrl, redisUrl } = settings;
  if (values['no-invariants']) return { run: false, reason: '--no-invariants was given' };
  if (!settings.local && !values.invariants) {
    return { run: false, reason: 'the base URL is not on this machine (--invariants, with DATABASE_URL and REDIS_URL set, checks them anyway)' };
  }
  if (databaseUrl && redisUrl) return { run: true, databaseUrl, redisUrl };
  throw new Error(`the run ends with the invariant check, which reads the stack's Postgres and Redis, but DATABASE_URL and REDIS_URL are `
    + `not set${settings.local ? ` and ${join(dir, 'services.env')} is missing (is the stack running with this DATA_DIR?)` : ''}. `
    + 'Set them, or pass --no-invariants to check answers and thresholds only.');
}

/** The run's products are in the Postgres the check will read, or the run stops here, before the load. */
async function sameStack(plan: { databaseUrl: string }, productIds: string[], baseUrl: string): Promise<void> {
  const found = await productsFound(plan.databaseUrl, productIds).catch((error: unknown) => {
    throw new Error(`cannot reach the stack's Postgres for the invariant check (${(error as Error).message}); pass --no-invariants to skip it`);
  });
  if (found < productIds.length) {
    throw new Error(`the Postgres of DATABASE_URL does not hold the products just created at ${baseUrl}: it is another stack's. `
      + 'Point DATA_DIR (or DATABASE_URL and REDIS_URL) at the stack under test, or pass --no-invariants.');
  }
}

async function runCheck(root: string, values: Values): Promise<number> {
  const settings = stackSettings(root, 'http://localhost');
  const { databaseUrl, redisUrl } = settings;
  if (!databaseUrl || !redisUrl) throw new Error(`the check needs DATABASE_URL and REDIS_URL (or a local stack's ${join(dataDir(root), 'services.env')})`);
  log(`stores: ${settings.sources.filter((s) => /^(DATABASE|REDIS)_URL/.test(s)).join('; ')}`);
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

/** The check after the load; one that cannot run is a failed line of the report, never a silent skip. */
async function checkAfterLoad(plan: { databaseUrl: string; redisUrl: string }, productIds: string[], acceptedOrderIds: string[]): Promise<InvariantReport> {
  log('waiting for the pipeline to drain, then checking the invariants');
  try {
    return await checkInvariants({ databaseUrl: plan.databaseUrl, redisUrl: plan.redisUrl, log, productIds, acceptedOrderIds });
  } catch (error) {
    const detail = `the check could not run: ${(error as Error).message}`;
    return { ok: false, results: [{ name: 'invariant-check', ok: false, detail }], violations: {} };
  }
}

async function runScenario(root: string, name: string, values: Values): Promise<number> {
  const { scenario, profile } = withProfile(loadScenario(root, name), typeof values.profile === 'string' ? values.profile : undefined);
  const baseUrl = baseUrlOf(values);
  const duration = typeof values.duration === 'string' ? values.duration
    : (scenario.name === 'soak' ? process.env.SOAK_DURATION : undefined) ?? profile.duration;
  const arrival = scaleArrival(scenario.arrival, duration ? seconds(duration) : undefined, Number(values['rate-scale'] ?? profile.rateScale ?? 1));
  const buyers = Number(values.buyers ?? profile.buyers ?? scenario.buyers);
  const connections = Number(values.connections ?? Math.min(scenario.arrival.maxVUs, 200));
  const settings = stackSettings(root, baseUrl);
  // On stdout, so the report says what it ran against (never the password itself).
  process.stdout.write(`[loadtest] settings: ${settings.sources.join('; ')}\n`);
  const plan = planInvariants(values, settings, dataDir(root));

  log(`${scenario.name}${values.profile ? ` (profile ${String(values.profile)})` : ''} against ${baseUrl}: `
    + `${arrival.stages.map((s) => `${s.duration}→${s.target}/${arrival.timeUnit}`).join(', ')}, ${buyers} buyers`);
  const admin = await login(baseUrl, settings.admin.email, settings.admin.password, buyers).catch((error: unknown) => {
    throw error instanceof SignInThrottledError ? error
      : new Error(`${(error as Error).message}\n  (the admin: ${settings.sources.filter((s) => s.startsWith('ADMIN_')).join('; ')}; set ADMIN_EMAIL and ADMIN_PASSWORD)`);
  });
  const fixture = await createFixture(baseUrl, scenario, admin.token, buyers, log);
  const productIds = Object.values(fixture.products).flat();
  if (plan.run) await sameStack(plan, productIds, baseUrl);
  const startedAt = new Date().toISOString();
  const result = await drive({ baseUrl, scenario, fixture, arrival, connections, log });
  const thresholdsOk = applyThresholds(scenario.thresholds, result.metrics);

  const report = plan.run ? await checkAfterLoad(plan, productIds, result.acceptedOrders) : null;
  const note = plan.run ? undefined : `!! INVARIANTS NOT CHECKED: ${plan.reason}. This run checked answers and thresholds only.`;
  const ok = thresholdsOk && (report?.ok ?? true);
  const text = formatReport(`${scenario.name}${values.profile ? ` [${String(values.profile)}]` : ''} (node driver, autocannon) against ${baseUrl}`,
    result.metrics, report?.results, note);
  const out = resolve(String(values.out ?? join(root, 'artifacts', 'loadtest')));
  mkdirSync(out, { recursive: true });
  const summary = {
    scenario: scenario.name, profile: values.profile ?? null, driver: 'node-autocannon', baseUrl, startedAt, durationS: result.durationS, arrival, buyers,
    settings: settings.sources, thresholds: scenario.thresholds,
    fixture: { products: fixture.products, sales: fixture.sales, missingRoutes: fixture.missingRoutes },
    metrics: result.metrics, answers: result.answers, invariants: report, invariantsSkipped: plan.run ? null : plan.reason, thresholdsOk, ok,
    acceptedOrders: result.acceptedOrders,
  };
  writeFileSync(join(out, `${scenario.name}-node-summary.json`), JSON.stringify(summary, null, 2) + '\n');
  writeFileSync(join(out, `${scenario.name}-node-summary.txt`), text);
  process.stdout.write(text);
  log(`summary: ${join(out, `${scenario.name}-node-summary.json`)}`);
  return ok ? 0 : 1;
}

/** /ops in Chromium while a load test runs elsewhere: peak lag and drain, with screenshots. */
async function runWatch(root: string, values: Values): Promise<number> {
  const baseUrl = baseUrlOf(values);
  const settings = stackSettings(root, baseUrl);
  process.stdout.write(`[loadtest] settings: ${settings.sources.filter((s) => s.startsWith('ADMIN_')).join('; ')}\n`);
  const { watchOps } = await import('./watch-ops.js');
  const out = resolve(String(values.out ?? join(root, 'artifacts', 'ops-under-load')));
  const result = await watchOps({
    baseUrl, admin: settings.admin, out, log,
    timeoutMs: seconds(typeof values.timeout === 'string' ? values.timeout : '10m') * 1000,
  });
  const peak = result.peak;
  const lines = [
    peak ? `peak consumer lag ${peak.lag} at t=${peak.t}s (${Object.entries(peak.groups).map(([g, lag]) => `${g} ${lag}`).join(', ')})`
      : 'the consumer lag stayed at 0',
    result.roseAt !== null ? `lag first above 0 at t=${result.roseAt}s` : '',
    peak && result.drainedAt !== null ? `drained to 0 at t=${result.drainedAt}s: ${(result.drainedAt - peak.t).toFixed(1)} s after the peak` : '',
    peak && result.drainedAt === null ? 'NOT drained by the timeout' : '',
    `screenshots and readings in ${out}`,
  ].filter(Boolean);
  process.stdout.write(lines.map((l) => `  ${l}`).join('\n') + '\n');
  return peak && result.drainedAt === null ? 1 : 0;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'base-url': { type: 'string' }, profile: { type: 'string' }, duration: { type: 'string' }, 'rate-scale': { type: 'string' }, buyers: { type: 'string' },
      connections: { type: 'string' }, invariants: { type: 'boolean' }, 'no-invariants': { type: 'boolean' }, out: { type: 'string' },
      products: { type: 'string' }, orders: { type: 'string' }, settle: { type: 'string' }, drain: { type: 'string' }, timeout: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  const [command] = positionals;
  if (!command || values.help) {
    process.stderr.write(USAGE + '\n');
    return command ? 0 : 2;
  }
  if (command === 'check') return runCheck(repoRoot(), values);
  if (command === 'watch-ops') return runWatch(repoRoot(), values);
  return runScenario(repoRoot(), command, values);
}

main().then((code) => process.exit(code), (error: unknown) => {
  process.stderr.write(`loadtest: ${(error as Error).message}\n`);
  process.exit(2);
});
