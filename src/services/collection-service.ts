import { mayTouch, type Principal } from '../auth/principal.js';
import { notFound } from '../errors.js';
import { type CollectionSummary, DEFAULT_COLLECTION, type DocumentStore, type StoreCollection } from '../store/store-contract.js';

/**
 * The collection a read names, or 404. The default collection always exists for reads (empty
 * until the first write), so a fresh service answers searches instead of failing them.
 */
export async function collectionForRead(store: DocumentStore, name: string): Promise<StoreCollection | undefined> {
  const collection = await store.collection(name);
  if (!collection && name !== DEFAULT_COLLECTION) throw notFound(`collection "${name}" does not exist`);
  return collection;
}

export class CollectionService {
  constructor(private readonly store: DocumentStore) {}

  /** The collections the principal may touch; the others are not named. */
  async list(principal: Principal): Promise<CollectionSummary[]> {
    return (await this.store.list()).filter((collection) => mayTouch(principal, collection.name));
  }

  /** Chunks stored in the collections the principal may touch: what its max_chunks counts. */
  async storedChunks(principal: Principal): Promise<number> {
    return (await this.list(principal)).reduce((sum, collection) => sum + collection.chunks, 0);
  }

  async drop(name: string): Promise<void> {
    if (!(await this.store.drop(name))) throw notFound(`collection "${name}" does not exist`);
  }
}
