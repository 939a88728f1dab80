/** Hooks the pages share: loading data, polling it live, ticking clocks, the page title. */
import { useEffect, useRef, useState } from 'preact/hooks';

export type Loaded<T> = { state: 'loading' } | { state: 'ok'; value: T } | { state: 'error'; error: unknown };

/**
 * Loads `load()` now, and again every `every` ms (0: once; a function is asked before each
 * tick). Rounds start on a fixed cadence, each one period after the previous one was due,
 * whatever its round trip (a 1 s period: a round each second); while the page is hidden
 * only every fifth tick runs. A tick that finds the previous round still in flight is
 * skipped, so rounds never overlap. `reload` runs one at once.
 */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[], every: number | (() => number) = 0): [Loaded<T>, () => void] {
  const [result, setResult] = useState<Loaded<T>>({ state: 'loading' });
  const trigger = useRef<() => void>(() => undefined);
  const interval = useRef(every);
  interval.current = every;
  useEffect(() => {
    setResult({ state: 'loading' });
    const controller = new AbortController();
    const periodMs = (): number => (typeof interval.current === 'function' ? interval.current() : interval.current);
    let timer = 0;
    let due = 0;
    let ticks = 0;
    let running = false;
    let stopped = false;
    const round = async () => {
      if (running || stopped) return;
      const live = periodMs() > 0;
      running = true;
      try {
        const value = await load(controller.signal);
        if (!stopped) setResult({ state: 'ok', value });
      } catch (error) {
        if (!stopped && (error as Error).name !== 'AbortError') {
          // A live view keeps its last good value through a failed round.
          setResult((previous) => (live && previous.state === 'ok' ? previous : { state: 'error', error }));
        }
      } finally {
        running = false;
      }
    };
    const schedule = () => {
      const period = periodMs();
      if (stopped || period <= 0) return;
      const now = Date.now();
      due = due + period < now ? now + period : due + period; // fallen behind (a sleeping laptop): start afresh
      timer = window.setTimeout(tick, due - now);
    };
    function tick() {
      schedule();
      ticks++;
      if (!document.hidden || ticks % 5 === 0) void round();
    }
    const restart = () => {
      window.clearTimeout(timer);
      due = Date.now();
      schedule();
    };
    trigger.current = () => void round();
    void round();
    restart();
    const onVisible = () => {
      if (document.hidden) return;
      void round();
      restart();
    };
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
