import { Embeddings, type EmbeddingsParams } from '@langchain/core/embeddings';
import type { SerializedConstructor } from '@langchain/core/load/serializable';
import type { FailedAttemptHandler } from './client.js';
import {
  CONNECTION_ALIASES,
  CONNECTION_SECRETS,
  CONNECTION_SERIALIZABLE_KEYS,
  type NVIDIAConnectionFields,
  NVIDIAEndpoint,
} from './endpoint.js';
import { InputTooLongError, NVIDIAError, tokenLimitOf } from './errors.js';
import { DEFAULT_EMBEDDINGS_MODEL } from './models.js';
import { type LangChainSerializable, serializableKwargs, toLangChainJSON } from './serialization.js';
import { decodeBase64, vectorProblem } from './vectors.js';

/** The NIM embeddings API takes at most this many inputs in one request. */
const NIM_MAX_BATCH = 50;

export type InputType = 'query' | 'passage';
export type Truncate = 'NONE' | 'START' | 'END';
export type EncodingFormat = 'base64' | 'float';

export interface NVIDIAEmbeddingsParams extends EmbeddingsParams, NVIDIAConnectionFields {
  /** Default `nvidia/nv-embedqa-e5-v5` on the hosted catalog; on a self-hosted NIM, the model it serves. */
  model?: string | undefined;
  /** The same as `model`, as `@langchain/openai` accepts it. */
  modelName?: string | undefined;
  /** What the NIM does with an input longer than the model takes: `NONE` (an error naming the input, the default), `START` or `END`. */
  truncate?: Truncate | undefined;
  /** Sent only when set, for models whose output size is selectable. */
  dimensions?: number | undefined;
  /** Inputs per request, at most 50 (the default). */
  batchSize?: number | undefined;
  /** The size every vector must have, when the caller knows it (a vector store's); a reply of another size is retried like any bad reply. */
  expectedDimensions?: (() => number | undefined) | undefined;
  /** `base64` (the default: about a tenth of the CPU of parsing JSON floats) or `float`. A NIM that refuses base64 gets floats. */
  encodingFormat?: EncodingFormat | undefined;
  onFailedAttempt?: FailedAttemptHandler | undefined;
}

const SERIALIZABLE_KEYS = ['model', 'truncate', 'dimensions', 'batchSize', 'encodingFormat', ...CONNECTION_SERIALIZABLE_KEYS];

export interface EmbedOptions {
  signal?: AbortSignal | undefined;
}

/** A vector as it arrived: float32s decoded from base64, or the numbers of a JSON array. */
type Vector = Float32Array | number[];

/** A plain array for LangChain's interface; an indexed loop, as Array.from on a typed array costs ten times more. */
function asNumbers(vector: Vector): number[] {
  if (Array.isArray(vector)) return vector;
  const numbers = new Array<number>(vector.length);
  for (let index = 0; index < vector.length; index++) numbers[index] = vector[index] as number;
  return numbers;
}

interface EmbeddingsResponse {
  data?: Array<{ index?: number; embedding?: unknown }>;
}

/**
 * A NIM's refusal of `encoding_format: "base64"`: a pydantic 422 ("Input should be 'float'"), or a
 * 400 that names the field or the format.
 */
const REFUSES_BASE64 = /encoding_format|base64|'float'/i;

/**
 * LangChain embeddings over a NIM `/embeddings` endpoint. Queries go out as `input_type: "query"`,
 * documents as `"passage"`, in requests of at most 50 inputs sent concurrently (bounded by
 * `maxConcurrency`); results are put back in input order by each item's `index`. Vectors travel as
 * base64 float32s and are decoded straight from the bytes.
 */
export class NVIDIAEmbeddings extends Embeddings implements LangChainSerializable {
  static lc_name(): string {
    return 'NVIDIAEmbeddings';
  }

  lc_serializable = true;
  lc_namespace = ['langchain', 'embeddings', 'nvidia'];
  lc_kwargs: Record<string, unknown>;

