/**
 * Where the Node driver finds what it needs besides the base URL: the admin to sign in as
 * (ADMIN_EMAIL / ADMIN_PASSWORD) and, for the invariant check, the stack's Postgres and
 * Redis (DATABASE_URL / REDIS_URL). The environment wins; when a variable is absent and
 * the base URL is on this machine, the local stack's files fill it in, as `npm start`
 * (infra/start.sh) writes them under DATA_DIR (default .data):
 *   services.env  REDIS_URL, DATABASE_URL, KAFKA_BROKERS  (infra/services.sh up)
 *   secrets.env   DEMO_ADMIN_PASSWORD, the admin's password when ADMIN_PASSWORD was not
 *                 given to npm start (and ADMIN_EMAIL, when someone put it there)
 * `sources` says which value came from where (never the password itself).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export interface StackSettings {
  local: boolean;
  admin: { email: string; password: string };
  databaseUrl?: string;
  redisUrl?: string;
  /** "DATABASE_URL from /…/.data/services.env", "ADMIN_PASSWORD from the environment", … */
  sources: string[];
}

export const DEFAULT_ADMIN_EMAIL = 'admin@example.com';

export function isLocal(baseUrl: string): boolean {
  const host = new URL(baseUrl).hostname;
  return host === 'localhost' || host === '[::1]' || host.startsWith('127.');
}

/** `export KEY=VALUE` / `KEY=VALUE` lines (values optionally quoted); comments and other lines are skipped. */
export function parseEnvFile(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^\s*(?:export\s+)?([A-Za-z_]\w*)=(.*?)\s*$/.exec(line);
    if (!match) continue;
    const raw = match[2]!;
    values[match[1]!] = /^(['"]).*\1$/.test(raw) ? raw.slice(1, -1) : raw;
  }
  return values;
}

function readEnvFile(path: string): Record<string, string> {
  return existsSync(path) ? parseEnvFile(readFileSync(path, 'utf8')) : {};
}

/** The local stack's data folder: DATA_DIR (relative to the repository) or <repo>/.data. */
export function dataDir(root: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(root, env.DATA_DIR || '.data');
}

export function stackSettings(root: string, baseUrl: string, env: NodeJS.ProcessEnv = process.env): StackSettings {
  const local = isLocal(baseUrl);
  const dir = dataDir(root, env);
  const files = {
    services: join(dir, 'services.env'),
    secrets: join(dir, 'secrets.env'),
  };
  const services = local ? readEnvFile(files.services) : {};
  const secrets = local ? readEnvFile(files.secrets) : {};
  const sources: string[] = [];
  const pick = (name: string, candidates: [string | undefined, string][], fallback?: [string, string]): string | undefined => {
    for (const [value, from] of candidates) {
      if (value) {
        sources.push(`${name} from ${from}`);
        return value;
      }
    }
    if (fallback) sources.push(`${name} ${fallback[1]}`);
    return fallback?.[0];
  };
  const email = pick('ADMIN_EMAIL', [[env.ADMIN_EMAIL, 'the environment'], [secrets.ADMIN_EMAIL, files.secrets]],
    [DEFAULT_ADMIN_EMAIL, `defaulted to ${DEFAULT_ADMIN_EMAIL}`])!;
  const password = pick('ADMIN_PASSWORD', [[env.ADMIN_PASSWORD, 'the environment'], [secrets.ADMIN_PASSWORD, files.secrets],
    [secrets.DEMO_ADMIN_PASSWORD, `${files.secrets} (DEMO_ADMIN_PASSWORD)`]], ['', 'not set (empty)']) ?? '';
  const databaseUrl = pick('DATABASE_URL', [[env.DATABASE_URL, 'the environment'], [services.DATABASE_URL, files.services]]);
  const redisUrl = pick('REDIS_URL', [[env.REDIS_URL, 'the environment'], [services.REDIS_URL, files.services]]);
  return { local, admin: { email, password }, databaseUrl, redisUrl, sources };
}
