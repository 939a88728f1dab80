/**
 * Media upload to the signed URL (edge/routes/media.ts): POST /v1/products/{id}/media
 * declares the file and answers the URL; the bytes go in chunks (PUT with Content-Range),
 * each starting where the server's copy ends. XMLHttpRequest, not fetch: it reports
 * upload progress, which the progress bar shows.
 *
 * Made for hotel wifi:
 *  - a chunk that is cut (connection dropped or hung, a 5xx) costs only itself: the
 *    uploader asks the URL how far it got (GET → receivedBytes) and goes on from there;
 *  - while the shop cannot be reached, the chunk and the status read are retried with
 *    capped backoff, the page counting down "Connection lost, retrying in N s", for up
 *    to OFFLINE_LIMIT_MS without a single answer;
 *  - the upload session (signed URL and its expiry) is remembered in localStorage under
 *    the product and the file's name, size and last-modified time, so choosing the same
 *    file again, after a reload or a failed attempt, resumes from the server's offset
 *    instead of byte 0. It is forgotten once the upload is complete, has failed for good,
 *    or its URL has expired.
 */
import { api, ApiError, NetworkError } from './api';
import { readStored, writeStored } from './store';
import type { MediaUploadStart, Problem, UploadProgress } from './types';

/** Chunks at most this large: a cut costs little, and the progress bar moves smoothly. */
const CHUNK_CAP = 1024 * 1024;
/** How long the uploader keeps trying with no answer at all before it gives the decision back (the session stays remembered). */
const OFFLINE_LIMIT_MS = 2 * 60_000;
const FIRST_WAIT_MS = 500;
const MAX_WAIT_MS = 8_000;
/** A chunk with no upload progress for this long counts as cut (a connection that hangs rather than drops). */
const STALL_MS = 30_000;
/** Once a chunk is sent, how long its answer may take (the last one moves the whole file into the media store). */
const ANSWER_WAIT_MS = 5 * 60_000;
/** A status read with no answer for this long counts as cut. */
const STATUS_TIMEOUT_MS = 15_000;
/** A remembered session is not resumed when its URL has less than this left to live. */
const EXPIRY_MARGIN_MS = 60_000;

export interface UploadEvents {
  onProgress: (sentBytes: number, totalBytes: number) => void;
  /** A line for the seller next to the progress bar (null clears it). */
  onNote: (note: string | null) => void;
}

export interface Uploaded { mediaId: string; url: string; contentType: string }

/** The uploader gave up after OFFLINE_LIMIT_MS without an answer; the same file chosen again resumes. */
export class UploadInterrupted extends Error {}

class ChunkCut extends Error {}

interface ChunkAnswer { status: number; body: Record<string, unknown> | null; retryAfterMs: number | null }

/** What is kept of an upload under way, so that it can be resumed. */
interface UploadSession { mediaId: string; uploadUrl: string; expiresAt: string; chunkBytes: number; fileName: string; contentType: string }

const SESSION_PREFIX = 'sf:upload:';

const sessionKey = (productId: string, file: File): string => `${SESSION_PREFIX}${productId}:${file.size}:${file.lastModified}:${file.name}`;

const usable = (session: UploadSession | null): session is UploadSession =>
  session !== null && Date.parse(session.expiresAt) - Date.now() > EXPIRY_MARGIN_MS;

/** Every remembered session key of this browser (none when storage is disabled). */
function sessionKeys(): string[] {
  try {
    return Object.keys(localStorage).filter((key) => key.startsWith(SESSION_PREFIX));
  } catch {
    return [];
  }
}

/** The names of the files whose upload to `productId` was cut short and can still be resumed. */
export function interruptedUploads(productId: string): string[] {
  return sessionKeys()
    .filter((key) => key.startsWith(`${SESSION_PREFIX}${productId}:`))
    .map((key) => readStored<UploadSession | null>(key, null))
    .filter(usable)
    .map((session) => session.fileName);
}

function forgetExpiredSessions(): void {
  for (const key of sessionKeys()) if (!usable(readStored<UploadSession | null>(key, null))) writeStored(key, null);
}

