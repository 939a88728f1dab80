/** Hooks the pages share: loading data, polling it live, ticking clocks, the page title. */
import { useEffect, useRef, useState } from 'preact/hooks';

export type Loaded<T> = { state: 'loading' } | { state: 'ok'; value: T } | { state: 'error'; error: unknown };

/**
 * Loads `load()` now, and again every `every` ms while the page is visible (0: once; a
 * function is asked before each round). A
 * round never overlaps the previous one; `reload` runs one at once.
 */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[], every: number | (() => number) = 0): [Loaded<T>, () => void] {
  const [result, setResult] = useState<Loaded<T>>({ state: 'loading' });
  const trigger = useRef<() => void>(() => undefined);
  const interval = useRef(every);
  interval.current = every;
  useEffect(() => {
    setResult({ state: 'loading' });
    const controller = new AbortController();
    let timer = 0;
    let running = false;
    let stopped = false;
    const round = async () => {
      if (running || stopped) return;
      const everyMs = typeof interval.current === 'function' ? interval.current() : interval.current;
      running = true;
      window.clearTimeout(timer);
      try {
        const value = await load(controller.signal);
        if (!stopped) setResult({ state: 'ok', value });
      } catch (error) {
        if (!stopped && (error as Error).name !== 'AbortError') {
          // A live view keeps its last good value through a failed round.
          setResult((previous) => (everyMs > 0 && previous.state === 'ok' ? previous : { state: 'error', error }));
        }
      } finally {
        running = false;
        if (!stopped && everyMs > 0) timer = window.setTimeout(() => void round(), document.hidden ? everyMs * 5 : everyMs);
      }
    };
    trigger.current = () => void round();
    void round();
    const onVisible = () => { if (!document.hidden) void round(); };
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      stopped = true;
      controller.abort();
      window.clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, deps);
  return [result, () => trigger.current()];
}

/** A number that changes every `ms` (re-renders countdowns); 0 stops the ticking. */
export function useTick(ms: number): number {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (ms <= 0) return undefined;
    const timer = window.setInterval(() => setTick((t) => t + 1), ms);
    return () => window.clearInterval(timer);
  }, [ms]);
  return tick;
}

export function useTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · Flash Sale Shop` : 'Flash Sale Shop';
  }, [title]);
}
