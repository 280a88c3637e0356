import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/**
 * Real Postgres (PGlite: Postgres compiled to WebAssembly) with the pgvector extension, served
 * over the Postgres wire protocol in its own process, so the service under test connects with its
 * ordinary driver and DATABASE_URL. One query runs at a time; a transaction keeps its connection's
 * turn until it ends. Run directly it serves until SIGTERM, which closes the database cleanly.
 */

export interface PgliteServer {
  url: string;
  port: number;
  /** Stops the server cleanly (the data directory, if any, keeps its data). */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Starts a PGlite server process; with `dataDir`, its data survive a stop and a start on the same directory. */
export async function startPgliteServer(options: { dataDir?: string; port?: number } = {}): Promise<PgliteServer> {
  // Liftoff only: optimising Postgres's WebAssembly in the background cost about 1.5 s of CPU per
  // server, more than a test's few hundred queries win back from the faster code.
  const child = spawn(process.execPath, ['--liftoff-only', '--import', 'tsx', fileURLToPath(import.meta.url)], {
    env: { ...process.env, PGLITE_DATA_DIR: options.dataDir ?? '', PGLITE_PORT: String(options.port ?? 0) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`PGlite server did not start: ${output}`)), 60_000);
    child.stdout?.on('data', (data: Buffer) => {
      output += data.toString();
      const ready = /listening on port (\d+)/.exec(output);
      if (ready) {
        clearTimeout(timer);
        resolve(Number(ready[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`PGlite server exited with ${code}: ${output}`));
    });
  });
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    port,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * A freshly initialised cluster, kept between runs: initdb in WebAssembly takes about 13 s, loading
 * this under 2 s. Not compressed: gunzipping its 40 MB cost every server start a few hundred ms.
 */
const TEMPLATE = join(tmpdir(), 'nim-rag-test-pglite-0.5.14.tar');

async function template(): Promise<Blob> {
  try {
    return new Blob([await readFile(TEMPLATE)]);
  } catch {
    const db = await PGlite.create({ extensions: { vector } });
    const dump = Buffer.from(await (await db.dumpDataDir('none')).arrayBuffer());
    await db.close();
    const temporary = `${TEMPLATE}.${process.pid}`;
    await writeFile(temporary, dump);
    await rename(temporary, TEMPLATE);
    return new Blob([dump]);
  }
}

async function isEmpty(dir: string | undefined): Promise<boolean> {
  if (!dir) return true;
  return (await readdir(dir).catch(() => [])).length === 0;
}

async function serve(): Promise<void> {
  const dataDir = process.env.PGLITE_DATA_DIR || undefined;
  const loadDataDir = (await isEmpty(dataDir)) ? await template() : undefined;
  const db = await PGlite.create({ dataDir, loadDataDir, extensions: { vector } });
  const server = new PGLiteSocketServer({ db, port: Number(process.env.PGLITE_PORT ?? 0), host: '127.0.0.1', maxConnections: 100 });
  await server.start();
  process.stdout.write(`listening on port ${server.getServerConn().split(':').at(-1)}\n`);
  process.once('SIGTERM', () => {
    void server
      .stop()
      .then(() => db.close())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          process.stderr.write(`PGlite did not close cleanly: ${String(error)}\n`);
          process.exit(1);
        },
      );
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await serve();
