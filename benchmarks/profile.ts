/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and per area
 * (a package in node_modules, a project folder, Node internals, GC, idle).
 * Also runnable: node dist/benchmarks/profile.js FILE.cpuprofile [TOP]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

export interface ProfileSummary {
  file: string;
  totalMs: number;
  busyShare: number;
  top: { name: string; where: string; selfMs: number; share: number }[];
  byArea: { area: string; selfMs: number; share: number }[];
}

function areaOf(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native / V8)';
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules) return modules[1]!;
  if (url.startsWith('node:')) return 'node internals';
  const project = /\/dist\/([^/]+\/[^/]+?)\.js$/.exec(url);
  if (project) return `project: ${project[1]}`;
  return url;
}

function whereOf(url: string, line: number): string {
  if (!url) return '';
  const short = url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules|dist)\//, '$1/');
  return `${short}:${line + 1}`;
}

/** Monotonic clock in µs, the clock of V8's profile timestamps (CLOCK_MONOTONIC, shared by all processes). */
export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

/** `window` (monotonic µs, as monotonicUs() reads it) keeps only the samples taken inside it. */
export function summariseProfile(file: string, topN = 25, window?: { fromUs: number; toUs: number }): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (window && (at < window.fromUs || at > window.toUs)) return;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  });
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0) || 1;

  const fns = new Map<string, { name: string; where: string; us: number }>();
  const areas = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const name = functionName || '(anonymous)';
    if (name === '(idle)') idle += us;
    const key = `${name}@${url}:${lineNumber}`;
    const entry = fns.get(key) ?? { name, where: whereOf(url, lineNumber), us: 0 };
    entry.us += us;
    fns.set(key, entry);
    const area = areaOf(url, name);
    areas.set(area, (areas.get(area) ?? 0) + us);
  }
  return {
    file,
    totalMs: total / 1000,
    busyShare: 1 - idle / total,
    top: [...fns.values()].sort((a, b) => b.us - a.us).slice(0, topN)
      .map((f) => ({ name: f.name, where: f.where, selfMs: f.us / 1000, share: f.us / total })),
    byArea: [...areas.entries()].sort((a, b) => b[1] - a[1]).slice(0, topN)
      .map(([area, us]) => ({ area, selfMs: us / 1000, share: us / total })),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node dist/benchmarks/profile.js FILE.cpuprofile [TOP]\n');
    process.exit(2);
  }
  const s = summariseProfile(file, Number(top ?? 30));
  process.stdout.write(`${s.file}: ${Math.round(s.totalMs)} ms sampled, ${Math.round(s.busyShare * 100)}% busy\n\nself time by function:\n`);
  for (const f of s.top) process.stdout.write(`${(f.share * 100).toFixed(1).padStart(5)}%  ${f.selfMs.toFixed(0).padStart(7)} ms  ${f.name}  ${f.where}\n`);
  process.stdout.write('\nself time by area:\n');
  for (const a of s.byArea) process.stdout.write(`${(a.share * 100).toFixed(1).padStart(5)}%  ${a.selfMs.toFixed(0).padStart(7)} ms  ${a.area}\n`);
}
