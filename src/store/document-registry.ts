import { chunkHash } from './content-hash.js';
import type { Metadata, MetadataPredicate } from './metadata-filter.js';
import type { StoredDocument } from './store-contract.js';
import type { SnapshotEntry } from './snapshot.js';

export interface ChunkRef {
  document: StoredDocument;
  chunk: number;
}

export const chunkText = (document: StoredDocument, chunk: number) => {
  const [start, end] = document.spans[chunk] as [number, number];
  return document.text.slice(start, end);
};

/**
 * A collection's documents and the labels of their chunk vectors, both ways: document id to
 * labels, label to chunk, and chunk text to a live label whose vector can be lent to an equal
 * chunk instead of embedding it again. It holds no vectors.
 */
export class DocumentRegistry {
  private readonly documents = new Map<string, StoredDocument>();
  private readonly labelsOf = new Map<string, number[]>();
  private readonly chunkAt = new Map<number, ChunkRef>();
  private readonly vectorSource = new Map<string, number>();
  private sortedIds: string[] | undefined;

  get documentCount(): number {
    return this.documents.size;
  }

  get chunkCount(): number {
    return this.chunkAt.size;
  }

  get(id: string): StoredDocument | undefined {
    return this.documents.get(id);
  }

  has(id: string): boolean {
    return this.documents.has(id);
  }

  chunk(label: number): ChunkRef | undefined {
    return this.chunkAt.get(label);
  }

  /** A live label holding a chunk of exactly this text. */
  labelWithText(text: string): number | undefined {
    return this.vectorSource.get(chunkHash(text));
  }

  remember(document: StoredDocument, labels: number[]): void {
    this.documents.set(document.id, document);
    this.labelsOf.set(document.id, labels);
    labels.forEach((label, chunk) => {
      this.chunkAt.set(label, { document, chunk });
      this.vectorSource.set(chunkHash(chunkText(document, chunk)), label);
    });
    this.sortedIds = undefined;
  }

  /** Forgets a document; returns the labels its chunks had (empty if it was not here). */
  forget(id: string): number[] {
    const document = this.documents.get(id);
    if (!document) return [];
    const labels = this.labelsOf.get(id) ?? [];
    labels.forEach((label, chunk) => {
      this.chunkAt.delete(label);
      const hash = chunkHash(chunkText(document, chunk));
      if (this.vectorSource.get(hash) === label) this.vectorSource.delete(hash);
    });
    this.documents.delete(id);
    this.labelsOf.delete(id);
    this.sortedIds = undefined;
    return labels;
  }

  updateMetadata(id: string, metadata: Metadata, updatedAt: string): void {
    const current = this.documents.get(id);
    if (!current) return;
    const updated = { ...current, metadata, updatedAt };
    this.documents.set(id, updated);
    for (const label of this.labelsOf.get(id) ?? []) {
      const ref = this.chunkAt.get(label) as ChunkRef;
      this.chunkAt.set(label, { document: updated, chunk: ref.chunk });
    }
  }

  /** Ids of the documents whose metadata matches. */
  idsMatching(filter: MetadataPredicate): string[] {
    return [...this.documents.values()].filter((document) => filter(document.metadata)).map((document) => document.id);
  }

  /** Labels of the chunks whose document matches, or undefined once there are more than `limit`. */
  labelsMatching(filter: MetadataPredicate, limit: number): number[] | undefined {
    const matching: number[] = [];
    for (const [id, document] of this.documents) {
      if (!filter(document.metadata)) continue;
      matching.push(...(this.labelsOf.get(id) ?? []));
      if (matching.length > limit) return undefined;
    }
    return matching;
  }

  /** Documents ordered by id, starting after `after`; stable under concurrent writes. */
  list(limit: number, after?: string): { documents: StoredDocument[]; next: string | undefined } {
    this.sortedIds ??= [...this.documents.keys()].sort();
    const ids = this.sortedIds;
    let start = 0;
    if (after !== undefined) {
      let low = 0;
      let high = ids.length;
      while (low < high) {
        const middle = (low + high) >>> 1;
        if ((ids[middle] as string) <= after) low = middle + 1;
        else high = middle;
      }
      start = low;
    }
    const page = ids.slice(start, start + limit);
    const documents = page.map((id) => this.documents.get(id) as StoredDocument);
    return { documents, next: start + limit < ids.length ? page.at(-1) : undefined };
  }

  /** Every document with its labels, for a snapshot. */
  entries(): SnapshotEntry[] {
    return [...this.documents.values()].map((document) => ({ document, labels: [...(this.labelsOf.get(document.id) ?? [])] }));
  }
}
