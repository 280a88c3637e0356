import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import { fsyncDirectory, fsyncFile, writeFileAtomic } from '../store/durable-fs.js';
import type { SectionDocument } from './file-service.js';
import { type JobRecord, type JobState, TERMINAL } from './job-record.js';
import type { CancelOutcome, JobClaim, JobPayload, JobRepository } from './job-repository.js';

const JOB_FILE = 'job.json';
const SPOOL = 'files';
const DOCUMENTS_FILE = 'documents.json';
const STATES: ReadonlySet<string> = new Set<JobState>(['queued', 'running', 'completed', 'failed', 'cancelled']);

/** A journal as written, or an error saying why it is not one. */
function parseJournal(text: string, id: string): JobRecord {
  const job = JSON.parse(text) as Partial<JobRecord> | null;
  if (typeof job !== 'object' || job === null || Array.isArray(job)) throw new Error('it is not a JSON object');
  if (job.id !== id) throw new Error(`it names job ${JSON.stringify(job.id)}, not ${id}`);
  if (typeof job.state !== 'string' || !STATES.has(job.state)) throw new Error(`its state ${JSON.stringify(job.state)} is not a job state`);
  if (typeof job.collection !== 'string' || typeof job.created_at !== 'string' || !Array.isArray(job.files)) throw new Error('it lacks the collection, creation time or files');
  return job as JobRecord;
}

/**
 * Jobs on disk beside the embedded store, for the one process that holds DATA_DIR: each under
 * DATA_DIR/jobs/<id>, with its staged files (or documents.json) and a journal, job.json, replaced
 * atomically (temporary file, fsync, rename) at every save. A job cut short by a crash resumes at
 * the next start where its journal says.
 */
export class DiskJobRepository implements JobRepository {
  readonly pollIntervalMs = undefined;
  /**
   * Each job as its journal last said, a copy apart from the one its runner changes: a GET shows
   * only what is saved, as the Postgres repository's does, never a state a crash would undo.
   */
  private readonly jobs = new Map<string, JobRecord>();
  private readonly claims = new Map<string, DiskClaim>();
  /** Journal writes one at a time: a cancel and the runner may both write a job, and share its temporary file. */
  private readonly journal = pLimit(1);

  private constructor(
    private readonly root: string,
    private readonly logger: Logger,
  ) {}

