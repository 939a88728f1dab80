/**
 * Receiving an upload, chunk by chunk, resumable. Each PUT carries one chunk
 * (`Content-Range: bytes first-last/total`, or the whole file without it), streamed
 * from the socket to the end of the medium's part file on disk with backpressure, never
 * held whole in memory. A chunk must start where the part file ends (the received
 * offset, which GET on the upload URL reports), so a client that lost its connection
 * asks for the offset and sends the rest from there; bytes that reached the disk
 * before the cut are kept. The first bytes are checked against the declared type
 * (magic numbers): a mismatch fails the medium. When the last byte is on disk the file
 * goes to the media storage and the medium turns ready.
 *
 * One chunk at a time per medium on this edge (a second one meanwhile is a 409); the
 * part files live under MEDIA_DIR/uploads, so the edges taking one medium's chunks must
 * share that folder.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, open, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DependencyUnavailableError } from '../common/errors.js';
import type { MediaStorage } from '../common/media-storage.js';
import type { Pool } from '../common/db.js';
import type { Reply } from './http.js';
import { HttpProblem, problems } from './problems.js';
import { markFailed, markReady, type MediaRow, type MediaStatus } from './media-store.js';
import { headMatches, SNIFF_BYTES } from './media-types.js';

/** The largest chunk one request may carry (larger files come in several). */
export const MAX_CHUNK_BYTES = 64 * 1024 * 1024;
/** The chunk size clients are told to use. */
export const SUGGESTED_CHUNK_BYTES = 8 * 1024 * 1024;

export interface ChunkRange { start: number; end: number; total: number }

/** The chunk a request carries, from its Content-Range and Content-Length; a 4xx problem naming the header otherwise. */
export function chunkRange(contentRange: string, contentLength: string): ChunkRange {
  if (!/^\d{1,12}$/.test(contentLength)) {
    throw new HttpProblem(411, 'length-required', 'Length required', 'Send each chunk with a Content-Length',
      { errors: [{ field: 'Content-Length', message: 'is required' }] });
  }
  const length = Number(contentLength);
  if (length === 0) throw problems.badField('Content-Length', 'must be at least 1 byte');
  if (length > MAX_CHUNK_BYTES) {
    throw new HttpProblem(413, 'chunk-too-large', 'Chunk too large',
      `One request may carry at most ${MAX_CHUNK_BYTES} bytes; send larger files in chunks with Content-Range`);
  }
  if (!contentRange) return { start: 0, end: length - 1, total: length };
  const match = /^bytes (\d{1,12})-(\d{1,12})\/(\d{1,12})$/.exec(contentRange.trim());
  if (!match) throw problems.badField('Content-Range', 'must be "bytes <first>-<last>/<total>"');
  const [start, end, total] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (end < start || end >= total) throw problems.badField('Content-Range', 'needs first <= last < total');
  if (end - start + 1 !== length) throw problems.badField('Content-Length', `must be the chunk's size, ${end - start + 1} bytes`);
  return { start, end, total };
}

class TypeMismatch extends Error {}

/** Holds back the first bytes until it can check them against the declared type, then passes all through. */
function typeCheck(contentType: string, total: number): Transform {
  const need = Math.min(SNIFF_BYTES, total);
  let head: Buffer[] = [];
  let held = 0;
  let checked = false;
  const release = (stream: Transform): Error | undefined => {
    const first = Buffer.concat(head, held);
    head = [];
    checked = true;
    if (!headMatches(contentType, first.subarray(0, SNIFF_BYTES))) return new TypeMismatch(`The file's first bytes are not those of ${contentType}`);
    stream.push(first);
    return undefined;
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (checked) { done(null, chunk); return; }
      head.push(chunk);
      held += chunk.length;
      done(held >= need ? release(this) : undefined);
    },
    flush(done) { done(checked ? undefined : release(this)); },
  });
}

export interface UploadProgress {
  mediaId: string;
  status: MediaStatus;
  receivedBytes: number;
  totalBytes: number;
  /** A chunk is being received right now. */
  uploading: boolean;
  url: string | null;
  failure: string | null;
}

interface ActiveUpload { receiving: boolean; settled: Promise<void>; settle: () => void }

export class MediaUploads {
  private readonly active = new Map<string, ActiveUpload>();

  constructor(
    private readonly pool: Pool,
    private readonly storage: MediaStorage,
    private readonly dir: string,
    /** Told when a medium turns ready (the catalog drops its cached product). */
    private readonly onReady: (media: MediaRow) => Promise<void>,
  ) {}

  async progress(media: MediaRow): Promise<UploadProgress> {
    await this.settledUpload(media.mediaId);
    const receivedBytes = await this.offsetOf(media);
    // All bytes in, no chunk under way, yet pending: a completion that was cut short; finish it.
    const unfinished = media.status === 'pending' && receivedBytes === media.sizeBytes && !this.active.has(media.mediaId);
    const current = unfinished ? await this.complete(media) : media;
    return {
      mediaId: media.mediaId, status: current.status, receivedBytes, totalBytes: media.sizeBytes,
      uploading: this.active.get(media.mediaId)?.receiving ?? false, url: current.url, failure: current.failure,
    };
  }

