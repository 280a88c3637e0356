import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { databaseTarget, openTestDatabase, withDatabase } from '../support/test-database.js';

const query = async <T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> => {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
};

describe('the Postgres the pgvector tests run against', () => {
  it('is PGlite unless TEST_DATABASE_URL names a server, and refuses a URL that is not Postgres', () => {
    assert.deepEqual(databaseTarget({}), { kind: 'pglite' });
    assert.deepEqual(databaseTarget({ TEST_DATABASE_URL: '  ' }), { kind: 'pglite' });
    assert.deepEqual(databaseTarget({ TEST_DATABASE_URL: 'postgres://rag:secret@db:5432/rag' }), { kind: 'server', url: 'postgres://rag:secret@db:5432/rag' });
    assert.deepEqual(databaseTarget({ TEST_DATABASE_URL: 'postgresql://db/rag' }), { kind: 'server', url: 'postgresql://db/rag' });
    assert.throws(() => databaseTarget({ TEST_DATABASE_URL: 'mysql://db/rag' }), /TEST_DATABASE_URL must be a postgres:\/\/ URL/);
  });

  it('gives each caller a database of its own on that server, keeping credentials and options', () => {
    assert.equal(withDatabase('postgres://rag:s%40cret@db:5433/rag?sslmode=require', 'nim_rag_test_1'), 'postgres://rag:s%40cret@db:5433/nim_rag_test_1?sslmode=require');
    assert.equal(withDatabase('postgres://db', 'x'), 'postgres://db/x');
  });

  it('on TEST_DATABASE_URL\'s server: two callers get two databases with pgvector, each dropped when closed', { skip: databaseTarget().kind === 'pglite' && 'TEST_DATABASE_URL is not set' }, async () => {
    const [one, two] = await Promise.all([openTestDatabase(), openTestDatabase()]);
    assert.notEqual(one.url, two.url);
    assert.match(one.engine, /^Postgres \d+.*, pgvector \d+\.\d+/);
    await query(one.url, 'CREATE TABLE only_here (n int)');
    assert.deepEqual(await query(two.url, "SELECT to_regclass('only_here') AS found"), [{ found: null }]);
    const names = [new URL(one.url).pathname.slice(1), new URL(two.url).pathname.slice(1)];
    await Promise.all([one.close(), two.close()]);
    const left = await query<{ datname: string }>(withDatabase(one.url, 'postgres'), 'SELECT datname FROM pg_database WHERE datname = ANY($1)', [names]);
    assert.deepEqual(left, []);
  });
});