function putChunk(url: string, blob: Blob, start: number, total: number, contentType: string,
  onSent: (bytes: number) => void, signal: AbortSignal): Promise<ChunkAnswer> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    let stalled = false;
    let watchdog = 0;
    const watch = (ms: number) => {
      window.clearTimeout(watchdog);
      watchdog = window.setTimeout(() => { stalled = true; xhr.abort(); }, ms);
    };
    const cancel = () => xhr.abort();
    const settle = () => { window.clearTimeout(watchdog); signal.removeEventListener('abort', cancel); };
    xhr.open('PUT', url);
    xhr.setRequestHeader('content-type', contentType);
    xhr.setRequestHeader('content-range', `bytes ${start}-${start + blob.size - 1}/${total}`);
    xhr.upload.onprogress = (e) => { watch(STALL_MS); onSent(e.loaded); };
    xhr.upload.onload = () => watch(ANSWER_WAIT_MS);
    xhr.onload = () => {
      settle();
      let body: Record<string, unknown> | null = null;
      try { body = JSON.parse(xhr.responseText) as Record<string, unknown>; } catch { body = null; }
      const retry = Number(xhr.getResponseHeader('retry-after'));
      resolve({ status: xhr.status, body, retryAfterMs: Number.isFinite(retry) && retry > 0 ? retry * 1000 : null });
    };
    xhr.onerror = () => { settle(); reject(new ChunkCut('the connection dropped')); };
    xhr.onabort = () => {
      settle();
      reject(stalled ? new ChunkCut('the connection stalled') : new DOMException('Upload cancelled', 'AbortError'));
    };
    if (signal.aborted) { reject(new DOMException('Upload cancelled', 'AbortError')); return; }
    signal.addEventListener('abort', cancel, { once: true });
    watch(STALL_MS);
    xhr.send(blob);
  });
}

/** Waits `ms`, telling the seconds left each second; ends early when the browser is back online; rejects on cancel. */
function countdown(ms: number, tell: (secondsLeft: number) => void, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const end = Date.now() + ms;
    let timer = 0;
    const finish = () => {
      window.clearTimeout(timer);
      window.removeEventListener('online', finish);
      signal.removeEventListener('abort', cancel);
      resolve();
    };
    const cancel = () => { finish(); reject(new DOMException('Upload cancelled', 'AbortError')); };
    const step = () => {
      const left = end - Date.now();
      if (left <= 0) { finish(); return; }
      tell(Math.ceil(left / 1000));
      timer = window.setTimeout(step, ((left - 1) % 1000) + 1); // wakes when the shown second changes
    };
    if (signal.aborted) { cancel(); return; }
    window.addEventListener('online', finish);
    signal.addEventListener('abort', cancel, { once: true });
    step();
  });
}

const mb = (bytes: number): string => `${(bytes / 1_048_576).toFixed(1)} MB`;

/** One upload's patience: capped backoff between tries, and a limit on how long the shop may stay out of reach. */
class Patience {
  private troubleSince: number | null = null;
  private tries = 0;

  constructor(private readonly events: UploadEvents, private readonly signal: AbortSignal) {}

  /** An answer came: the next trouble starts its backoff afresh. */
  answered(): void {
    this.troubleSince = null;
    this.tries = 0;
  }

  /** Waits before trying again (after Retry-After when the shop said so); throws once it has been too long. */
  async wait(reason: 'offline' | 'busy', retryAfterMs: number | null = null): Promise<void> {
    const now = Date.now();
    this.troubleSince ??= now;
    if (now - this.troubleSince >= OFFLINE_LIMIT_MS) {
      throw new UploadInterrupted(`The connection has been down for over ${OFFLINE_LIMIT_MS / 60_000} minutes. What arrived is kept: `
        + 'upload the same file again to go on from there.');
    }
    const backoff = Math.min(MAX_WAIT_MS, FIRST_WAIT_MS * 2 ** this.tries++);
    const ms = Math.min(retryAfterMs ?? backoff, OFFLINE_LIMIT_MS - (now - this.troubleSince));
    const what = reason === 'offline' ? 'Connection lost' : 'The shop is busy';
    await countdown(ms, (seconds) => this.events.onNote(`${what}, retrying in ${seconds} s`), this.signal);
  }
}

/** `signal`, also aborted after `ms` (as a TimeoutError, which the API client reports as no answer); as is where browsers lack AbortSignal.any. */
const withTimeout = (signal: AbortSignal, ms: number): AbortSignal =>
  (typeof AbortSignal.any === 'function' ? AbortSignal.any([signal, AbortSignal.timeout(ms)]) : signal);

/** Whether an error of a request means "no usable answer, try again": no connection, or a 5xx. */
const transient = (error: unknown): error is NetworkError | ApiError =>
  error instanceof NetworkError || (error instanceof ApiError && error.status >= 500);

function refused(status: number, body: Record<string, unknown>): ApiError {
  const problem = body as Partial<Problem>;
  return new ApiError(status, {
    type: problem.type ?? 'about:blank', title: problem.title ?? 'Upload failed', status,
    detail: problem.detail ?? `The upload was refused (${status})`, errors: problem.errors,
  }, null);
}

