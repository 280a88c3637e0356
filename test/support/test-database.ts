import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startPgliteServer } from './pglite-server.js';

/**
 * The Postgres the pgvector half of the tests and bench:pgvector run against. By default a PGlite
 * server of their own (Postgres in WebAssembly, nothing to install); with TEST_DATABASE_URL set, a
 * real Postgres server with the pgvector extension available, on which each caller gets a database
 * of its own, made afresh and dropped after, so test files running at once on one server never
 * see each other's rows, manifest or advisory locks.
 */
export interface TestDatabase {
  /** Where the service under test connects (DATABASE_URL). */
  url: string;
  /** What it is, for reports: "PGlite" or the server's version. */
  engine: string;
  /** Stops the PGlite server, or drops the database made for this caller. */
  close(): Promise<void>;
}

export type DatabaseTarget = { kind: 'pglite' } | { kind: 'server'; url: string };

/** Which Postgres the environment asks for: TEST_DATABASE_URL when set and not blank, PGlite otherwise. */
export function databaseTarget(env: NodeJS.ProcessEnv = process.env): DatabaseTarget {
  const url = env.TEST_DATABASE_URL?.trim();
  if (!url) return { kind: 'pglite' };
  if (!/^postgres(ql)?:\/\//.test(url)) throw new Error(`TEST_DATABASE_URL must be a postgres:// URL, got ${JSON.stringify(url)}`);
  return { kind: 'server', url };
}

/** The same server, credentials and options, another database. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function onServer<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'nim-rag-tests' });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function serverDatabase(serverUrl: string): Promise<TestDatabase> {
  const name = `nim_rag_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const version = await onServer(serverUrl, async (client) => {
    await client.query(`CREATE DATABASE ${name}`);
    return (await client.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version ?? 'unknown';
  });
  const url = withDatabase(serverUrl, name);
  try {
    // The service creates the extension itself when its role may; made here so a test role need not be a superuser.
    const pgvector = await onServer(url, async (client) => {
      await client.query('CREATE EXTENSION IF NOT EXISTS vector');
      return (await client.query<{ extversion: string }>("SELECT extversion FROM pg_extension WHERE extname = 'vector'")).rows[0]?.extversion;
    });
    return {
      url,
      engine: `Postgres ${version.split(' ')[0]}, pgvector ${pgvector}`,
      close: () => onServer(serverUrl, async (client) => void (await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))),
    };
  } catch (error) {
    await onServer(serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name}`)).catch(() => undefined);
    throw new Error(`TEST_DATABASE_URL: the server has no pgvector extension to create (${String(error)})`, { cause: error });
  }
}

/** A database for one test file or bench run, on the target the environment names. */
export async function openTestDatabase(env: NodeJS.ProcessEnv = process.env): Promise<TestDatabase> {
  const target = databaseTarget(env);
  if (target.kind === 'server') return serverDatabase(target.url);
  const server = await startPgliteServer();
  return { url: server.url, engine: 'PGlite', close: () => server.stop() };
}
