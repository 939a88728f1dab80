/**
 * bench:catalog — product detail and search on the seeded 100,000-product catalog,
 * side by side in one run against:
 *   - the conventional baseline: node:http + pg, the same statements straight to
 *     Postgres for every request, no cache (benchmarks/catalog-baseline-server.ts);
 *   - the ceiling: bare uWS answering with a fixed answer of the edge (a body of typical
 *     size, the same headers) (benchmarks/catalog-ceiling-server.ts).
 * Every target gets the same requests in the same order (benchmarks/catalog-mix.ts):
 * details of products drawn uniformly from the catalog, and a skewed search mix with many
 * distinct words, filters, sorts and pages. Each target is warmed up (not reported), then
 * the measured time is taken in short slices in turn (edge, baseline, ceiling, edge, …)
 * so that other people's work on a shared machine weighs on every target alike; latency
 * percentiles come from the merged histograms. The edge's cache hit ratio is counted from
 * its x-cache header, and CPU per request from /proc.
 *
 * env: BENCH_DURATION (s per target, 10), BENCH_ROUNDS (5 slices), BENCH_WARMUP (s, 15: the
 *      search warm-up), BENCH_CONNECTIONS (50), BENCH_ONLY=detail,search (a subset),
 *      BENCH_TARGETS=edge,baseline,ceiling (a subset), BENCH_QUIET_WAIT (s, 60: waits up to
 *      this long for an idle machine before each workload), plus infra/services.sh's
 *      DATA_DIR / *_PORT or REDIS_URL / DATABASE_URL / KAFKA_BROKERS.
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
const ROUNDS = intEnv('BENCH_ROUNDS', 5);
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
  /** CPU per answered request (µs): the target's process, and this benchmark's Postgres and Redis. */
  cpuUs: { server: number; services: number };
  /** What other people's work used meanwhile, % of a core (time-weighted over the slices). */
  othersPct: number;
  /** Paths [from, to) of the list the measured slices sent. */
  sent: { from: number; to: number };
}

/** One stretch of load: autocannon's raw result (histograms kept, for exact merging) and what the client counted. */
interface Slice { raw: autocannon.Result; cacheHits: number; next: number; cpu?: CpuReport }

/** Sends paths[from], paths[from+1], … over CONNECTIONS for `durationS` seconds, or `amount` requests. */
async function load(url: string, paths: string[], from: number, length: { durationS: number } | { amount: number }): Promise<Slice> {
  let next = from;
  let cacheHits = 0;
  const raw = await autocannon({
    url, connections: CONNECTIONS, timeout: 10, skipAggregateResult: true,
    ...('amount' in length ? { amount: length.amount } : { duration: length.durationS }),
    requests: [{
      method: 'GET',
      setupRequest: (request) => { request.path = paths[next++ % paths.length]!; return request; },
      onResponse: (_status, _body, _context, headers) => { if (headers?.['x-cache'] === 'hit') cacheHits++; },
    }],
  } as autocannon.Options);
  return { raw, cacheHits, next };
}

/** autocannon's merge of raw results (its histograms added up); missing from its type definitions. */
const aggregateResult = (autocannon as unknown as { aggregateResult(results: autocannon.Result[], options: object): autocannon.Result }).aggregateResult;

/** The slices of one target merged: latency percentiles from the merged histograms, rates over the summed time. */
function merge(target: TargetName, workload: Workload, slices: Slice[], from: number): Run {
  const result = aggregateResult(slices.map((s) => s.raw), { url: 'http://merged', connections: CONNECTIONS });
  const byStatus: Record<string, number> = {};
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) byStatus[code] = stat.count ?? 0;
  const requests = Object.values(byStatus).reduce((a, b) => a + b, 0);
  const durationS = slices.reduce((sum, s) => sum + s.raw.duration, 0);
  const cpuSeconds = (keep: (group: CpuReport['groups'][number]) => boolean) => slices.reduce((sum, s) =>
    sum + (s.cpu?.groups ?? []).filter(keep).reduce((g, group) => g + (group.cpuPct / 100) * s.cpu!.seconds, 0), 0);
  const perRequestUs = (seconds: number) => (requests ? (seconds * 1e6) / requests : 0);
  const meteredS = slices.reduce((sum, s) => sum + (s.cpu?.seconds ?? 0), 0);
  return {
    target, workload, durationS, requests, requestsPerSec: requests / durationS, byStatus,
    non200: requests - (byStatus['200'] ?? 0), errors: result.errors, timeouts: result.timeouts,
    cacheHits: slices.reduce((sum, s) => sum + s.cacheHits, 0),
    latencyMs: { mean: result.latency.mean, p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
    cpuUs: {
      server: perRequestUs(cpuSeconds((g) => g.name === target)),
      services: perRequestUs(cpuSeconds((g) => g.own && /^(postgres|redis) /.test(g.name))),
    },
    othersPct: meteredS ? slices.reduce((sum, s) => sum + (s.cpu?.foreignPct ?? 0) * (s.cpu?.seconds ?? 0), 0) / meteredS : 0,
    sent: { from, to: slices.at(-1)?.next ?? from },
  };
}