  readonly truncate: Truncate;
  readonly dimensions: number | undefined;
  readonly batchSize: number;
  encodingFormat: EncodingFormat;
  private readonly endpoint: NVIDIAEndpoint;
  private readonly expectedDimensions: () => number | undefined;

  get lc_id(): string[] {
    return [...this.lc_namespace, 'NVIDIAEmbeddings'];
  }

  get lc_secrets(): Record<string, string> {
    return CONNECTION_SECRETS;
  }

  get lc_aliases(): Record<string, string> {
    return CONNECTION_ALIASES;
  }

  /** The model and the base URL as configured, so that embeddings loaded from JSON call what these call. */
  get lc_attributes(): Record<string, unknown> {
    return { baseUrl: this.endpoint.configuredBaseUrl, ...(this.model ? { model: this.model } : {}) };
  }

  toJSON(): SerializedConstructor {
    return toLangChainJSON(this);
  }

  constructor(fields: NVIDIAEmbeddingsParams = {}) {
    super(fields);
    this.lc_kwargs = serializableKwargs(fields, SERIALIZABLE_KEYS);
    this.endpoint = new NVIDIAEndpoint({ ...fields, model: fields.model ?? fields.modelName }, DEFAULT_EMBEDDINGS_MODEL, 'embedding');
    this.truncate = fields.truncate ?? 'NONE';
    this.dimensions = fields.dimensions;
    this.batchSize = Math.min(fields.batchSize ?? NIM_MAX_BATCH, NIM_MAX_BATCH);
    this.encodingFormat = fields.encodingFormat ?? 'base64';
    this.expectedDimensions = fields.expectedDimensions ?? (() => undefined);
  }

  /** The model name; empty until a self-hosted NIM given none has been asked (on the first call). */
  get model(): string {
    return this.endpoint.model;
  }

  get baseUrl(): string {
    return this.endpoint.client.baseUrl;
  }

  /** The key these embeddings send, if any; serialisation writes it as a reference to `NVIDIA_API_KEY`, never its value. */
  get apiKey(): string | undefined {
    return this.endpoint.client.apiKey;
  }

  /** Closes the kept-alive connections of a client this instance made itself. */
  async close(): Promise<void> {
    if (this.endpoint.ownsClient) await this.endpoint.client.close();
  }

  async embedQuery(text: string, options: EmbedOptions = {}): Promise<number[]> {
    const [vector] = await this.embedBatch([text], 'query', options);
    return asNumbers(vector as Vector);
  }

  async embedDocuments(texts: string[], options: EmbedOptions = {}): Promise<number[][]> {
    return (await this.embedAll(texts, 'passage', options)).map(asNumbers);
  }

  /** Several queries (`input_type: "query"`) in as few requests as the batch limit allows. */
  async embedQueries(texts: string[], options: EmbedOptions = {}): Promise<number[][]> {
    return (await this.embedAll(texts, 'query', options)).map(asNumbers);
  }

  /** As embedDocuments (or embedQueries for `query`), as Float32Arrays: base64 vectors exactly as decoded. */
  async embedVectors(texts: string[], inputType: InputType, options: EmbedOptions = {}): Promise<Float32Array[]> {
    return (await this.embedAll(texts, inputType, options)).map((vector) => (Array.isArray(vector) ? Float32Array.from(vector) : vector));
  }

