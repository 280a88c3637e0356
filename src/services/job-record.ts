import type { components } from '../api/operations.js';
import type { StagedFile } from '../files/staging.js';
import type { Chunking } from '../rag/chunking.js';
import type { Metadata } from '../store/metadata-filter.js';
import type { FileStatus } from './file-service.js';

export type JobState = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
type FileState = 'pending' | 'running' | 'done' | 'failed';

export interface JobError {
  status: number;
  reason: string;
}

export interface JobFile extends StagedFile {
  state: FileState;
  sections?: number;
  chunks?: number;
  chunks_done: number;
  /** Batches stored: a resumed job starts a file after these (its sections are read again, identically). */
  batches_done: number;
  embedded: number;
  reused: number;
  status?: FileStatus;
  error?: JobError;
}

/** A documents job's progress; its documents are kept beside the job until it finishes. */
export interface DocumentsProgress {
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

/** What a job repository keeps of a job: everything needed to resume it, and to answer GET /v1/jobs/{id}. */
export interface JobRecord {
  id: string;
  state: JobState;
  collection: string;
  /** The name of the API key that submitted it (absent without keys): it, and admins, may see and cancel the job. */
  owner?: string;
  metadata: Metadata;
  created_at: string;
  started_at?: string;
  finished_at?: string;
  /** Empty for a documents job. */
  files: JobFile[];
  /** Present for a documents job only. */
  documents?: DocumentsProgress;
  /** Why the job as a whole failed (its journal could not be read or written), beside the per-file and per-batch errors. */
  error?: JobError;
}

/** A job as GET /v1/jobs/{id} shows it. */
export type JobView = components['schemas']['Job'];

export const TERMINAL: ReadonlySet<JobState> = new Set(['completed', 'failed', 'cancelled']);

const since = (from: string, to?: string) => (to ? Date.parse(to) : Date.now()) - Date.parse(from);

export function viewOf(job: JobRecord): JobView {
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
    error: job.error ?? null,
    timings: {
      queued_ms: since(job.created_at, job.started_at),
      running_ms: job.started_at ? since(job.started_at, job.finished_at) : null,
    },
  };
}
