import { EmbeddingSpaceMismatchError, InvalidVectorError } from './store-errors.js';

/** The embedding model a store's vectors come from, and their size once fixed. */
export interface EmbeddingSpace {
  model: string;
  dimensions: number | undefined;
}

/** Where a store keeps its vectors, as a refusal names it: `DATA_DIR /data`, say, and what to point at instead. */
export interface SpaceHolder {
  name: string;
  /** How to start afresh instead, e.g. "point DATA_DIR at a new directory". */
  fresh: string;
}

/**
 * The manifest check of both backends: a store whose recorded model, or size, differs from the
 * configured one refuses to open, since vectors of two models cannot be compared.
 */
export function checkEmbeddingSpace(recorded: EmbeddingSpace, configured: EmbeddingSpace, holder: SpaceHolder): void {
  if (recorded.model !== configured.model) {
    throw new EmbeddingSpaceMismatchError(
      `${holder.name} holds vectors from embedding model "${recorded.model}"` +
        `${recorded.dimensions ? ` (${recorded.dimensions} dimensions)` : ''}, but the service is configured for ` +
        `"${configured.model}". Vectors from different models cannot be compared: configure "${recorded.model}" again, ` +
        `or ${holder.fresh} and re-ingest.`,
    );
  }
  if (configured.dimensions !== undefined && recorded.dimensions !== undefined && recorded.dimensions !== configured.dimensions) {
    throw new EmbeddingSpaceMismatchError(
      `${holder.name} holds ${recorded.dimensions}-dimensional vectors from "${recorded.model}", but ` +
        `${configured.dimensions} dimensions are configured: configure ${recorded.dimensions} again, or ${holder.fresh} and re-ingest.`,
    );
  }
}

/**
 * Whether a write's vector size fixes the store's (true: record it now), matches it (false), or
 * is refused: a store holds vectors of one size only. The upsert plan has checked the size against
 * the one the store knew; this catches a size fixed meanwhile by another replica, as the same 502.
 */
export function fixesDimensions(space: EmbeddingSpace, dimensions: number): boolean {
  if (space.dimensions === dimensions) return false;
  if (space.dimensions === undefined) return true;
  throw new InvalidVectorError(`embedding model ${space.model} returned ${dimensions} dimensions; the store holds ${space.dimensions}`);
}