  private async embedAll(texts: string[], inputType: InputType, options: EmbedOptions): Promise<Vector[]> {
    if (texts.length <= this.batchSize) return this.embedLocated(texts, 0, inputType, options);
    // One failed batch fails the whole call, so the batches still waiting for a NIM slot are not sent.
    const siblings = new AbortController();
    const forward = () => siblings.abort(options.signal?.reason);
    if (options.signal?.aborted) forward();
    options.signal?.addEventListener('abort', forward, { once: true });
    const batchOptions = { ...options, signal: siblings.signal };
    try {
      const batches: Promise<Vector[]>[] = [];
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
        throw this.endpoint.client.badResponse(
          { model: this.model },
          `the batches of one request came back with vectors of different sizes (${[...sizes].join(', ')})`,
        );
      }
      return vectors;
    } finally {
      options.signal?.removeEventListener('abort', forward);
    }
  }

  /** Embeds a batch; if one input is too long, finds which by halving, and names it by its overall index. */
  private async embedLocated(batch: string[], offset: number, inputType: InputType, options: EmbedOptions): Promise<Vector[]> {
    try {
      return await this.embedBatch(batch, inputType, options);
    } catch (error) {
      if (!(error instanceof NVIDIAError) || error.kind !== 'input-too-long' || error instanceof InputTooLongError) {
        throw error;
      }
      if (batch.length === 1) throw new InputTooLongError(offset, tokenLimitOf(error.nimMessage), error);
      const half = Math.ceil(batch.length / 2);
      await this.embedLocated(batch.slice(0, half), offset, inputType, options);
      await this.embedLocated(batch.slice(half), offset + half, inputType, options);
      throw error;
    }
  }

  private async embedBatch(input: string[], inputType: InputType, options: EmbedOptions): Promise<Vector[]> {
    const model = await this.endpoint.resolveModel();
    const encodingFormat = this.encodingFormat;
    const body = {
      input,
      model,
      input_type: inputType,
      encoding_format: encodingFormat,
      truncate: this.truncate,
      ...(this.dimensions !== undefined ? { dimensions: this.dimensions } : {}),
    };
    try {
      return await this.endpoint.client.postJson<Vector[]>('/embeddings', body, {
        model,
        signal: options.signal,
        ...this.endpoint.callRetries,
        priority: inputType === 'query' ? 1 : 0,
        idempotent: true,
        read: (response) => this.inInputOrder(response as EmbeddingsResponse | null, input.length, model),
      });
    } catch (error) {
      if (encodingFormat !== 'base64' || !refusesBase64(error)) throw error;
      this.encodingFormat = 'float';
      this.endpoint.logger.warn({ model, url: this.baseUrl }, `the NIM at ${this.baseUrl} refuses base64 embeddings; asking for floats`);
      return this.embedBatch(input, inputType, options);
    }
  }

  /**
   * The vectors in input order, once the response has proved to be what it claims: one item per
   * input, each index once and in range, every vector the same (and, when asked for, the
   * configured) size, of finite numbers, not all zero. Anything else is a bad response, which the
   * client retries, and which never reaches the caller.
   */
  private inInputOrder(response: EmbeddingsResponse | null, expected: number, model: string): Vector[] {
    const data = response?.data;
    const fail = (why: string) => this.endpoint.client.badResponse({ model }, why);
    if (!Array.isArray(data) || data.length !== expected) {
      throw fail(`expected ${expected} embeddings, got ${Array.isArray(data) ? data.length : 'none'}`);
    }
    const vectors = new Array<Vector>(expected);
    let size = this.dimensions ?? this.expectedDimensions();
    data.forEach((item, position) => {
      const index = item?.index ?? position;
      if (!Number.isInteger(index) || index < 0 || index >= expected || vectors[index]) {
        throw fail(`embedding item ${position} has index ${JSON.stringify(index)}: out of range or repeated`);
      }
      const raw = item.embedding;
      const vector: unknown = typeof raw === 'string' ? decodeBase64(raw) : raw;
      size ??= (vector as Vector | undefined)?.length;
      const problem = vectorProblem(vector, size);
      if (problem) throw fail(`embedding ${index} ${problem}`);
      vectors[index] = vector as Vector;
    });
    return vectors;
  }
}

function refusesBase64(error: unknown): boolean {
  return error instanceof NVIDIAError && error.kind === 'rejected-request' && REFUSES_BASE64.test(error.nimMessage);
}
