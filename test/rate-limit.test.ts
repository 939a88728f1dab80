/**
 * Sign-in throttling (edge/rate-limit.ts) on its own edge with small limits: login and
 * register requests per client address per minute, failed logins per account per 15
 * minutes. Over a limit: 429 problem `rate-limited` with Retry-After. (Every other test
 * runs its edges with both limits off: RATE_LIMIT_*=0 in test/support/processes.ts.)
 */
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freePort, serviceEnv, startReady, type RunningProcess } from './support/processes.js';

const PER_IP = 20;
const FAILURES = 3;

let edge: RunningProcess;
let port: number;
let redis: Redis;

beforeAll(async () => {
  port = await freePort();
  edge = await startReady('edge', {
    PORT: String(port), HOST: '127.0.0.1', RATE_LIMIT_PER_IP: String(PER_IP), RATE_LIMIT_LOGIN_FAILURES: String(FAILURES),
  });
  redis = new Redis(serviceEnv().REDIS_URL!);
});
afterAll(async () => {
  await edge?.kill('SIGTERM');
  redis?.disconnect();
});

/** Fresh counters, and not within a few seconds of a window's end (fixed windows reset there). */
beforeEach(async () => {
  const keys = await redis.keys('rl:*');
  if (keys.length) await redis.del(...keys);
  for (const windowMs of [60_000, 900_000]) {
    const left = windowMs - (Date.now() % windowMs);
    if (left < 8_000) await new Promise((resolve) => setTimeout(resolve, left + 100));
  }
});

interface Answer { status: number; retryAfter: string | undefined; body: { type?: string; retryAfterSeconds?: number } }

/** POSTs JSON from a chosen local address (127.0.0.x are all this machine). */
function post(path: string, body: unknown, localAddress = '127.0.0.1'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', localAddress, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => { text += chunk.toString(); });
      res.on('end', () => resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'] as string | undefined, body: JSON.parse(text) as Answer['body'] }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const register = (email: string, from?: string) => post('/v1/users/register', { name: 'R', email, password: 'password-123' }, from);
const login = (email: string, password: string) => post('/v1/users/login', { email, password });
const newEmail = () => `rl-${randomUUID()}@test.local`;

function expectRateLimited(answer: Answer, maxSeconds: number): void {
  expect(answer.status).toBe(429);
  expect(answer.body.type).toBe('/problems/rate-limited');
  const seconds = Number(answer.retryAfter);
  expect(Number.isInteger(seconds)).toBe(true);
  expect(seconds).toBeGreaterThanOrEqual(1);
  expect(seconds).toBeLessThanOrEqual(maxSeconds);
  expect(answer.body.retryAfterSeconds).toBe(seconds);
}

describe('per client address', () => {
  it(`answers login or register number ${PER_IP + 1} in a minute with 429; another address and other routes go on`, async () => {
    for (let i = 0; i < PER_IP; i++) {
      const answer = i % 2 === 0 ? await register(newEmail()) : await login(newEmail(), 'password-123');
      expect(answer.status).toBe(i % 2 === 0 ? 201 : 401);
    }
    expectRateLimited(await login(newEmail(), 'password-123'), 60);
    const refused = newEmail();
    expectRateLimited(await register(refused), 60);
    const db = new pg.Pool({ connectionString: serviceEnv().DATABASE_URL, max: 1 });
    const { rows } = await db.query('SELECT 1 FROM users WHERE email = $1', [refused]).finally(() => db.end());
    expect(rows).toHaveLength(0); // a refused register creates nothing

    expect((await register(newEmail(), '127.0.0.2')).status).toBe(201);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
  });
});

describe('per account', () => {
  it(`refuses an account after ${FAILURES} failed logins, the right password too, and leaves other accounts alone`, async () => {
    const email = newEmail();
    const other = newEmail();
    expect((await register(email)).status).toBe(201);
    expect((await register(other)).status).toBe(201);

    // A good login clears the failures before it.
    for (let i = 0; i < FAILURES - 1; i++) expect((await login(email, 'wrong-password')).status).toBe(401);
    expect((await login(email, 'password-123')).status).toBe(200);

    for (let i = 0; i < FAILURES; i++) expect((await login(email, 'wrong-password')).status).toBe(401);
    expectRateLimited(await login(email, 'password-123'), 15 * 60);
    expectRateLimited(await login(email.toUpperCase(), 'wrong-password'), 15 * 60);
    expect((await login(other, 'password-123')).status).toBe(200);
  });
});

describe('sign-in input', () => {
  it('answers bad register and login bodies with a 400 naming the field, and nobody registers as admin', async () => {
    const fieldOf = (answer: Answer) => (answer.body as { errors?: { field: string }[] }).errors?.map((e) => e.field);
    const bad: [string, unknown, string][] = [
      ['/v1/users/register', { name: 'R', password: 'password-123' }, 'email'],
      ['/v1/users/register', { name: 'R', email: 'not-an-email', password: 'password-123' }, 'email'],
      ['/v1/users/register', { name: 'R', email: newEmail(), password: 'short' }, 'password'],
      ['/v1/users/register', { name: 'R', email: newEmail(), password: 'password-123', role: 'admin' }, 'role'],
      ['/v1/users/register', { name: '', email: newEmail(), password: 'password-123' }, 'name'],
      ['/v1/users/login', { email: newEmail() }, 'password'],
      ['/v1/users/login', { email: newEmail(), password: 'password-123', remember: true }, 'remember'],
    ];
    for (const [path, body, field] of bad) {
      const answer = await post(path, body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body.type).toBe('/problems/validation-failed');
      expect(fieldOf(answer)).toContain(field);
    }
    const email = newEmail();
    expect((await register(email)).status).toBe(201);
    const again = await register(email.toUpperCase());
    expect(again.status).toBe(409);
    expect(again.body.type).toBe('/problems/email-taken');
  });

  it('GET /v1/users/me: 401 without a valid token, the profile with one', async () => {
    const email = newEmail();
    expect((await register(email)).status).toBe(201);
    const { token } = (await login(email, 'password-123')).body as unknown as { token: string };
    const me = await fetch(`http://127.0.0.1:${port}/v1/users/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ email, role: 'customer' });
    for (const authorization of [undefined, 'Bearer nope', `Bearer ${token.slice(0, -2)}xx`]) {
      const res = await fetch(`http://127.0.0.1:${port}/v1/users/me`, { headers: authorization ? { authorization } : {} });
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
    }
  });
});