export async function uploadMedia(productId: string, file: File, events: UploadEvents, signal: AbortSignal): Promise<Uploaded> {
  const key = sessionKey(productId, file);
  const forget = () => writeStored(key, null);
  forgetExpiredSessions();
  const patience = new Patience(events, signal);

  /** How far the server got (this also finishes an upload whose last answer was lost), retried while out of reach. */
  const statusOf = async (session: UploadSession): Promise<UploadProgress> => {
    for (;;) {
      try {
        const progress = await api<UploadProgress>('GET', session.uploadUrl, { signal: withTimeout(signal, STATUS_TIMEOUT_MS) });
        patience.answered();
        return progress;
      } catch (error) {
        if (!transient(error)) throw error;
        await patience.wait(error instanceof ApiError ? 'busy' : 'offline', error instanceof ApiError ? error.retryAfterMs : null);
      }
    }
  };

  /** The remembered session of this very file, with how far it got; null when there is none left to resume. */
  const resumable = async (): Promise<{ session: UploadSession; progress: UploadProgress } | null> => {
    const session = readStored<UploadSession | null>(key, null);
    if (!usable(session)) return null;
    try {
      const progress = await statusOf(session);
      if (progress.status !== 'failed') return { session, progress };
    } catch (error) {
      if (!(error instanceof ApiError)) throw error; // cancelled, or still out of reach: keep it for later
    }
    forget(); // refused (expired, unknown) or failed: start afresh
    return null;
  };

  const begin = async (): Promise<UploadSession> => {
    const contentType = file.type || 'application/octet-stream';
    const start = await api<MediaUploadStart>('POST', `/v1/products/${productId}/media`, {
      body: { contentType, bytes: file.size, fileName: file.name.slice(0, 255) || undefined }, signal,
    });
    const session: UploadSession = {
      mediaId: start.mediaId, uploadUrl: start.uploadUrl, expiresAt: start.expiresAt, fileName: file.name, contentType,
      chunkBytes: Math.max(64 * 1024, Math.min(start.chunkBytes || CHUNK_CAP, start.maxChunkBytes || CHUNK_CAP, CHUNK_CAP)),
    };
    writeStored(key, session);
    return session;
  };

  const earlier = await resumable();
  const session = earlier?.session ?? await begin();
  const done = (url: string): Uploaded => {
    forget();
    events.onProgress(file.size, file.size);
    return { mediaId: session.mediaId, url, contentType: session.contentType };
  };
  /** Where to go on from after a status read: its offset, or the finished upload. */
  const next = (progress: UploadProgress): Uploaded | number => {
    if (progress.status === 'ready' && progress.url) return done(progress.url);
    if (progress.status === 'failed' || progress.receivedBytes >= file.size) {
      forget();
      throw new Error(progress.failure ?? 'The upload did not complete; please start it again');
    }
    return progress.receivedBytes;
  };
  /** After trouble: the server's offset (the status read waits out the trouble), said on the page. */
  const recover = async (): Promise<Uploaded | number> => {
    const resumed = next(await statusOf(session));
    if (typeof resumed === 'number') events.onNote(`Resumed from ${mb(resumed)} of ${mb(file.size)}.`);
    return resumed;
  };

  let offset = 0;
  if (earlier) {
    const resumed = next(earlier.progress);
    if (typeof resumed !== 'number') return resumed;
    offset = resumed;
    events.onNote(`Resuming your earlier upload from ${mb(offset)} of ${mb(file.size)}.`);
  }
  events.onProgress(offset, file.size);

  for (;;) {
    const from = offset;
    const blob = file.slice(from, Math.min(file.size, from + session.chunkBytes));
    const answer = await putChunk(session.uploadUrl, blob, from, file.size, session.contentType, (sent) => events.onProgress(from + sent, file.size), signal)
      .catch((error: unknown) => { if (error instanceof ChunkCut) return null; throw error; });
    const body = answer?.body ?? {};
    if (answer?.status === 200) {
      patience.answered();
      if (body.status === 'ready' && typeof body.url === 'string') return done(body.url);
      offset = Number(body.receivedBytes ?? from + blob.size);
      events.onProgress(offset, file.size);
      if (offset < file.size) continue;
    } else if (answer?.status === 409 && typeof body.receivedBytes === 'number') {
      // Out of place (an earlier chunk landed after all), or complete already: go on from the server's offset.
      patience.answered();
      offset = body.receivedBytes;
      if (offset < file.size) continue;
    } else if (answer === null || answer.status >= 500 || (answer.status === 409 && String(body.type).endsWith('/upload-in-progress'))) {
      // Cut, the shop in trouble, or a chunk of ours still being received: wait, then ask where it stands.
      await patience.wait(answer === null ? 'offline' : 'busy', answer?.retryAfterMs ?? null);
    } else {
      forget(); // refused for good (expired URL, not the declared type, failed): the next try starts afresh
      throw refused(answer.status, body);
    }
    const resumed = await recover();
    if (typeof resumed !== 'number') return resumed;
    offset = resumed;
  }
}
