import mammoth from 'mammoth';
import yauzl from 'yauzl';
import { FileRejectedError } from './file-problems.js';
import { htmlSections } from './html-sections.js';
import type { Section } from './sections.js';

/** What a DOCX may inflate to; a real document is far below these, a zip bomb far above. */
export const DOCX_LIMITS = { maxEntries: 10_000, maxInflatedBytes: 256 * 1024 ** 2, maxRatio: 200 };

/**
 * Inflates every entry once, counting, before mammoth (whose JSZip inflates in memory without
 * limits) sees the file: too many entries, too many bytes in all, or a ratio no document has
 * is refused. yauzl checks each entry's real size against the size its header declares.
 */
async function checkZip(name: string, bytes: Buffer): Promise<void> {
  const refuse = (reason: string) => new FileRejectedError(name, reason, 422);
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.fromBuffer(bytes, { lazyEntries: true, validateEntrySizes: true }, (error, opened) =>
      error ? reject(refuse(`not a readable DOCX (${error.message})`)) : resolve(opened),
    ),
  );
  if (zip.entryCount > DOCX_LIMITS.maxEntries) throw refuse(`the DOCX holds ${zip.entryCount} zip entries; at most ${DOCX_LIMITS.maxEntries}`);
  let inflated = 0;
  const budget = Math.min(DOCX_LIMITS.maxInflatedBytes, Math.max(bytes.length, 64 * 1024) * DOCX_LIMITS.maxRatio);
  await new Promise<void>((resolve, reject) => {
    const fail = (error: Error) => {
      zip.close();
      reject(error instanceof FileRejectedError ? error : refuse(`not a readable DOCX (${error.message})`));
    };
    zip.on('error', fail);
    zip.on('end', resolve);
    zip.on('entry', (entry: yauzl.Entry) => {
      inflated += entry.uncompressedSize;
      if (inflated > budget) return fail(refuse(`the DOCX inflates to more than ${budget} bytes (a zip bomb?)`));
      if (entry.fileName.endsWith('/')) return zip.readEntry();
      zip.openReadStream(entry, (error, stream) => {
        if (error) return fail(error);
        stream.on('error', fail);
        stream.on('end', () => zip.readEntry());
        stream.resume();
      });
    });
    zip.readEntry();
  });
}

/** One section per heading, from mammoth's HTML (Word's heading styles become h1–h6). */
export async function docxSections(name: string, bytes: Buffer): Promise<Section[]> {
  await checkZip(name, bytes);
  let html: string;
  try {
    html = (await mammoth.convertToHtml({ buffer: bytes })).value;
  } catch (error) {
    throw new FileRejectedError(name, `not a readable DOCX (${(error as Error).message})`, 422);
  }
  return htmlSections(html);
}