  /**
   * Loads every job's journal. A journal that cannot be read does not stop the service: that job is
   * marked failed with the reason (the unreadable file kept beside it as job.json.unreadable), and
   * the others load.
   */
  static async open(dataDir: string, logger: Logger): Promise<DiskJobRepository> {
    const repository = new DiskJobRepository(join(dataDir, 'jobs'), logger);
    await mkdir(repository.root, { recursive: true });
    await rm(repository.stagingDir, { recursive: true, force: true });
    await mkdir(repository.stagingDir, { recursive: true });
    for (const entry of await readdir(repository.root, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name === 'uploads') continue;
      const dir = join(repository.root, entry.name);
      const text = await readFile(join(dir, JOB_FILE), 'utf8').catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? undefined : error));
      // A job whose journal was never written was never acknowledged.
      if (text === undefined) {
        await rm(dir, { recursive: true, force: true });
        continue;
      }
      let job: JobRecord;
      try {
        if (text instanceof Error) throw text;
        job = parseJournal(text, entry.name);
      } catch (error) {
        job = await repository.unreadable(entry.name, error);
      }
      repository.jobs.set(job.id, job);
    }
    return repository;
  }

  get stagingDir(): string {
    return join(this.root, 'uploads');
  }

  private dir(id: string): string {
    return join(this.root, id);
  }

  /** The failed job that stands for an unreadable journal; its payload is dropped, as a finished job's is. */
  private async unreadable(id: string, error: unknown): Promise<JobRecord> {
    const dir = this.dir(id);
    const reason = error instanceof Error ? error.message : String(error);
    this.logger.error({ job: id, err: error }, 'a job journal could not be read: the job is marked failed, the other jobs load');
    const created = await stat(join(dir, JOB_FILE)).then((info) => info.mtime, () => new Date());
    const job: JobRecord = {
      id,
      state: 'failed',
      collection: '',
      metadata: {},
      created_at: created.toISOString(),
      finished_at: new Date().toISOString(),
      files: [],
      error: {
        status: 500,
        reason: `its journal (jobs/${id}/${JOB_FILE}) could not be read (${reason}), so the job was not resumed; what it had stored stays stored`,
      },
    };
    await rename(join(dir, JOB_FILE), join(dir, `${JOB_FILE}.unreadable`)).catch(() => undefined);
    await this.persist(job);
    await this.dropPayload(id);
    return job;
  }

  async create(job: JobRecord, payload: JobPayload): Promise<void> {
    const dir = this.dir(job.id);
    if (payload.kind === 'files') {
      await Promise.all(payload.files.map((file) => fsyncFile(join(payload.dir, file.path))));
      await mkdir(dir);
      // Uploads are staged on the same file system, so the job takes them by rename.
      await rename(payload.dir, join(dir, SPOOL));
    } else {
      await mkdir(dir);
      await writeFileAtomic(join(dir, DOCUMENTS_FILE), JSON.stringify(payload.documents));
    }
    await this.persist(job);
    await fsyncDirectory(this.root);
    this.jobs.set(job.id, structuredClone(job));
  }

  async get(id: string): Promise<JobRecord | undefined> {
    return this.jobs.get(id);
  }

  async claim(): Promise<JobClaim | undefined> {
    const next = [...this.jobs.values()]
      .filter((job) => !TERMINAL.has(job.state) && !this.claims.has(job.id))
      .sort((a, b) => a.created_at.localeCompare(b.created_at))[0];
    if (!next) return undefined;
    const claim = new DiskClaim(structuredClone(next), this);
    this.claims.set(next.id, claim);
    return claim;
  }

  async cancel(id: string): Promise<CancelOutcome | undefined> {
    const job = this.jobs.get(id);
    if (!job) return undefined;
    if (TERMINAL.has(job.state)) return { outcome: 'finished', job };
    const claim = this.claims.get(id);
    if (claim) {
      claim.cancelRequested = true;
      return { outcome: 'requested', job };
    }
    const cancelled: JobRecord = { ...job, state: 'cancelled', finished_at: new Date().toISOString() };
    await this.finish(cancelled);
    return { outcome: 'cancelled', job: cancelled };
  }

  async prune(finishedBefore: Date): Promise<number> {
    const expired = [...this.jobs.values()].filter((job) => TERMINAL.has(job.state) && job.finished_at !== undefined && Date.parse(job.finished_at) < finishedBefore.getTime());
    for (const job of expired) {
      this.jobs.delete(job.id);
      await rm(this.dir(job.id), { recursive: true, force: true });
    }
    return expired.length;
  }

  async close(): Promise<void> {
    await this.journal(async () => undefined);
  }

  /** Replaces the job's journal (after the writes queued before it); a known job then reads as saved. */
  persist(job: JobRecord): Promise<void> {
    const content = JSON.stringify(job);
    return this.journal(async () => {
      await writeFileAtomic(join(this.dir(job.id), JOB_FILE), content);
      if (this.jobs.has(job.id)) this.jobs.set(job.id, JSON.parse(content) as JobRecord);
    });
  }

  /**
   * A finished job keeps its journal (for GET) and drops its files or documents. One whose journal
   * could not be written still reads as finished here, so its failure is seen; the next start
   * resumes it from the journal it has.
   */
  async finish(job: JobRecord): Promise<void> {
    this.claims.delete(job.id);
    try {
      await this.persist(job);
    } catch (error) {
      this.jobs.set(job.id, structuredClone(job));
      throw error;
    }
    await this.dropPayload(job.id);
  }

  release(job: JobRecord): void {
    this.claims.delete(job.id);
  }

  spool(id: string): string {
    return join(this.dir(id), SPOOL);
  }

  async documents(id: string): Promise<SectionDocument[]> {
    return JSON.parse(await readFile(join(this.dir(id), DOCUMENTS_FILE), 'utf8')) as SectionDocument[];
  }

  private async dropPayload(id: string): Promise<void> {
    await rm(join(this.dir(id), SPOOL), { recursive: true, force: true });
    await rm(join(this.dir(id), DOCUMENTS_FILE), { force: true });
  }
}

/** One process owns every job it runs: nothing can take a claim away, so `lost` never aborts. */
class DiskClaim implements JobClaim {
  readonly lost = new AbortController().signal;
  cancelRequested = false;

  constructor(
    readonly job: JobRecord,
    private readonly repository: DiskJobRepository,
  ) {}

  async stageFile(): Promise<string> {
    return this.repository.spool(this.job.id);
  }

  /** The spool goes as a whole when the job finishes. */
  async unstageFile(): Promise<void> {}

  documents(): Promise<SectionDocument[]> {
    return this.repository.documents(this.job.id);
  }

  save(): Promise<void> {
    return this.repository.persist(this.job);
  }

  finish(): Promise<void> {
    return this.repository.finish(this.job);
  }

  async release(): Promise<void> {
    this.repository.release(this.job);
  }
}
