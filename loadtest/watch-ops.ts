/**
 * `npm run loadtest -- watch-ops [--base-url URL] [--out DIR] [--timeout 10m]`: what an
 * operator sees on /ops during a load test, recorded. Real Chromium (playwright-core,
 * CHROME_PATH or /usr/bin/chromium) signs in to /ops as the admin (found as the driver
 * finds it, local-stack.ts) and reads the page once a second: the consumer lag figure,
 * the lag per consumer group (the Kafka table) and the accepted-orders count. It keeps a
 * screenshot of the page at peak lag and one once the lag has drained back to zero, and
 * writes every reading to DIR/samples.json (default artifacts/ops-under-load). Start it,
 * then the load test in another terminal; it ends when the lag has risen and drained, or
 * at the timeout.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';

export interface WatchOptions {
  baseUrl: string;
  admin: { email: string; password: string };
  out: string;
  timeoutMs: number;
  log: (message: string) => void;
}

interface Reading {
  /** Seconds since the watch started. */
  t: number;
  /** The page's "Consumer lag" figure: every group's lag summed. */
  lag: number;
  /** Lag per consumer group, summed over its topics and partitions (the Kafka table). */
  groups: Record<string, number>;
  accepted: number;
}

export interface WatchResult {
  peak: Reading | null;
  /** When the lag first rose above zero, and when it was back at zero after the peak (seconds since start). */
  roseAt: number | null;
  drainedAt: number | null;
  samples: Reading[];
}

const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'];

/** Zero lag for this many readings in a row after the peak counts as drained. */
const DRAINED_READINGS = 3;

async function read(page: Page, t: number): Promise<Reading> {
  // Runs in the page: the figures as the dashboard shows them.
  return page.evaluate<Omit<Reading, 't'>>(`(() => {
    const number = (text) => Number(String(text ?? '').replace(/,/g, '')) || 0;
    const groups = {};
    for (const row of document.querySelectorAll('#kafka tbody tr')) {
      const cells = row.querySelectorAll('td');
      groups[cells[0].textContent] = (groups[cells[0].textContent] ?? 0) + number(cells[5].textContent);
    }
    return {
      lag: number(document.querySelector('[data-testid="lag-total"]')?.textContent),
      groups,
      accepted: number(document.querySelector('[data-testid="accepted-total"]')?.textContent),
    };
  })()`).then((figures) => ({ t, ...figures }));
}

export async function watchOps(options: WatchOptions): Promise<WatchResult> {
  const browser = await chromium.launch({ executablePath: process.env.CHROME_PATH || '/usr/bin/chromium', args: CHROMIUM_FLAGS, headless: true });
  mkdirSync(options.out, { recursive: true });
  const result: WatchResult = { peak: null, roseAt: null, drainedAt: null, samples: [] };
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1800 } });
    await page.goto(`${options.baseUrl}/ops`);
    await page.getByLabel('Email').fill(options.admin.email);
    await page.getByLabel('Password').fill(options.admin.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByTestId('lag-total').filter({ hasText: /\d/ }).waitFor({ timeout: 15_000 });
    options.log(`signed in to ${options.baseUrl}/ops; reading the consumer lag once a second (start the load now)`);

    const started = Date.now();
    let zeroRun = 0;
    while (Date.now() - started < options.timeoutMs) {
      const tick = Date.now();
      const reading = await read(page, Math.round((tick - started) / 100) / 10);
      result.samples.push(reading);
      if (reading.lag > 0) result.roseAt ??= reading.t;
      const groups = Object.entries(reading.groups).filter(([, lag]) => lag > 0).map(([g, lag]) => `${g} ${lag}`).join(', ');
      options.log(`t=${reading.t.toFixed(1)}s lag ${reading.lag}${groups ? ` (${groups})` : ''}, accepted ${reading.accepted}`);
      if (reading.lag > (result.peak?.lag ?? 0)) {
        result.peak = reading;
        await page.screenshot({ path: join(options.out, 'peak-lag.png'), fullPage: true });
      }
      zeroRun = result.peak && reading.lag === 0 ? zeroRun + 1 : 0;
      if (zeroRun === 1) result.drainedAt = reading.t;
      if (zeroRun >= DRAINED_READINGS) {
        await page.screenshot({ path: join(options.out, 'drained.png'), fullPage: true });
        break;
      }
      await page.waitForTimeout(Math.max(0, 1_000 - (Date.now() - tick)));
    }
    if (zeroRun < DRAINED_READINGS) {
      result.drainedAt = null;
      await page.screenshot({ path: join(options.out, 'at-timeout.png'), fullPage: true });
    }
  } finally {
    await browser.close();
    writeFileSync(join(options.out, 'samples.json'), JSON.stringify(result, null, 2) + '\n');
  }
  return result;
}
