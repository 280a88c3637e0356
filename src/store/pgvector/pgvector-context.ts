import type pg from 'pg';

type Transaction = <T>(work: (client: pg.ClientBase) => Promise<T>) => Promise<T>;

/** What a collection needs of its store. */
export interface PgvectorContext {
  transaction: Transaction;
  efSearch: number;
  /** The vector size when known: recorded in the manifest, or configured. */
  dimensions(): number | undefined;
  /** The vector size, fixed (with the HNSW index built) before the first vector is written. */
  ensureDimensions(client: pg.ClientBase, dimensions: number): Promise<void>;
}
