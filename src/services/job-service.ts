import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import { hasScope, mayTouch, type Principal } from '../auth/principal.js';
import { notFound, ProblemError } from '../errors.js';
import { FileRejectedError } from '../files/file-problems.js';
import type { StagedFile } from '../files/staging.js';
import type { Metadata } from '../store/metadata-filter.js';
import { StoreUnavailableError } from '../store/semantics/store-errors.js';
import type { DocumentService, IngestRequest } from './document-service.js';
import { type FileService, type FileStatus, outcomeOf, type SectionDocument, sectionDocuments } from './file-service.js';
import { batchByChunks } from './ingest-batches.js';
import { type DocumentsProgress, type JobFile, type JobRecord, type JobView, TERMINAL, viewOf } from './job-record.js';
import type { JobClaim, JobRepository } from './job-repository.js';

export type { JobState, JobView } from './job-record.js';

/** Chunks per ingest call: enough to keep every NIM embedding slot busy (8 × 50), few enough for steady progress. */
export const JOB_BATCH_CHUNKS = 400;

/** Files read and stored at once: one file's small batch alone leaves most NIM slots idle, and reading overlaps embedding. */
export const JOB_FILE_CONCURRENCY = 4;

/** How often finished jobs past their retention are looked for (also at every start). */
const PRUNE_EVERY_MS = 10 * 60_000;

/** A save of the job's progress failed: the job cannot go on, whatever the file or batch at hand. */
class JournalError extends Error {
  constructor(cause: unknown) {
    super(`its progress could not be saved (${cause instanceof Error ? cause.message : String(cause)})`, { cause });
    this.name = 'JournalError';
  }
}

/** Set by every change this process makes to a job, waited on by those who follow it. */
class Changes {
  private readonly emitter = new EventEmitter();

  constructor(private readonly pollIntervalMs: number | undefined) {
    this.emitter.setMaxListeners(0);
  }

  emit(id: string): void {
    this.emitter.emit(id);
  }

  /**
   * A subscription to the job's changes, taken before the job is first read so that none is missed:
   * `next` resolves at once when there was a change since the last call, else at the next change
   * made here or, where other processes run jobs too, after the poll interval.
   */
  watch(id: string): { next(signal?: AbortSignal): Promise<void>; close(): void } {
    let dirty = false;
    let wake: (() => void) | undefined;
    const listener = () => {
      dirty = true;
      wake?.();
    };
    this.emitter.on(id, listener);
    return {
      next: (signal) => {
        if (dirty) {
          dirty = false;
          return Promise.resolve();
        }
        return new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', done);
            wake = undefined;
            dirty = false;
            resolve();
          };
          const timer = this.pollIntervalMs === undefined ? undefined : setTimeout(done, this.pollIntervalMs).unref();
          signal?.addEventListener('abort', done, { once: true });
          wake = done;
        });
      },
      close: () => {
        this.emitter.off(id, listener);
      },
    };
  }
}

/** A job's owner: the name of the key that submitted it; none without keys. */
const ownerOf = (principal: Principal | undefined) => (principal ? { owner: principal.name } : {});

/** A job in the principal's collections that it submitted, or any there for an admin. */
function jobVisibleTo(job: JobRecord, principal: Principal): boolean {
  if (!mayTouch(principal, job.collection)) return false;
  return job.owner === principal.name || hasScope(principal, 'admin');
}

/**
 * Background ingests of uploaded files or of a large POST /v1/documents, one job at a time per
 * process (their embedding calls share the NIM client's concurrency limit with queries, which go
 * first). Jobs live in a repository (on disk beside the embedded store, or in Postgres, where any
 * replica reads, follows and cancels any job, and a job whose replica died is claimed and resumed by
 * another). Progress is saved after every stored batch, so a resumed job starts after the batches
 * it saved, and a batch stored but not yet saved is stored again as unchanged, costing no embedding.
 */
export class JobService {
  private readonly changes: Changes;
  /** The job this process runs, and how to stop it. */
  private current: { claim: JobClaim; stop: AbortController } | undefined;
  /** Cancels asked for here, seen by the runner before the repository passes them on. */
  private readonly cancelling = new Set<string>();
  private closing = false;
  private wakeRunner: (() => void) | undefined;
  private runner: Promise<void> | undefined;
  private pruning: NodeJS.Timeout | undefined;

  private constructor(
    private readonly repository: JobRepository,
    private readonly files: FileService,
    private readonly documents: DocumentService,
    private readonly logger: Logger,
    /** How long a finished job is kept; 0: for ever. */
    private readonly retentionMs: number,
  ) {
    this.changes = new Changes(repository.pollIntervalMs);
  }

