/**
 * API fuzzing, short run: 1,000 requests generated from /openapi.json (faults/fuzz.ts),
 * spread over every route, as every kind of caller, with valid and broken bodies, path,
 * query and header values. No 5xx, every 4xx is problem+json, and a rejected write
 * changes nothing. `npm run fuzz` runs the same for longer, with a seed it prints.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN } from './support/processes.js';
import { startStack, type Stack } from './support/stack.js';
import { createFixture, fuzz, type FuzzReport } from '../faults/fuzz.js';
import { StateProbe } from '../faults/state.js';

const RUNS = 1_000;
const SEED = Number(process.env.FUZZ_SEED ?? 20_251_125);

let stack: Stack;
let report: FuzzReport;

beforeAll(async () => {
  stack = await startStack({
    edgeEnv: {
      // Low-stock alerts only on adjustments: no sweep writing rows between two requests.
      LOW_STOCK_INTERVAL_MS: '0',
      // The webhook route checks signatures (503 without a secret); no provider is called (a closed port).
      STRIPE_SECRET_KEY: 'sk_test_fuzz', STRIPE_WEBHOOK_SECRET: 'whsec_fuzz_0123456789', STRIPE_API_BASE: 'http://127.0.0.1:9',
    },
  });
  const admin = await stack.api.login(ADMIN.email, ADMIN.password);
  const fixture = await createFixture(stack.api, admin.token, admin.userId);
  report = await fuzz({
    baseUrl: stack.api.baseUrl, fixture: fixture.fuzz, probe: new StateProbe(stack.db, stack.redis, fixture.scope), runs: RUNS, seed: SEED,
  });
}, 240_000);
afterAll(async () => { await stack?.stop(); });

describe(`${RUNS} generated requests (seed ${SEED})`, () => {
  it('reach every route of the OpenAPI document with every kind of body', () => {
    expect(report.routes).toBeGreaterThan(40);
    expect(report.routesCovered).toBe(report.routes);
    for (const kind of ['valid', 'mutated', 'deep', 'oversized', 'not-json', 'wrong-content-type']) expect(report.bodies[kind]).toBeGreaterThan(0);
    // Not everything is refused: some generated requests are valid and succeed.
    expect(report.statuses['2xx']).toBeGreaterThan(0);
    expect(report.statuses['4xx']).toBeGreaterThan(0);
  });

  const rule = (name: string) => report.violations.filter((v) => v.rule === name).map((v) => ({ index: v.index, status: v.status, detail: v.detail, request: v.request }));

  it('never get a 5xx or a dropped connection', () => {
    expect([...rule('no-5xx'), ...rule('answered')]).toEqual([]);
  });

  it('get every 4xx as application/problem+json', () => {
    expect(rule('problem+json')).toEqual([]);
  });

  it('change nothing when a write is rejected', () => {
    expect(rule('rejected-write-changes-nothing')).toEqual([]);
  });
});
