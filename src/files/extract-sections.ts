import { readFile } from 'node:fs/promises';
import { FileRejectedError } from './file-problems.js';
import type { FileType } from './file-types.js';
import { markdownSections } from './markdown-sections.js';
import type { Section } from './sections.js';
import { storable } from '../store/storable-text.js';

/**
 * The structured text of a stored upload; a file that yields no text is refused. The PDF, DOCX and
 * HTML readers (pdf.js, mammoth with its zip and XML libraries, htmlparser2: hundreds of modules)
 * are loaded when the first file of their type arrives, so that a service, or a test process, that
 * never reads one does not pay for them at start.
 */
export async function extractSections(name: string, type: FileType, path: string, limits: { maxPages: number }): Promise<Section[]> {
  const bytes = await readFile(path);
  let sections: Section[];
  if (type === 'pdf') sections = await (await import('./pdf-sections.js')).pdfSections(name, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), limits.maxPages);
  else if (type === 'docx') sections = await (await import('./docx-sections.js')).docxSections(name, bytes);
  else {
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new FileRejectedError(name, 'the content is not valid UTF-8 text', 415);
    }
    if (type === 'html') sections = (await import('./html-sections.js')).htmlSections(text);
    else if (type === 'markdown') sections = markdownSections(text);
    else sections = [{ text: text.replace(/\r\n?/g, '\n').trim() }].filter((section) => section.text);
  }
  if (sections.length === 0) throw new FileRejectedError(name, 'the file holds no text', 422);
  // A file's text is the file's, not the caller's: what the store cannot hold is cleaned, not refused.
  return sections.map((section) => ({ ...section, text: storable(section.text), ...(section.heading === undefined ? {} : { heading: storable(section.heading) }) }));
}
