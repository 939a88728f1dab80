/**
 * `npm run fuzz`: the API fuzzer (faults/fuzz.ts) for a long run, against its own stack
 * (services as `npm run faults` has them; edge, order writer and reconciler) or a running
 * one (--base-url, with DATABASE_URL, REDIS_URL, ADMIN_EMAIL and ADMIN_PASSWORD).
 *
 *   npm run fuzz                          20,000 requests, a random seed (printed first)
 *   npm run fuzz -- --runs 5000 --seed 42 the same 5,000 requests as any run with seed 42
 *
 * Writes artifacts/faults/fuzz-<seed>.json; exit 1 when a rule was broken.
 */
import pg from 'pg';
import { Redis } from 'ioredis';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Api } from '../test/support/api.js';
import { ADMIN } from '../test/support/processes.js';
import { createFixture, fuzz } from './fuzz.js';
import { StateProbe } from './state.js';
import { ARTIFACTS, log, servicesDown, servicesUp, Stack } from './stack.js';

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { runs: { type: 'string' }, seed: { type: 'string' }, 'base-url': { type: 'string' } } });
  const runs = Number(values.runs ?? 20_000);
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
  process.stdout.write(`fuzz seed ${seed}, ${runs} requests (replay: npm run fuzz -- --seed ${seed} --runs ${runs})\n`);

  const given = values['base-url'];
  const services = given ? undefined : servicesUp();
  // Low-stock alerts only on adjustments (no sweep writes between two requests); the webhook checks signatures.
  const stack = given ? undefined : await Stack.start(['edge', 'order-writer', 'reconciler'], { LOW_STOCK_INTERVAL_MS: '0' });
  const api = stack?.api ?? new Api(given!.replace(/\/$/, ''));
  const db = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 });
  const redis = new Redis(process.env.REDIS_URL!);
  try {
    const admin = await api.login(process.env.ADMIN_EMAIL ?? ADMIN.email, process.env.ADMIN_PASSWORD ?? ADMIN.password);
    const fixture = await createFixture(api, admin.token, admin.userId);
    const report = await fuzz({
      baseUrl: api.baseUrl, fixture: fixture.fuzz, probe: new StateProbe(db, redis, fixture.scope), runs, seed,
      progress: (done, violations) => log(`${done}/${runs} requests, ${violations} violations`),
    });
    mkdirSync(ARTIFACTS, { recursive: true });
    const file = join(ARTIFACTS, `fuzz-${seed}.json`);
    writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
    process.stdout.write(`${report.runs} requests in ${(report.ms / 1000).toFixed(0)} s over ${report.routesCovered} of ${report.routes} routes; `
      + `answers ${JSON.stringify(report.statuses)}; bodies ${JSON.stringify(report.bodies)}\n`);
    for (const v of report.violations.slice(0, 50)) process.stdout.write(`VIOLATION #${v.index} ${v.rule} ${v.status} ${v.request.route}: ${v.detail}\n  ${JSON.stringify(v.request)}\n`);
    process.stdout.write(`${report.violations.length} violations (seed ${seed}); report: ${file}\n`);
    return report.violations.length > 0 ? 1 : 0;
  } finally {
    await stack?.stop();
    await db.end();
    redis.disconnect();
    if (services?.startedHere) servicesDown();
  }
}

main().then((code) => process.exit(code), (error: unknown) => {
  log(`fuzz: ${(error as Error).stack ?? String(error)}`);
  process.exit(2);
});
