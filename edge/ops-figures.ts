/**
 * Figures read out of prom-client metric JSON (the merged registry of every process):
 * sums by label, cumulative histogram buckets, and quantiles of the difference
 * between two readings, computed the way Prometheus's histogram_quantile does.
 */
import type { MetricJson } from '../common/metrics.js';

type Labels = Record<string, string | number>;
type Filter = (labels: Labels) => boolean;

const all: Filter = () => true;

function find(metrics: MetricJson[], name: string): MetricJson | undefined {
  return metrics.find((m) => m.name === name);
}

/** Sum of a counter's or gauge's values grouped by one label. */
export function sumBy(metrics: MetricJson[], name: string, label: string, filter: Filter = all): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of find(metrics, name)?.values ?? []) {
    const labels = v.labels as Labels;
    if (!filter(labels)) continue;
    const key = String(labels[label] ?? '');
    out[key] = (out[key] ?? 0) + v.value;
  }
  return out;
}

/** Values of a gauge grouped by one label, keeping the largest. */
export function maxBy(metrics: MetricJson[], name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of find(metrics, name)?.values ?? []) {
    const key = String((v.labels as Labels)[label] ?? '');
    out[key] = Math.max(out[key] ?? -Infinity, v.value);
  }
  return out;
}

/** A histogram reading: cumulative counts per upper bound (Infinity last), with sum and count. */
export interface Buckets { bounds: number[]; counts: number[]; sum: number; count: number }

export function histogram(metrics: MetricJson[], name: string, filter: Filter = all): Buckets {
  const byBound = new Map<number, number>();
  let sum = 0;
  let count = 0;
  for (const v of find(metrics, name)?.values ?? []) {
    const labels = v.labels as Labels;
    const metricName = (v as { metricName?: string }).metricName;
    const { le, ...rest } = labels;
    if (!filter(rest)) continue;
    if (metricName === `${name}_bucket`) {
      const bound = le === '+Inf' ? Infinity : Number(le);
      byBound.set(bound, (byBound.get(bound) ?? 0) + v.value);
    } else if (metricName === `${name}_sum`) sum += v.value;
    else if (metricName === `${name}_count`) count += v.value;
  }
  const bounds = [...byBound.keys()].sort((a, b) => a - b);
  return { bounds, counts: bounds.map((b) => byBound.get(b)!), sum, count };
}

/** What was observed between two readings of the same histogram. */
export function bucketDelta(now: Buckets, before: Buckets): Buckets {
  const earlier = new Map(before.bounds.map((b, i) => [b, before.counts[i]!]));
  // A process that restarted counts from zero again: never report a negative delta.
  return {
    bounds: now.bounds,
    counts: now.bounds.map((b, i) => Math.max(0, now.counts[i]! - (earlier.get(b) ?? 0))),
    sum: Math.max(0, now.sum - before.sum),
    count: Math.max(0, now.count - before.count),
  };
}

/** The q-quantile (0..1) of a histogram by linear interpolation in its bucket; null when empty. */
export function quantile(q: number, h: Buckets): number | null {
  const total = h.counts[h.counts.length - 1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  for (let i = 0; i < h.bounds.length; i++) {
    const upTo = h.counts[i]!;
    if (upTo < rank) continue;
    const upper = h.bounds[i]!;
    const lower = i === 0 ? 0 : h.bounds[i - 1]!;
    if (upper === Infinity) return lower;
    const below = i === 0 ? 0 : h.counts[i - 1]!;
    const inBucket = upTo - below;
    return inBucket > 0 ? lower + (upper - lower) * ((rank - below) / inBucket) : upper;
  }
  return h.bounds[h.bounds.length - 2] ?? null;
}

/** Seconds to rounded milliseconds. */
export function ms(seconds: number | null): number | null {
  return seconds === null ? null : Math.round(seconds * 100_000) / 100;
}