  /** Takes one chunk of the medium's file (see the module comment). */
  async receive(media: MediaRow, range: ChunkRange, body: Readable): Promise<Reply> {
    if (media.status !== 'pending') throw this.closed(media);
    if (range.total !== media.sizeBytes) {
      throw problems.badField('Content-Range', `the total must be the size declared for this medium, ${media.sizeBytes} bytes`);
    }
    if (range.start === 0 && range.end + 1 < Math.min(SNIFF_BYTES, range.total)) {
      throw problems.badField('Content-Range', `the first chunk must carry at least ${SNIFF_BYTES} bytes`);
    }
    const upload = await this.claim(media.mediaId);
    try {
      const offset = await this.offsetOf(media);
      if (offset === media.sizeBytes) return this.reply(await this.complete(media), offset);
      if (range.start !== offset) {
        throw new HttpProblem(409, 'upload-offset-mismatch', 'Chunk out of place',
          `This medium has ${offset} bytes; send the chunk starting at byte ${offset}`,
          { headers: { 'Upload-Offset': String(offset) }, extra: { receivedBytes: offset } });
      }
      upload.receiving = true;
      await this.append(media, range, body, upload);
      const received = range.end + 1;
      return this.reply(received === range.total ? await this.complete(media) : media, received);
    } finally {
      this.active.delete(media.mediaId);
      upload.settle();
    }
  }

  private reply(media: MediaRow, receivedBytes: number): Reply {
    return {
      status: 200,
      headers: { 'Upload-Offset': String(receivedBytes) },
      body: { success: true, mediaId: media.mediaId, status: media.status, receivedBytes, totalBytes: media.sizeBytes, url: media.url },
    };
  }

  private closed(media: MediaRow): HttpProblem {
    return media.status === 'ready'
      ? problems.conflict('upload-complete', 'Upload complete', `Medium ${media.mediaId} is uploaded already`, { receivedBytes: media.sizeBytes, url: media.url })
      : problems.conflict('upload-failed', 'Upload failed', `Medium ${media.mediaId} failed: ${media.failure ?? 'unknown reason'}; start a new upload`);
  }

  /** Streams the chunk onto the end of the part file and syncs it to disk. */
  private async append(media: MediaRow, range: ChunkRange, body: Readable, upload: ActiveUpload): Promise<void> {
    body.once('close', () => { upload.receiving = false; });
    const file = this.partFile(media.mediaId);
    try {
      await mkdir(dirname(file), { recursive: true });
      const out = createWriteStream(file, { flags: 'a' });
      try {
        if (range.start === 0) await pipeline(body, typeCheck(media.contentType, range.total), out);
        else await pipeline(body, out);
      } finally {
        // Every byte that came is in the file before anyone reads the offset again.
        if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()));
      }
      const synced = await open(file, 'r');
      await synced.sync().finally(() => synced.close());
    } catch (error) {
      if (error instanceof TypeMismatch) {
        await markFailed(this.pool, media.mediaId, error.message);
        await rm(file, { force: true });
        throw new HttpProblem(415, 'media-type-mismatch', 'Not the declared type', `${error.message}; the upload has failed`,
          { errors: [{ field: 'body', message: `is not ${media.contentType}` }] });
      }
      if (body.destroyed && !body.readableEnded) throw error; // the client went away: nobody to answer
      throw new DependencyUnavailableError('media storage', error);
    }
  }

  /** The last byte is on disk: into the storage, then ready (listed on the product). */
  private async complete(media: MediaRow): Promise<MediaRow> {
    const file = this.partFile(media.mediaId);
    try {
      if ((await this.partSize(media.mediaId)) !== null) {
        await this.storage.put(media.storageKey, file, { contentType: media.contentType, size: media.sizeBytes });
      }
    } catch (error) {
      // A completion running alongside (a status read) may have stored it first.
      const stored = await this.storage.size(media.storageKey).catch(() => null);
      if (stored !== media.sizeBytes) throw new DependencyUnavailableError('media storage', error);
    }
    const url = this.storage.publicUrl(media.storageKey) ?? `/media/${media.mediaId}`;
    if (await markReady(this.pool, media, url)) await this.onReady(media);
    return { ...media, status: 'ready', url };
  }

  /**
   * Bytes received: the part file's size; the whole size when the file is in the storage
   * already (a completion whose marking did not finish), 0 before the first byte.
   */
  private async offsetOf(media: MediaRow): Promise<number> {
    if (media.status === 'ready') return media.sizeBytes;
    const partial = await this.partSize(media.mediaId);
    if (partial !== null) return partial;
    if (media.status !== 'pending') return 0;
    try {
      return (await this.storage.size(media.storageKey)) === media.sizeBytes ? media.sizeBytes : 0;
    } catch (error) {
      throw new DependencyUnavailableError('media storage', error);
    }
  }

  /** One chunk at a time: waits out a chunk whose client went away (its bytes are still being synced), refuses a live one. */
  private async claim(mediaId: string): Promise<ActiveUpload> {
    for (let current = this.active.get(mediaId); current; current = this.active.get(mediaId)) {
      if (current.receiving) {
        throw problems.conflict('upload-in-progress', 'Upload in progress',
          'A chunk of this medium is being received; wait for its answer (or GET the upload URL for the offset) and go on from there');
      }
      await current.settled;
    }
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => { settle = resolve; });
    const upload: ActiveUpload = { receiving: false, settled, settle };
    this.active.set(mediaId, upload);
    return upload;
  }

  private async settledUpload(mediaId: string): Promise<void> {
    const current = this.active.get(mediaId);
    if (current && !current.receiving) await current.settled;
  }

  private partFile(mediaId: string): string {
    return join(this.dir, 'uploads', `${mediaId}.part`);
  }

  private async partSize(mediaId: string): Promise<number | null> {
    try {
      return (await stat(this.partFile(mediaId))).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new DependencyUnavailableError('media storage', error);
    }
  }
}
