import { randomUUID } from 'node:crypto';
import { EventEmitter, on } from 'node:events';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import pLimit from 'p-limit';
import type { components } from '../api/operations.js';
import type { Logger } from 'pino';
import { notFound, ProblemError } from '../errors.js';
import { FileRejectedError } from '../files/file-problems.js';
import type { StagedFile } from '../files/staging.js';
import type { Chunking } from '../rag/chunking.js';
import { fsyncDirectory, fsyncFile, writeFileAtomic } from '../store/durable-fs.js';
import type { Metadata } from '../store/metadata-filter.js';
import type { DocumentService, IngestRequest } from './document-service.js';
import { type FileService, type FileStatus, outcomeOf, type SectionDocument, sectionDocuments } from './file-service.js';
import { batchByChunks } from './ingest-batches.js';

export type JobState = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
type FileState = 'pending' | 'running' | 'done' | 'failed';

interface JobFile extends StagedFile {
  state: FileState;
  sections?: number;
  chunks?: number;
  chunks_done: number;
  /** Batches stored: a resumed job starts a file after these (its sections are read again, identically). */
  batches_done: number;
  embedded: number;
  reused: number;
  status?: FileStatus;
  error?: { status: number; reason: string };
}

/** A documents job's progress; its documents are in documents.json beside the journal. */
interface DocumentsProgress {
  total: number;
  /** The request's chunking; absent: the service's. */
  chunking?: Chunking;
  chunks?: number;
  chunks_done: number;
  /** Batches stored or failed: a resumed job starts after these (the same documents make the same batches). */
  batches_done: number;
  done: number;
  failed: number;
  created: number;
  updated: number;
  unchanged: number;
  embedded: number;
  reused: number;
  errors: Array<{ ids: string[]; status: number; reason: string }>;
}

/** What job.json holds: everything needed to resume, and to answer GET /v1/jobs/{id}. */
interface JobRecord {
  id: string;
  state: JobState;
  collection: string;
  metadata: Metadata;
  created_at: string;
  started_at?: string;
  finished_at?: string;
  /** Empty for a documents job. */
  files: JobFile[];
  /** Present for a documents job only. */
  documents?: DocumentsProgress;
}

/** A job as GET /v1/jobs/{id} shows it. */
export type JobView = components['schemas']['Job'];

const TERMINAL: ReadonlySet<JobState> = new Set(['completed', 'failed', 'cancelled']);

/** Chunks per ingest call: enough to keep every NIM embedding slot busy (8 × 50), few enough for steady progress. */
export const JOB_BATCH_CHUNKS = 400;

/** Files read and stored at once: one file's small batch alone leaves most NIM slots idle, and reading overlaps embedding. */
export const JOB_FILE_CONCURRENCY = 4;

const JOB_FILE = 'job.json';
const SPOOL = 'files';
const DOCUMENTS_FILE = 'documents.json';
/** How often finished jobs past their retention are looked for (also at every start). */
const PRUNE_EVERY_MS = 10 * 60_000;

const since = (from: string, to?: string) => (to ? Date.parse(to) : Date.now()) - Date.parse(from);

/**
 * Background ingests of uploaded files or of a large POST /v1/documents, one job at a time (their
 * embedding calls share the NIM client's concurrency limit with queries, which go first). Each job
 * lives under DATA_DIR/jobs/<id>: its files (or documents.json) and a journal (job.json, replaced
 * atomically after every stored batch), so a job cut short by a crash resumes where its journal
 * says, and a batch stored but not yet journalled is stored again as unchanged, costing no embedding.
 */
export class JobService {
  private readonly jobs = new Map<string, JobRecord>();
  private readonly changes = new EventEmitter();
  private readonly runner = pLimit(1);
  /** Journal writes one at a time: a cancel and the runner may both write a job, and share its temporary file. */
  private readonly journal = pLimit(1);
  /** Aborted only when the service stops: the job resumes at the next start, so stopping mid-file is safe. */
  private readonly controllers = new Map<string, AbortController>();
  private readonly running = new Map<string, Promise<void>>();
  private readonly cancelling = new Set<string>();
  private closing = false;
  private pruning: NodeJS.Timeout | undefined;

  private constructor(
    private readonly root: string,
    private readonly files: FileService,
    private readonly documents: DocumentService,
    private readonly logger: Logger,
    /** How long a finished job is kept; 0: for ever. */
    private readonly retentionMs: number,
  ) {
    this.changes.setMaxListeners(0);
  }

