import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Logger } from 'pino';
import { migrate } from '../store/pgvector/migrations.js';
import type { StagedFile } from '../files/staging.js';
import type { SectionDocument } from './file-service.js';
import { type JobRecord, TERMINAL } from './job-record.js';
import type { CancelOutcome, JobClaim, JobPayload, JobRepository } from './job-repository.js';
import { runTransaction } from '../store/pgvector/transaction.js';

export interface PostgresJobOptions {
  url: string;
  statementTimeoutMs: number;
  /** How long a claim holds without being renewed; the owner renews it several times within. */
  leaseMs: number;
  /** How often idle replicas look for jobs to claim and followers look at a job again. */
  pollIntervalMs: number;
  logger: Logger;
}

/** Connections of this pool, beside the store's: claims and lease renewals, progress saves, reads by followers. */
export const JOB_POOL_SIZE = 3;
/** Staged bytes are stored in parts of this size, so no statement carries a whole large file. */
const PART_BYTES = 1024 ** 2;
const DOCUMENTS_PART = 'documents.json';
/** A job claimed this many times without finishing (its replica died each time) is failed rather than tried again. */
const MAX_CLAIMS = 5;

interface JobRow {
  id: string;
  record: JobRecord;
  cancel_requested: boolean;
  claims: number;
}

class LeaseLostError extends Error {
  constructor(id: string) {
    super(`job ${id}: its lease ran out and another process may have claimed it`);
    this.name = 'LeaseLostError';
  }
}

const LEASE_UNTIL = 'now() + make_interval(secs => $2::float8 / 1000)';

/**
 * Jobs in Postgres beside the pgvector store, shared by every replica: a row per job (its record,
 * per-file progress included) and its staged payload (files' bytes, or a documents job's documents)
 * in `bytea` parts, so the replica that resumes a job needs no shared volume. A replica claims the
 * oldest claimable job with `FOR UPDATE SKIP LOCKED` and a lease (a token and an expiry) that it
 * renews while it runs the job; a replica that dies stops renewing, and once the lease has expired
 * another one claims the job and resumes it from its saved progress. Every write of the owner is
 * conditional on its token, so a replica that lost its lease cannot write over the new owner.
 */
export class PostgresJobRepository implements JobRepository {
  readonly pollIntervalMs: number;
  private readonly pool: pg.Pool;
  private schema: Promise<void> | undefined;
  private readonly owner = `${hostname()} pid ${process.pid}`;

