/**
 * Runs the project's real processes (edge, workers, reconciler) from dist/ against
 * the services infra/test.sh started, and watches their output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

/** The repository root: two folders up from test/support, three from its build in dist/test/support (the fault runner's). */
const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = existsSync(join(HERE, '..', '..', 'package.json')) ? join(HERE, '..', '..') : join(HERE, '..', '..', '..');

export const ADMIN = { email: 'admin@test.local', password: 'admin-password-1' };

export function serviceEnv(): Record<string, string> {
  const { REDIS_URL, DATABASE_URL, KAFKA_BROKERS } = process.env;
  if (!REDIS_URL || !DATABASE_URL || !KAFKA_BROKERS) {
    throw new Error('REDIS_URL, DATABASE_URL and KAFKA_BROKERS must be set: run the tests with `npm test`');
  }
  return {
    REDIS_URL, DATABASE_URL, KAFKA_BROKERS,
    JWT_SECRET: 'test-secret-0123456789abcdef',
    ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password,
    KAFKA_SESSION_TIMEOUT_MS: '6000',
    RECONCILE_INTERVAL_MS: '300',
    DRIFT_INTERVAL_MS: '1000',
    LOG_LEVEL: 'info',
    // Tests register many users from one address; test/rate-limit.test.ts turns these on in its own edge.
    RATE_LIMIT_PER_IP: '0',
    RATE_LIMIT_LOGIN_FAILURES: '0',
  };
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

const ENTRY = {
  edge: ['dist/edge/main.js'],
  'order-writer': ['dist/workers/main.js', 'order-writer'],
  reconciler: ['dist/reconciler/main.js'],
  'payment-settler': ['dist/workers/main.js', 'payment-settler'],
  'payment-sandbox': ['dist/sandbox/payments-server.js'],
  notifier: ['dist/workers/main.js', 'notifier'],
  analytics: ['dist/workers/main.js', 'analytics'],
} as const;

export type ProcessName = keyof typeof ENTRY;

export class RunningProcess {
  readonly output: string[] = [];
  private waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  readonly exited: Promise<number | null>;

  constructor(readonly name: ProcessName, readonly child: ChildProcess) {
    const onLine = (line: string) => {
      this.output.push(line);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pattern.test(line)) return true;
        w.resolve(line);
        return false;
      });
    };
    for (const stream of [child.stdout, child.stderr]) {
      let rest = '';
      stream?.on('data', (chunk: Buffer) => {
        const lines = (rest + chunk.toString('utf8')).split('\n');
        rest = lines.pop() ?? '';
        lines.forEach(onLine);
      });
    }
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }

  /** Resolves with the first output line (past or future) matching `pattern`. */
  waitFor(pattern: RegExp, timeoutMs = 60_000): Promise<string> {
    const seen = this.output.find((line) => pattern.test(line));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} did not print ${pattern} within ${timeoutMs} ms; last output:\n${this.output.slice(-15).join('\n')}`)), timeoutMs);
      this.waiters.push({ pattern, resolve: (line) => { clearTimeout(timer); resolve(line); } });
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${code}) before printing ${pattern}; last output:\n${this.output.slice(-15).join('\n')}`));
      });
    });
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill(signal);
    await this.exited;
  }
}

export function startProcess(name: ProcessName, env: Record<string, string> = {}): RunningProcess {
  const [script, ...args] = ENTRY[name];
  const child = spawn(process.execPath, [join(ROOT, script), ...args], {
    cwd: ROOT, env: { ...process.env, ...serviceEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new RunningProcess(name, child);
}

const READY: Record<ProcessName, RegExp> = {
  edge: /edge listening/,
  'order-writer': /order writer consuming/,
  reconciler: /reconciler running/,
  'payment-settler': /payment settler consuming/,
  'payment-sandbox': /payment sandbox listening/,
  notifier: /notifier running/,
  analytics: /analytics running/,
};

export async function startReady(name: ProcessName, env: Record<string, string> = {}): Promise<RunningProcess> {
  const proc = startProcess(name, env);
  await proc.waitFor(READY[name]);
  return proc;
}
