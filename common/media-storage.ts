/**
 * The one home of the media-storage interface: where finished product media (images,
 * videos) are kept and read back, as streams, never whole in memory.
 *
 *   - LocalMediaStorage (the default): files under MEDIA_DIR/objects (MEDIA_DIR defaults
 *     to DATA_DIR/media). Uploads are staged in the same folder tree, so storing one is
 *     a rename. With several edge hosts, MEDIA_DIR must be a shared volume.
 *   - S3MediaStorage (S3_ENDPOINT set): any S3-compatible store over its REST API
 *     (path-style URLs, AWS Signature Version 4 signed with node:crypto, no SDK).
 *     UNTESTED against a live store here (no network); only its signing is checked
 *     against AWS's published example (test/media-storage.test.ts).
 */
import { createHash, createHmac } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { MediaConfig } from './config.js';
import { PipelineError } from './errors.js';
import { retry } from './retry.js';

/** Bytes `start` to `end` (inclusive) of an object. */
export interface ByteRange { start: number; end: number }

export interface MediaStorage {
  readonly name: 'local' | 's3';
  /** Stores a complete upload (a local file, which is gone afterwards) under `key`. */
  put(key: string, file: string, info: { contentType: string; size: number }): Promise<void>;
  /** The stored object's size, or null when there is none. */
  size(key: string): Promise<number | null>;
  /** The object's bytes (all, or one range), or null when there is none. */
  read(key: string, range?: ByteRange): Promise<Readable | null>;
  /** Where clients fetch it directly; undefined: through the edge (GET /media/{mediaId}). */
  publicUrl(key: string): string | undefined;
}

/** A store that failed; `retriable` says whether trying again may help (5xx, network) or not (4xx). */
export class MediaStorageError extends PipelineError {
  constructor(message: string, retriable: boolean, cause?: unknown) {
    super(message, { retriable, cause });
  }
}

export function createMediaStorage(config: MediaConfig): MediaStorage {
  return config.s3 ? new S3MediaStorage(config.s3) : new LocalMediaStorage(join(config.dir, 'objects'));
}

const isMissing = (error: unknown): boolean => (error as NodeJS.ErrnoException).code === 'ENOENT';

export class LocalMediaStorage implements MediaStorage {
  readonly name = 'local';

  constructor(private readonly root: string) {}

  async put(key: string, file: string): Promise<void> {
    const target = this.path(key);
    await mkdir(dirname(target), { recursive: true });
    await rename(file, target);
  }

  async size(key: string): Promise<number | null> {
    try {
      return (await stat(this.path(key))).size;
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async read(key: string, range?: ByteRange): Promise<Readable | null> {
    if ((await this.size(key)) === null) return null;
    return createReadStream(this.path(key), range ? { start: range.start, end: range.end } : {});
  }

  publicUrl(): undefined { return undefined; }

  private path(key: string): string {
    if (!/^[\w-]+(\/[\w.-]+)*$/.test(key) || key.includes('..')) throw new MediaStorageError(`bad media key ${key}`, false);
    return join(this.root, key);
  }
}

/* ----------------------------------------------------------------- S3 (SigV4) */

const sha256Hex = (data: string): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data).digest();
/** RFC 3986 encoding as SigV4 wants it: every byte but A-Z a-z 0-9 - . _ ~ (and / in paths). */
export const encodePath = (path: string): string =>
  path.split('/').map((part) => encodeURIComponent(part).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)).join('/');

export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

export interface SigV4Request {
  method: string;
  /** The URI path, already encoded (each segment as RFC 3986 wants it). */
  path: string;
  /** Lower-case names; `host` and `x-amz-date` must be among them. Every header given is signed. */
  headers: Record<string, string>;
  /** Hex SHA-256 of the body, or UNSIGNED-PAYLOAD. */
  payloadHash: string;
}