  /**
   * Starts running the repository's jobs (unfinished ones first, oldest first); finished ones past
   * `retentionMs` (0: kept for ever) are removed, now and every few minutes.
   */
  static async open(repository: JobRepository, files: FileService, documents: DocumentService, logger: Logger, retentionMs: number): Promise<JobService> {
    const service = new JobService(repository, files, documents, logger, retentionMs);
    if (retentionMs > 0) {
      await service.prune().catch((error: unknown) => logger.error({ err: error }, 'pruning finished jobs failed'));
      service.pruning = setInterval(() => void service.prune().catch((error: unknown) => logger.error({ err: error }, 'pruning finished jobs failed')), PRUNE_EVERY_MS).unref();
    }
    service.runner = service.runJobs();
    return service;
  }

  /** Forgets the jobs that finished longer than the retention before `now`, payload and all; returns how many. */
  async prune(now = Date.now()): Promise<number> {
    if (this.retentionMs === 0) return 0;
    const pruned = await this.repository.prune(new Date(now - this.retentionMs));
    if (pruned > 0) this.logger.info({ jobs: pruned }, 'finished jobs past JOB_RETENTION_HOURS removed');
    return pruned;
  }

  /** Where uploads are staged before they are ingested or become a job. */
  get uploadsDir(): string {
    return this.repository.stagingDir;
  }

  /** Takes over a staged upload directory and queues its files; durable before it returns. */
  async submitFiles(stagedDir: string, staged: StagedFile[], options: { collection: string; metadata: Metadata }, owner?: Principal): Promise<JobView> {
    const job: JobRecord = {
      id: randomUUID(),
      state: 'queued',
      collection: options.collection,
      ...ownerOf(owner),
      metadata: options.metadata,
      created_at: new Date().toISOString(),
      files: staged.map((file) => ({ ...file, state: 'pending', chunks_done: 0, batches_done: 0, embedded: 0, reused: 0 })),
    };
    await this.repository.create(job, { kind: 'files', dir: stagedDir, files: staged });
    return this.accepted(job);
  }

