/**
 * Signed, expiring upload URLs: /v1/media/{mediaId}/upload?expires=<unix seconds>&sig=<HMAC>.
 * The signature (HMAC-SHA256 with MEDIA_SIGNING_SECRET, else JWT_SECRET) covers the
 * medium and the expiry, so the URL is its own credential, like an S3 presigned URL; the
 * type and size it may carry were fixed when the medium was created.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { HttpProblem } from './problems.js';

export interface SignedUpload { url: string; expiresAt: string }

export const uploadPath = (mediaId: string): string => `/v1/media/${mediaId}/upload`;

export class UploadSigner {
  constructor(private readonly secret: string, private readonly ttlSeconds: number) {
    if (secret.length < 16) throw new Error('MEDIA_SIGNING_SECRET (or JWT_SECRET) must be at least 16 characters');
  }

  sign(mediaId: string, nowMs = Date.now()): SignedUpload {
    const expires = Math.floor(nowMs / 1000) + this.ttlSeconds;
    return {
      url: `${uploadPath(mediaId)}?expires=${expires}&sig=${this.signature(mediaId, expires)}`,
      expiresAt: new Date(expires * 1000).toISOString(),
    };
  }

  /** Throws a 403 problem unless `query` carries this medium's valid, unexpired signature. */
  verify(mediaId: string, query: URLSearchParams, nowMs = Date.now()): void {
    const expires = Number(query.get('expires'));
    const given = Buffer.from(query.get('sig') ?? '');
    const expected = Buffer.from(Number.isInteger(expires) ? this.signature(mediaId, expires) : '');
    if (expected.length === 0 || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new HttpProblem(403, 'upload-url-invalid', 'Invalid upload URL',
        'This upload URL is not signed for this medium; ask POST /v1/products/{productId}/media for one');
    }
    if (expires * 1000 <= nowMs) {
      throw new HttpProblem(403, 'upload-url-expired', 'Upload URL expired',
        `This upload URL expired at ${new Date(expires * 1000).toISOString()}; start a new upload with POST /v1/products/{productId}/media`);
    }
  }

  private signature(mediaId: string, expires: number): string {
    return createHmac('sha256', this.secret).update(`upload\n${mediaId.toLowerCase()}\n${expires}`).digest('base64url');
  }
}