/** The Authorization header of an AWS Signature Version 4 request (no query string). */
export function sigV4Authorization(request: SigV4Request, credentials: { accessKeyId: string; secretAccessKey: string; region: string; service?: string }): string {
  const service = credentials.service ?? 's3';
  const amzDate = request.headers['x-amz-date']!;
  const day = amzDate.slice(0, 8);
  const names = Object.keys(request.headers).sort();
  const canonical = [
    request.method, request.path, '',
    ...names.map((name) => `${name}:${request.headers[name]!.trim().replace(/\s+/g, ' ')}`), '',
    names.join(';'), request.payloadHash,
  ].join('\n');
  const scope = `${day}/${credentials.region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonical)].join('\n');
  const dayKey = hmac(`AWS4${credentials.secretAccessKey}`, day);
  const signingKey = hmac(hmac(hmac(dayKey, credentials.region), service), 'aws4_request');
  const signature = createHmac('sha256', signingKey).update(toSign).digest('hex');
  return `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope},SignedHeaders=${names.join(';')},Signature=${signature}`;
}

type S3Settings = NonNullable<MediaConfig['s3']>;

export class S3MediaStorage implements MediaStorage {
  readonly name = 's3';
  private readonly base: URL;

  constructor(private readonly settings: S3Settings) {
    this.base = new URL(settings.endpoint);
  }

  async put(key: string, file: string, info: { contentType: string; size: number }): Promise<void> {
    await retry(async () => {
      // A fresh stream each attempt: the file is read again from its start.
      const res = await this.request('PUT', key, { 'content-type': info.contentType, 'content-length': String(info.size) }, createReadStream(file));
      res.resume();
      if (res.statusCode !== 200) throw new MediaStorageError(`S3 PUT ${key}: HTTP ${res.statusCode}`, (res.statusCode ?? 500) >= 500);
    }, { retries: 3, baseMs: 200, maxMs: 2_000, isRetriable: (error) => !(error instanceof MediaStorageError) || error.retriable });
    await rm(file, { force: true });
  }

  async size(key: string): Promise<number | null> {
    const res = await this.request('HEAD', key, {});
    res.resume();
    if (res.statusCode === 404) return null;
    if (res.statusCode !== 200) throw new MediaStorageError(`S3 HEAD ${key}: HTTP ${res.statusCode}`, (res.statusCode ?? 500) >= 500);
    return Number(res.headers['content-length'] ?? 0);
  }

  async read(key: string, range?: ByteRange): Promise<Readable | null> {
    const res = await this.request('GET', key, range ? { range: `bytes=${range.start}-${range.end}` } : {});
    if (res.statusCode === 200 || res.statusCode === 206) return res;
    res.resume();
    if (res.statusCode === 404) return null;
    throw new MediaStorageError(`S3 GET ${key}: HTTP ${res.statusCode}`, (res.statusCode ?? 500) >= 500);
  }

  publicUrl(key: string): string | undefined {
    return this.settings.publicBaseUrl ? `${this.settings.publicBaseUrl.replace(/\/$/, '')}/${encodePath(key)}` : undefined;
  }

  /** One signed request (path-style: endpoint/bucket/key); resolves with the response once its head arrives. */
  private request(method: string, key: string, extra: Record<string, string>, body?: Readable): Promise<IncomingMessage> {
    const path = encodePath(`${this.base.pathname.replace(/\/$/, '')}/${this.settings.bucket}/${key}`);
    const headers: Record<string, string> = {
      host: this.base.host,
      'x-amz-date': new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, ''),
      'x-amz-content-sha256': UNSIGNED_PAYLOAD,
      ...extra,
    };
    headers.authorization = sigV4Authorization({ method, path, headers, payloadHash: UNSIGNED_PAYLOAD }, this.settings);
    const send = this.base.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const fail = (error: Error) => reject(new MediaStorageError(`S3 ${method} ${key}: ${error.message}`, true, error));
      const req = send(new URL(path, this.base), { method, headers, timeout: 30_000 }, resolve);
      req.on('error', fail);
      req.on('timeout', () => req.destroy(new Error('timed out')));
      if (body) pipeline(body, req).catch(fail);
      else req.end();
    });
  }
}