  /**
   * Checks the documents as far as can be done without embedding them (a bad request is a 4xx and
   * no job), saves them and queues them; durable before it returns. A document without an id gets
   * `<job id>-<position>`, fixed before it is saved, so a resumed job stores it under the same id.
   */
  async submitDocuments(request: IngestRequest, owner?: Principal): Promise<JobView> {
    this.documents.validate(request);
    const id = randomUUID();
    const documents: SectionDocument[] = request.documents.map((document, position) => ({
      id: document.id ?? `${id}-${position}`,
      text: document.text,
      metadata: document.metadata ?? {},
    }));
    const job: JobRecord = {
      id,
      state: 'queued',
      collection: request.collection,
      ...ownerOf(owner),
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
    await this.repository.create(job, { kind: 'documents', documents });
    return this.accepted(job);
  }

  private accepted(job: JobRecord): JobView {
    this.wakeRunner?.();
    return viewOf(job);
  }

  async get(id: string, principal: Principal): Promise<JobView> {
    return viewOf(await this.record(id, principal));
  }

  /**
   * Stops a queued or running job, wherever it runs. Files already stored stay stored; files being
   * stored when the cancel arrives are finished first, so no file is left half-stored; the rest are
   * not ingested. Answers once the job has stopped, with its final counts.
   */
  async cancel(id: string, principal: Principal): Promise<JobView> {
    await this.record(id, principal);
    const changes = this.changes.watch(id);
    try {
      let found = await this.repository.cancel(id);
      if (!found) throw notFound(`job "${id}" does not exist`);
      if (found.outcome === 'finished') throw finished(found.job);
      this.cancelling.add(id);
      while (found.outcome === 'requested') {
        await changes.next();
        // Asked again each time: if the process running it has gone meanwhile, this finishes the cancel.
        found = (await this.repository.cancel(id)) ?? found;
      }
      this.changes.emit(id);
      if (found.job.state !== 'cancelled') throw finished(found.job);
      return viewOf(found.job);
    } finally {
      changes.close();
      this.cancelling.delete(id);
    }
  }

  /** The job now, then after every change, until it has finished or `signal` aborts. */
  async *events(id: string, principal: Principal, signal: AbortSignal): AsyncGenerator<JobView> {
    const changes = this.changes.watch(id);
    try {
      let job: JobRecord | undefined = await this.record(id, principal);
      let sent = JSON.stringify(job);
      // The loop goes by the view last sent, not the job, which may have finished meanwhile.
      let view = viewOf(job);
      yield view;
      while (!TERMINAL.has(view.state)) {
        await changes.next(signal);
        if (signal.aborted) return;
        job = await this.repository.get(id);
        // Forgotten meanwhile (retention): nothing more will happen to it.
        if (!job) return;
        const now = JSON.stringify(job);
        if (now === sent) continue;
        sent = now;
        view = viewOf(job);
        yield view;
      }
    } finally {
      changes.close();
    }
  }

  /** Stops the running job where it is (it resumes at the next start, or in another replica) and waits for it. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.pruning);
    this.current?.stop.abort(new Error('service stopping'));
    this.wakeRunner?.();
    await this.runner;
    await this.repository.close();
  }

  /** The job, when the principal may see it: its own, or any in its collections for an admin; another's reads as missing. */
  private async record(id: string, principal: Principal): Promise<JobRecord> {
    const job = await this.repository.get(id);
    if (!job || !jobVisibleTo(job, principal)) throw notFound(`job "${id}" does not exist`);
    return job;
  }

  /** Claims and runs jobs one at a time until the service stops; idle, it waits for a new job here or the next poll. */
  private async runJobs(): Promise<void> {
    let unreachable = false;
    while (!this.closing) {
      let claim: JobClaim | undefined;
      try {
        claim = await this.repository.claim();
        if (unreachable) this.logger.info('background jobs: the job repository answers again');
        unreachable = false;
      } catch (error) {
        // Said once per outage, not at every poll.
        if (!unreachable) this.logger.warn({ err: error }, 'background jobs: could not look for jobs to run; trying again');
        unreachable = true;
      }
      // A job given up for want of the database is not claimed again at once.
      if (!claim || !(await this.run(claim))) await this.idle();
    }
  }

  private async idle(): Promise<void> {
    if (this.closing) return;
    const woken = new Promise<void>((resolve) => (this.wakeRunner = resolve));
    const poll = this.repository.pollIntervalMs;
    await (poll === undefined ? woken : Promise.race([woken, sleep(poll, undefined, { ref: false })]));
    this.wakeRunner = undefined;
  }

  /** Runs a claimed job to its end; false when it was given up unfinished. */
  private async run(claim: JobClaim): Promise<boolean> {
    const stop = new AbortController();
    this.current = { claim, stop };
    const signal = AbortSignal.any([stop.signal, claim.lost]);
    const { job } = claim;
    if (job.state === 'running') this.logger.info({ job: job.id, files: job.files.length }, 'resuming an unfinished ingest job');
    try {
      await this.execute(claim, signal);
      return true;
    } catch (error) {
      if (claim.lost.aborted) {
        this.logger.warn({ job: job.id }, 'ingest job: another process took it over (its lease ran out); this one stopped');
        return false;
      }
      if (signal.aborted || isUnreachable(error)) {
        this.logger.warn({ job: job.id, err: signal.aborted ? undefined : error }, 'ingest job stopped before it finished; it resumes where its saved progress says');
        await claim.release().catch((releaseError: unknown) => this.logger.warn({ job: job.id, err: releaseError }, 'ingest job: could not give it up; it resumes once its lease runs out'));
        return false;
      }
      await this.fail(claim, error);
      return true;
    } finally {
      this.current = undefined;
      this.changes.emit(job.id);
    }
  }

  /** A job that cannot go on fails as a whole, visibly, and says why; what it had stored stays stored. */
  private async fail(claim: JobClaim, error: unknown): Promise<void> {
    const { job } = claim;
    const reason = error instanceof Error ? error.message : String(error);
    job.state = 'failed';
    job.finished_at = new Date().toISOString();
    job.error = { status: 500, reason: `the job stopped: ${reason}; what it had stored stays stored` };
    this.logger.error({ job: job.id, err: error instanceof JournalError ? error.cause : error }, 'ingest job failed');
    await claim.finish().catch((finishError: unknown) => this.logger.error({ job: job.id, err: finishError }, 'ingest job: its failure could not be saved either'));
  }

  private async execute(claim: JobClaim, signal: AbortSignal): Promise<void> {
    const { job } = claim;
    const cancelled = () => claim.cancelRequested || this.cancelling.has(job.id);
    const stopping = () => signal.aborted || cancelled();
    job.state = 'running';
    job.started_at ??= new Date().toISOString();
    await this.save(claim);
    if (job.documents) await this.ingestDocuments(claim, job.documents, signal, stopping);
    else await this.ingestFiles(claim, signal, stopping);
    signal.throwIfAborted();
    const nothingStored = job.documents ? job.documents.done === 0 : job.files.every((file) => file.state === 'failed');
    job.state = cancelled() ? 'cancelled' : nothingStored ? 'failed' : 'completed';
    job.finished_at = new Date().toISOString();
    await this.journalled(claim, () => claim.finish());
    this.changes.emit(job.id);
    this.logger.info({ job: job.id, state: job.state, ...viewOf(job).counts }, 'ingest job finished');
  }

  /** Files already started (a resumed job's) are finished even when stopping, so none is left half-stored. */
  private async ingestFiles(claim: JobClaim, signal: AbortSignal, stopping: () => boolean): Promise<void> {
    const limit = pLimit(JOB_FILE_CONCURRENCY);
    // Settled, all of them, before the job is finished or given up: nothing may write for it afterwards.
    const outcomes = await Promise.allSettled(
      claim.job.files
        .filter((file) => file.state !== 'done' && file.state !== 'failed')
        .map((file) => limit(() => (signal.aborted || (stopping() && file.state === 'pending') ? undefined : this.ingestFile(claim, file, signal)))),
    );
    const failure = outcomes.find((outcome) => outcome.status === 'rejected');
    if (failure) throw failure.reason;
  }

  /** Stores the documents a batch at a time; a batch that fails is reported with its ids, and the next one goes on. */
  private async ingestDocuments(claim: JobClaim, progress: DocumentsProgress, signal: AbortSignal, stopping: () => boolean): Promise<void> {
    const { job } = claim;
    const documents = await claim.documents();
    const batches = await batchByChunks(documents, this.documents.chunkingFor(progress.chunking), JOB_BATCH_CHUNKS);
    progress.chunks = batches.reduce((sum, batch) => sum + batch.chunks, 0);
    await this.save(claim);
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
        if (signal.aborted || isUnreachable(error)) throw error;
        progress.failed += batch.documents.length;
        progress.errors.push({ ids: batch.documents.map((document) => document.id), ...errorOf(error) });
        if (!(error instanceof ProblemError)) this.logger.error({ err: error, job: job.id }, 'ingest job: a batch of documents failed');
      }
      progress.batches_done = index + 1;
      await this.save(claim);
    }
  }

  private async ingestFile(claim: JobClaim, file: JobFile, signal: AbortSignal): Promise<void> {
    const { job } = claim;
    file.state = 'running';
    try {
      const spool = await claim.stageFile(file);
      const sections = await this.files.sections(spool, file).finally(() => claim.unstageFile(file));
      const documents = sectionDocuments(file, sections, job.metadata);
      const batches = await this.files.batches(documents, JOB_BATCH_CHUNKS);
      file.sections = documents.length;
      file.chunks = batches.reduce((sum, batch) => sum + batch.chunks, 0);
      await this.save(claim);
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
        await this.save(claim);
      }
      await this.files.removeStaleSections(job.collection, file);
      file.chunks_done = file.chunks;
      file.state = 'done';
    } catch (error) {
      if (signal.aborted || error instanceof JournalError || isUnreachable(error)) throw error;
      file.state = 'failed';
      file.error = errorOf(error);
      if (!(error instanceof ProblemError)) this.logger.error({ err: error, job: job.id, file: file.name }, 'ingest job: file failed');
    }
    await this.save(claim);
  }

  /** Saves the job's progress and tells those who follow it. */
  private async save(claim: JobClaim): Promise<void> {
    await this.journalled(claim, () => claim.save());
    this.changes.emit(claim.job.id);
  }

  /** A failed write of the job is a JournalError, unless the claim was lost or the database is out of reach (the job then resumes later). */
  private async journalled(claim: JobClaim, write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (error) {
      if (claim.lost.aborted || isUnreachable(error)) throw error;
      throw new JournalError(error);
    }
  }
}

/** The job repository or store is out of reach for now (a database down): the job resumes later rather than failing. */
const isUnreachable = (error: unknown) => error instanceof StoreUnavailableError;

const finished = (job: JobRecord) =>
  new ProblemError({ status: 409, slug: 'job-finished', title: 'Conflict', detail: `job "${job.id}" has already ${job.state === 'completed' || job.state === 'failed' ? 'finished' : 'been cancelled'}` });

const mergeStatus = (a: FileStatus, b: FileStatus): FileStatus =>
  a === 'created' || b === 'created' ? 'created' : a === 'updated' || b === 'updated' ? 'updated' : 'unchanged';

function errorOf(error: unknown): { status: number; reason: string } {
  if (error instanceof FileRejectedError) return { status: error.status, reason: error.reason };
  if (error instanceof ProblemError) return { status: error.status, reason: error.detail };
  return { status: 500, reason: 'an unexpected error occurred; the service log has the details' };
}
