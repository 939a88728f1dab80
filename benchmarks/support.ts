/**
 * Shared plumbing of the benchmark scripts: the services (through infra/services.sh),
 * child processes that are always stopped (also on failure or Ctrl-C), a free port,
 * and the artifacts folder.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, writeFileSync, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'schema.sql')) || !existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('repository root (schema.sql) not found');
    dir = parent;
  }
  return dir;
}

export const ROOT = findRoot();
export const ARTIFACTS = join(ROOT, 'artifacts');
export const LOG_DIR = join(ARTIFACTS, 'bench-logs');

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 23)}] ${message}\n`);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

export function writeArtifact(file: string, data: unknown): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, file);
  writeFileSync(path, JSON.stringify(data, null, 2) + '\n');
  return path;
}

/* ------------------------------------------------------------------ cleanup */

type Task = { name: string; run: () => Promise<void> | void };

/** Cleanup steps run in reverse order of registration, each at most once, whatever failed. */
export class Cleanup {
  private tasks: Task[] = [];
  private readonly children = new Set<ChildProcess>();

  add(name: string, run: () => Promise<void> | void): void {
    this.tasks.push({ name, run });
  }

  track(child: ChildProcess): void {
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
  }

  async runAll(): Promise<void> {
    const tasks = this.tasks.reverse();
    this.tasks = [];
    for (const task of tasks) {
      try {
        await task.run();
      } catch (error) {
        log(`cleanup "${task.name}" failed: ${(error as Error).message}`);
      }
    }
  }

  /** Last resort on process exit: no child outlives this script. */
  killChildrenNow(): void {
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }
}

/** Runs a benchmark with cleanup on success, failure and SIGINT/SIGTERM. */
export function runBenchmark(name: string, body: (cleanup: Cleanup) => Promise<void>): void {
  const cleanup = new Cleanup();
  let finishing = false;
  const finish = async (code: number) => {
    if (finishing) return;
    finishing = true;
    await cleanup.runAll();
    cleanup.killChildrenNow();
    process.exit(code);
  };
  process.on('exit', () => cleanup.killChildrenNow());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      log(`${signal}: stopping ${name} and cleaning up`);
      void finish(signal === 'SIGINT' ? 130 : 143);
    });
  }
  body(cleanup).then(
    () => finish(0),
    (error: unknown) => {
      log(`${name} failed: ${(error as Error).stack ?? String(error)}`);
      return finish(1);
    },
  );
}

/* ----------------------------------------------------------------- services */

export interface ServiceUrls { REDIS_URL: string; DATABASE_URL: string; KAFKA_BROKERS: string }

/**
 * Uses the services named by REDIS_URL / DATABASE_URL / KAFKA_BROKERS when all three are
 * given; otherwise brings up the missing ones with infra/services.sh under DATA_DIR
 * (default .data/bench, on ports of its own so it never meets the dev services), and
 * stops them again at the end if this script started them (unless BENCH_KEEP_SERVICES=1).
 */
