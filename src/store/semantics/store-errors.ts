import { ProblemError } from '../../errors.js';

/**
 * The refusals of the store contract, the same whichever backend holds the vectors; the services
 * turn them into what a caller is told (src/services/write-failures.ts).
 */

/** The store was built with another embedding model or size; mixing vector spaces would give wrong answers. */
export class EmbeddingSpaceMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmbeddingSpaceMismatchError';
  }
}

/** A vector the store will not hold: a wrong size, a non-finite number, or no direction. Refused before anything is written. */
export class InvalidVectorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidVectorError';
  }
}

/** A write found its collection dropped since the collection was opened; nothing of it was written. */
export class CollectionDroppedError extends Error {
  constructor(collection: string) {
    super(`collection ${collection} was dropped`);
    this.name = 'CollectionDroppedError';
  }
}

/** The store's database cannot be reached just now; the caller may try again shortly. */
export class StoreUnavailableError extends ProblemError {
  constructor(detail: string, cause?: unknown) {
    super({
      status: 503,
      slug: 'store-unavailable',
      title: 'Service Unavailable',
      detail,
      headers: { 'retry-after': '2' },
      cause,
    });
  }
}
