/**
 * Throttling of sign-in in Redis, shared by every edge: fixed-window counters (one key
 * per subject and window, INCR + PEXPIRE in one MULTI), so edges agree on the count.
 *
 *   - per client address: login and register requests per minute (RATE_LIMIT_PER_IP);
 *   - per account: failed logins per 15 minutes (RATE_LIMIT_LOGIN_FAILURES); a good
 *     password clears the count; once the limit is reached every login of that
 *     account answers 429 until the window ends, right password or not.
 *
 * A limit of 0 turns that limiter off. Over a limit: 429 problem `rate-limited` with
 * Retry-After (seconds to the end of the window). When Redis does not answer, sign-in
 * is not throttled (logged): the limiter protects logins, it must not stop them.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../common/logger.js';
import { rateLimitKey } from '../common/keys.js';
import { HttpProblem } from './problems.js';

export function rateLimited(detail: string, retryAfterSeconds: number): HttpProblem {
  return new HttpProblem(429, 'rate-limited', 'Too many requests', detail,
    { headers: { 'Retry-After': String(retryAfterSeconds) }, extra: { retryAfterSeconds } });
}

export class FixedWindowLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly log: Logger,
    readonly name: string,
    readonly limit: number,
    readonly windowMs: number,
  ) {}

  get enabled(): boolean { return this.limit > 0; }

  /** Counts one request of `subject`; the 429 problem when it goes over the limit. */
  async hit(subject: string, now = Date.now()): Promise<HttpProblem | undefined> {
    if (!this.enabled) return undefined;
    const { key, retryAfter } = this.window(subject, now);
    const replies = await this.call(() => this.redis.multi().incr(key).pexpire(key, this.windowMs, 'NX').exec());
    const count = Number(replies?.[0]?.[1] ?? 0);
    return count > this.limit ? this.problem(retryAfter) : undefined;
  }

  /** The 429 problem when `subject` has used up the window, without counting. */
  async check(subject: string, now = Date.now()): Promise<HttpProblem | undefined> {
    if (!this.enabled) return undefined;
    const { key, retryAfter } = this.window(subject, now);
    const count = Number(await this.call(() => this.redis.get(key)) ?? 0);
    return count >= this.limit ? this.problem(retryAfter) : undefined;
  }

  async reset(subject: string, now = Date.now()): Promise<void> {
    if (this.enabled) await this.call(() => this.redis.del(this.window(subject, now).key));
  }

  private window(subject: string, now: number): { key: string; retryAfter: number } {
    const index = Math.floor(now / this.windowMs);
    return { key: rateLimitKey(this.name, subject, index), retryAfter: Math.max(1, Math.ceil(((index + 1) * this.windowMs - now) / 1000)) };
  }

  private problem(retryAfterSeconds: number): HttpProblem {
    return rateLimited(`Too many ${this.name} requests; try again in ${retryAfterSeconds} s`, retryAfterSeconds);
  }

  private async call<T>(command: () => Promise<T>): Promise<T | undefined> {
    try {
      return await command();
    } catch (error) {
      this.log.warn({ limiter: this.name, err: error }, 'rate limiter: Redis did not answer; not throttling');
      return undefined;
    }
  }
}

const MINUTE_MS = 60_000;
const FAILURE_WINDOW_MS = 15 * MINUTE_MS;

/** An account's counter key part: a digest of the normalised email (no addresses in Redis keys). */
const accountOf = (email: string): string => createHash('sha256').update(email.trim().toLowerCase()).digest('base64url').slice(0, 22);

/** The limits of POST /v1/users/login and /register. Each method throws the 429 problem when over. */
export class SignInLimits {
  private readonly perAddress: FixedWindowLimiter;
  private readonly failures: FixedWindowLimiter;

  constructor(redis: Redis, log: Logger, limits: { perIp: number; loginFailures: number }) {
    this.perAddress = new FixedWindowLimiter(redis, log, 'sign-in', limits.perIp, MINUTE_MS);
    this.failures = new FixedWindowLimiter(redis, log, 'failed-login', limits.loginFailures, FAILURE_WINDOW_MS);
  }

  /** Every login and register request counts against its client address. */
  async request(remoteAddress: string): Promise<void> {
    const problem = await this.perAddress.hit(remoteAddress);
    if (problem) throw problem;
  }

  /** Before checking a password: refused while the account has too many recent failures. */
  async beforeLogin(email: string): Promise<void> {
    const problem = await this.failures.check(accountOf(email));
    if (problem) throw problem;
  }

  async loginFailed(email: string): Promise<void> {
    await this.failures.hit(accountOf(email));
  }

  async loginSucceeded(email: string): Promise<void> {
    await this.failures.reset(accountOf(email));
  }
}
