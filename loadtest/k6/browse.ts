/**
 * k6 scenario "browse" (data: loadtest/scenarios/browse.json). A realistic mix of catalog pages, search, product details, cart and checkout.
 *   k6 run loadtest/k6/browse.ts -e BASE_URL=http://localhost:8080 -e ADMIN_EMAIL=… -e ADMIN_PASSWORD=…
 * Optional: -e DURATION=30s -e RATE_SCALE=0.5 -e BUYERS=500 -e SUMMARY_DIR=artifacts/loadtest -e PROFILE=<a profile of the data file>
 */
import type { Fixture, Scenario } from '../shared/scenario.ts';
import { iteration, optionsFor, profiled, setupFixture, summaryFor, type K6Summary } from './lib.ts';

const run = profiled(JSON.parse(open('../scenarios/browse.json')) as Scenario);

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
