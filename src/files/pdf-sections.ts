import { extractText, getDocumentProxy } from 'unpdf';
import { FileRejectedError } from './file-problems.js';
import { type Section, tidyText } from './sections.js';

/** One section per page with text, numbered from 1, extracted with pdf.js (through unpdf). */
export async function pdfSections(name: string, bytes: Uint8Array, maxPages: number): Promise<Section[]> {
  let pdf: Awaited<ReturnType<typeof getDocumentProxy>>;
  try {
    pdf = await getDocumentProxy(bytes, { verbosity: 0, isEvalSupported: false });
  } catch (error) {
    const { name: kind, message } = error as Error;
    if (kind === 'PasswordException') throw new FileRejectedError(name, 'the PDF is encrypted (password-protected); send it decrypted', 422);
    throw new FileRejectedError(name, `not a readable PDF (${message})`, 422);
  }
  try {
    if (pdf.numPages > maxPages) {
      throw new FileRejectedError(name, `the PDF has ${pdf.numPages} pages; at most ${maxPages} are accepted (UPLOAD_MAX_PAGES)`, 413);
    }
    let pages: string[];
    try {
      pages = (await extractText(pdf, { mergePages: false })).text;
    } catch (error) {
      throw new FileRejectedError(name, `the PDF's text could not be read (${(error as Error).message})`, 422);
    }
    const sections = pages.map((text, index) => ({ text: tidyText(text), page: index + 1 })).filter((section) => section.text);
    if (sections.length === 0) {
      throw new FileRejectedError(name, `none of its ${pdf.numPages} pages has a text layer (a scanned PDF?); run OCR on it first`, 422);
    }
    return sections;
  } finally {
    await pdf.destroy();
  }
}
