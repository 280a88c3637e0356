import { type Chunking, chunkSpans } from '../rag/chunking.js';

export interface Batch<T> {
  documents: T[];
  chunks: number;
}

/**
 * Consecutive runs of documents with at most `maxChunks` chunks each (a document is never split, so
 * one larger than that is a batch of its own), to store a long ingest a batch at a time. The same
 * documents and chunking always give the same batches, which is what lets a job resume by number.
 */
export async function batchByChunks<T extends { text: string }>(documents: T[], chunking: Chunking, maxChunks: number): Promise<Array<Batch<T>>> {
  const batches: Array<Batch<T>> = [];
  for (const document of documents) {
    const chunks = (await chunkSpans(document.text, chunking)).length;
    const last = batches.at(-1);
    if (last && last.chunks + chunks <= maxChunks) {
      last.documents.push(document);
      last.chunks += chunks;
    } else batches.push({ documents: [document], chunks });
  }
  return batches;
}
