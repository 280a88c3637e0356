import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import Tinypool from 'tinypool';
import type { ExtractOutcome, ExtractTask } from './extract-worker.js';
import { extractSections } from './extract-sections.js';
import { FileRejectedError } from './file-problems.js';
import type { FileType } from './file-types.js';
import type { Section } from './sections.js';

/** Reads a stored upload's structured text; a file the service cannot read is a FileRejectedError. */
export interface SectionExtractor {
  extract(name: string, type: FileType, path: string, limits: { maxPages: number }): Promise<Section[]>;
  close(): Promise<void>;
}

/** How long an idle extraction thread is kept: starting one loads pdf.js and mammoth again. */
const IDLE_THREAD_MS = 60_000;

/**
 * Extraction on up to `threads` worker threads (tinypool), so that parsing a large PDF or DOCX,
 * seconds of CPU, does not hold up searches and questions on the main thread; 0 extracts on the
 * main thread. Threads start when files arrive and stop when idle.
 */
export function sectionExtractor(threads: number): SectionExtractor {
  if (threads === 0) return { extract: extractSections, close: async () => undefined };
  const fromSource = extname(fileURLToPath(import.meta.url)) === '.ts';
  const worker = new URL(fromSource ? './extract-worker-from-source.mjs' : './extract-worker.js', import.meta.url);
  const pool = new Tinypool({ filename: worker.href, minThreads: 0, maxThreads: threads, idleTimeout: IDLE_THREAD_MS });
  return {
    extract: async (name, type, path, limits) => {
      const task: ExtractTask = { name, type, path, maxPages: limits.maxPages };
      const outcome = (await pool.run(task)) as ExtractOutcome;
      if ('rejected' in outcome) throw new FileRejectedError(name, outcome.rejected.reason, outcome.rejected.status);
      return outcome.sections;
    },
    close: () => pool.destroy(),
  };
}
