/** Bulk load with COPY … FROM STDIN (CSV), streamed through pg-copy-streams. */
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { from as copyFrom } from 'pg-copy-streams';
import type { PoolClient } from './db.js';

export type CopyValue = string | number | null;

function csvField(value: CopyValue): string {
  if (value === null) return '';
  const text = String(value);
  return `"${text.replace(/"/g, '""')}"`;
}

function* csvLines(rows: Iterable<CopyValue[]>): Generator<string> {
  let chunk = '';
  for (const row of rows) {
    chunk += row.map(csvField).join(',') + '\n';
    if (chunk.length > 64 * 1024) { yield chunk; chunk = ''; }
  }
  if (chunk) yield chunk;
}

/** Copies rows (columns in table order, or as `columns` names them) into `table`. */
export async function copyRows(client: PoolClient, table: string, rows: Iterable<CopyValue[]>, columns?: string[]): Promise<void> {
  const target = columns ? `${table} (${columns.join(', ')})` : table;
  const sink = client.query(copyFrom(`COPY ${target} FROM STDIN WITH (FORMAT csv)`));
  await pipeline(Readable.from(csvLines(rows)), sink);
}
