import { RecursiveCharacterTextSplitter } from '@langchain/textsplitters';

export interface ChunkingOptions {
  /** Most characters in one chunk. */
  size: number;
  /** Characters shared by neighbouring chunks. */
  overlap: number;
}

/** `false` stores each text whole, as one chunk. */
export type Chunking = ChunkingOptions | false;

export type Span = [start: number, end: number];

/** A stable name for a chunking, part of a document's content hash: other chunking, other chunks. */
export const chunkingKey = (chunking: Chunking) => (chunking ? `recursive:${chunking.size}:${chunking.overlap}` : 'whole');

/**
 * Cuts a text into chunks with LangChain's RecursiveCharacterTextSplitter (paragraphs, then lines,
 * then words) and returns each chunk as a span of the original text, so the store keeps the text
 * once and every chunk can say where in its document it came from.
 */
export async function chunkSpans(text: string, chunking: Chunking): Promise<Span[]> {
  if (!chunking || text.length <= chunking.size) return [[0, text.length]];
  const splitter = new RecursiveCharacterTextSplitter({ chunkSize: chunking.size, chunkOverlap: chunking.overlap });
  const chunks = await splitter.splitText(text);
  const spans: Span[] = [];
  let searchFrom = 0;
  for (const chunk of chunks) {
    let start = text.indexOf(chunk, searchFrom);
    if (start < 0) start = text.indexOf(chunk);
    if (start < 0) throw new Error('text splitter produced a chunk that is not part of the text');
    spans.push([start, start + chunk.length]);
    searchFrom = start + 1;
  }
  return spans;
}
