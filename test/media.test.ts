/**
 * Product media against the real edge: a seller asks for a signed upload URL, uploads in
 * chunks, is cut off mid-chunk and resumes from the byte the edge reports, and the
 * medium turns ready, listed on the product and served with cache headers, ETag and
 * byte ranges. Bad input gets 4xx problems naming the field and changes nothing; a file
 * that is not what it was declared as fails.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiResponse } from './support/api.js';
import { serviceEnv } from './support/processes.js';
import { eventually, startStack, type Stack } from './support/stack.js';
import { UploadSigner } from '../edge/media-signing.js';

const MiB = 1024 * 1024;

let stack: Stack;
let seller: { token: string; userId: string };
let productId: string;

beforeAll(async () => {
  stack = await startStack({ without: ['order-writer', 'reconciler'] });
  seller = await stack.api.newUser('seller');
  productId = await stack.api.createProduct(seller.token, 5);
});
afterAll(async () => { await stack?.stop(); });

/** A file of `size` bytes that starts like an MP4 (an ftyp box) or a PNG. */
function fileOf(type: 'video/mp4' | 'image/png', size: number): Buffer {
  const head = type === 'video/mp4'
    ? Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypmp42')])
    : Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([head, randomBytes(size - head.length)]);
}

/** A Buffer as a fetch body (the DOM typings do not take Node's Buffer). */
const asBody = (data: Buffer): RequestInit['body'] => data as unknown as RequestInit['body'];

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

interface Started { mediaId: string; uploadUrl: string; status: string; expiresAt: string; chunkBytes: number }

async function startUpload(contentType: string, bytes: number, token = seller.token, product = productId): Promise<ApiResponse<Started>> {
  return stack.api.request<Started>('POST', `/v1/products/${product}/media`, { token, body: { contentType, bytes, fileName: 'f' } });
}

interface Progress { mediaId: string; status: string; receivedBytes: number; totalBytes: number; uploading: boolean; url: string | null }

