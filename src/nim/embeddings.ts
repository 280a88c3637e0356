import { Embeddings } from '@langchain/core/embeddings';
import type { Truncate } from '../config.js';
import type { NimClient } from './nim-client.js';
import { NimError } from './nim-error.js';

/** The NIM embeddings API takes at most this many inputs in one request. */
const NIM_MAX_BATCH = 50;

export type InputType = 'query' | 'passage';

export interface NVIDIAEmbeddingsOptions {
  client: NimClient;
  model: string;
  truncate: Truncate;
  /** Sent only when set, for models whose output size is selectable. */
  dimensions?: number | undefined;
  batchSize?: number;
  /** The size every vector must have, when the caller knows it (a store's); a reply of another size is retried like any bad reply. */
  expectedDimensions?: () => number | undefined;
}

export interface EmbedOptions {
  signal?: AbortSignal | undefined;
}

interface EmbeddingsResponse {
  data?: Array<{ index?: number; embedding?: unknown }>;
}

/** One input was longer than the model takes with truncate NONE; `inputIndex` says which. */
export class InputTooLongError extends NimError {
  constructor(
    readonly inputIndex: number,
    readonly tokenLimit: number | undefined,
    original: NimError,
  ) {
    const limit = tokenLimit === undefined ? '' : ` (limit ${tokenLimit} tokens)`;
    super({
      kind: 'input-too-long',
      model: original.model,
      url: original.url,
      nimMessage: original.nimMessage,
      upstreamStatus: original.upstreamStatus,
      detail: `input ${inputIndex} is longer than embedding model ${original.model} accepts${limit}: ${original.nimMessage}`,
      cause: original,
    });
    this.name = 'InputTooLongError';
  }
}

/** The token limit a NIM names in its "input too long" message, when it names one. */
export function tokenLimitOf(message: string): number | undefined {
  const match = /(?:maximum|max|limit)[^0-9]{0,40}(\d+)/i.exec(message) ?? /(\d+)\s*tokens?\s*(?:max|limit)/i.exec(message);
  return match?.[1] ? Number(match[1]) : undefined;
}

/**
 * LangChain embeddings over a NIM `/embeddings` endpoint. Queries go out as `input_type: "query"`,
 * documents as `"passage"`, in requests of at most 50 inputs whose concurrency the NimClient bounds;
 * results are put back in input order by each item's `index`.
 */
export class NVIDIAEmbeddings extends Embeddings {
  readonly model: string;
  private readonly client: NimClient;
  private readonly truncate: Truncate;
  private readonly dimensions: number | undefined;
  private readonly batchSize: number;
  private readonly expectedDimensions: () => number | undefined;

  constructor(options: NVIDIAEmbeddingsOptions) {
    // Retries and concurrency live in NimClient, so LangChain's own caller must not retry again.
    super({ maxRetries: 0 });
    this.client = options.client;
    this.model = options.model;
    this.truncate = options.truncate;
    this.dimensions = options.dimensions;
    this.batchSize = Math.min(options.batchSize ?? NIM_MAX_BATCH, NIM_MAX_BATCH);
    this.expectedDimensions = options.expectedDimensions ?? (() => undefined);
  }

  async embedQuery(text: string, options: EmbedOptions = {}): Promise<number[]> {
    const [vector] = await this.embedBatch([text], 'query', options);
    return vector as number[];
  }

  async embedDocuments(texts: string[], options: EmbedOptions = {}): Promise<number[][]> {
    return this.embedAll(texts, 'passage', options);
  }

  /** Several queries (`input_type: "query"`) in as few requests as the batch limit allows. */
  async embedQueries(texts: string[], options: EmbedOptions = {}): Promise<number[][]> {
    return this.embedAll(texts, 'query', options);
  }

