/**
 * bench:catalog — product detail and search on the seeded 100,000-product catalog,
 * side by side in one run against:
 *   - the conventional baseline: node:http + pg, the same statements straight to
 *     Postgres for every request, no cache (benchmarks/catalog-baseline-server.ts);
 *   - the ceiling: bare uWS answering a fixed body of the edge's answer size, same
 *     headers (benchmarks/catalog-ceiling-server.ts).
 * Every target gets the same requests in the same order (benchmarks/catalog-mix.ts):
 * details of products drawn uniformly from the catalog, and a skewed search mix with many
 * distinct words, filters, sorts and pages. Each run is a warm-up (not reported), then
 * the measured window; the edge's cache hit ratio is counted from its x-cache header.
 *
 * env: BENCH_DURATION (s, 10), BENCH_WARMUP (s, 15: the search warm-up), BENCH_CONNECTIONS (50),
 *      BENCH_ONLY=detail,search (a subset), BENCH_TARGETS=edge,baseline,ceiling (a subset),
 *      BENCH_QUIET_WAIT (s, 60: waits up to this long for an idle machine before each run),
 *      plus infra/services.sh's DATA_DIR / *_PORT or REDIS_URL / DATABASE_URL / KAFKA_BROKERS.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import { Redis } from 'ioredis';
import { migrate } from '../common/migrate.js';
import { productKeys } from '../common/keys.js';
import { prng, seedCatalog, type SeedCatalog } from '../test/support/catalog-seed.js';
import { describePaths, detailPaths, searchPaths, DEFAULT_MIX } from './catalog-mix.js';
import {
  ARTIFACTS, type Cleanup, CpuMeter, type CpuReport, OWN_PROCESSES, ensureServices, freePort, intEnv, log, machine, productEnv,
  round, runBenchmark, startReady, table, waitForQuiet, writeArtifact,
} from './support.js';

const DURATION_S = intEnv('BENCH_DURATION', 10);
const WARMUP_S = Number(process.env.BENCH_WARMUP ?? 15);
const CONNECTIONS = intEnv('BENCH_CONNECTIONS', 50);
const QUIET_WAIT_S = Number(process.env.BENCH_QUIET_WAIT ?? 60);
const WORKLOADS = new Set((process.env.BENCH_ONLY ?? 'detail,search').split(',').map((s) => s.trim()));
const TARGETS = new Set((process.env.BENCH_TARGETS ?? 'edge,baseline,ceiling').split(',').map((s) => s.trim()));
/** Paths generated per workload: more than any target sends in warm-up plus the measured window (then they wrap around). */
const PATHS = { detail: 1_000_000, search: 400_000 };

type TargetName = 'edge' | 'baseline' | 'ceiling';
type Workload = 'detail' | 'search';

interface Run {
  target: TargetName; workload: Workload; durationS: number; requests: number; requestsPerSec: number;
  byStatus: Record<string, number>; non200: number; errors: number; timeouts: number; cacheHits: number;
  latencyMs: { mean: number; p50: number; p90: number; p99: number; max: number };
  /** Paths [from, to) of the list this run sent. */
  sent: { from: number; to: number };
  cpu?: CpuReport;
}

/** Sends paths[from], paths[from+1], … over CONNECTIONS for `durationS` seconds, or `amount` requests. */
async function load(target: TargetName, workload: Workload, url: string, paths: string[], from: number,
  length: { durationS: number } | { amount: number }): Promise<Run> {
  let next = from;
  let cacheHits = 0;
  const result = await autocannon({
    url, connections: CONNECTIONS, timeout: 10,
    ...('amount' in length ? { amount: length.amount } : { duration: length.durationS }),
    requests: [{
      method: 'GET',
      setupRequest: (request) => { request.path = paths[next++ % paths.length]!; return request; },
      onResponse: (_status, _body, _context, headers) => { if (headers?.['x-cache'] === 'hit') cacheHits++; },
    }],
  });
  const byStatus: Record<string, number> = {};
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) byStatus[code] = stat.count ?? 0;
  const requests = Object.values(byStatus).reduce((a, b) => a + b, 0);
  const durationS = result.duration;
  return {
    target, workload, durationS, requests, requestsPerSec: requests / durationS, byStatus,
    non200: requests - (byStatus['200'] ?? 0), errors: result.errors, timeouts: result.timeouts, cacheHits,
    latencyMs: { mean: result.latency.mean, p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
    sent: { from, to: next },
  };
}