async function putChunk(url: string, data: Buffer, start: number, total: number, contentType = 'video/mp4'): Promise<ApiResponse<Progress>> {
  const res = await fetch(stack.api.baseUrl + url, {
    method: 'PUT', body: asBody(data),
    headers: { 'content-type': contentType, 'content-range': `bytes ${start}-${start + data.length - 1}/${total}` },
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: JSON.parse(text) as Progress, contentType: res.headers.get('content-type') ?? '' };
}

const progressOf = async (url: string): Promise<Progress> => (await stack.api.request<Progress>('GET', url)).body;

/** Sends a request's head and the first `send` bytes of its body over a raw socket; returns the socket. */
async function partialPut(url: string, headers: Record<string, string>, body: Buffer): Promise<ReturnType<typeof connect>> {
  const { port } = new URL(stack.api.baseUrl);
  const socket = connect(Number(port), '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const head = [`PUT ${url} HTTP/1.1`, 'Host: 127.0.0.1', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
  await new Promise<void>((resolve, reject) => socket.write(Buffer.concat([Buffer.from(head), body]), (error) => (error ? reject(error) : resolve())));
  return socket;
}

function expectProblem(res: ApiResponse<unknown>, status: number, slug: string, field?: string): void {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.contentType).toContain('application/problem+json');
  const body = res.body as { type: string; errors?: { field: string }[] };
  expect(body.type).toBe(`/problems/${slug}`);
  if (field) expect(body.errors?.map((e) => e.field)).toContain(field);
}

describe('a large upload, chunked and resumable', () => {
  it('is cut off mid-chunk, resumes from the byte the edge reports, and turns ready with the same bytes', async () => {
    const total = 20 * MiB;
    const chunk = 8 * MiB;
    const file = fileOf('video/mp4', total);
    const started = await startUpload('video/mp4', total);
    expect(started.status).toBe(201);
    expect(started.body).toMatchObject({ status: 'pending', chunkBytes: chunk });
    expect(started.body.uploadUrl).toMatch(/^\/v1\/media\/[0-9a-f-]{36}\/upload\?expires=\d+&sig=[\w-]+$/);
    const url = started.body.uploadUrl;
    expect(await progressOf(url)).toMatchObject({ status: 'pending', receivedBytes: 0, totalBytes: total });

    const first = await putChunk(url, file.subarray(0, chunk), 0, total);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ status: 'pending', receivedBytes: chunk });
    expect(first.headers.get('upload-offset')).toBe(String(chunk));

    // The second chunk: 3 MiB of its 8 reach the edge, then the connection drops.
    const socket = await partialPut(url, {
      'Content-Type': 'video/mp4', 'Content-Length': String(chunk), 'Content-Range': `bytes ${chunk}-${2 * chunk - 1}/${total}`,
    }, file.subarray(chunk, chunk + 3 * MiB));
    await eventually(async () => (await progressOf(url)).receivedBytes >= chunk + 2 * MiB, 20_000, 'the partial chunk on disk');
    socket.destroy();
    await eventually(async () => !(await progressOf(url)).uploading, 20_000, 'the cut-off chunk to settle');
    const afterCut = await progressOf(url);
    expect(afterCut.status).toBe('pending');
    expect(afterCut.receivedBytes).toBeGreaterThan(chunk + 2 * MiB - 1);
    expect(afterCut.receivedBytes).toBeLessThanOrEqual(chunk + 3 * MiB);

    // Resending the chunk from its start is refused with the offset to go on from.
    const stale = await putChunk(url, file.subarray(chunk, 2 * chunk), chunk, total);
    expectProblem(stale, 409, 'upload-offset-mismatch');
    expect(stale.headers.get('upload-offset')).toBe(String(afterCut.receivedBytes));

    let last: ApiResponse<Progress> | undefined;
    for (let at = afterCut.receivedBytes; at < total; at += chunk) {
      last = await putChunk(url, file.subarray(at, Math.min(at + chunk, total)), at, total, 'application/octet-stream');
      expect(last.status, JSON.stringify(last.body)).toBe(200);
    }
    expect(last!.body).toMatchObject({ status: 'ready', receivedBytes: total, url: `/media/${started.body.mediaId}` });
    expect(await progressOf(url)).toMatchObject({ status: 'ready', receivedBytes: total, uploading: false });

    const detail = await stack.api.request<{ videos: unknown[]; images: unknown[] }>('GET', `/v1/products/${productId}`);
    expect(detail.body.videos).toContainEqual({ mediaId: started.body.mediaId, url: `/media/${started.body.mediaId}`, contentType: 'video/mp4', bytes: total });

    const served = await fetch(`${stack.api.baseUrl}/media/${started.body.mediaId}`);
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toBe('video/mp4');
    expect(served.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(served.headers.get('content-length')).toBe(String(total));
    const etag = served.headers.get('etag')!;
    expect(etag).toBe(`"${started.body.mediaId}"`);
    expect(sha256(Buffer.from(await served.arrayBuffer()))).toBe(sha256(file));

    const again = await fetch(`${stack.api.baseUrl}/media/${started.body.mediaId}`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    const part = await fetch(`${stack.api.baseUrl}/media/${started.body.mediaId}`, { headers: { range: `bytes=${total - 100}-` } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes ${total - 100}-${total - 1}/${total}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(file.subarray(total - 100))).toBe(true);
    const beyond = await fetch(`${stack.api.baseUrl}/media/${started.body.mediaId}`, { headers: { range: `bytes=${total}-` } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${total}`);

    const done = await putChunk(url, file.subarray(0, 100), 0, total);
    expectProblem(done, 409, 'upload-complete');
  });

  it('takes a small image in one request and lists it under images', async () => {
    const file = fileOf('image/png', 300_000);
    const started = await startUpload('image/png', file.length);
    const res = await fetch(stack.api.baseUrl + started.body.uploadUrl, { method: 'PUT', body: asBody(file), headers: { 'content-type': 'image/png' } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ready', receivedBytes: file.length });
    const detail = await stack.api.request<{ images: { mediaId: string; url: string }[] }>('GET', `/v1/products/${productId}`);
    expect(detail.body.images.map((i) => i.mediaId)).toContain(started.body.mediaId);
    const served = await fetch(stack.api.baseUrl + detail.body.images.find((i) => i.mediaId === started.body.mediaId)!.url);
    expect(Buffer.from(await served.arrayBuffer()).equals(file)).toBe(true);
  });
});

describe('the type check', () => {
  it('fails an upload whose first bytes are not the declared type, and takes no more of it', async () => {
    const png = fileOf('image/png', 200_000);
    const started = await startUpload('video/mp4', png.length);
    const res = await putChunk(started.body.uploadUrl, png, 0, png.length);
    expectProblem(res, 415, 'media-type-mismatch', 'body');
    expect(await progressOf(started.body.uploadUrl)).toMatchObject({ status: 'failed', receivedBytes: 0 });
    expectProblem(await putChunk(started.body.uploadUrl, fileOf('video/mp4', png.length), 0, png.length), 409, 'upload-failed');
    const detail = await stack.api.request<{ videos: { mediaId: string }[] }>('GET', `/v1/products/${productId}`);
    expect(detail.body.videos.map((v) => v.mediaId)).not.toContain(started.body.mediaId);
    const listed = await stack.api.request<{ media: { mediaId: string; status: string }[] }>('GET', `/v1/products/${productId}/media`, { token: seller.token });
    expect(listed.body.media.find((m) => m.mediaId === started.body.mediaId)?.status).toBe('failed');
  });
});

describe('bad input gets a 4xx naming the problem, and changes nothing', () => {
  it('POST /v1/products/{productId}/media', async () => {
    const post = (body: unknown, path = `/v1/products/${productId}/media`) => stack.api.request('POST', path, { token: seller.token, body });
    expectProblem(await post({ contentType: 'image/png' }), 400, 'validation-failed', 'bytes');
    expectProblem(await post({ contentType: 'application/pdf', bytes: 10 }), 400, 'validation-failed', 'contentType');
    expectProblem(await post({ contentType: 'image/png', bytes: 0 }), 400, 'validation-failed', 'bytes');
    expectProblem(await post({ contentType: 'image/png', bytes: 1.5 }), 400, 'validation-failed', 'bytes');
    expectProblem(await post({ contentType: 'video/mp4', bytes: 2 ** 31 + 1 }), 400, 'validation-failed', 'bytes');
    expectProblem(await post({ contentType: 'image/png', bytes: 21 * MiB }), 400, 'validation-failed', 'bytes'); // images: 20 MiB at most
    expectProblem(await post({ contentType: 'image/png', bytes: 10, owner: 'me' }), 400, 'validation-failed', 'owner');
    expectProblem(await post({ contentType: 'image/png', bytes: 10 }, '/v1/products/not-a-uuid/media'), 400, 'validation-failed', 'productId');
    expectProblem(await post({ contentType: 'image/png', bytes: 10 }, `/v1/products/${randomUUID()}/media`), 404, 'not-found');
    const { rows } = await stack.db.query('SELECT count(*)::int AS n FROM product_media WHERE product_id = $1 AND size_bytes IN (10, 0)', [productId]);
    expect(rows[0].n).toBe(0);
  });

  it('PUT and GET of the upload URL', async () => {
    const total = 2 * MiB;
    const file = fileOf('video/mp4', total);
    const started = await startUpload('video/mp4', total);
    const url = started.body.uploadUrl;
    const { mediaId } = started.body;
    expect((await putChunk(url, file.subarray(0, MiB), 0, total)).status).toBe(200);

    const unsigned = `/v1/media/${mediaId}/upload`;
    expectProblem(await putChunk(unsigned, file.subarray(MiB), MiB, total), 403, 'upload-url-invalid');
    expectProblem(await stack.api.request('GET', unsigned), 403, 'upload-url-invalid');
    const tampered = url.replace(/expires=(\d+)/, (_m, e: string) => `expires=${Number(e) + 1}`);
    expectProblem(await putChunk(tampered, file.subarray(MiB), MiB, total), 403, 'upload-url-invalid');
    const otherMedium = url.replace(mediaId, mediaId.replace(/^./, mediaId.startsWith('a') ? 'b' : 'a'));
    expectProblem(await putChunk(otherMedium, file.subarray(MiB), MiB, total), 403, 'upload-url-invalid');
    const expired = new UploadSigner(serviceEnv().JWT_SECRET!, -60).sign(mediaId).url;
    expectProblem(await putChunk(expired, file.subarray(MiB), MiB, total), 403, 'upload-url-expired');

    const raw = (headers: Record<string, string>, body: Buffer) => fetch(stack.api.baseUrl + url, { method: 'PUT', headers, body: asBody(body) })
      .then(async (res) => ({ status: res.status, headers: res.headers, body: await res.json() as unknown, contentType: res.headers.get('content-type') ?? '' }));
    const rest = file.subarray(MiB);
    expectProblem(await raw({ 'content-range': `bytes ${MiB}-${total - 1}` }, rest), 400, 'validation-failed', 'Content-Range');
    expectProblem(await raw({ 'content-range': `bytes ${MiB}-${total - 1}/${total + 1}` }, rest), 400, 'validation-failed', 'Content-Range');
    expectProblem(await raw({ 'content-range': `bytes ${MiB}-${total - 2}/${total}` }, rest), 400, 'validation-failed', 'Content-Length');
    expectProblem(await raw({ 'content-range': `bytes ${MiB}-${total - 1}/${total}`, 'content-type': 'text/plain' }, rest), 415, 'unsupported-media-type');
    expectProblem(await putChunk(url, file.subarray(MiB - 10, total), MiB - 10, total), 409, 'upload-offset-mismatch');
    expectProblem(await putChunk(`/v1/media/not-a-uuid/upload?expires=1&sig=x`, rest, MiB, total), 400, 'validation-failed', 'mediaId');

    // A chunk over the per-request limit is refused from its head; the edge does not read the body.
    const socket = await partialPut(url, { 'Content-Length': String(64 * MiB + 1), 'Content-Range': `bytes ${MiB}-${MiB + 64 * MiB}/${total}` }, Buffer.alloc(0));
    const answer = await new Promise<string>((resolve) => { let text = ''; socket.on('data', (d: Buffer) => { text += d.toString(); if (text.includes('}')) resolve(text); }); });
    socket.destroy();
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer).toContain('/problems/chunk-too-large');

    expect(await progressOf(url)).toMatchObject({ status: 'pending', receivedBytes: MiB, uploading: false });
    const last = await putChunk(url, file.subarray(MiB), MiB, total);
    expect(last.body).toMatchObject({ status: 'ready', receivedBytes: total });
  });

  it('a first chunk too short to check the type', async () => {
    const started = await startUpload('video/mp4', 4096);
    expectProblem(await putChunk(started.body.uploadUrl, fileOf('video/mp4', 4096).subarray(0, 20), 0, 4096), 400, 'validation-failed', 'Content-Range');
    expect(await progressOf(started.body.uploadUrl)).toMatchObject({ status: 'pending', receivedBytes: 0 });
  });

  it('GET /media/{mediaId} of a medium not ready, or of none', async () => {
    const started = await startUpload('image/png', 1000);
    expectProblem(await stack.api.request('GET', `/media/${started.body.mediaId}`), 404, 'not-found');
    expectProblem(await stack.api.request('GET', '/media/not-a-uuid'), 400, 'validation-failed', 'mediaId');
  });
});