  private constructor(
    readonly options: PostgresJobOptions,
    readonly stagingDir: string,
  ) {
    this.pollIntervalMs = options.pollIntervalMs;
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: JOB_POOL_SIZE,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30_000,
      application_name: 'nim-rag-service jobs',
      ...(options.statementTimeoutMs > 0 ? { statement_timeout: options.statementTimeoutMs } : {}),
    });
    // An idle connection the server drops is reported here; without a listener it would end the process.
    this.pool.on('error', (error) => options.logger.warn({ err: error }, 'job database connection lost'));
  }

  /** Opens the repository; the database is reached at the first call, so a database that is down does not stop the start. */
  static async open(options: PostgresJobOptions): Promise<PostgresJobRepository> {
    // Uploads being received, and the files of the job this replica runs: this process's own scratch, never shared.
    const stagingDir = await mkdtemp(join(tmpdir(), 'nim-rag-staging-'));
    return new PostgresJobRepository(options, stagingDir);
  }

  /** The schema, migrated once (the store migrates too; the same migrations, under the same lock). */
  private ready(): Promise<void> {
    this.schema ??= this.transaction(async (client) => {
      await migrate(client);
    }).catch((error: unknown) => {
      this.schema = undefined;
      throw error;
    });
    return this.schema;
  }

  /**
   * One statement, in a transaction of its own as every statement here is: a server that serves
   * several connections in one session (PGlite over its socket, in the tests) keeps a transaction's
   * messages together, and a lone statement's could interleave with another connection's.
   */
  async query<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    return this.inTransaction((client) => client.query<R>(text, values));
  }

  /** Runs `work` in one transaction; one lost to a concurrent transaction runs again; an unreachable database is a 503. */
  async transaction<T>(work: (client: pg.ClientBase) => Promise<T>): Promise<T> {
    return runTransaction(this.pool, work, (error) => this.options.logger.warn({ err: error }, 'job database connection lost'));
  }

  private async inTransaction<T>(work: (client: pg.ClientBase) => Promise<T>): Promise<T> {
    await this.ready();
    return this.transaction(work);
  }

  /** The job's row and its whole payload in one transaction: a job is there with all it needs, or not at all. */
  async create(job: JobRecord, payload: JobPayload): Promise<void> {
    try {
      await this.inTransaction(async (client) => {
        await client.query('INSERT INTO rag_jobs (id, state, record, created_at) VALUES ($1, $2, $3::json, $4)', [job.id, job.state, JSON.stringify(job), job.created_at]);
        const insert = (name: string, part: number, data: Buffer) =>
          client.query('INSERT INTO rag_job_parts (job_id, name, part, data) VALUES ($1, $2, $3, $4)', [job.id, name, part, data]);
        if (payload.kind === 'documents') {
          const bytes = Buffer.from(JSON.stringify(payload.documents));
          for (let offset = 0, part = 0; offset < bytes.length || part === 0; offset += PART_BYTES, part++) await insert(DOCUMENTS_PART, part, bytes.subarray(offset, offset + PART_BYTES));
          return;
        }
        for (const file of payload.files) {
          const handle = await open(join(payload.dir, file.path), 'r');
          try {
            for (let part = 0; ; part++) {
              const buffer = Buffer.alloc(PART_BYTES);
              const { bytesRead } = await handle.read(buffer, 0, PART_BYTES, null);
              if (bytesRead === 0 && part > 0) break;
              await insert(file.path, part, buffer.subarray(0, bytesRead));
              if (bytesRead < PART_BYTES) break;
            }
          } finally {
            await handle.close();
          }
        }
      });
    } finally {
      if (payload.kind === 'files') await rm(payload.dir, { recursive: true, force: true });
    }
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const { rows } = await this.query<{ record: JobRecord }>('SELECT record FROM rag_jobs WHERE id = $1', [id]);
    return rows[0]?.record;
  }

  async claim(): Promise<JobClaim | undefined> {
    for (;;) {
      const claimed = await this.inTransaction(async (client) => {
        const { rows } = await client.query<JobRow>(
          `SELECT id, record, cancel_requested, claims FROM rag_jobs
            WHERE state IN ('queued', 'running') AND (lease_expires_at IS NULL OR lease_expires_at < now())
            ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED`,
        );
        const row = rows[0];
        if (!row) return undefined;
        if (row.claims >= MAX_CLAIMS) {
          await this.failTooOften(client, row);
          return 'failed' as const;
        }
        const token = randomUUID();
        await client.query(`UPDATE rag_jobs SET lease_token = $3, lease_owner = $4, lease_expires_at = ${LEASE_UNTIL}, claims = claims + 1 WHERE id = $1`, [
          row.id,
          this.options.leaseMs,
          token,
          this.owner,
        ]);
        return { row, token };
      });
      if (claimed === undefined) return undefined;
      if (claimed === 'failed') continue;
      return new PostgresClaim(claimed.row.record, claimed.token, claimed.row.cancel_requested, this);
    }
  }

  private async failTooOften(client: pg.ClientBase, row: JobRow): Promise<void> {
    const job = row.record;
    job.state = 'failed';
    job.finished_at = new Date().toISOString();
    job.error = { status: 500, reason: `the job was started ${row.claims} times and never finished (its replica stopped each time), so it is not tried again; what it had stored stays stored` };
    await this.writeFinished(client, job);
    this.options.logger.error({ job: job.id, claims: row.claims }, 'ingest job failed: claimed too many times without finishing');
  }

  /** Writes a finished job and drops its payload. */
  private async writeFinished(client: pg.ClientBase, job: JobRecord): Promise<void> {
    await client.query(
      `UPDATE rag_jobs SET record = $2::json, state = $3, finished_at = $4, updated_at = now(), lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL
        WHERE id = $1`,
      [job.id, JSON.stringify(job), job.state, job.finished_at],
    );
    await client.query('DELETE FROM rag_job_parts WHERE job_id = $1', [job.id]);
  }

  /**
   * A job no live replica holds is cancelled here and now, unless it stopped with files half
   * stored: those are finished first by the replica that claims it next, which then cancels it. A
   * job a replica holds is flagged; that replica stops at its next batch boundary.
   */
  async cancel(id: string): Promise<CancelOutcome | undefined> {
    return this.inTransaction(async (client) => {
      const { rows } = await client.query<{ record: JobRecord; cancel_requested: boolean; held: boolean | null }>(
        'SELECT record, cancel_requested, lease_expires_at > now() AS held FROM rag_jobs WHERE id = $1 FOR UPDATE',
        [id],
      );
      const row = rows[0];
      if (!row) return undefined;
      const job = row.record;
      if (TERMINAL.has(job.state)) return { outcome: 'finished', job };
      if (row.held || job.files.some((file) => file.state === 'running')) {
        if (!row.cancel_requested) await client.query('UPDATE rag_jobs SET cancel_requested = true WHERE id = $1', [id]);
        return { outcome: 'requested', job };
      }
      job.state = 'cancelled';
      job.finished_at = new Date().toISOString();
      await this.writeFinished(client, job);
      return { outcome: 'cancelled', job };
    });
  }

  async prune(finishedBefore: Date): Promise<number> {
    const { rowCount } = await this.query("DELETE FROM rag_jobs WHERE state IN ('completed', 'failed', 'cancelled') AND finished_at < $1", [finishedBefore]);
    return rowCount ?? 0;
  }

  async close(): Promise<void> {
    await this.pool.end();
    await rm(this.stagingDir, { recursive: true, force: true });
  }

  /** Renews the lease, if this token still holds it: whether a cancel was asked for, or undefined when the lease is lost. */
  async renew(id: string, token: string): Promise<boolean | undefined> {
    const { rows } = await this.query<{ cancel_requested: boolean }>(
      `UPDATE rag_jobs SET lease_expires_at = ${LEASE_UNTIL} WHERE id = $1 AND lease_token = $3 RETURNING cancel_requested`,
      [id, this.options.leaseMs, token],
    );
    return rows[0]?.cancel_requested;
  }

  /** Saves the job's progress (renewing the lease) if this token holds it; as `renew`. */
  async save(job: JobRecord, token: string): Promise<boolean | undefined> {
    const { rows } = await this.query<{ cancel_requested: boolean }>(
      `UPDATE rag_jobs SET record = $4::json, state = $5, updated_at = now(), lease_expires_at = ${LEASE_UNTIL}
        WHERE id = $1 AND lease_token = $3 RETURNING cancel_requested`,
      [job.id, this.options.leaseMs, token, JSON.stringify(job), job.state],
    );
    return rows[0]?.cancel_requested;
  }

  /** Finishes the job if this token holds it; false when the lease is lost. */
  async finish(job: JobRecord, token: string): Promise<boolean> {
    return this.inTransaction(async (client) => {
      const held = await client.query('SELECT 1 FROM rag_jobs WHERE id = $1 AND lease_token = $2 FOR UPDATE', [job.id, token]);
      if (!held.rowCount) return false;
      await this.writeFinished(client, job);
      return true;
    });
  }

  /** Gives the lease up at once, so another replica may resume the job without waiting for it to expire; a graceful stop is not counted as a failed claim. */
  async release(id: string, token: string): Promise<void> {
    await this.query('UPDATE rag_jobs SET lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL, claims = greatest(claims - 1, 0) WHERE id = $1 AND lease_token = $2', [id, token]);
  }

  /** Writes the payload part by part into `path`. */
  async download(id: string, name: string, path: string): Promise<void> {
    const handle = await open(path, 'w');
    try {
      for (let part = 0; ; part++) {
        const { rows } = await this.query<{ data: Buffer }>('SELECT data FROM rag_job_parts WHERE job_id = $1 AND name = $2 AND part = $3', [id, name, part]);
        if (!rows[0]) break;
        await handle.write(rows[0].data);
      }
    } finally {
      await handle.close();
    }
  }
}

