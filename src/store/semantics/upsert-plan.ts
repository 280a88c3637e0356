import { isDeepStrictEqual } from 'node:util';
import type { Metadata } from '../metadata-filter.js';
import type { ChunkVector, DocumentWrite, UpsertResult, WriteStatus } from '../store-contract.js';
import { checkedVectors } from './vector-check.js';

/** What a backend holds under a document's id, as far as planning a write needs it. */
export interface HeldDocument {
  contentHash: string;
  metadata: Metadata;
  chunks: number;
}

/** What the plan reads from a backend, under the write's lock or in its transaction. */
export interface PlanSource {
  /** The store's vector size when it is fixed; otherwise the first vector of the write fixes it. */
  dimensions: number | undefined;
  /** The documents held under these ids. */
  held(ids: string[]): Promise<Map<string, HeldDocument>>;
  /** Stored vectors of live chunks with exactly these texts, by text. */
  reusable(texts: string[]): Promise<Map<string, number[]>>;
}

/** One document of the write that changes the store, in the order of the write. */
export type PlannedChange =
  | { op: 'metadata'; write: DocumentWrite }
  /**
   * New content with all its chunk vectors, checked: as given (or lent), and as the float32
   * numbers both backends keep, one vector after another.
   */
  | { op: 'put'; write: DocumentWrite; vectors: ChunkVector[]; flat: Float32Array; replaces: boolean };

export type UpsertPlan =
  | Extract<UpsertResult, { applied: false }>
  | {
      applied: true;
      outcomes: Extract<UpsertResult, { applied: true }>['outcomes'];
      changes: PlannedChange[];
      /** The size of every vector the changes hold; undefined when they hold none. */
      dimensions: number | undefined;
    };

/**
 * What an upsert does, decided against what the store holds now, the same for every backend:
 * identical content and metadata is left alone; the same content with other metadata is a
 * metadata update that keeps the vectors; new content is put whole, each chunk's vector from the
 * write or from a stored chunk of equal text. If a vector is still missing, nothing is written
 * and the caller is told which chunks to embed. Every vector put is checked (dimensions, finite,
 * a direction) before anything is written: one bad vector refuses the whole write.
 */
export async function planUpsert(writes: DocumentWrite[], source: PlanSource): Promise<UpsertPlan> {
  const held = await source.held([...new Set(writes.map((write) => write.id))]);
  const outcomes: Array<{ id: string; status: WriteStatus; chunks: number }> = [];
  const pending: Array<{ op: 'metadata'; write: DocumentWrite } | { op: 'put'; write: DocumentWrite; position: number; replaces: boolean }> = [];
  writes.forEach((write, position) => {
    const current = held.get(write.id);
    if (current && current.contentHash === write.contentHash) {
      const sameMetadata = isDeepStrictEqual(current.metadata, write.metadata);
      if (!sameMetadata) pending.push({ op: 'metadata', write });
      outcomes.push({ id: write.id, status: sameMetadata ? 'unchanged' : 'updated', chunks: current.chunks });
      return;
    }
    pending.push({ op: 'put', write, position, replaces: current !== undefined });
    outcomes.push({ id: write.id, status: current ? 'updated' : 'created', chunks: write.spans.length });
  });
  const puts = pending.filter((change) => change.op === 'put');
  const unembedded = puts.flatMap(({ write }) => write.spans.filter((_, chunk) => !write.vectors[chunk]).map((span) => write.text.slice(...span)));
  const lent = unembedded.length > 0 ? await source.reusable([...new Set(unembedded)]) : new Map<string, number[]>();
  const missing: Array<{ write: number; chunk: number }> = [];
  const vectors = puts.map(({ write, position }) =>
    write.spans.map((span, chunk) => {
      const vector = write.vectors[chunk] ?? lent.get(write.text.slice(...span));
      if (!vector) missing.push({ write: position, chunk });
      return vector as ChunkVector;
    }),
  );
  if (missing.length > 0) return { applied: false, missing };
  const dimensions = source.dimensions ?? vectors.flat()[0]?.length;
  const checked = new Map(
    puts.map((put, index) => {
      const given = vectors[index] as ChunkVector[];
      return [put, { vectors: given, flat: checkedVectors(put.write.id, given, dimensions ?? 0) }];
    }),
  );
  const changes = pending.map((change): PlannedChange =>
    change.op === 'metadata' ? change : { op: 'put', write: change.write, ...(checked.get(change) as { vectors: ChunkVector[]; flat: Float32Array }), replaces: change.replaces },
  );
  return { applied: true, outcomes, changes, dimensions: puts.length > 0 ? dimensions : undefined };
}
