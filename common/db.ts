/** The Postgres pool. */
import pg from 'pg';

// bigint columns (money, counts) come back as numbers: amounts here stay far below 2^53.
pg.types.setTypeParser(20, (value) => Number(value));

/**
 * Every connection runs with JIT off: this is short OLTP work, and Postgres compiles any
 * plan it estimates above jit_above_cost. The order writer's batch statement is such a
 * plan (jsonb_to_recordset is guessed at 100 rows an order): compiling took more than the
 * statement itself, 87 ms against 40 ms for 2,000 orders (BENCHMARKS.md, bench:persist).
 */
const PG_DEFAULTS: Record<string, string> = { jit: 'off' };

/** `settings` are further server settings for every connection of the pool (e.g. `{ plan_cache_mode: … }`). */
export function createPool(connectionString: string, max = 10, settings: Record<string, string> = {}): pg.Pool {
  const options = Object.entries({ ...PG_DEFAULTS, ...settings }).map(([name, value]) => `-c ${name}=${value}`).join(' ');
  const pool = new pg.Pool({ connectionString, max, connectionTimeoutMillis: 5_000, ...(options ? { options } : {}) });
  pool.on('error', () => {
    // an idle client lost its connection; the next checkout reconnects
  });
  // A checked-out client has no pool listener: a server shutting down (57P01) between two of
  // its queries would be an unhandled 'error' and end the process. Its next query fails instead.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}
export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

/** Runs `work` in a transaction on one pooled client: COMMIT on success, ROLLBACK on any error. */
export async function withTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
