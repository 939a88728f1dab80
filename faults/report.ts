/**
 * The fault matrix's figures: each row's result as JSON (artifacts/faults/results.json,
 * one entry per row id, the latest run of each row) and as the tables of RELIABILITY.md,
 * between its `faults:begin` and `faults:end` markers (the rest of the file is prose).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../test/support/processes.js';
import { INVARIANTS, type RowCheck } from './checks.js';
import { ARTIFACTS } from './stack.js';

export interface RowResult {
  id: string;
  family: string;
  fault: string;
  command: string;
  at: string;
  /** Why it did not run, when it did not. */
  skipped?: string;
  /** Set when the row itself broke (an exception), not an invariant. */
  error?: string;
  windowS?: number;
  load?: { rate: number; seconds: number; connections: number };
  attempted?: number;
  accepted?: number;
  refused503?: number;
  /** Other answers by status and problem type (409 sold-out, 429 limit-exceeded, …). */
  otherAnswers?: Record<string, number>;
  /** Orders never answered (refused connection, reset, client timeout). */
  noAnswer?: number;
  /** Connections the load driver found refused or reset and tried again (the order was sent again). */
  connectionErrors?: number;
  latencyMs?: { p50: number; p99: number; max: number };
  probe?: { sent: number; accepted: number; acceptedP99Ms: number; max503Ms: number; maxMs: number; missingRetryAfter: number };
  recoveryS?: number | null;
  edgeRssMiB?: { start: number; max: number; end: number };
  check?: RowCheck;
  notes?: string[];
}

const RESULTS = join(ARTIFACTS, 'results.json');
const DOC = join(ROOT, 'RELIABILITY.md');
const BEGIN = '<!-- faults:begin -->';
const END = '<!-- faults:end -->';

export function loadResults(): RowResult[] {
  return existsSync(RESULTS) ? JSON.parse(readFileSync(RESULTS, 'utf8')) as RowResult[] : [];
}

/** Saves one row (replacing an earlier run of it), keeping `order` (the matrix's order). */
export function saveResult(result: RowResult, order: string[]): RowResult[] {
  const all = loadResults().filter((r) => r.id !== result.id);
  all.push(result);
  all.sort((a, b) => (order.indexOf(a.id) + 1 || 999) - (order.indexOf(b.id) + 1 || 999));
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(RESULTS, JSON.stringify(all, null, 2) + '\n');
  return all;
}

const s = (ms: number | undefined | null) => (ms === undefined || ms === null ? '–' : (ms / 1000).toFixed(1));
const n = (value: number | undefined) => (value === undefined ? '–' : String(value));
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function others(answers: Record<string, number> | undefined): string {
  const entries = Object.entries(answers ?? {}).filter(([, count]) => count > 0);
  return entries.length ? entries.map(([k, v]) => `${v} × ${k}`).join(', ') : '–';
}

export function tables(results: RowResult[]): string {
  const head1 = '| row | fault | how | window s | attempted | accepted (202) | 503 | other answers | no answer | p50 / p99 / max ms | probe: 503 max / accepted p99 ms | recover s | drain s | edge RSS MiB start / max / end |';
  const rows1 = results.map((r) => r.skipped || r.error
    ? `| ${r.id} | ${cell(r.fault)} | \`${cell(r.command)}\` | ${r.skipped ? `not run: ${cell(r.skipped)}` : `**broke**: ${cell(r.error!)}`} |||||||||||`
    : `| ${r.id} | ${cell(r.fault)} | \`${cell(r.command)}\` | ${r.windowS?.toFixed(1)} | ${n(r.attempted)} | ${n(r.accepted)} | ${n(r.refused503)} | ${cell(others(r.otherAnswers))} | ${n(r.noAnswer)}${r.connectionErrors ? ` (${r.connectionErrors} refused or reset connections retried)` : ''} `
      + `| ${Math.round(r.latencyMs!.p50)} / ${Math.round(r.latencyMs!.p99)} / ${Math.round(r.latencyMs!.max)} | ${Math.round(r.probe!.max503Ms)} / ${Math.round(r.probe!.acceptedP99Ms)} `
      + `| ${s(r.recoveryS === undefined || r.recoveryS === null ? r.recoveryS : r.recoveryS * 1000)} | ${s(r.check?.drainMs)} | ${r.edgeRssMiB!.start} / ${r.edgeRssMiB!.max} / ${r.edgeRssMiB!.end} |`);
  const head2 = `| row | ${INVARIANTS.join(' | ')} | landed late, claimable by retry | dead letters | final statuses |`;
  const rows2 = results.filter((r) => r.check).map((r) => `| ${r.id} | ${INVARIANTS.map((name) => (r.check!.counts[name] === 0 ? '0' : `**${r.check!.counts[name]}**`)).join(' | ')} `
    + `| ${r.check!.lateButClaimable} | ${r.check!.deadLetters} | ${cell(Object.entries(r.check!.statuses).map(([k, v]) => `${k} ${v}`).join(', '))} |`);
  const notes = results.filter((r) => r.notes?.length || (r.check && Object.keys(r.check.examples).length))
    .map((r) => `- **${r.id}** (${r.at.slice(0, 16).replace('T', ' ')} UTC): ${[
      ...(r.notes ?? []),
      ...(r.check && Object.keys(r.check.expiredReasons ?? {}).length ? [`accepted orders that ended expired, by reason: ${JSON.stringify(r.check.expiredReasons)}`] : []),
      ...Object.entries(r.check?.examples ?? {}).map(([k, v]) => `${k} examples: \`${cell(JSON.stringify(v).slice(0, 300))}\``),
    ].join('; ')}`);
  return [
    head1, head1.replace(/[^|]+/g, '---'), ...rows1, '',
    'Invariants, violations counted per row (all zeros expected):', '',
    head2, head2.replace(/[^|]+/g, '---'), ...rows2, '',
    'Row notes:', '', ...notes,
  ].join('\n');
}

/** Rewrites the figures between the markers of RELIABILITY.md (the file must have them). */
export function writeReliabilityTables(results: RowResult[]): void {
  const doc = readFileSync(DOC, 'utf8');
  const from = doc.indexOf(BEGIN);
  const to = doc.indexOf(END);
  if (from < 0 || to < from) throw new Error(`RELIABILITY.md has no ${BEGIN} … ${END} section`);
  writeFileSync(DOC, `${doc.slice(0, from + BEGIN.length)}\n${tables(results)}\n${doc.slice(to)}`);
}