  /**
   * Loads the journal of every job; unfinished ones are queued again, in the order they were
   * created; finished ones past `retentionMs` (0: kept for ever) are removed, now and every few minutes.
   */
  static async open(dataDir: string, files: FileService, documents: DocumentService, logger: Logger, retentionMs: number): Promise<JobService> {
    const service = new JobService(join(dataDir, 'jobs'), files, documents, logger, retentionMs);
    await mkdir(service.root, { recursive: true });
    await rm(service.uploadsDir, { recursive: true, force: true });
    await mkdir(service.uploadsDir, { recursive: true });
    const resumed: JobRecord[] = [];
    for (const entry of await readdir(service.root, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name === 'uploads') continue;
      const dir = join(service.root, entry.name);
      const text = await readFile(join(dir, JOB_FILE), 'utf8').catch(() => undefined);
      // A job whose journal was never written was never acknowledged.
      if (text === undefined) {
        await rm(dir, { recursive: true, force: true });
        continue;
      }
      const job = JSON.parse(text) as JobRecord;
      service.jobs.set(job.id, job);
      if (!TERMINAL.has(job.state)) resumed.push(job);
    }
    resumed.sort((a, b) => a.created_at.localeCompare(b.created_at));
    for (const job of resumed) {
      logger.info({ job: job.id, files: job.files.length }, 'resuming an unfinished ingest job');
      service.enqueue(job);
    }
    if (retentionMs > 0) {
      await service.prune();
      service.pruning = setInterval(() => void service.prune().catch((error: unknown) => logger.error({ err: error }, 'pruning finished jobs failed')), PRUNE_EVERY_MS).unref();
    }
    return service;
  }

  /** Forgets the jobs that finished longer than the retention before `now`, journal and all; returns how many. */
  async prune(now = Date.now()): Promise<number> {
    if (this.retentionMs === 0) return 0;
    const expired = [...this.jobs.values()].filter(
      (job) => TERMINAL.has(job.state) && job.finished_at !== undefined && now - Date.parse(job.finished_at) > this.retentionMs,
    );
    for (const job of expired) {
      this.jobs.delete(job.id);
      await rm(join(this.root, job.id), { recursive: true, force: true });
    }
    if (expired.length > 0) this.logger.info({ jobs: expired.length }, 'finished jobs past JOB_RETENTION_HOURS removed');
    return expired.length;
  }

  /** Where uploads are staged before they are ingested or become a job (same file system, so a job takes them by rename). */
  get uploadsDir(): string {
    return join(this.root, 'uploads');
  }

  /** Takes over a staged upload directory and queues its files; durable before it returns. */
  async submitFiles(stagedDir: string, staged: StagedFile[], options: { collection: string; metadata: Metadata }): Promise<JobView> {
    const id = randomUUID();
    const dir = join(this.root, id);
    await Promise.all(staged.map((file) => fsyncFile(join(stagedDir, file.path))));
    await mkdir(dir);
    await rename(stagedDir, join(dir, SPOOL));
    const job: JobRecord = {
      id,
      state: 'queued',
      collection: options.collection,
      metadata: options.metadata,
      created_at: new Date().toISOString(),
      files: staged.map((file) => ({ ...file, state: 'pending', chunks_done: 0, batches_done: 0, embedded: 0, reused: 0 })),
    };
    return this.accept(job);
  }

  /**
   * Checks the documents as far as can be done without embedding them (a bad request is a 4xx and
   * no job), saves them and queues them; durable before it returns. A document without an id gets
   * `<job id>-<position>`, fixed before it is saved, so a resumed job stores it under the same id.
   */
  async submitDocuments(request: IngestRequest): Promise<JobView> {
    this.documents.validate(request);
    const id = randomUUID();
    const documents: SectionDocument[] = request.documents.map((document, position) => ({
      id: document.id ?? `${id}-${position}`,
      text: document.text,
      metadata: document.metadata ?? {},
    }));
    await mkdir(join(this.root, id));
    await writeFileAtomic(join(this.root, id, DOCUMENTS_FILE), JSON.stringify(documents));
    const job: JobRecord = {
      id,
      state: 'queued',
      collection: request.collection,
      metadata: {},
      created_at: new Date().toISOString(),
      files: [],
      documents: {
        total: documents.length,
        ...(request.chunking === undefined ? {} : { chunking: request.chunking }),
        chunks_done: 0,
        batches_done: 0,
        done: 0,
        failed: 0,
        created: 0,
        updated: 0,
        unchanged: 0,
        embedded: 0,
        reused: 0,
        errors: [],
      },
    };
    return this.accept(job);
  }

  /** Journals a new job (the moment it is acknowledged) and queues it. */
  private async accept(job: JobRecord): Promise<JobView> {
    await this.persist(job);
    await fsyncDirectory(this.root);
    this.jobs.set(job.id, job);
    this.enqueue(job);
    return viewOf(job);
  }

  get(id: string): JobView {
    return viewOf(this.record(id));
  }

