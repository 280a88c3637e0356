import { extname } from 'node:path';
import { FileRejectedError } from './file-problems.js';

export type FileType = 'pdf' | 'docx' | 'html' | 'markdown' | 'text';

/** How many leading bytes detection needs (PDF allows junk before its header within the first KiB). */
export const SNIFF_BYTES = 1024;

const BY_EXTENSION: Record<string, FileType> = {
  '.pdf': 'pdf',
  '.docx': 'docx',
  '.html': 'html',
  '.htm': 'html',
  '.xhtml': 'html',
  '.md': 'markdown',
  '.markdown': 'markdown',
  '.txt': 'text',
  '.text': 'text',
};

const MAX_NAME_LENGTH = 255;

/** A file name is a name, not a path: no separators, no control characters, no `.`/`..`. */
export function checkFileName(name: string): void {
  const fail = (reason: string) => {
    throw new FileRejectedError(name, reason, 400);
  };
  if (name.length === 0) fail('the file has no name');
  if (name.length > MAX_NAME_LENGTH) fail(`the name is longer than ${MAX_NAME_LENGTH} characters`);
  if (/[/\\]/.test(name)) fail('the name contains a path separator; send the base name only');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) fail('the name contains control characters');
  if (name === '.' || name === '..') fail('the name is not a file name');
}

const startsWith = (head: Uint8Array, signature: number[]) => signature.every((byte, index) => head[index] === byte);

/** Binary formats people upload by mistake, named so the answer can say what the file is. */
const OTHER_BINARIES: Array<[string, number[]]> = [
  ['a PNG image', [0x89, 0x50, 0x4e, 0x47]],
  ['a JPEG image', [0xff, 0xd8, 0xff]],
  ['a GIF image', [0x47, 0x49, 0x46, 0x38]],
  ['a gzip archive', [0x1f, 0x8b]],
  ['an OLE2 file (legacy .doc/.xls)', [0xd0, 0xcf, 0x11, 0xe0]],
  ['a 7-Zip archive', [0x37, 0x7a, 0xbc, 0xaf]],
];

function isPdf(head: Uint8Array): boolean {
  return Buffer.from(head).includes('%PDF-');
}

function looksLikeText(head: Uint8Array): boolean {
  if (head.includes(0)) return false;
  // A multi-byte character may be cut at the end of the sample: decode all but its last 3 bytes strictly.
  const sample = head.length === SNIFF_BYTES ? head.subarray(0, head.length - 3) : head;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(sample);
    return true;
  } catch {
    return false;
  }
}

const looksLikeHtml = (head: Uint8Array) =>
  /^\s*(<!--[\s\S]*?-->\s*)*<(!doctype\s+html|html|head|body)\b/i.test(Buffer.from(head).toString('utf8'));

/**
 * The type of a file from its first bytes and its name together: content decides the family
 * (PDF, zip, text), the name picks among texts; a name that claims another family than the content
 * is refused, so a renamed image never reaches a parser.
 */
export function detectFileType(name: string, head: Uint8Array): FileType {
  const claimed = BY_EXTENSION[extname(name).toLowerCase()];
  const refuse = (reason: string): never => {
    throw new FileRejectedError(name, reason, 415);
  };
  const mismatch = (actual: string) => refuse(`the name says ${claimed} but the content is ${actual}`);
  if (head.length === 0) throw new FileRejectedError(name, 'the file is empty', 422);
  if (isPdf(head)) return claimed === undefined || claimed === 'pdf' ? 'pdf' : mismatch('a PDF');
  if (startsWith(head, [0x50, 0x4b, 0x03, 0x04])) {
    if (claimed === 'docx') return 'docx';
    return refuse('the content is a zip archive; of zip-based formats only .docx is supported');
  }
  const binary = OTHER_BINARIES.find(([, signature]) => startsWith(head, signature));
  if (binary) return refuse(`the content is ${binary[0]}; supported: PDF, DOCX, HTML, Markdown, plain text`);
  if (!looksLikeText(head)) return refuse('the content is binary, not UTF-8 text; supported: PDF, DOCX, HTML, Markdown, plain text');
  if (claimed === 'pdf' || claimed === 'docx') return mismatch('text');
  if (claimed) return claimed;
  if (looksLikeHtml(head)) return 'html';
  return 'text';
}