/** A job this replica holds while it renews the lease, several times within each lease. */
class PostgresClaim implements JobClaim {
  private readonly controller = new AbortController();
  readonly lost = this.controller.signal;
  private readonly heartbeat: NodeJS.Timeout;
  private renewedAt = Date.now();
  private renewing = false;
  private stopped = false;
  private readonly spool: string;

  constructor(
    readonly job: JobRecord,
    private readonly token: string,
    public cancelRequested: boolean,
    private readonly repository: PostgresJobRepository,
  ) {
    const { leaseMs, pollIntervalMs } = repository.options;
    this.heartbeat = setInterval(() => void this.renew(), Math.min(leaseMs / 3, pollIntervalMs));
    this.heartbeat.unref();
    this.spool = join(repository.stagingDir, `job-${job.id}`);
  }

  private async renew(): Promise<void> {
    if (this.renewing || this.stopped) return;
    this.renewing = true;
    try {
      const cancelRequested = await this.repository.renew(this.job.id, this.token);
      // Finished or given up while the renewal was on its way: the token is gone, rightly.
      if (this.stopped) return;
      if (cancelRequested === undefined) this.lose();
      else this.saw(cancelRequested);
    } catch (error) {
      // Out of touch with the database for a whole lease: another replica may have claimed it by now.
      if (Date.now() - this.renewedAt >= this.repository.options.leaseMs) this.lose();
      else this.repository.options.logger.warn({ job: this.job.id, err: error }, 'ingest job: could not renew its lease; trying again');
    } finally {
      this.renewing = false;
    }
  }

