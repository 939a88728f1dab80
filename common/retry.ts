/**
 * The one place retries with backoff live: capped exponential backoff with full
 * jitter, retrying only errors that say a retry can help.
 */
export interface RetryOptions {
  retries: number;
  baseMs: number;
  maxMs: number;
  isRetriable?: (error: unknown) => boolean;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** attempt);
  return Math.floor(Math.random() * ceiling);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function retry<T>(operation: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      const retriable = options.isRetriable ? options.isRetriable(error) : true;
      if (!retriable || attempt >= options.retries) throw error;
      const delay = backoffMs(attempt, options.baseMs, options.maxMs);
      options.onRetry?.(error, attempt + 1, delay);
      await sleep(delay);
    }
  }
}
