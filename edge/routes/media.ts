/**
 * Product media (images and videos), as the seeds' "handling large blobs" pattern:
 *
 *   POST /v1/products/{productId}/media   admin or the product's seller: declares the type and
 *                                         size, answers a signed, expiring upload URL (pending)
 *   PUT  /v1/media/{mediaId}/upload?...   the upload itself, in chunks (Content-Range), resumable
 *                                         (edge/media-upload.ts); the URL is the credential
 *   GET  /v1/media/{mediaId}/upload?...   how far it got: receivedBytes (also Upload-Offset), status
 *   GET  /v1/products/{productId}/media   admin or its seller: every medium, pending and failed too
 *   GET  /media/{mediaId}                 a ready medium's bytes, cacheable for a year (immutable),
 *                                         with ETag and byte ranges (video seeking)
 *
 * A ready medium is listed on its product's detail (`images` or `videos`, with its URL).
 */
import type { Reply, RequestContext, Router } from '../http.js';
import type { EdgeDeps } from '../deps.js';
import { validator } from '../schemas.js';
import { HttpProblem, problems } from '../problems.js';
import { uuidParam } from '../params.js';
import { lockOwnedProduct } from '../catalog-store.js';
import { catalogFor } from '../catalog.js';
import { UploadSigner } from '../media-signing.js';
import { chunkRange, MAX_CHUNK_BYTES, MediaUploads, SUGGESTED_CHUNK_BYTES } from '../media-upload.js';
import { findMedia, insertMedia, mediaOfProduct, type MediaRow } from '../media-store.js';
import { maxBytesOf, MEDIA_CONTENT_TYPES, mediaTypeOf } from '../media-types.js';
import { createMediaStorage, type ByteRange } from '../../common/media-storage.js';
import { newId } from '../../common/ids.js';
import { withTransaction } from '../../common/db.js';
import { DependencyUnavailableError } from '../../common/errors.js';

interface CreateMediaBody { contentType: string; bytes: number; fileName?: string }

/** Media never change under their id: browsers and CDNs keep them for a year without asking again. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/** One `Range: bytes=a-b` (or `a-`, `-n`); undefined = the whole file (absent, or a form not served). */
export function byteRange(header: string, size: number): ByteRange | undefined | 'unsatisfiable' {
  const match = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  const [first, last] = [match[1]!, match[2]!];
  const start = first === '' ? Math.max(0, size - Number(last)) : Number(first);
  const end = first === '' || last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (start > end || start >= size || (first === '' && Number(last) === 0)) return 'unsatisfiable';
  return { start, end };
}

const matchesEtag = (header: string, etag: string): boolean =>
  header.split(',').map((tag) => tag.trim()).some((tag) => tag === '*' || tag === etag || tag === `W/${etag}`);