  /**
   * Stops a queued or running job. Files already stored stay stored; files being stored when the
   * cancel arrives are finished first, so no file is left half-stored; the rest are not ingested.
   */
  async cancel(id: string): Promise<JobView> {
    const job = this.record(id);
    if (TERMINAL.has(job.state) || this.cancelling.has(id)) throw finished(job);
    const run = this.running.get(id);
    if (run) {
      this.cancelling.add(id);
      await run.finally(() => this.cancelling.delete(id));
      if (TERMINAL.has(job.state)) throw finished(job);
    }
    job.state = 'cancelled';
    job.finished_at = new Date().toISOString();
    await this.settle(job);
    return viewOf(job);
  }

  /** The job now, then after every change, until it has finished or `signal` aborts. */
  async *events(id: string, signal: AbortSignal): AsyncGenerator<JobView> {
    const job = this.record(id);
    // Subscribed before the first yield, so no change between the two is missed.
    const changes = on(this.changes, id, { signal });
    try {
      // The loop goes by the view last sent, not the job, which may have finished meanwhile.
      let view = viewOf(job);
      yield view;
      while (!TERMINAL.has(view.state)) {
        if ((await changes.next()).done) return;
        view = viewOf(job);
        yield view;
      }
    } catch (error) {
      if (!signal.aborted) throw error;
    } finally {
      await changes.return?.();
    }
  }

  /** Stops the running job where it is (it resumes at the next start) and waits for it. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.pruning);
    this.runner.clearQueue();
    for (const controller of this.controllers.values()) controller.abort(new Error('service stopping'));
    await this.runner(async () => undefined);
  }

  private record(id: string): JobRecord {
    const job = this.jobs.get(id);
    if (!job) throw notFound(`job "${id}" does not exist`);
    return job;
  }

  private enqueue(job: JobRecord): void {
    void this.runner(() => this.run(job)).catch((error: unknown) => this.logger.error({ err: error, job: job.id }, 'ingest job failed'));
  }

  private async run(job: JobRecord): Promise<void> {
    if (this.closing || TERMINAL.has(job.state)) return;
    const controller = new AbortController();
    this.controllers.set(job.id, controller);
    const run = this.execute(job, controller.signal).finally(() => {
      this.controllers.delete(job.id);
      this.running.delete(job.id);
    });
    this.running.set(job.id, run);
    await run;
  }

  private async execute(job: JobRecord, signal: AbortSignal): Promise<void> {
    const stopping = () => signal.aborted || this.cancelling.has(job.id);
    job.state = 'running';
    job.started_at ??= new Date().toISOString();
    await this.changed(job);
    if (job.documents) await this.ingestDocuments(job, job.documents, signal, stopping);
    else await this.ingestFiles(job, signal, stopping);
    if (stopping()) return;
    const nothingStored = job.documents ? job.documents.done === 0 : job.files.every((file) => file.state === 'failed');
    job.state = nothingStored ? 'failed' : 'completed';
    job.finished_at = new Date().toISOString();
    await this.settle(job);
    this.logger.info({ job: job.id, state: job.state, ...viewOf(job).counts }, 'ingest job finished');
  }

  private async ingestFiles(job: JobRecord, signal: AbortSignal, stopping: () => boolean): Promise<void> {
    const files = pLimit(JOB_FILE_CONCURRENCY);
    await Promise.all(
      job.files
        .filter((file) => file.state !== 'done' && file.state !== 'failed')
        .map((file) => files(() => (stopping() ? undefined : this.ingestFile(job, file, signal)))),
    );
  }

  /** Stores the documents a batch at a time; a batch that fails is reported with its ids, and the next one goes on. */
  private async ingestDocuments(job: JobRecord, progress: DocumentsProgress, signal: AbortSignal, stopping: () => boolean): Promise<void> {
    const documents = JSON.parse(await readFile(join(this.root, job.id, DOCUMENTS_FILE), 'utf8')) as SectionDocument[];
    const batches = await batchByChunks(documents, this.documents.chunkingFor(progress.chunking), JOB_BATCH_CHUNKS);
    progress.chunks = batches.reduce((sum, batch) => sum + batch.chunks, 0);
    await this.changed(job);
    for (const [index, batch] of batches.entries()) {
      if (index < progress.batches_done) continue;
      if (stopping()) return;
      try {
        const result = await this.documents.ingest({ documents: batch.documents, collection: job.collection, chunking: progress.chunking }, signal);
        for (const { status } of result.documents) progress[status] += 1;
        progress.done += batch.documents.length;
        progress.chunks_done += batch.chunks;
        progress.embedded += result.embedded;
        progress.reused += result.reused;
      } catch (error) {
        if (signal.aborted) return;
        progress.failed += batch.documents.length;
        progress.errors.push({ ids: batch.documents.map((document) => document.id), ...errorOf(error) });
        if (!(error instanceof ProblemError)) this.logger.error({ err: error, job: job.id }, 'ingest job: a batch of documents failed');
      }
      progress.batches_done = index + 1;
      await this.changed(job);
    }
  }

