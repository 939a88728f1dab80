/** Accounts: register, log in, who am I. */
import type { Router } from '../http.js';
import type { EdgeDeps } from '../deps.js';
import { hashPassword, verifyPassword, type Role } from '../auth.js';
import { validator } from '../schemas.js';
import { problems } from '../problems.js';
import { newId } from '../../common/ids.js';
import { SignInLimits } from '../rate-limit.js';
import type { Pool } from '../../common/db.js';

interface RegisterBody { name: string; email: string; password: string; role?: 'customer' | 'seller' }
interface LoginBody { email: string; password: string }

export async function createUser(pool: Pool, user: { name: string; email: string; password: string; role: Role }): Promise<string | null> {
  const userId = newId();
  const result = await pool.query(
    `INSERT INTO users (user_id, email, name, password_hash, role) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT DO NOTHING`,
    [userId, user.email, user.name, await hashPassword(user.password), user.role]);
  return result.rowCount ? userId : null;
}

/** The first admin, from ADMIN_EMAIL / ADMIN_PASSWORD, created when absent. */
export async function ensureAdmin(deps: EdgeDeps): Promise<void> {
  const { adminEmail, adminPassword } = deps.config;
  if (!adminEmail || !adminPassword) return;
  const created = await createUser(deps.pool, { name: 'Administrator', email: adminEmail, password: adminPassword, role: 'admin' });
  if (created) deps.log.info({ userId: created }, 'first admin created from ADMIN_EMAIL');
}

export function userRoutes(router: Router, deps: EdgeDeps): void {
  const limits = new SignInLimits(deps.redis, deps.log, { perIp: deps.config.rateLimitPerIp, loginFailures: deps.config.rateLimitLoginFailures });

  router.post<RegisterBody>('/v1/users/register', {
    summary: 'Register a customer or seller',
    access: 'anyone',
    body: validator('RegisterRequest'),
    handler: async ({ body, remoteAddress }) => {
      await limits.request(remoteAddress);
      const userId = await createUser(deps.pool, { ...body, role: body.role ?? 'customer' });
      if (!userId) throw problems.conflict('email-taken', 'Email already registered', 'An account with this email exists; log in instead');
      return { status: 201, body: { success: true, userId } };
    },
  });

  router.post<LoginBody>('/v1/users/login', {
    summary: 'Log in; returns a bearer token',
    access: 'anyone',
    body: validator('LoginRequest'),
    handler: async ({ body, remoteAddress }) => {
      await limits.request(remoteAddress);
      await limits.beforeLogin(body.email);
      const { rows } = await deps.pool.query<{ user_id: string; password_hash: string; role: Role }>(
        'SELECT user_id, password_hash, role FROM users WHERE lower(email) = lower($1)', [body.email]);
      const user = rows[0];
      if (!user || !(await verifyPassword(body.password, user.password_hash))) {
        await limits.loginFailed(body.email);
        throw problems.unauthorized('The email or password is wrong');
      }
      await limits.loginSucceeded(body.email);
      const token = deps.tokens.issue({ userId: user.user_id, role: user.role });
      return { status: 200, body: { success: true, token, userId: user.user_id, role: user.role } };
    },
  });

  router.get('/v1/users/me', {
    summary: "The signed-in user's profile",
    access: 'signed-in',
    handler: async ({ user }) => {
      const { rows } = await deps.pool.query(
        'SELECT user_id AS "userId", name, email, role, created_at AS "createdAt" FROM users WHERE user_id = $1', [user!.userId]);
      if (!rows[0]) throw problems.notFound('Your account');
      return { status: 200, body: rows[0] };
    },
  });
}
