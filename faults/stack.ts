/**
 * The whole product for the fault runner: the services (infra/services.sh, on the data
 * folder and ports of DATA_DIR / REDIS_PORT / PG_PORT / KAFKA_PORT, by default
 * .data/faults and ports of its own) and every process (payment sandbox, edge, order
 * writer, payment settler, notifier, analytics, reconciler) from dist/, each of which a
 * fault can SIGKILL, freeze or restart. Process output goes to artifacts/faults/logs/.
 */
import { execFile, spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Api } from '../test/support/api.js';
import { ADMIN, freePort, ROOT, startReady, type ProcessName, type RunningProcess } from '../test/support/processes.js';

export const ARTIFACTS = join(ROOT, 'artifacts', 'faults');
const run = promisify(execFile);

export const log = (message: string): void => {
  process.stderr.write(`[faults ${new Date().toISOString().slice(11, 23)}] ${message}\n`);
};

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/* ----------------------------------------------------------------- services */

export interface Services { dataDir: string; startedHere: boolean }

/** Brings the services up (reusing ones already running from the data folder) and puts their URLs in process.env. */
export function servicesUp(): Services {
  const defaults = { DATA_DIR: join(ROOT, '.data', 'faults'), REDIS_PORT: '6396', PG_PORT: '5446', KAFKA_PORT: '9196' };
  for (const [name, value] of Object.entries(defaults)) process.env[name] ||= value;
  const script = join(ROOT, 'infra', 'services.sh');
  const startedHere = spawnSync('bash', [script, 'status'], { env: process.env }).status !== 0;
  const up = spawnSync('bash', [script, 'up'], { env: process.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (up.status !== 0) throw new Error(`infra/services.sh up failed (exit ${up.status})`);
  for (const line of up.stdout.split('\n')) {
    const match = /^export (\w+)=(.*)$/.exec(line.trim());
    if (match) process.env[match[1]!] = match[2]!;
  }
  return { dataDir: process.env.DATA_DIR!, startedHere };
}

export function servicesDown(): void {
  spawnSync('bash', [join(ROOT, 'infra', 'services.sh'), 'down'], { env: process.env, stdio: ['ignore', 'ignore', 'inherit'] });
}

export type ServiceCommand = 'kafka-stop' | 'kafka-start' | 'kafka-kill' | 'kafka-pause' | 'kafka-resume' | 'redis-stop' | 'redis-start' | 'pg-stop' | 'pg-start';

export async function service(command: ServiceCommand): Promise<void> {
  await run('bash', [join(ROOT, 'infra', 'services.sh'), command], { env: process.env, timeout: 180_000 });
}

/** The pid of a service's main process (from its pidfile under DATA_DIR). */
export function servicePid(name: 'postgres' | 'redis' | 'kafka'): number {
  const file = { postgres: 'postgres/data/postmaster.pid', redis: 'redis/redis.pid', kafka: 'kafka/kafka.pid' }[name];
  return Number(readFileSync(join(process.env.DATA_DIR!, file), 'utf8').split('\n')[0]);
}

/** A process and all its descendants (from /proc). */
export function processTree(pid: number): number[] {
  const { stdout } = spawnSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' });
  const children = new Map<number, number[]>();
  for (const line of stdout.trim().split('\n')) {
    const [child, parent] = line.trim().split(/\s+/).map(Number) as [number, number];
    children.set(parent, [...(children.get(parent) ?? []), child]);
  }
  const out: number[] = [];
  const visit = (p: number) => { out.push(p); for (const c of children.get(p) ?? []) visit(c); };
  visit(pid);
  return out;
}

/** Resident memory of a process, MiB (0 when it is gone). */
export function rssMiB(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Math.round(Number(kb) / 102.4) / 10 : 0;
  } catch {
    return 0;
  }
}

/* ---------------------------------------------------------------- processes */

/** Environment the fault runner gives every process (on top of test/support/processes.ts serviceEnv). */
export interface StackPorts { edge: number; sandbox: number }

function stackEnv(ports: StackPorts): Record<string, string> {
  return {
    STRIPE_SECRET_KEY: 'sk_test_faults', STRIPE_WEBHOOK_SECRET: 'whsec_faults_0123456789', STRIPE_API_BASE: `http://127.0.0.1:${ports.sandbox}`,
    PAYMENT_MAX_ATTEMPTS: '3', PAYMENT_TIMEOUT_MS: '4000', PAYMENT_HOLD_MS: '90000',
    RESERVATION_HOLD_MS: '6000', PRODUCE_TIMEOUT_MS: '2500', JWT_TTL_SECONDS: '86400',
    OUTBOX_POLL_MS: '100', LOW_STOCK_INTERVAL_MS: '0', KAFKAJS_NO_PARTITIONER_WARNING: '1',
    SANDBOX_PORT: String(ports.sandbox), SANDBOX_LATENCY_MS: '20-80', SANDBOX_SLOW_MS: '1500',
    SANDBOX_WEBHOOK_URL: `http://127.0.0.1:${ports.edge}/v1/payments/webhook`,
    PORT: String(ports.edge), HOST: '127.0.0.1',
  };
}

/** The order processes start in: the sandbox first (the settler calls it), the reconciler last. */
export const PROCESSES: readonly ProcessName[] = ['payment-sandbox', 'edge', 'order-writer', 'payment-settler', 'notifier', 'analytics', 'reconciler'];

export class Stack {
  readonly procs = new Map<ProcessName, RunningProcess>();
  private readonly logs = new Map<ProcessName, WriteStream>();
  readonly api: Api;
  adminToken = '';

  private constructor(readonly ports: StackPorts) {
    this.api = new Api(`http://127.0.0.1:${ports.edge}`);
    mkdirSync(join(ARTIFACTS, 'logs'), { recursive: true });
  }

  static async start(names: readonly ProcessName[] = PROCESSES, env: Record<string, string> = {}): Promise<Stack> {
    const stack = new Stack({ edge: await freePort(), sandbox: await freePort() });
    Object.assign(process.env, stackEnv(stack.ports), env);
    for (const name of names) await stack.start(name);
    await stack.waitReady();
    stack.adminToken = (await stack.api.login(ADMIN.email, ADMIN.password)).token;
    return stack;
  }

  pid(name: ProcessName): number | undefined {
    return this.procs.get(name)?.child.pid;
  }

  /** Starts (or restarts) one process and waits until it says it is ready. */
  async start(name: ProcessName, env: Record<string, string> = {}): Promise<RunningProcess> {
    const proc = await startReady(name, env);
    this.procs.set(name, proc);
    let out = this.logs.get(name);
    if (!out) {
      out = createWriteStream(join(ARTIFACTS, 'logs', `${name}.log`));
      this.logs.set(name, out);
    }
    out.write(`${proc.output.join('\n')}\n`);
    for (const source of [proc.child.stdout, proc.child.stderr]) source?.on('data', (chunk: Buffer) => out.write(chunk));
    proc.output.length = 0; // memory holds only what came since; the file has it all
    return proc;
  }

  /**
   * Processes alive but no longer consuming: kafkajs logged a consumer crash it does not
   * restart from (a non-retriable error: "Crash: …" with no "Restarting the consumer"),
   * and no new consumer was started since (common/kafka.ts SupervisedConsumer).
   */
  stalledConsumers(): ProcessName[] {
    const restarted = (line: string) => line.includes('Restarting the consumer') || line.includes('new Kafka consumer started');
    return [...this.procs].filter(([, proc]) => {
      let crash = proc.output.length - 1;
      while (crash >= 0 && !proc.output[crash]!.includes('"msg":"Crash: ')) crash--;
      return crash >= 0 && !proc.output.slice(crash).some(restarted);
    }).map(([name]) => name);
  }

  /**
   * Processes whose Kafka consumer keeps failing to rejoin its group: kafkajs logged
   * "Restarting the consumer" at least three times in the last `withinMs`.
   */
  rejoiningConsumers(withinMs = 30_000): ProcessName[] {
    const since = Date.now() - withinMs;
    return [...this.procs].filter(([, proc]) => proc.output.filter((line) =>
      line.includes('Restarting the consumer') && Number(/"time":(\d+)/.exec(line)?.[1] ?? 0) >= since).length >= 3).map(([name]) => name);
  }

  /** Forgets what the processes printed so far (it is in the log files). */
  trimOutput(): void {
    for (const proc of this.procs.values()) proc.output.length = 0;
  }

  async kill(name: ProcessName, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.procs.get(name)?.kill(signal);
  }

  /** SIGSTOP / SIGCONT of a process (freezes it without closing its sockets). */
  signal(name: ProcessName, signal: 'SIGSTOP' | 'SIGCONT'): void {
    const pid = this.pid(name);
    if (pid) process.kill(pid, signal);
  }

  async waitReady(timeoutMs = 180_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await this.api.request('GET', '/readyz').catch(() => undefined);
      if (res?.status === 200) return;
      if (Date.now() > deadline) throw new Error(`the edge is not ready after ${timeoutMs} ms: ${JSON.stringify(res?.body)}`);
      await sleep(250);
    }
  }

  async stop(): Promise<void> {
    for (const name of [...PROCESSES].reverse()) {
      const proc = this.procs.get(name);
      if (!proc) continue;
      if (proc.child.pid) try { process.kill(proc.child.pid, 'SIGCONT'); } catch { /* gone */ }
      const timer = setTimeout(() => void proc.kill('SIGKILL'), 10_000);
      await proc.kill('SIGTERM');
      clearTimeout(timer);
    }
    for (const stream of this.logs.values()) stream.end();
  }
}
