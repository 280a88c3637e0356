import { extractSections } from './extract-sections.js';
import { FileRejectedError, type FileRejectionStatus } from './file-problems.js';
import type { FileType } from './file-types.js';
import type { Section } from './sections.js';

export interface ExtractTask {
  name: string;
  type: FileType;
  path: string;
  maxPages: number;
}

/** A refusal travels as data: an error crossing the thread boundary keeps only its message. */
export type ExtractOutcome = { sections: Section[] } | { rejected: { reason: string; status: FileRejectionStatus } };

/** Runs in an extraction worker thread (see section-extractor.ts). */
export default async function extract(task: ExtractTask): Promise<ExtractOutcome> {
  try {
    return { sections: await extractSections(task.name, task.type, task.path, { maxPages: task.maxPages }) };
  } catch (error) {
    if (error instanceof FileRejectedError) return { rejected: { reason: error.reason, status: error.status } };
    throw error;
  }
}
