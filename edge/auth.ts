/**
 * Sign-in: scrypt password hashes and HS256 JSON Web Tokens. Verification accepts
 * exactly the header this edge issues, so `alg: none` or another algorithm never
 * verifies.
 */
import { createHmac, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { problems } from './problems.js';

const scrypt = promisify(scryptCb) as (password: string, salt: Buffer, keylen: number, options: object) => Promise<Buffer>;

export type Role = 'customer' | 'seller' | 'admin';
export const ROLES: readonly Role[] = ['customer', 'seller', 'admin'];

export interface AuthUser { userId: string; role: Role }

const SCRYPT = { N: 16_384, r: 8, p: 1, keylen: 32 };

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await scrypt(password, Buffer.from(salt, 'base64url'), expected.length,
    { N: Number(n), r: Number(r), p: Number(p) });
  return timingSafeEqual(actual, expected);
}

const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');

/** Verified tokens kept, so a buyer's next request skips the HMAC; past this many the memo starts over. */
const VERIFIED_MEMO_SIZE = 50_000;

export class TokenVerifier {
  /** Authorization header → its user and expiry (ms), for headers that verified. */
  private readonly verified = new Map<string, { user: AuthUser; expiresAtMs: number }>();

  constructor(private readonly secret: string, private readonly ttlSeconds: number) {
    if (secret.length < 16) throw new Error('JWT_SECRET must be set to at least 16 characters (infra/start.sh generates one)');
  }

  issue(user: AuthUser, nowSeconds = Math.floor(Date.now() / 1000)): string {
    const payload = Buffer.from(JSON.stringify({
      sub: user.userId, role: user.role, iat: nowSeconds, exp: nowSeconds + this.ttlSeconds,
    })).toString('base64url');
    return `${HEADER}.${payload}.${this.sign(`${HEADER}.${payload}`)}`;
  }

  /** The user of an `Authorization: Bearer` header, or a 401 problem. */
  verifyHeader(header: string): AuthUser {
    const known = this.verified.get(header);
    if (known && known.expiresAtMs > Date.now()) return known.user;
    const user = this.verify(header);
    if (this.verified.size >= VERIFIED_MEMO_SIZE) this.verified.clear();
    this.verified.set(header, { user: user.user, expiresAtMs: user.expiresAtMs });
    return user.user;
  }

  private verify(header: string): { user: AuthUser; expiresAtMs: number } {
    const match = /^Bearer ([\w-]+\.[\w-]+\.[\w-]+)$/.exec(header);
    if (!match) throw problems.unauthorized('The Authorization header must be "Bearer <token>"');
    const [head, payload, signature] = match[1]!.split('.') as [string, string, string];
    if (head !== HEADER) throw problems.unauthorized('The token is not one this service issued');
    const expected = Buffer.from(this.sign(`${head}.${payload}`));
    const given = Buffer.from(signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw problems.unauthorized('The token signature is invalid');
    }
    let claims: { sub?: unknown; role?: unknown; exp?: unknown };
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof claims;
    } catch {
      throw problems.unauthorized('The token payload is unreadable');
    }
    if (typeof claims.exp !== 'number' || claims.exp * 1000 <= Date.now()) throw problems.unauthorized('The token has expired; sign in again');
    if (typeof claims.sub !== 'string' || !ROLES.includes(claims.role as Role)) throw problems.unauthorized('The token claims are invalid');
    return { user: { userId: claims.sub, role: claims.role as Role }, expiresAtMs: claims.exp * 1000 };
  }

  private sign(data: string): string {
    return createHmac('sha256', this.secret).update(data).digest('base64url');
  }
}
