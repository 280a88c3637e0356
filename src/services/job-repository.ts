import type { StagedFile } from '../files/staging.js';
import type { SectionDocument } from './file-service.js';
import type { JobRecord } from './job-record.js';

/** What a new job needs to run: the files of an upload (staged in `dir`), or the documents of a POST /v1/documents. */
export type JobPayload = { kind: 'files'; dir: string; files: StagedFile[] } | { kind: 'documents'; documents: SectionDocument[] };

/**
 * What a cancel found: `finished` (already completed, failed or cancelled: nothing changed),
 * `cancelled` (no process was running it, so it is cancelled now), or `requested` (a process runs
 * it; it has been asked to stop at its next batch boundary, once the files being stored are stored).
 */
export type CancelOutcome = { outcome: 'finished' | 'cancelled' | 'requested'; job: JobRecord };

/**
 * Where jobs live: on disk beside the embedded store (one process), or in Postgres beside the
 * pgvector store (any number of replicas). A job is claimed by one process at a time, which runs
 * it; any process reads it, follows it and cancels it.
 */
export interface JobRepository {
  /** Where uploads are staged while they are received, before they are ingested at once or become a job. */
  readonly stagingDir: string;
  /** How often this process looks again at jobs that other processes may change; undefined: no other process can. */
  readonly pollIntervalMs: number | undefined;
  /** Records a new queued job with its payload, durably (the moment it is acknowledged); a staged directory is taken over. */
  create(job: JobRecord, payload: JobPayload): Promise<void>;
  get(id: string): Promise<JobRecord | undefined>;
  /** The next job for this process to run, oldest first: a queued one, or one whose process is gone. */
  claim(): Promise<JobClaim | undefined>;
  /** Cancels the job if no process runs it, or asks the process that does to stop; undefined: no such job. */
  cancel(id: string): Promise<CancelOutcome | undefined>;
  /** Forgets the jobs that finished before `finishedBefore`; returns how many. */
  prune(finishedBefore: Date): Promise<number>;
  close(): Promise<void>;
}

/** A job owned by this process until it finishes it or releases it. Its `job` is the one to change and save. */
export interface JobClaim {
  readonly job: JobRecord;
  /** Aborted when this process no longer owns the job (its lease ran out and another process may have it): write nothing more. */
  readonly lost: AbortSignal;
  /** Whether a cancel was asked for, from this process or another. */
  readonly cancelRequested: boolean;
  /** Makes one of a files job's staged files readable here: the directory that holds it under its `path`. */
  stageFile(file: StagedFile): Promise<string>;
  /** Done with that file (stored or failed): a copy made by `stageFile` is removed. */
  unstageFile(file: StagedFile): Promise<void>;
  /** A documents job's documents, as they were submitted. */
  documents(): Promise<SectionDocument[]>;
  /** Journals the job's progress. */
  save(): Promise<void>;
  /** Journals the finished job and drops its payload. */
  finish(): Promise<void>;
  /** Gives the unfinished job up (the service is stopping, or its journal is out of reach): it resumes in this process or another. */
  release(): Promise<void>;
}
