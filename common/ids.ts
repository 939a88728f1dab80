import { createHash, randomUUID } from 'node:crypto';

/** A UUID formatted from the first 16 bytes of a digest (version 8: custom). */
function uuidFromDigest(digest: Buffer): string {
  const b = Buffer.from(digest.subarray(0, 16));
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * The order id is a function of the buyer and their Idempotency-Key, so every
 * request carrying the same key (on any edge, concurrently or later) names the same
 * order, and the reservation script decides idempotency on it atomically.
 */
export function orderIdFor(userId: string, idempotencyKey: string): string {
  return uuidFromDigest(createHash('sha256').update(userId).update('\0').update(idempotencyKey).digest());
}

export function fingerprint(body: string): string {
  return createHash('sha256').update(body).digest('base64url').slice(0, 22);
}

export const newId = (): string => randomUUID();

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string): boolean => UUID_RE.test(value);
