/**
 * k6 scenario "flash-spike" (data: loadtest/scenarios/flash-spike.json). Thousands of buyers on one hot product: every answer must be a 202, a 409 sold-out or a 429 limit-exceeded problem; rate-limited 429s are counted apart (rate_limited).
 *   k6 run loadtest/k6/flash-spike.ts -e BASE_URL=http://localhost:8080 -e ADMIN_EMAIL=… -e ADMIN_PASSWORD=…
 * Optional: -e DURATION=30s -e RATE_SCALE=0.5 -e BUYERS=500 -e SUMMARY_DIR=artifacts/loadtest -e PROFILE=<a profile of the data file>
 */
import type { Fixture, Scenario } from '../shared/scenario.ts';
import { iteration, optionsFor, profiled, setupFixture, summaryFor, type K6Summary } from './lib.ts';

const run = profiled(JSON.parse(open('../scenarios/flash-spike.json')) as Scenario);

export const options = optionsFor(run);

export function setup(): Fixture {
  return setupFixture(run);
}

export default function (fixture: Fixture): void {
  iteration(run.scenario, fixture);
}

export function handleSummary(data: K6Summary): Record<string, string> {
  return summaryFor(run.scenario, data);
}