  private async ingestFile(job: JobRecord, file: JobFile, signal: AbortSignal): Promise<void> {
    const spool = join(this.root, job.id, SPOOL);
    file.state = 'running';
    try {
      const documents = sectionDocuments(file, await this.files.sections(spool, file), job.metadata);
      const batches = await this.files.batches(documents, JOB_BATCH_CHUNKS);
      file.sections = documents.length;
      file.chunks = batches.reduce((sum, batch) => sum + batch.chunks, 0);
      await this.changed(job);
      for (const [index, batch] of batches.entries()) {
        if (index < file.batches_done) continue;
        signal.throwIfAborted();
        const result = await this.files.ingestSections(job.collection, batch.documents, signal);
        const outcome = outcomeOf(file, result.documents);
        file.status = file.status === undefined ? outcome.status : mergeStatus(file.status, outcome.status);
        file.batches_done = index + 1;
        file.chunks_done += batch.chunks;
        file.embedded += result.embedded;
        file.reused += result.reused;
        await this.changed(job);
      }
      await this.files.removeStaleSections(job.collection, file);
      file.chunks_done = file.chunks;
      file.state = 'done';
    } catch (error) {
      if (signal.aborted) return;
      file.state = 'failed';
      file.error = errorOf(error);
      if (!(error instanceof ProblemError)) this.logger.error({ err: error, job: job.id, file: file.name }, 'ingest job: file failed');
    }
    await this.changed(job);
  }

  /** Journals the job and tells the event streams. */
  private async changed(job: JobRecord): Promise<void> {
    await this.persist(job);
    this.changes.emit(job.id, job);
  }

  /** A finished job keeps its journal (for GET) and drops its files or documents. */
  private async settle(job: JobRecord): Promise<void> {
    await this.changed(job);
    await rm(join(this.root, job.id, SPOOL), { recursive: true, force: true });
    await rm(join(this.root, job.id, DOCUMENTS_FILE), { force: true });
  }

  private persist(job: JobRecord): Promise<void> {
    const content = JSON.stringify(job);
    return this.journal(() => writeFileAtomic(join(this.root, job.id, JOB_FILE), content));
  }
}

const finished = (job: JobRecord) =>
  new ProblemError({ status: 409, slug: 'job-finished', title: 'Conflict', detail: `job "${job.id}" has already ${job.state === 'completed' || job.state === 'failed' ? 'finished' : 'been cancelled'}` });

const mergeStatus = (a: FileStatus, b: FileStatus): FileStatus =>
  a === 'created' || b === 'created' ? 'created' : a === 'updated' || b === 'updated' ? 'updated' : 'unchanged';

function errorOf(error: unknown): { status: number; reason: string } {
  if (error instanceof FileRejectedError) return { status: error.status, reason: error.reason };
  if (error instanceof ProblemError) return { status: error.status, reason: error.detail };
  return { status: 500, reason: 'an unexpected error occurred; the service log has the details' };
}

function viewOf(job: JobRecord): JobView {
  const sum = (pick: (file: JobFile) => number) => job.files.reduce((total, file) => total + pick(file), 0);
  const progress = job.documents;
  return {
    id: job.id,
    kind: progress ? 'documents' : 'files',
    state: job.state,
    collection: job.collection,
    created_at: job.created_at,
    started_at: job.started_at ?? null,
    finished_at: job.finished_at ?? null,
    counts: {
      files: job.files.length,
      files_done: job.files.filter((file) => file.state === 'done').length,
      files_failed: job.files.filter((file) => file.state === 'failed').length,
      chunks: progress ? (progress.chunks ?? 0) : sum((file) => file.chunks ?? 0),
      chunks_done: progress ? progress.chunks_done : sum((file) => file.chunks_done),
      embedded: progress ? progress.embedded : sum((file) => file.embedded),
      reused: progress ? progress.reused : sum((file) => file.reused),
    },
    files: job.files.map((file) => ({
      name: file.name,
      id: file.id,
      type: file.type,
      bytes: file.bytes,
      state: file.state,
      sections: file.sections ?? null,
      chunks: file.chunks ?? null,
      chunks_done: file.chunks_done,
      status: file.status ?? null,
      error: file.error ?? null,
    })),
    documents: progress
      ? {
          total: progress.total,
          done: progress.done,
          failed: progress.failed,
          created: progress.created,
          updated: progress.updated,
          unchanged: progress.unchanged,
          errors: progress.errors,
        }
      : null,
    timings: {
      queued_ms: since(job.created_at, job.started_at),
      running_ms: job.started_at ? since(job.started_at, job.finished_at) : null,
    },
  };
}
