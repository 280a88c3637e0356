import { Embeddings } from '@langchain/core/embeddings';
import { mapInSlices } from '../time-slices.js';
import { textFeatures } from './text-features.js';

export const LOCAL_EMBEDDINGS_MODEL = 'local-lexical-v1';

/** 32-bit FNV-1a over UTF-16 code units, then a murmur3 finaliser so that low bits mix well. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The offline embedder: feature hashing of normalised words and character n-grams into a fixed
 * number of dimensions, sublinear term weights, signed buckets (so collisions cancel rather than
 * pile up) and L2 normalisation. Deterministic, no model, no network: lexical similarity only.
 */
export class LexicalEmbeddings extends Embeddings {
  readonly model = LOCAL_EMBEDDINGS_MODEL;

  constructor(readonly dimensions: number) {
    super({});
  }

  embed(text: string): number[] {
    const vector = new Float64Array(this.dimensions);
    for (const [feature, weight] of textFeatures(text)) {
      const h = hash32(feature);
      const sign = h & 0x80000000 ? -1 : 1;
      vector[h % this.dimensions]! += sign * weight;
    }
    let norm = 0;
    for (const value of vector) norm += value * value;
    norm = Math.sqrt(norm);
    return Array.from(vector, (value) => (norm > 0 ? value / norm : 0));
  }

  async embedQuery(text: string): Promise<number[]> {
    return this.embed(text);
  }

  /** In time slices: about half a millisecond a chunk adds up to seconds for a large ingest. */
  async embedDocuments(texts: string[]): Promise<number[][]> {
    return mapInSlices(texts, (text) => this.embed(text));
  }

  /** Queries and documents are embedded alike: the lexical space is symmetric. */
  async embedQueries(texts: string[]): Promise<number[][]> {
    return this.embedDocuments(texts);
  }
}
