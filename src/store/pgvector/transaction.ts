import type pg from 'pg';
import { asStoreError, isConnectionError, isRetryable } from './database-errors.js';

const TRANSACTION_ATTEMPTS = 3;

/**
 * Runs `work` in one transaction on one connection of `pool`, for the store and the repositories
 * beside it alike. A transaction lost to a concurrent one (serialisation failure, deadlock) runs
 * again; an unreachable database is a 503. A connection lost between two statements is reported
 * as an event, which unheard would end the process: it goes to `onLost`, and the connection is
 * dropped rather than returned to the pool.
 */
export async function runTransaction<T>(pool: pg.Pool, work: (client: pg.ClientBase) => Promise<T>, onLost: (error: Error) => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw asStoreError(error);
    }
    let broken = false;
    const lost = (error: Error) => {
      broken = true;
      onLost(error);
    };
    client.on('error', lost);
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      broken ||= isConnectionError(error);
      if (!broken) await client.query('ROLLBACK').catch(() => undefined);
      if (isRetryable(error) && attempt < TRANSACTION_ATTEMPTS) continue;
      throw asStoreError(error);
    } finally {
      client.off('error', lost);
      client.release(broken);
    }
  }
}