  /** What a renewal or a save found: the lease still held (and whether a cancel was asked for), or lost. */
  private saw(cancelRequested: boolean | undefined): void {
    if (cancelRequested === undefined) {
      this.lose();
      throw this.lost.reason;
    }
    this.renewedAt = Date.now();
    this.cancelRequested ||= cancelRequested;
  }

  private lose(): void {
    if (this.lost.aborted) return;
    this.controller.abort(new LeaseLostError(this.job.id));
    this.stop();
  }

  private stop(): void {
    this.stopped = true;
    clearInterval(this.heartbeat);
    void rm(this.spool, { recursive: true, force: true });
  }

  /** Fetched from the database when the file's turn comes, so only the files being read take room here. */
  async stageFile(file: StagedFile): Promise<string> {
    await mkdir(this.spool, { recursive: true });
    await this.repository.download(this.job.id, file.path, join(this.spool, file.path));
    return this.spool;
  }

  async unstageFile(file: StagedFile): Promise<void> {
    await rm(join(this.spool, file.path), { force: true });
  }

  async documents(): Promise<SectionDocument[]> {
    const path = join(this.spool, DOCUMENTS_PART);
    await mkdir(this.spool, { recursive: true });
    await this.repository.download(this.job.id, DOCUMENTS_PART, path);
    try {
      return JSON.parse(await readFile(path, 'utf8')) as SectionDocument[];
    } finally {
      await rm(path, { force: true });
    }
  }

  async save(): Promise<void> {
    if (this.lost.aborted) throw this.lost.reason;
    this.saw(await this.repository.save(this.job, this.token));
  }

  async finish(): Promise<void> {
    if (this.lost.aborted) throw this.lost.reason;
    const finished = await this.repository.finish(this.job, this.token);
    if (!finished) {
      this.lose();
      throw this.lost.reason;
    }
    this.stop();
  }

  async release(): Promise<void> {
    this.stop();
    if (!this.lost.aborted) await this.repository.release(this.job.id, this.token);
  }
}