/**
 * One workload against every target. Each target is warmed up first (not reported): the
 * detail warm-up asks for every product once (what a long-running edge has seen), the
 * search warm-up runs the mix for WARMUP_S seconds. Then the measured time is cut into
 * ROUNDS slices taken in turn (edge, baseline, ceiling, edge, …), so on a shared machine
 * the others' load falls on every target alike; each target's slices carry on through
 * the same list of requests.
 */
async function measure(workload: Workload, urls: Record<TargetName, string>, targets: TargetName[], paths: string[],
  everyProduct: string[]): Promise<Run[]> {
  const next = new Map<TargetName, number>();
  await waitForQuiet(QUIET_WAIT_S);
  // The edge is warmed up last, so its cache is no older than the others' when the rounds begin.
  for (const target of [...targets].reverse()) {
    if (workload === 'detail') {
      log(`${workload} → ${target}: warm-up, every product once`);
      await load(urls[target], everyProduct, 0, { amount: everyProduct.length });
      next.set(target, 0);
    } else {
      log(`${workload} → ${target}: warm-up ${WARMUP_S}s`);
      next.set(target, WARMUP_S > 0 ? (await load(urls[target], paths, 0, { durationS: WARMUP_S })).next : 0);
    }
  }
  const sliceS = Math.max(1, Math.round(DURATION_S / ROUNDS));
  log(`${workload}: ${ROUNDS} rounds of ${sliceS}s per target, ${CONNECTIONS} connections`);
  const slices = new Map<TargetName, Slice[]>(targets.map((t) => [t, []]));
  const from = new Map(next);
  for (let round = 0; round < ROUNDS; round++) {
    for (const target of targets) {
      const meter = new CpuMeter(OWN_PROCESSES);
      meter.start();
      const slice = await load(urls[target], paths, next.get(target)!, { durationS: sliceS });
      slice.cpu = meter.stop();
      next.set(target, slice.next);
      slices.get(target)!.push(slice);
    }
  }
  return targets.map((target) => {
    const run = merge(target, workload, slices.get(target)!, from.get(target)!);
    log(`${workload} → ${target}: ${round(run.requestsPerSec)} req/s, p50 ${run.latencyMs.p50} ms, p99 ${run.latencyMs.p99} ms, ` +
      `non-200 ${run.non200} ${JSON.stringify(run.byStatus)}, cache hits ${run.cacheHits}; CPU µs/request: server ${round(run.cpuUs.server)}, ` +
      `pg+redis ${round(run.cpuUs.services)}; others used ${round(run.othersPct)} % of a core`);
    return run;
  });
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
  const targetList = (['edge', 'baseline', 'ceiling'] as const).filter((t) => TARGETS.has(t));
  for (const workload of ['detail', 'search'] as const) {
    if (WORKLOADS.has(workload)) runs.push(...await measure(workload, urlsOf, targetList, paths[workload], everyProduct));
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
      runs.map((r) => [r.workload, r.target, round(r.requestsPerSec), round(r.latencyMs.p50, 2), round(r.latencyMs.p99, 2), r.non200,
        r.target === 'edge' ? `${fmt((hitRatio(r) ?? 0) * 100, 1)}%` : '-', round(r.cpuUs.server), round(r.cpuUs.services), round(r.othersPct)])),
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
