/**
 * Media upload to the signed URL (edge/routes/media.ts): POST /v1/products/{id}/media
 * declares the file and answers the URL; the bytes go in chunks (PUT with Content-Range),
 * each starting where the server's copy ends. When a chunk is cut (connection dropped,
 * a 5xx), the uploader asks the URL how far it got (GET → receivedBytes) and goes on from
 * there, so a dropped connection costs at most the chunk under way. XMLHttpRequest, not
 * fetch: it reports upload progress, which the progress bar shows.
 */
import { api, ApiError } from './api';
import type { MediaUploadStart, Problem, UploadProgress } from './types';

/** Chunks at most this large: a cut costs little, and the progress bar moves smoothly. */
const CHUNK_CAP = 1024 * 1024;
const MAX_RETRIES = 8;

export interface UploadEvents {
  onProgress: (sentBytes: number, totalBytes: number) => void;
  onNote: (note: string) => void;
}

export interface Uploaded { mediaId: string; url: string }

class ChunkCut extends Error {}

interface ChunkAnswer { status: number; body: Record<string, unknown> | null; retryAfterMs: number | null }

function putChunk(url: string, blob: Blob, start: number, total: number, contentType: string,
  onSent: (bytes: number) => void, signal: AbortSignal): Promise<ChunkAnswer> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', url);
    xhr.setRequestHeader('content-type', contentType);
    xhr.setRequestHeader('content-range', `bytes ${start}-${start + blob.size - 1}/${total}`);
    xhr.upload.onprogress = (e) => onSent(e.loaded);
    xhr.onload = () => {
      let body: Record<string, unknown> | null = null;
      try { body = JSON.parse(xhr.responseText) as Record<string, unknown>; } catch { body = null; }
      const retry = Number(xhr.getResponseHeader('retry-after'));
      resolve({ status: xhr.status, body, retryAfterMs: Number.isFinite(retry) && retry > 0 ? retry * 1000 : null });
    };
    xhr.onerror = () => reject(new ChunkCut('the connection dropped'));
    xhr.ontimeout = () => reject(new ChunkCut('the upload timed out'));
    xhr.onabort = () => reject(new DOMException('Upload cancelled', 'AbortError'));
    signal.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(blob);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => window.setTimeout(resolve, ms));

const mb = (bytes: number): string => `${(bytes / 1_048_576).toFixed(1)} MB`;

/** How far the server got (also finishes an upload whose last answer was lost). */
const progressOf = (url: string, signal: AbortSignal): Promise<UploadProgress> => api<UploadProgress>('GET', url, { signal });

export async function uploadMedia(productId: string, file: File, events: UploadEvents, signal: AbortSignal): Promise<Uploaded> {
  const contentType = file.type || 'application/octet-stream';
  const start = await api<MediaUploadStart>('POST', `/v1/products/${productId}/media`, {
    body: { contentType, bytes: file.size, fileName: file.name.slice(0, 255) || undefined }, signal,
  });
  const chunk = Math.max(64 * 1024, Math.min(start.chunkBytes || CHUNK_CAP, start.maxChunkBytes || CHUNK_CAP, CHUNK_CAP));
  let offset = 0;
  let retries = 0;
  events.onProgress(0, file.size);
  while (offset < file.size) {
    const blob = file.slice(offset, Math.min(file.size, offset + chunk));
    let answer: ChunkAnswer;
    try {
      const from = offset;
      answer = await putChunk(start.uploadUrl, blob, from, file.size, contentType, (sent) => events.onProgress(from + sent, file.size), signal);
    } catch (error) {
      if (!(error instanceof ChunkCut) || retries >= MAX_RETRIES) throw error;
      retries++;
      events.onNote(`Connection lost at ${mb(offset)}; resuming…`);
      await sleep(Math.min(8000, 500 * 2 ** (retries - 1)));
      offset = (await progressOf(start.uploadUrl, signal)).receivedBytes;
      events.onNote(`Resumed from ${mb(offset)} of ${mb(file.size)}.`);
      continue;
    }
    const body = answer.body ?? {};
    if (answer.status === 200) {
      offset = Number(body.receivedBytes ?? offset + blob.size);
      retries = 0;
      events.onProgress(offset, file.size);
      if (body.status === 'ready' && typeof body.url === 'string') return { mediaId: start.mediaId, url: body.url };
      continue;
    }
    // Out of place (an earlier chunk landed after all) or another chunk still running: ask where it stands.
    if (answer.status === 409 && typeof body.receivedBytes === 'number') { offset = body.receivedBytes; continue; }
    if ((answer.status === 409 || answer.status >= 500) && retries < MAX_RETRIES) {
      retries++;
      await sleep(answer.retryAfterMs ?? Math.min(8000, 500 * 2 ** (retries - 1)));
      offset = (await progressOf(start.uploadUrl, signal)).receivedBytes;
      continue;
    }
    const problem = body as Partial<Problem>;
    throw new ApiError(answer.status, {
      type: problem.type ?? 'about:blank', title: problem.title ?? 'Upload failed', status: answer.status,
      detail: problem.detail ?? `The upload was refused (${answer.status})`, errors: problem.errors,
    }, null);
  }
  const done = await progressOf(start.uploadUrl, signal);
  if (done.status !== 'ready' || !done.url) throw new Error(done.failure ?? 'The upload did not complete');
  return { mediaId: start.mediaId, url: done.url };
}
