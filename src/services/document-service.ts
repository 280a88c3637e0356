import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { badRequest, notFound, ProblemError } from '../errors.js';
import { type EmbedOptions, InputTooLongError } from '@nim-rag/langchain-nvidia';
import { type Chunking, chunkingKey, chunkSpans, type ChunkingOptions } from '../rag/chunking.js';
import { checkMetadata, checkOverlap, checkStorable, tooManyChunks } from './ingest-limits.js';
import { contentHash } from '../store/content-hash.js';
import type { ChunkVector, DocumentStore, DocumentWrite, StoreCollection, WriteStatus } from '../store/store-contract.js';
import type { Metadata } from '../store/metadata-filter.js';
import { unstorable } from '../store/storable-text.js';
import type { StoredDocument } from '../store/store-contract.js';
import { collectionForRead } from './collection-service.js';
import { parseFilter } from './filters.js';
import { writeFailure } from './write-failures.js';

/** What the services need of an embeddings client: LangChain's two methods, cancellable, and queries in bulk. */
export interface TextEmbedder {
  readonly model: string;
  embedQuery(text: string, options?: EmbedOptions): Promise<number[]>;
  embedDocuments(texts: string[], options?: EmbedOptions): Promise<number[][]>;
  embedQueries(texts: string[], options?: EmbedOptions): Promise<number[][]>;
  /**
   * Documents' vectors as float32s, as NVIDIAEmbeddings decodes them from base64: ingest stores
   * them as they are, without a plain array of 1,024 numbers per chunk in between.
   */
  embedVectors?(texts: string[], inputType: 'passage', options?: EmbedOptions): Promise<Float32Array[]>;
}

export interface IngestRequest {
  documents: Array<{ id?: string | undefined; text: string; metadata?: Metadata | undefined }>;
  collection: string;
  /** Overrides the configured chunking; `false` stores each text whole. */
  chunking?: Chunking | undefined;
}

export interface IngestResult {
  collection: string;
  documents: Array<{ id: string; status: WriteStatus; chunks: number }>;
  /** Chunks sent to the embedding model by this request. */
  embedded: number;
  /** Chunks whose vectors were reused from identical stored text. */
  reused: number;
}

export interface DocumentView {
  id: string;
  collection: string;
  text: string;
  metadata: Metadata;
  chunks: Array<{ index: number; start: number; end: number }>;
  created_at: string;
  updated_at: string;
}

export interface DocumentSummary {
  id: string;
  metadata: Metadata;
  chunks: number;
  characters: number;
  created_at: string;
  updated_at: string;
}

/** A chunk of one of the request's documents: documents[write].spans[chunk]. */
interface ChunkRef {
  write: number;
  chunk: number;
}

const chunkTextOf = (writes: DocumentWrite[], { write, chunk }: ChunkRef) => {
  const target = writes[write] as DocumentWrite;
  return target.text.slice(...(target.spans[chunk] as [number, number]));
};

/** How often the embed-and-write round may repeat when concurrent writers change the same documents. */
const MAX_WRITE_ROUNDS = 3;

