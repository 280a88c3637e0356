import { join } from 'node:path';
import { FileRejectedError } from '../files/file-problems.js';
import type { SectionExtractor } from '../files/section-extractor.js';
import type { Section } from '../files/sections.js';
import type { StagedFile } from '../files/staging.js';
import type { ChunkingOptions } from '../rag/chunking.js';
import type { Metadata } from '../store/metadata-filter.js';
import type { DocumentService, IngestResult } from './document-service.js';
import { type Batch, batchByChunks } from './ingest-batches.js';

export interface FileIngestOptions {
  collection: string;
  /** Added to every section's metadata, under the file's own keys. */
  metadata: Metadata;
}

export type FileStatus = 'created' | 'updated' | 'unchanged';

export interface FileOutcome {
  name: string;
  id: string;
  type: StagedFile['type'];
  bytes: number;
  sha256: string;
  sections: number;
  chunks: number;
  status: FileStatus;
}

export interface FilesResult {
  collection: string;
  files: FileOutcome[];
  embedded: number;
  reused: number;
}

export type SectionDocument = { id: string; text: string; metadata: Metadata };

/** Longest file id: section ids add a suffix and must stay within the 256 characters of a document id. */
export const MAX_FILE_ID_LENGTH = 200;

/**
 * A file's sections as documents: ids stable across versions (`<id>#page-7` for PDF pages,
 * `<id>#section-3` otherwise), and metadata that lets an answer cite "report.pdf, page 7".
 */
export function sectionDocuments(file: StagedFile, sections: Section[], metadata: Metadata): SectionDocument[] {
  return sections.map((section, index) => ({
    id: `${file.id}#${section.page === undefined ? `section-${index + 1}` : `page-${section.page}`}`,
    text: section.text,
    metadata: {
      ...metadata,
      source: file.name,
      file_id: file.id,
      file_sha256: file.sha256,
      file_type: file.type,
      ...(section.page === undefined ? {} : { page: section.page }),
      ...(section.heading === undefined ? {} : { heading: section.heading }),
    },
  }));
}

const fileStatus = (statuses: string[]): FileStatus =>
  statuses.includes('created') ? 'created' : statuses.every((status) => status === 'unchanged') ? 'unchanged' : 'updated';

/** Turns staged uploads into stored sections, through DocumentService's public ingest and delete. */
export class FileService {
  constructor(
    private readonly documents: DocumentService,
    private readonly limits: { maxPages: number },
    private readonly chunking: ChunkingOptions,
    private readonly extractor: SectionExtractor,
  ) {}

  /** Reads a staged file's text, structure kept; a file the service cannot read is a FileRejectedError. */
  sections(dir: string, file: StagedFile): Promise<Section[]> {
    return this.extractor.extract(file.name, file.type, join(dir, file.path), this.limits);
  }

  /**
   * Every file read first, then all their sections stored in one ingest, so a bad file leaves
   * nothing behind; then the sections an older version of each file had and this one lacks go.
   */
  async ingest(dir: string, files: StagedFile[], options: FileIngestOptions, signal?: AbortSignal): Promise<FilesResult> {
    checkDistinctIds(files);
    const documentsOf = await Promise.all(
      files.map(async (file) => sectionDocuments(file, await this.sections(dir, file), options.metadata)),
    );
    const result = await this.documents.ingest({ documents: documentsOf.flat(), collection: options.collection }, signal);
    for (const file of files) await this.removeStaleSections(options.collection, file);
    let offset = 0;
    const outcomes = files.map((file, position) => {
      const count = (documentsOf[position] as SectionDocument[]).length;
      const mine = result.documents.slice(offset, offset + count);
      offset += count;
      return outcomeOf(file, mine);
    });
    return { collection: result.collection, files: outcomes, embedded: result.embedded, reused: result.reused };
  }

  /** A file's sections in batches of at most `maxChunks` chunks, to store it a batch at a time. */
  batches(documents: SectionDocument[], maxChunks: number): Promise<Array<Batch<SectionDocument>>> {
    return batchByChunks(documents, this.chunking, maxChunks);
  }

  /** Stores some of a file's sections (a batch of a background job). */
  ingestSections(collection: string, documents: SectionDocument[], signal?: AbortSignal): Promise<IngestResult> {
    return this.documents.ingest({ documents, collection }, signal);
  }

  /**
   * Deletes the sections of earlier versions of `file` (a new version under the same id replaces
   * the old). A second write after the new sections are stored, as the store contract has no write
   * that stores and deletes by filter at once: a crash between the two leaves the old version's
   * extra sections until the job resumes or the file is sent again (README, "Files").
   */
  async removeStaleSections(collection: string, file: StagedFile): Promise<number> {
    const { deleted } = await this.documents.deleteWhere(collection, { file_id: file.id, file_sha256: { $ne: file.sha256 } });
    return deleted;
  }
}

export function outcomeOf(file: StagedFile, documents: IngestResult['documents']): FileOutcome {
  return {
    name: file.name,
    id: file.id,
    type: file.type,
    bytes: file.bytes,
    sha256: file.sha256,
    sections: documents.length,
    chunks: documents.reduce((sum, document) => sum + document.chunks, 0),
    status: fileStatus(documents.map((document) => document.status)),
  };
}

function checkDistinctIds(files: StagedFile[]): void {
  const seen = new Map<string, string>();
  for (const file of files) {
    const other = seen.get(file.id);
    if (other !== undefined) throw new FileRejectedError(file.name, `its id "${file.id}" is also the id of "${other}"; give each file its own id`, 400);
    seen.set(file.id, file.name);
  }
}
