import { notFound } from '../errors.js';
import type { HnswCollection } from '../store/hnsw-collection.js';
import { type CollectionSummary, DEFAULT_COLLECTION, type HnswStore } from '../store/hnsw-store.js';

/**
 * The collection a read names, or 404. The default collection always exists for reads (empty
 * until the first write), so a fresh service answers searches instead of failing them.
 */
export function collectionForRead(store: HnswStore, name: string): HnswCollection | undefined {
  const collection = store.get(name);
  if (!collection && name !== DEFAULT_COLLECTION) throw notFound(`collection "${name}" does not exist`);
  return collection;
}

export class CollectionService {
  constructor(private readonly store: HnswStore) {}

  list(): CollectionSummary[] {
    return this.store.list();
  }

  async drop(name: string): Promise<void> {
    if (!(await this.store.drop(name))) throw notFound(`collection "${name}" does not exist`);
  }
}
