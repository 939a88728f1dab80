/**
 * The media pieces that need no services: the storage interface's local disk store,
 * the S3 store's request signing (AWS's published Signature Version 4 example; the S3
 * store itself is not run here: there is no S3 endpoint without network), the
 * magic-number check of each type, and the parsing of chunk and byte ranges.
 */
import { mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalMediaStorage, sigV4Authorization } from '../common/media-storage.js';
import { headMatches, MEDIA_CONTENT_TYPES } from '../edge/media-types.js';
import { chunkRange, MAX_CHUNK_BYTES } from '../edge/media-upload.js';
import { byteRange } from '../edge/routes/media.js';
import { HttpProblem } from '../edge/problems.js';

const dir = mkdtempSync(join(tmpdir(), 'media-storage-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('LocalMediaStorage', () => {
  it('moves a finished upload in, and reads it back whole or by range', async () => {
    const storage = new LocalMediaStorage(join(dir, 'objects'));
    const upload = join(dir, 'upload.part');
    writeFileSync(upload, 'hello, media');
    await storage.put('products/p1/m1.png', upload);
    expect(existsSync(upload)).toBe(false);
    expect(await storage.size('products/p1/m1.png')).toBe(12);
    expect(await text((await storage.read('products/p1/m1.png'))!)).toBe('hello, media');
    expect(await text((await storage.read('products/p1/m1.png', { start: 7, end: 11 }))!)).toBe('media');
    expect(await storage.size('products/p1/none.png')).toBeNull();
    expect(await storage.read('products/p1/none.png')).toBeNull();
    expect(readFileSync(join(dir, 'objects/products/p1/m1.png'), 'utf8')).toBe('hello, media');
  });

  it('refuses keys that would leave its folder', async () => {
    const storage = new LocalMediaStorage(join(dir, 'objects'));
    await expect(storage.size('../../etc/passwd')).rejects.toThrow(/bad media key/);
    await expect(storage.size('/etc/passwd')).rejects.toThrow(/bad media key/);
  });
});

describe('S3 request signing (AWS Signature Version 4)', () => {
  it('signs AWS\'s documented GET Object example to its published signature', () => {
    const authorization = sigV4Authorization({
      method: 'GET', path: '/test.txt', payloadHash: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      headers: {
        host: 'examplebucket.s3.amazonaws.com', range: 'bytes=0-9', 'x-amz-date': '20130524T000000Z',
        'x-amz-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      },
    }, { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', region: 'us-east-1' });
    expect(authorization).toBe('AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,'
      + 'SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41');
  });
});

/** The first bytes of a file of each type. */
const HEADS: Record<string, Buffer> = {
  'image/png': Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]),
  'image/jpeg': Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46]),
  'image/gif': Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1'),
  'image/webp': Buffer.concat([Buffer.from('RIFF'), Buffer.from([0x24, 0, 0, 0]), Buffer.from('WEBPVP8 ')]),
  'video/mp4': Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypmp42')]),
  'video/webm': Buffer.concat([Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81, 0x01, 0x42, 0x82, 0x84]), Buffer.from('webm')]),
};

describe('magic numbers', () => {
  it('knows every type it takes, and tells each from every other', () => {
    expect(Object.keys(HEADS).sort()).toEqual([...MEDIA_CONTENT_TYPES].sort());
    for (const declared of MEDIA_CONTENT_TYPES) {
      for (const [actual, head] of Object.entries(HEADS)) {
        expect(headMatches(declared, head), `${actual} bytes declared as ${declared}`).toBe(declared === actual);
      }
    }
    expect(headMatches('image/png', Buffer.from('%PDF-1.7'))).toBe(false);
    expect(headMatches('application/pdf', Buffer.from('%PDF-1.7'))).toBe(false);
  });
});

function problemOf(call: () => unknown): { status: number; field?: string } {
  try {
    call();
  } catch (error) {
    if (error instanceof HttpProblem) return { status: error.status, field: error.errors?.[0]?.field };
    throw error;
  }
  throw new Error('no problem thrown');
}

describe('chunk ranges (Content-Range / Content-Length)', () => {
  it('reads a chunk, or the whole file without Content-Range', () => {
    expect(chunkRange('bytes 100-199/1000', '100')).toEqual({ start: 100, end: 199, total: 1000 });
    expect(chunkRange('', '1000')).toEqual({ start: 0, end: 999, total: 1000 });
  });

  it('refuses bad ones with a 4xx naming the header', () => {
    expect(problemOf(() => chunkRange('bytes 100-199/1000', ''))).toEqual({ status: 411, field: 'Content-Length' });
    expect(problemOf(() => chunkRange('', '0'))).toEqual({ status: 400, field: 'Content-Length' });
    expect(problemOf(() => chunkRange('', String(MAX_CHUNK_BYTES + 1)))).toMatchObject({ status: 413 });
    expect(problemOf(() => chunkRange('bytes=0-99', '100'))).toEqual({ status: 400, field: 'Content-Range' });
    expect(problemOf(() => chunkRange('bytes 0-99/50', '100'))).toEqual({ status: 400, field: 'Content-Range' });
    expect(problemOf(() => chunkRange('bytes 99-0/1000', '100'))).toEqual({ status: 400, field: 'Content-Range' });
    expect(problemOf(() => chunkRange('bytes 0-99/1000', '99'))).toEqual({ status: 400, field: 'Content-Length' });
  });
});

describe('byte ranges of GET /media (Range)', () => {
  it('serves one range, suffixes and open ends, and says which cannot be served', () => {
    expect(byteRange('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(byteRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(byteRange('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(byteRange('bytes=50-500', 100)).toEqual({ start: 50, end: 99 });
    expect(byteRange('bytes=100-', 100)).toBe('unsatisfiable');
    expect(byteRange('bytes=-0', 100)).toBe('unsatisfiable');
    expect(byteRange('', 100)).toBeUndefined();
    expect(byteRange('bytes=0-1,5-6', 100)).toBeUndefined(); // several ranges: the whole file
  });
});