export function ensureServices(cleanup: Cleanup): ServiceUrls {
  const { REDIS_URL, DATABASE_URL, KAFKA_BROKERS } = process.env;
  if (REDIS_URL && DATABASE_URL && KAFKA_BROKERS) {
    log('services: using REDIS_URL, DATABASE_URL and KAFKA_BROKERS as given');
    noteServices({ REDIS_URL, DATABASE_URL, KAFKA_BROKERS });
    return { REDIS_URL, DATABASE_URL, KAFKA_BROKERS };
  }
  const env = {
    ...process.env,
    DATA_DIR: process.env.DATA_DIR || join(ROOT, '.data', 'bench'),
    REDIS_PORT: process.env.REDIS_PORT || '6398',
    PG_PORT: process.env.PG_PORT || '5448',
    KAFKA_PORT: process.env.KAFKA_PORT || '9198',
  };
  const script = join(ROOT, 'infra', 'services.sh');
  const status = spawnSync('bash', [script, 'status'], { env, encoding: 'utf8' });
  const alreadyUp = status.status === 0;
  log(`services: ${alreadyUp ? 'already up' : 'starting'} (DATA_DIR=${env.DATA_DIR})`);
  const up = spawnSync('bash', [script, 'up'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (up.status !== 0) throw new Error(`infra/services.sh up failed (exit ${up.status})`);
  if (!alreadyUp && process.env.BENCH_KEEP_SERVICES !== '1') {
    cleanup.add('services down', () => {
      log('services: stopping the services this run started');
      spawnSync('bash', [script, 'down'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    });
  }
  const urls: Record<string, string> = {};
  for (const line of up.stdout.split('\n')) {
    const match = /^export (\w+)=(.*)$/.exec(line.trim());
    if (match) urls[match[1]!] = match[2]!;
  }
  if (!urls.REDIS_URL || !urls.DATABASE_URL || !urls.KAFKA_BROKERS) throw new Error(`services.sh printed no URLs:\n${up.stdout}`);
  const result = { REDIS_URL: urls.REDIS_URL, DATABASE_URL: urls.DATABASE_URL, KAFKA_BROKERS: urls.KAFKA_BROKERS };
  noteServices(result, env.DATA_DIR);
  return result;
}

/** How CPU reports recognise this run's services among other processes (see groupOf). */
const OWN_SERVICES: string[] = [];

function noteServices(urls: ServiceUrls, dataDir?: string): void {
  const port = (url: string) => /:(\d+)(\/|$)/.exec(url)?.[1];
  OWN_SERVICES.push(`redis 127.0.0.1:${port(urls.REDIS_URL) ?? '?'}`, `postgres :${port(urls.DATABASE_URL) ?? '?'}`);
  if (dataDir) OWN_SERVICES.push(`kafka ${realpathSync(dataDir)}/kafka`);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/* ---------------------------------------------------------- child processes */

/** A node child process from dist/, its output kept (tail in memory, all in artifacts/bench-logs/). */
export class Child {
  private readonly tail: string[] = [];
  private waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  private readonly logFile: WriteStream;
  readonly exited: Promise<number | null>;

  constructor(readonly name: string, readonly process: ChildProcess) {
    mkdirSync(LOG_DIR, { recursive: true });
    this.logFile = createWriteStream(join(LOG_DIR, `${name}.log`));
    const onLine = (line: string) => {
      this.logFile.write(line + '\n');
      this.tail.push(line);
      if (this.tail.length > 40) this.tail.shift();
      this.waiters = this.waiters.filter((w) => {
        if (!w.pattern.test(line)) return true;
        w.resolve(line);
        return false;
      });
    };
    for (const stream of [process.stdout, process.stderr]) {
      let rest = '';
      stream?.on('data', (chunk: Buffer) => {
        const lines = (rest + chunk.toString('utf8')).split('\n');
        rest = lines.pop() ?? '';
        lines.forEach(onLine);
      });
    }
    this.exited = new Promise((resolve) => process.on('exit', (code) => {
      this.logFile.end();
      resolve(code);
    }));
  }

  get running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  lastOutput(lines = 15): string {
    return this.tail.slice(-lines).join('\n');
  }

  waitFor(pattern: RegExp, timeoutMs = 90_000): Promise<string> {
    const seen = this.tail.find((line) => pattern.test(line));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} did not print ${pattern} within ${timeoutMs} ms; last output:\n${this.lastOutput()}`)), timeoutMs);
      this.waiters.push({ pattern, resolve: (line) => { clearTimeout(timer); resolve(line); } });
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${code}) before printing ${pattern}; last output:\n${this.lastOutput()}`));
      });
    });
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.process.kill('SIGTERM');
    const timer = setTimeout(() => { if (this.running) this.process.kill('SIGKILL'); }, graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Names of this benchmark's processes by pid, for CPU reports. */
export const OWN_PROCESSES = new Map<number, string>([[process.pid, 'bench script']]);

/** Starts `node <script> ...args` (script relative to the repository root) and registers its stop. */
export function startChild(cleanup: Cleanup, name: string, script: string, args: string[], env: Record<string, string>,
  nodeFlags: string[] = []): Child {
  const proc = spawn(process.execPath, [...nodeFlags, join(ROOT, script), ...args], {
    cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanup.track(proc);
  if (proc.pid !== undefined) OWN_PROCESSES.set(proc.pid, name);
  const child = new Child(name, proc);
  cleanup.add(`stop ${name}`, () => child.stop());
  return child;
}

export async function startReady(cleanup: Cleanup, name: string, script: string, args: string[], env: Record<string, string>,
  ready: RegExp, nodeFlags: string[] = []): Promise<Child> {
  const child = startChild(cleanup, name, script, args, env, nodeFlags);
  await child.waitFor(ready);
  return child;
}

export const BENCH_ADMIN = { email: 'admin@bench.local', password: 'admin-password-bench' };

/** Environment every product process of a benchmark gets. */
export function productEnv(urls: ServiceUrls): Record<string, string> {
  return {
    ...urls,
    JWT_SECRET: process.env.JWT_SECRET || 'bench-secret-0123456789abcdef',
    ADMIN_EMAIL: BENCH_ADMIN.email,
    ADMIN_PASSWORD: BENCH_ADMIN.password,
    LOG_LEVEL: process.env.LOG_LEVEL || 'info',
  };
}

/* --------------------------------------------------------------- formatting */

/** A plain-text table: numeric columns right-aligned, text columns left-aligned. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const numeric = header.map((_, i) => rows.every((r) => typeof r[i] === 'number' || /^[\d.,%×-]+$/.test(String(r[i]))));
  const line = (r: string[]) => r.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

export const round = (value: number, digits = 1): number => Math.round(value * 10 ** digits) / 10 ** digits;

export function machine(): Record<string, unknown> {
  return {
    node: process.version, platform: `${process.platform}-${process.arch}`,
    cpus: availableParallelism(), cpuModel: cpus()[0]?.model ?? 'unknown', memoryGiB: round(totalmem() / 2 ** 30),
    code: codeVersion(),
  };
}

/** The commit measured, and the files changed on top of it (the working tree is what ran). */
function codeVersion(): { commit: string; changedFiles: string[] } {
  const git = (args: string[]) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' }).stdout ?? '';
  return {
    commit: git(['rev-parse', '--short', 'HEAD']).trim() || 'unknown',
    // Porcelain lines are "XY path": the status columns may be blank, so the line is not trimmed.
    changedFiles: git(['status', '--porcelain', '--untracked-files=all', '--', '.', ':!benchmarks', ':!BENCHMARKS.md'])
      .split('\n').filter(Boolean).map((l) => l.slice(3)),
  };
}

/* ---------------------------------------------------------------- CPU usage */

const CLK_TCK = 100; // Linux USER_HZ

interface ProcInfo { ticks: number; ppid: number; cmd: string }
interface ProcSnapshot { at: number; total: number; idle: number; procs: Map<number, ProcInfo> }

function readProc(): ProcSnapshot {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  const total = fields.reduce((a, b) => a + b, 0);
  const procs = new Map<number, ProcInfo>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      procs.set(Number(entry), { ticks: Number(rest[11]) + Number(rest[12]), ppid: Number(rest[1]), cmd });
    } catch {
      // the process ended meanwhile
    }
  }
  return { at: performance.now(), total, idle, procs };
}

/** A readable group name: the benchmark's own processes by role, services by their port or data folder. */
function groupOf(pid: number, procs: Map<number, ProcInfo>, own: Map<number, string>): string {
  const mine = own.get(pid);
  if (mine) return mine;
  const cmd = procs.get(pid)?.cmd ?? '';
  if (cmd.startsWith('postgres:')) {
    const parent = procs.get(procs.get(pid)!.ppid)?.cmd ?? '';
    const port = / -p (\d+)/.exec(parent)?.[1];
    return `postgres :${port ?? '?'}`;
  }
  if (/\/bin\/postgres /.test(cmd)) return `postgres :${/ -p (\d+)/.exec(cmd)?.[1] ?? '?'}`;
  // redis-aof-rewrite / redis-rdb-bgsave: the server's own fork, doing its persistence work.
  if (/^redis-(server|aof-rewrite|rdb-bgsave)/.test(cmd)) return `redis ${cmd.split(/\s+/)[1] ?? ''}`.trim();
  if (cmd.startsWith('java') && cmd.includes('kafka')) return `kafka ${/-Dkafka\.logs\.dir=(\S+)/.exec(cmd)?.[1] ?? ''}`.trim();
  return cmd.replace(/^\/usr\/bin\/node /, 'node ').slice(0, 80) || `pid ${pid}`;
}

export interface CpuReport {
  seconds: number;
  /** Busy share of the whole machine in "percent of one core" (2 cores: up to 200). */
  machineBusyPct: number;
  /** CPU of everything that is not this benchmark or its services (other people's work on a shared machine). */
  foreignPct: number;
  /** CPU per process group over the interval, percent of one core (postgres backends summed per server). */
  groups: { name: string; cpuPct: number; own: boolean }[];
}

/** Measures CPU use between start() and stop(); `own` labels the benchmark's own pids. */
export class CpuMeter {
  private first: ProcSnapshot | undefined;

  constructor(private readonly own: Map<number, string> = new Map()) {}

  start(): void {
    this.first = readProc();
  }

  stop(minPct = 1): CpuReport {
    const a = this.first ?? readProc();
    const b = readProc();
    const seconds = (b.at - a.at) / 1000;
    const cores = availableParallelism();
    const busy = b.total - a.total > 0 ? (1 - (b.idle - a.idle) / (b.total - a.total)) * 100 * cores : 0;
    const groups = new Map<string, number>();
    // Processes that started meanwhile count from zero; those that ended meanwhile are not seen:
    // stop the meter before stopping what it should see.
    for (const [pid, now] of b.procs) {
      const before = a.procs.get(pid)?.ticks ?? 0;
      if (now.ticks === before) continue;
      const name = groupOf(pid, b.procs, this.own);
      groups.set(name, (groups.get(name) ?? 0) + ((now.ticks - before) / CLK_TCK / seconds) * 100);
    }
    const ownNames = new Set([...this.own.values(), ...OWN_SERVICES]);
    const ownPct = [...groups].filter(([name]) => ownNames.has(name)).reduce((sum, [, pct]) => sum + pct, 0);
    return {
      seconds: round(seconds, 2),
      machineBusyPct: round(busy),
      foreignPct: round(Math.max(0, busy - ownPct)),
      groups: [...groups].filter(([, pct]) => pct >= minPct).sort((x, y) => y[1] - x[1])
        .map(([name, pct]) => ({ name, cpuPct: round(pct), own: ownNames.has(name) })),
    };
  }
}

/**
 * Waits (up to `maxWaitS`) until other people's processes leave the machine nearly idle,
 * so a measurement does not share the CPUs with them; returns their CPU last seen.
 */
export async function waitForQuiet(maxWaitS: number, thresholdPct = 25): Promise<number> {
  const deadline = Date.now() + maxWaitS * 1000;
  let said = false;
  for (;;) {
    const meter = new CpuMeter(OWN_PROCESSES);
    meter.start();
    await sleep(1_000);
    const { foreignPct, groups } = meter.stop(3);
    if (foreignPct <= thresholdPct) return foreignPct;
    const busiest = groups.filter((g) => !g.own).slice(0, 3).map((g) => `${g.name} ${g.cpuPct}%`).join(', ');
    if (Date.now() > deadline) {
      log(`other processes still use ${foreignPct}% of a core (${busiest}); measuring anyway`);
      return foreignPct;
    }
    if (!said) log(`waiting for a quieter machine: other processes use ${foreignPct}% of a core (${busiest})`);
    said = true;
  }
}