/**
 * Warm-up (not reported), then the measured window. The detail warm-up asks for every
 * product once (what a long-running edge has seen); the search warm-up runs the mix
 * for WARMUP_S seconds, and the measured window carries on where it stopped.
 */
async function measure(target: TargetName, workload: Workload, url: string, paths: string[], everyProduct: string[]): Promise<Run> {
  await waitForQuiet(QUIET_WAIT_S);
  let from = 0;
  if (workload === 'detail') {
    log(`${workload} → ${target}: warm-up, every product once`);
    await load(target, workload, url, everyProduct, 0, { amount: everyProduct.length });
  } else if (WARMUP_S > 0) {
    log(`${workload} → ${target}: warm-up ${WARMUP_S}s`);
    from = (await load(target, workload, url, paths, 0, { durationS: WARMUP_S })).sent.to;
  }
  log(`${workload} → ${target}: ${CONNECTIONS} connections for ${DURATION_S}s`);
  const meter = new CpuMeter(OWN_PROCESSES);
  meter.start();
  const run = await load(target, workload, url, paths, from, { durationS: DURATION_S });
  run.cpu = meter.stop();
  log(`${workload} → ${target}: ${round(run.requestsPerSec)} req/s, p50 ${run.latencyMs.p50} ms, p99 ${run.latencyMs.p99} ms, ` +
    `non-200 ${run.non200} ${JSON.stringify(run.byStatus)}, cache hits ${run.cacheHits}; CPU (% of a core): machine ${run.cpu.machineBusyPct}, ` +
    run.cpu.groups.slice(0, 5).map((t) => `${t.name} ${t.cpuPct}`).join(', ') + `; others ${run.cpu.foreignPct}`);
  return run;
}

/** Stock counters for every seeded product (0..50 units, a tenth sold out), as the order pipeline keeps them. */
async function stockCounters(redis: Redis, catalog: SeedCatalog): Promise<void> {
  const random = prng(3);
  for (let i = 0; i < catalog.products.length; i += 5_000) {
    const batch = redis.pipeline();
    for (const p of catalog.products.slice(i, i + 5_000)) batch.set(productKeys(p.productId).avail, random() < 0.1 ? 0 : 1 + Math.floor(random() * 50));
    await batch.exec();
  }
}

/** An answer of the edge as the ceiling replays it: its body and the headers the server chose. */
interface FixedAnswer { body: string; headers: [string, string][] }

/** An answer of typical (median) size from the edge for each workload, for the ceiling to replay. */
async function typicalAnswers(edgeUrl: string, detail: string[], search: string[]): Promise<Record<Workload, FixedAnswer>> {
  const transport = new Set(['content-length', 'date', 'connection', 'keep-alive', 'uwebsockets']);
  const median = async (paths: string[]): Promise<FixedAnswer> => {
    const answers = await Promise.all(paths.map(async (path) => {
      const res = await fetch(edgeUrl + path);
      return { body: await res.text(), headers: [...res.headers].filter(([name]) => !transport.has(name)) };
    }));
    return answers.sort((a, b) => a.body.length - b.body.length)[Math.floor(answers.length / 2)]!;
  };
  return { detail: await median(detail.slice(0, 51)), search: await median(search.slice(0, 51)) };
}

function shuffled<T>(list: T[]): T[] {
  const random = prng(5);
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [list[i], list[j]] = [list[j]!, list[i]!];
  }
  return list;
}

/**
 * CPU per answered request, from the CPU meter of the run: the target's own process, and
 * the Postgres and Redis of this benchmark (the machine is shared, so throughput alone
 * also reflects what others were running).
 */