  private async embedAll(texts: string[], inputType: InputType, options: EmbedOptions): Promise<number[][]> {
    if (texts.length <= this.batchSize) return this.embedLocated(texts, 0, inputType, options);
    // One failed batch fails the whole call, so the batches still waiting for a NIM slot are not sent.
    const siblings = new AbortController();
    const forward = () => siblings.abort(options.signal?.reason);
    if (options.signal?.aborted) forward();
    options.signal?.addEventListener('abort', forward, { once: true });
    const batchOptions = { ...options, signal: siblings.signal };
    try {
      const batches: Promise<number[][]>[] = [];
      for (let start = 0; start < texts.length; start += this.batchSize) {
        const batch = texts.slice(start, start + this.batchSize);
        batches.push(
          this.embedLocated(batch, start, inputType, batchOptions).catch((error: unknown) => {
            siblings.abort(error);
            throw error;
          }),
        );
      }
      const vectors = (await Promise.all(batches)).flat();
      const sizes = new Set(vectors.map((vector) => vector.length));
      if (sizes.size > 1) {
        throw new NimError({
          kind: 'nim-bad-response',
          model: this.model,
          url: this.client.baseUrl,
          nimMessage: `the batches of one request came back with vectors of different sizes (${[...sizes].join(', ')})`,
        });
      }
      return vectors;
    } finally {
      options.signal?.removeEventListener('abort', forward);
    }
  }

  /** Embeds a batch; if one input is too long, finds which by halving, and names it by its overall index. */
  private async embedLocated(batch: string[], offset: number, inputType: InputType, options: EmbedOptions): Promise<number[][]> {
    try {
      return await this.embedBatch(batch, inputType, options);
    } catch (error) {
      if (!(error instanceof NimError) || error.kind !== 'input-too-long' || error instanceof InputTooLongError) {
        throw error;
      }
      if (batch.length === 1) throw new InputTooLongError(offset, tokenLimitOf(error.nimMessage), error);
      const half = Math.ceil(batch.length / 2);
      await this.embedLocated(batch.slice(0, half), offset, inputType, options);
      await this.embedLocated(batch.slice(half), offset + half, inputType, options);
      throw error;
    }
  }

  private async embedBatch(input: string[], inputType: InputType, options: EmbedOptions): Promise<number[][]> {
    const body = {
      input,
      model: this.model,
      input_type: inputType,
      encoding_format: 'float',
      truncate: this.truncate,
      ...(this.dimensions !== undefined ? { dimensions: this.dimensions } : {}),
    };
    return this.client.postJson<number[][]>('/embeddings', body, {
      model: this.model,
      signal: options.signal,
      priority: inputType === 'query' ? 1 : 0,
      idempotent: true,
      read: (response) => this.inInputOrder(response as EmbeddingsResponse, input.length),
    });
  }

  /**
   * The vectors in input order, once the response has proved to be what it claims: one item per
   * input, each index once and in range, every vector the same (and, when asked for, the
   * configured) size, of finite numbers, not all zero. Anything else is a bad response, which the
   * client retries, and which never reaches a store.
   */
  private inInputOrder(response: EmbeddingsResponse, expected: number): number[][] {
    const data = response?.data;
    const fail = (why: string) =>
      new NimError({ kind: 'nim-bad-response', model: this.model, url: this.client.baseUrl, nimMessage: why });
    if (!Array.isArray(data) || data.length !== expected) {
      throw fail(`expected ${expected} embeddings, got ${Array.isArray(data) ? data.length : 'none'}`);
    }
    const vectors = new Array<number[]>(expected);
    const size = this.dimensions ?? this.expectedDimensions() ?? (data[0]?.embedding as unknown[] | undefined)?.length;
    data.forEach((item, position) => {
      const index = item?.index ?? position;
      if (!Number.isInteger(index) || index < 0 || index >= expected || vectors[index]) {
        throw fail(`embedding item ${position} has index ${JSON.stringify(index)}: out of range or repeated`);
      }
      const problem = vectorProblem(item.embedding, size);
      if (problem) throw fail(`embedding ${index} ${problem}`);
      vectors[index] = item.embedding as number[];
    });
    return vectors;
  }
}

/** Why a value is not a usable embedding of `size` numbers, or undefined when it is one. */
export function vectorProblem(vector: unknown, size: number | undefined): string | undefined {
  if (!Array.isArray(vector)) return 'is not a list of numbers';
  if (vector.length === 0) return 'is empty';
  if (size !== undefined && vector.length !== size) return `has ${vector.length} dimensions, not ${size}`;
  let squares = 0;
  for (let position = 0; position < vector.length; position++) {
    const value: unknown = vector[position];
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      const shown = typeof value === 'number' || value === undefined ? String(value) : JSON.stringify(value);
      return `has ${shown} at position ${position}, not a finite number`;
    }
    squares += value * value;
  }
  return squares > 0 && Number.isFinite(squares) ? undefined : 'has no direction (its norm is 0 or overflows)';
}
