/** Drives the test services for fault injection through infra/services.sh (same DATA_DIR and ports). */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { ROOT } from './processes.js';

const run = promisify(execFile);

export type ServiceCommand =
  | 'kafka-stop' | 'kafka-start' | 'kafka-kill' | 'kafka-pause' | 'kafka-resume'
  | 'redis-stop' | 'redis-start' | 'pg-stop' | 'pg-start';

export async function services(command: ServiceCommand): Promise<void> {
  if (!process.env.DATA_DIR) throw new Error('DATA_DIR is not set: fault tests need the services infra/test.sh started');
  await run('bash', [join(ROOT, 'infra/services.sh'), command], { env: process.env, timeout: 180_000 });
}