function cpuPerRequest(run: Run): { serverUs: number; servicesUs: number } {
  const groups = run.cpu?.groups ?? [];
  const us = (pct: number) => (run.requests ? (pct / 100) * (run.cpu?.seconds ?? 0) * 1e6 / run.requests : 0);
  const sum = (keep: (name: string) => boolean) => groups.filter((g) => keep(g.name)).reduce((total, g) => total + g.cpuPct, 0);
  return {
    serverUs: us(sum((name) => name === run.target)),
    servicesUs: us(sum((name) => /^(postgres|redis) /.test(name) && groups.find((g) => g.name === name)!.own)),
  };
}

function ratio(a: Run | undefined, b: Run | undefined): number | null {
  return a && b && b.requestsPerSec > 0 ? a.requestsPerSec / b.requestsPerSec : null;
}

runBenchmark('bench:catalog', async (cleanup: Cleanup) => {
  const startedAt = new Date().toISOString();
  OWN_PROCESSES.set(process.pid, 'bench script (autocannon)');
  const urls = ensureServices(cleanup);
  const db = new pg.Pool({ connectionString: urls.DATABASE_URL, max: 2 });
  cleanup.add('close pg', () => db.end());
  await migrate(db);
  const catalog = await seedCatalog(urls.DATABASE_URL);
  log(`catalog: ${catalog.products.length} products, ${catalog.reviews.length} reviews (${catalog.seededNow ? `seeded with COPY in ${round(catalog.ms / 1000, 2)}s` : 'already there'})`);
  const redis = new Redis(urls.REDIS_URL, { maxRetriesPerRequest: 2 });
  cleanup.add('close redis', () => { redis.disconnect(); });
  await stockCounters(redis, catalog);

  const paths = { detail: detailPaths(catalog, PATHS.detail), search: searchPaths(catalog, PATHS.search) };
  const everyProduct = shuffled(catalog.products.map((p) => `/v1/products/${p.productId}`));
  const [edgePort, baselinePort, ceilingPort] = await Promise.all([freePort(), freePort(), freePort()]);
  await startReady(cleanup, 'edge', 'dist/edge/main.js', [], { ...productEnv(urls), PORT: String(edgePort), HOST: '127.0.0.1' }, /edge listening/);
  const edgeUrl = `http://127.0.0.1:${edgePort}`;
  const answers = await typicalAnswers(edgeUrl, paths.detail, paths.search);
  const answersFile = join(ARTIFACTS, 'bench-catalog-answers.json');
  writeFileSync(answersFile, JSON.stringify(answers));
  log(`typical answers: detail ${answers.detail.body.length} B, search ${answers.search.body.length} B (+ ${answers.detail.headers.length} headers)`);
  const urlsOf: Record<TargetName, string> = { edge: edgeUrl, baseline: `http://127.0.0.1:${baselinePort}`, ceiling: `http://127.0.0.1:${ceilingPort}` };
  if (TARGETS.has('baseline')) {
    await startReady(cleanup, 'baseline', 'dist/benchmarks/catalog-baseline-server.js', [],
      { DATABASE_URL: urls.DATABASE_URL, PORT: String(baselinePort) }, /catalog baseline listening/);
  }
  if (TARGETS.has('ceiling')) {
    await startReady(cleanup, 'ceiling', 'dist/benchmarks/catalog-ceiling-server.js', [],
      { PORT: String(ceilingPort), CATALOG_ANSWERS_FILE: answersFile },
      /catalog ceiling listening/);
  }

  const runs: Run[] = [];
  for (const workload of ['detail', 'search'] as const) {
    if (!WORKLOADS.has(workload)) continue;
    for (const target of ['edge', 'baseline', 'ceiling'] as const) {
      if (TARGETS.has(target)) runs.push(await measure(target, workload, urlsOf[target], paths[workload], everyProduct));
    }
  }

  const find = (target: TargetName, workload: Workload) => runs.find((r) => r.target === target && r.workload === workload);
  const edgeDetail = find('edge', 'detail');
  const edgeSearch = find('edge', 'search');
  const figures = {
    detailOverCeiling: ratio(edgeDetail, find('ceiling', 'detail')),
    detailOverBaseline: ratio(edgeDetail, find('baseline', 'detail')),
    searchOverBaseline: ratio(edgeSearch, find('baseline', 'search')),
    searchOverCeiling: ratio(edgeSearch, find('ceiling', 'search')),
  };
  const met = (value: number | null | undefined, ok: (v: number) => boolean) => (value === null || value === undefined ? 'n/a' : ok(value) ? 'met' : 'MISSED');
  const targets = {
    detailOverCeiling: { target: '>= 0.6', value: figures.detailOverCeiling, met: met(figures.detailOverCeiling, (v) => v >= 0.6) },
    detailP99Ms: { target: '<= 3', value: edgeDetail?.latencyMs.p99, met: met(edgeDetail?.latencyMs.p99, (v) => v <= 3) },
    searchOverBaseline: { target: '>= 10', value: figures.searchOverBaseline, met: met(figures.searchOverBaseline, (v) => v >= 10) },
    searchP99Ms: { target: '<= 50', value: edgeSearch?.latencyMs.p99, met: met(edgeSearch?.latencyMs.p99, (v) => v <= 50) },
  };
  const searchWindow = edgeSearch && describePaths(paths.search.slice(edgeSearch.sent.from, edgeSearch.sent.to));
  const hitRatio = (r?: Run) => (r && r.requests ? r.cacheHits / r.requests : null);
  const fmt = (v: number | null | undefined, digits = 2) => (v === null || v === undefined ? 'n/a' : String(round(v, digits)));

  const out = [
    '',
    `bench:catalog — ${catalog.products.length} products, ${CONNECTIONS} connections, ${DURATION_S}s each after a warm-up (detail: every product once; search: ${WARMUP_S}s of the mix), ${machine().cpus} CPUs`,
    table(['workload', 'target', 'req/s', 'p50 ms', 'p99 ms', 'non-200', 'cache hits', 'server µs/req', 'pg+redis µs/req', 'others % of a core'],
      runs.map((r) => {
        const cost = cpuPerRequest(r);
        return [r.workload, r.target, round(r.requestsPerSec), round(r.latencyMs.p50, 2), round(r.latencyMs.p99, 2), r.non200,
          r.target === 'edge' ? `${fmt((hitRatio(r) ?? 0) * 100, 1)}%` : '-', round(cost.serverUs), round(cost.servicesUs), r.cpu?.foreignPct ?? '-'];
      })),
    '',
    `detail: edge / ceiling  = ${fmt(figures.detailOverCeiling)}× (target ≥ 0.6: ${targets.detailOverCeiling.met}); p99 ${fmt(edgeDetail?.latencyMs.p99)} ms (target ≤ 3: ${targets.detailP99Ms.met}); edge / baseline = ${fmt(figures.detailOverBaseline)}×`,
    `search: edge / baseline = ${fmt(figures.searchOverBaseline)}× (target ≥ 10: ${targets.searchOverBaseline.met}); p99 ${fmt(edgeSearch?.latencyMs.p99)} ms (target ≤ 50: ${targets.searchP99Ms.met}); edge / ceiling = ${fmt(figures.searchOverCeiling)}×`,
    searchWindow ? `search mix in the edge's measured window: ${searchWindow.requests} requests, ${searchWindow.distinct} distinct, ` +
      `${fmt(searchWindow.seenOnceShare * 100, 1)}% of requests with a query seen once; mix ${JSON.stringify(DEFAULT_MIX)}` : '',
  ];
  process.stdout.write(out.join('\n') + '\n');
  const file = writeArtifact('bench-catalog.json', {
    startedAt, machine: machine(),
    settings: { connections: CONNECTIONS, durationS: DURATION_S, warmupS: WARMUP_S, products: catalog.products.length, mix: DEFAULT_MIX,
      bodyBytes: { detail: answers.detail.body.length, search: answers.search.body.length } },
    runs, ratios: figures, targets, searchWindow,
  });
  log(`results written to ${file}`);
});
