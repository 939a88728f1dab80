/**
 * The API client: JSON in and out, the signed-in user's bearer token, and errors as
 * ApiError carrying the problem+json body (with its per-field `errors`) and Retry-After.
 */
import type { FieldError, Problem, Session } from './types';
import { readStored, store, writeStored } from './store';

const SESSION_KEY = 'sf:session';

export const session = store<Session | null>(readStored<Session | null>(SESSION_KEY, null));
session.subscribe((value) => writeStored(SESSION_KEY, value));

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
    /** From Retry-After (503, 429 rate-limited): how long to wait before trying again. */
    readonly retryAfterMs: number | null,
  ) {
    super(problem.detail || problem.title);
  }

  /** The problem's slug: the last part of its `type` (e.g. "sold-out", "limit-exceeded"). */
  get slug(): string {
    return this.problem.type.split('/').pop() ?? '';
  }

  get fieldErrors(): FieldError[] {
    return this.problem.errors ?? [];
  }
}

/** The request never got an answer (offline, connection cut): its outcome is unknown. */
export class NetworkError extends Error {}

export interface RequestOptions { body?: unknown; headers?: Record<string, string>; signal?: AbortSignal }

function retryAfterMs(header: string | null): number | null {
  if (header === null) return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}

export async function api<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  const current = session.get();
  if (current) headers.authorization = `Bearer ${current.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, {
      method, headers, signal: options.signal, credentials: 'omit',
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    throw new NetworkError(`Could not reach the shop: ${(error as Error).message}`);
  }
  const text = await res.text();
  let body: unknown = undefined;
  if (text) {
    try { body = JSON.parse(text); } catch { body = undefined; }
  }
  if (res.ok) return body as T;
  const problem: Problem = body && typeof body === 'object' && 'title' in body
    ? (body as Problem)
    : { type: 'about:blank', title: res.statusText || 'Error', status: res.status, detail: `The shop answered ${res.status}` };
  // An expired or revoked token: sign out, so the next step asks to log in again.
  if (res.status === 401 && current) session.set(null);
  throw new ApiError(res.status, problem, retryAfterMs(res.headers.get('retry-after')));
}

/** A random UUID, also where crypto.randomUUID is missing (pages served over plain http to another host). */
export function newKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A sentence for any error, for a form's alert. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.problem.detail || error.problem.title;
  if (error instanceof Error) return error.message;
  return String(error);
}
