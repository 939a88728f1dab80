/**
 * Applies schema.sql (idempotent) and then each migrations/NNN_name.sql once, in
 * order, under an advisory lock so processes starting together do not race.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Pool } from './db.js';

const LOCK_ID = 4_711_001;

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'schema.sql'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('schema.sql not found');
    dir = parent;
  }
  return dir;
}

export async function migrate(pool: Pool): Promise<string[]> {
  const root = repoRoot();
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_ID]);
    await client.query(readFileSync(join(root, 'schema.sql'), 'utf8'));
    const dir = join(root, 'migrations');
    const files = existsSync(dir) ? readdirSync(dir).filter((f) => /^\d+_.+\.sql$/.test(f)).sort() : [];
    for (const file of files) {
      const done = await client.query('SELECT 1 FROM schema_migrations WHERE version = $1', [file]);
      if (done.rowCount) continue;
      await client.query('BEGIN');
      await client.query(readFileSync(join(dir, file), 'utf8'));
      await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [file]);
      await client.query('COMMIT');
      applied.push(file);
    }
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_ID]).catch(() => undefined);
    client.release();
  }
  return applied;
}
