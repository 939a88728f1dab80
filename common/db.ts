/** The Postgres pool. */
import pg from 'pg';

// bigint columns (money, counts) come back as numbers: amounts here stay far below 2^53.
pg.types.setTypeParser(20, (value) => Number(value));

export function createPool(connectionString: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, connectionTimeoutMillis: 5_000 });
  pool.on('error', () => {
    // an idle client lost its connection; the next checkout reconnects
  });
  return pool;
}
export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