export class DocumentService {
  constructor(
    private readonly store: DocumentStore,
    private readonly embedder: TextEmbedder,
    private readonly defaultChunking: ChunkingOptions & { maxChunksPerRequest: number },
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  /**
   * Chunks, embeds what is new and stores, durably, before returning. Re-ingesting a document
   * with the same id replaces it; identical content is not embedded again, and chunks whose text
   * the collection already holds reuse the stored vectors.
   */
  async ingest(request: IngestRequest, signal?: AbortSignal): Promise<IngestResult> {
    const started = performance.now();
    const chunking = this.chunkingFor(request.chunking);
    this.validate(request);
    const writes = await this.prepare(request, chunking);
    const collection = await this.writing(request.collection, () => this.store.getOrCreate(request.collection));
    let embedded = 0;
    let reused = 0;
    for (let round = 1; ; round++) {
      const needed = await this.chunksNeedingVectors(writes, round === 1 ? collection : undefined);
      reused += await this.fillReusable(writes, needed, collection);
      embedded += await this.embedMissing(writes, needed, signal);
      // Every document of the request is one upsert, logged as one record: all of it is stored, or none.
      const result = await this.writing(request.collection, () => collection.upsert(writes));
      if (result.applied) {
        this.metrics.ingestedChunks.inc({ collection: request.collection, vector: 'embedded' }, embedded);
        this.metrics.ingestedChunks.inc({ collection: request.collection, vector: 'reused' }, reused);
        this.logger.info(
          {
            collection: request.collection,
            documents: writes.length,
            chunks: writes.reduce((sum, write) => sum + write.spans.length, 0),
            embedded,
            reused,
            ms: Math.round(performance.now() - started),
          },
          'documents ingested',
        );
        return { collection: request.collection, documents: result.outcomes, embedded, reused };
      }
      if (round >= MAX_WRITE_ROUNDS) {
        throw new ProblemError({
          status: 409,
          slug: 'conflict',
          title: 'Conflict',
          detail: 'the documents kept changing under concurrent writes; send the request again',
        });
      }
      for (const { write, chunk } of result.missing) (writes[write] as DocumentWrite).vectors[chunk] = undefined;
    }
  }

  /** The chunking a request asks for, or the configured one. */
  chunkingFor(requested: Chunking | undefined): Chunking {
    return requested ?? this.defaultChunking;
  }

  /**
   * What can be checked of a request without chunking or embedding it: chunking, metadata, ids
   * given twice, and a document bound to have more chunks than one request may create. A request
   * that passes fails later only for the model's or the store's reasons.
   */
  validate(request: IngestRequest): void {
    const chunking = this.chunkingFor(request.chunking);
    if (chunking) checkOverlap(chunking);
    const { maxChunksPerRequest } = this.defaultChunking;
    const seen = new Set<string>();
    request.documents.forEach((document, position) => {
      if (document.id !== undefined) checkStorable(document.id, `documents[${position}].id`);
      checkStorable(document.text, `documents[${position}].text`);
      if (document.metadata) checkMetadata(document.metadata, `documents[${position}].metadata`);
      if (document.id !== undefined) {
        if (seen.has(document.id)) throw badRequest(`documents[${position}].id "${document.id}" appears more than once in the request`);
        seen.add(document.id);
      }
      const fewest = fewestChunks(document.text, chunking);
      if (fewest > maxChunksPerRequest) throw tooManyChunks(`at least ${fewest}`, maxChunksPerRequest);
    });
  }

  private async prepare(request: IngestRequest, chunking: Chunking): Promise<DocumentWrite[]> {
    const { maxChunksPerRequest } = this.defaultChunking;
    // Each text makes at least length/size chunks: a request bound to exceed the limit is refused before any splitting.
    const fewest = request.documents.reduce((sum, document) => sum + fewestChunks(document.text, chunking), 0);
    if (fewest > maxChunksPerRequest) throw tooManyChunks(`at least ${fewest}`, maxChunksPerRequest);
    let chunks = 0;
    return Promise.all(
      request.documents.map(async (document) => {
        const id = document.id ?? randomUUID();
        const spans = await chunkSpans(document.text, chunking);
        chunks += spans.length;
        if (chunks > maxChunksPerRequest) throw tooManyChunks(chunks, maxChunksPerRequest);
        return {
          id,
          text: document.text,
          metadata: document.metadata ?? {},
          contentHash: contentHash(document.text, chunkingKey(chunking)),
          spans,
          vectors: spans.map(() => undefined),
        };
      }),
    );
  }

  /** Chunks without a vector, except those of documents `stored` already holds with the same content. */
  private async chunksNeedingVectors(writes: DocumentWrite[], stored: StoreCollection | undefined): Promise<ChunkRef[]> {
    const storedHashes = stored ? await stored.contentHashes(writes.map((write) => write.id)) : new Map<string, string>();
    const needed: ChunkRef[] = [];
    writes.forEach((write, position) => {
      if (storedHashes.get(write.id) === write.contentHash) return;
      write.spans.forEach((_, chunk) => {
        if (!write.vectors[chunk]) needed.push({ write: position, chunk });
      });
    });
    return needed;
  }

  private async fillReusable(writes: DocumentWrite[], needed: ChunkRef[], collection: StoreCollection): Promise<number> {
    if (needed.length === 0) return 0;
    const stored = await collection.reusableVectors([...new Set(needed.map((item) => chunkTextOf(writes, item)))]);
    let reused = 0;
    for (const item of needed) {
      const vector = stored.get(chunkTextOf(writes, item));
      if (vector) {
        (writes[item.write] as DocumentWrite).vectors[item.chunk] = vector;
        reused += 1;
      }
    }
    return reused;
  }

  /** Embeds every chunk still without a vector, each distinct text once. */
  private async embedMissing(writes: DocumentWrite[], needed: ChunkRef[], signal: AbortSignal | undefined): Promise<number> {
    const missing = needed.filter(({ write, chunk }) => !(writes[write] as DocumentWrite).vectors[chunk]);
    if (missing.length === 0) return 0;
    const textOf = (item: ChunkRef) => chunkTextOf(writes, item);
    const distinct = [...new Set(missing.map(textOf))];
    let vectors: ChunkVector[];
    try {
      vectors = this.embedder.embedVectors
        ? await this.embedder.embedVectors(distinct, 'passage', { signal })
        : await this.embedder.embedDocuments(distinct, { signal });
    } catch (error) {
      if (error instanceof InputTooLongError) throw this.tooLong(error, distinct, missing, writes);
      throw error;
    }
    const byText = new Map(distinct.map((text, position) => [text, vectors[position] as ChunkVector]));
    for (const item of missing) (writes[item.write] as DocumentWrite).vectors[item.chunk] = byText.get(textOf(item));
    return distinct.length;
  }

  private tooLong(
    error: InputTooLongError,
    distinct: string[],
    missing: ChunkRef[],
    writes: DocumentWrite[],
  ): ProblemError {
    const text = distinct[error.inputIndex];
    const item = missing.find((candidate) => chunkTextOf(writes, candidate) === text) as ChunkRef;
    const write = writes[item.write] as DocumentWrite;
    const [start, end] = write.spans[item.chunk] as [number, number];
    const limit = error.tokenLimit === undefined ? '' : ` (limit ${error.tokenLimit} tokens)`;
    return new ProblemError({
      status: 422,
      slug: 'input-too-long',
      title: 'Input Too Long For The Embedding Model',
      detail:
        `document "${write.id}" chunk ${item.chunk} (characters ${start}-${end}) is longer than embedding model ` +
        `${error.model} accepts${limit}. Use a smaller chunking.size, or set EMBEDDINGS_TRUNCATE=END. The NIM said: ${error.nimMessage}`,
      extensions: { document_id: write.id, chunk: item.chunk, ...(error.tokenLimit ? { token_limit: error.tokenLimit } : {}) },
      cause: error,
    });
  }

  /** Runs a write, turning the store's refusals into what the caller is told (see writeFailure). */
  private async writing<T>(collection: string, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      throw writeFailure(error, collection, this.embedder.model);
    }
  }