export function mediaRoutes(router: Router, deps: EdgeDeps): void {
  const { config, pool } = deps;
  const storage = createMediaStorage(config.media);
  const signer = new UploadSigner(config.media.signingSecret, config.media.uploadUrlTtlSeconds);
  const catalog = catalogFor(deps);
  const uploads = new MediaUploads(pool, storage, config.media.dir, (media) => catalog.changed(media.productId));

  const mediaOf = async (ctx: RequestContext<unknown>): Promise<MediaRow> => {
    const mediaId = uuidParam(ctx, 'mediaId');
    const media = await findMedia(pool, mediaId);
    if (!media) throw problems.notFound(`Medium ${mediaId}`);
    return media;
  };

  router.post<CreateMediaBody>('/v1/products/:productId/media', {
    summary: 'Start an image or video upload for a product (admin, or its seller): a signed, expiring upload URL',
    access: ['admin', 'seller'],
    body: validator('CreateMediaRequest'),
    handler: async (ctx) => {
      const productId = uuidParam(ctx, 'productId');
      const { contentType, bytes, fileName } = ctx.body;
      const type = mediaTypeOf(contentType)!;
      const maxBytes = maxBytesOf(type.kind, config.media);
      if (bytes > maxBytes) throw problems.badField('bytes', `${type.kind}s may be at most ${maxBytes} bytes`);
      const mediaId = newId();
      const storageKey = `products/${productId}/${mediaId}.${type.extension}`;
      await withTransaction(pool, async (client) => {
        await lockOwnedProduct(client, productId, ctx.user!);
        await insertMedia(client, { mediaId, productId, kind: type.kind, contentType, sizeBytes: bytes, fileName: fileName ?? null, storageKey }, ctx.user!.userId);
      });
      const upload = signer.sign(mediaId);
      return {
        status: 201,
        headers: { location: upload.url },
        body: {
          success: true, mediaId, productId, status: 'pending', uploadUrl: upload.url, uploadMethod: 'PUT', expiresAt: upload.expiresAt,
          totalBytes: bytes, chunkBytes: SUGGESTED_CHUNK_BYTES, maxChunkBytes: MAX_CHUNK_BYTES,
        },
      };
    },
  });

  router.get('/v1/products/:productId/media', {
    summary: "A product's media with their upload status, pending and failed ones too (admin, or its seller)",
    access: ['admin', 'seller'],
    handler: async (ctx) => {
      const productId = uuidParam(ctx, 'productId');
      await withTransaction(pool, (client) => lockOwnedProduct(client, productId, ctx.user!));
      const media = (await mediaOfProduct(pool, productId)).map(({ storageKey: _key, ...visible }) => visible);
      return { status: 200, body: { productId, media } };
    },
  });

  router.upload('put', '/v1/media/:mediaId/upload', {
    summary: 'Upload a medium\'s bytes to its signed URL: the whole file, or chunks with Content-Range (resume from the received offset)',
    access: 'anyone',
    signedUrl: true,
    headers: ['content-range'],
    contentTypes: [...MEDIA_CONTENT_TYPES, 'application/octet-stream'],
    drainBytes: SUGGESTED_CHUNK_BYTES, // a refused chunk of the size we suggest still gets its answer
    handler: async (ctx, body) => {
      signer.verify(uuidParam(ctx, 'mediaId'), ctx.query);
      const range = chunkRange(ctx.headers['content-range'] ?? '', ctx.headers['content-length'] ?? '');
      const media = await mediaOf(ctx);
      const sentAs = (ctx.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (sentAs !== '' && sentAs !== media.contentType && sentAs !== 'application/octet-stream') {
        throw new HttpProblem(415, 'unsupported-media-type', 'Unsupported media type',
          `This medium was declared as ${media.contentType}; send its bytes as that or as application/octet-stream`);
      }
      return uploads.receive(media, range, body);
    },
  });

  router.get('/v1/media/:mediaId/upload', {
    summary: 'How far an upload got (signed upload URL): receivedBytes (also the Upload-Offset header) and status',
    access: 'anyone',
    handler: async (ctx) => {
      signer.verify(uuidParam(ctx, 'mediaId'), ctx.query);
      const progress = await uploads.progress(await mediaOf(ctx));
      return { status: 200, headers: { 'Upload-Offset': String(progress.receivedBytes), 'cache-control': 'no-store' }, body: progress };
    },
  });

  router.get('/media/:mediaId', {
    summary: 'A ready image or video (cacheable for a year; ETag; byte ranges)',
    access: 'anyone',
    headers: ['if-none-match', 'range'],
    handler: async (ctx): Promise<Reply> => {
      const media = await mediaOf(ctx);
      if (media.status !== 'ready') throw problems.notFound(`Medium ${media.mediaId}`);
      const size = media.sizeBytes;
      const headers: Record<string, string> = {
        'cache-control': IMMUTABLE, etag: `"${media.mediaId}"`, 'accept-ranges': 'bytes', 'x-content-type-options': 'nosniff',
      };
      if (matchesEtag(ctx.headers['if-none-match'] ?? '', headers.etag!)) return { status: 304, headers };
      const range = byteRange(ctx.headers.range ?? '', size);
      if (range === 'unsatisfiable') {
        throw new HttpProblem(416, 'range-not-satisfiable', 'Range not satisfiable', `The medium has ${size} bytes`,
          { headers: { 'content-range': `bytes */${size}` } });
      }
      const body = await storage.read(media.storageKey, range).catch((error: unknown) => { throw new DependencyUnavailableError('media storage', error); });
      if (!body) {
        deps.log.error({ mediaId: media.mediaId, key: media.storageKey }, 'a ready medium is missing from the media storage');
        throw problems.notFound(`Medium ${media.mediaId}`);
      }
      if (range) headers['content-range'] = `bytes ${range.start}-${range.end}/${size}`;
      return {
        status: range ? 206 : 200, contentType: media.contentType, headers,
        stream: { body, size: range ? range.end - range.start + 1 : size },
      };
    },
  });
}
