import { ProblemError } from '../errors.js';
import { CollectionDroppedError, InvalidVectorError } from '../store/semantics/store-errors.js';

/** A vector the store refused came from the embedding model: a 502 naming it, the same on both backends. */
function badVector(error: InvalidVectorError, embeddingModel: string, what: string): ProblemError {
  return new ProblemError({
    status: 502,
    slug: 'nim-bad-response',
    title: 'NIM Sent An Unexpected Response',
    detail: `embedding model ${embeddingModel} returned ${what}`,
    extensions: { model: embeddingModel },
    cause: error,
  });
}

/** What the caller of a search is told when the store refused its query vector; anything else passes through. */
export function searchFailure(error: unknown, embeddingModel: string): unknown {
  return error instanceof InvalidVectorError ? badVector(error, embeddingModel, `a query vector the store cannot search with (${error.message})`) : error;
}

/** Seconds a caller is asked to wait after the disk failed a write. */
const STORAGE_RETRY_AFTER_SECONDS = 5;

const systemErrorCode = (error: unknown): string | undefined => {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) ? code : undefined;
};

/**
 * What the caller of a write is told when the store refused it; in every case nothing of the
 * request was written. A full disk is a 507, any other failing disk a 503 with Retry-After, a
 * vector the store cannot hold a 502 naming the embedding model it came from, a collection
 * dropped meanwhile a 409. Anything else passes through.
 */
export function writeFailure(error: unknown, collection: string, embeddingModel: string): unknown {
  if (error instanceof CollectionDroppedError) {
    return new ProblemError({
      status: 409,
      slug: 'collection-dropped',
      title: 'Conflict',
      detail: `collection "${collection}" was dropped while this request was writing to it; nothing was written. Send the request again`,
      cause: error,
    });
  }
  if (error instanceof InvalidVectorError) {
    return badVector(error, embeddingModel, `a vector the store cannot hold (${error.message}); nothing of this request was stored`);
  }
  const code = systemErrorCode(error);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new ProblemError({
      status: 507,
      slug: 'insufficient-storage',
      title: 'Insufficient Storage',
      detail: `the disk under DATA_DIR is full (${code}); nothing of this request was stored. Free space, then send it again`,
      cause: error,
    });
  }
  if (code) {
    return new ProblemError({
      status: 503,
      slug: 'storage-unavailable',
      title: 'Storage Unavailable',
      detail: `the store could not write durably (${code}); nothing of this request was stored. Send it again later`,
      headers: { 'retry-after': String(STORAGE_RETRY_AFTER_SECONDS) },
      cause: error,
    });
  }
  return error;
}