  async get(collectionName: string, id: string): Promise<DocumentView> {
    // An id the store cannot hold names no document (and would fail the database's statement).
    const document = unstorable(id) ? undefined : await (await collectionForRead(this.store, collectionName))?.getDocument(id);
    if (!document) throw missingDocument(id, collectionName);
    return {
      id: document.id,
      collection: collectionName,
      text: document.text,
      metadata: document.metadata,
      chunks: document.spans.map(([start, end], index) => ({ index, start, end })),
      created_at: document.createdAt,
      updated_at: document.updatedAt,
    };
  }

  async list(
    collectionName: string,
    limit: number,
    cursor?: string,
  ): Promise<{ collection: string; documents: DocumentSummary[]; next_cursor: string | null }> {
    if (cursor !== undefined) checkStorable(cursor, 'cursor');
    const collection = await collectionForRead(this.store, collectionName);
    const page = (await collection?.listDocuments(limit, cursor)) ?? { documents: [], next: undefined };
    return {
      collection: collectionName,
      documents: page.documents.map(summarize),
      next_cursor: page.next ?? null,
    };
  }

  async delete(collectionName: string, id: string): Promise<void> {
    const collection = await collectionForRead(this.store, collectionName);
    const deleted = (collection && !unstorable(id) && (await this.writing(collectionName, () => collection.deleteDocuments([id])))) || [];
    if (deleted.length === 0) throw missingDocument(id, collectionName);
  }

  async deleteWhere(collectionName: string, filter: unknown): Promise<{ collection: string; deleted: number; ids: string[] }> {
    const parsed = parseFilter(filter);
    const collection = await collectionForRead(this.store, collectionName);
    const ids = (collection && (await this.writing(collectionName, () => collection.deleteWhere(parsed)))) ?? [];
    return { collection: collectionName, deleted: ids.length, ids };
  }
}

const fewestChunks = (text: string, chunking: Chunking) => (chunking ? Math.ceil(text.length / chunking.size) : 1);
const missingDocument = (id: string, collection: string) => notFound(`document "${id}" does not exist in collection "${collection}"`);

function summarize(document: StoredDocument): DocumentSummary {
  return {
    id: document.id,
    metadata: document.metadata,
    chunks: document.spans.length,
    characters: document.text.length,
    created_at: document.createdAt,
    updated_at: document.updatedAt,
  };
}
