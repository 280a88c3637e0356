import type { DocumentInterface } from '@langchain/core/documents';
import { BaseDocumentCompressor } from '@langchain/core/retrievers/document_compressors';
import type { SerializedConstructor } from '@langchain/core/load/serializable';
import {
  CONNECTION_ALIASES,
  CONNECTION_SECRETS,
  CONNECTION_SERIALIZABLE_KEYS,
  type NVIDIAConnectionFields,
  NVIDIAEndpoint,
} from './endpoint.js';
import { DEFAULT_RERANK_MODEL, rankingUrlFor } from './models.js';
import { type LangChainSerializable, serializableKwargs, toLangChainJSON } from './serialization.js';

export interface NVIDIARerankParams extends NVIDIAConnectionFields {
  /** Default `nvidia/llama-3.2-nv-rerankqa-1b-v2` on the hosted catalog; on a self-hosted NIM, the model it serves. */
  model?: string | undefined;
  /** The same as `model`. */
  modelName?: string | undefined;
  /** Documents kept by compressDocuments, best first. Default 5. */
  topN?: number | undefined;
  /** `END` cuts a query + passage pair longer than the model takes; `NONE` (the default) makes it an error. */
  truncate?: 'NONE' | 'END' | undefined;
  /** Passages per request. Default 32, as in the Python package. */
  maxBatchSize?: number | undefined;
}

const SERIALIZABLE_KEYS = ['model', 'topN', 'truncate', 'maxBatchSize', ...CONNECTION_SERIALIZABLE_KEYS];

export interface Ranking {
  /** Position of the passage in the list given. */
  index: number;
  /** The model's relevance score, higher is more relevant; comparable only within one query. */
  logit: number;
}

export interface RankOptions {
  signal?: AbortSignal | undefined;
}

interface RankingResponse {
  rankings?: Array<{ index?: unknown; logit?: unknown }>;
}

/**
 * A LangChain document compressor over a reranking NIM (`POST /v1/ranking`): scores each document
 * against the query and keeps the `topN` best, with the score as `metadata.relevance_score`.
 */
export class NVIDIARerank extends BaseDocumentCompressor implements LangChainSerializable {
  static lc_name(): string {
    return 'NVIDIARerank';
  }

  lc_serializable = true;
  lc_namespace = ['langchain', 'document_compressors', 'nvidia'];
  lc_kwargs: Record<string, unknown>;

  topN: number;
  readonly truncate: 'NONE' | 'END';
  readonly maxBatchSize: number;
  private readonly endpoint: NVIDIAEndpoint;

  constructor(fields: NVIDIARerankParams = {}) {
    super();
    this.lc_kwargs = serializableKwargs(fields, SERIALIZABLE_KEYS);
    this.endpoint = new NVIDIAEndpoint({ ...fields, model: fields.model ?? fields.modelName }, DEFAULT_RERANK_MODEL, 'rerank');
    this.topN = fields.topN ?? 5;
    this.truncate = fields.truncate ?? 'NONE';
    this.maxBatchSize = fields.maxBatchSize ?? 32;
  }

  get lc_id(): string[] {
    return [...this.lc_namespace, 'NVIDIARerank'];
  }

  get lc_secrets(): Record<string, string> {
    return CONNECTION_SECRETS;
  }

  get lc_aliases(): Record<string, string> {
    return CONNECTION_ALIASES;
  }

  /** The model and the base URL as configured, so that a reranker loaded from JSON calls what this one calls. */
  get lc_attributes(): Record<string, unknown> {
    return { baseUrl: this.endpoint.configuredBaseUrl, ...(this.model ? { model: this.model } : {}) };
  }

  toJSON(): SerializedConstructor {
    return toLangChainJSON(this);
  }

  /** The key this reranker sends, if any; serialisation writes it as a reference to `NVIDIA_API_KEY`, never its value. */
  get apiKey(): string | undefined {
    return this.endpoint.client.apiKey;
  }

  /** The model name; empty until a self-hosted NIM given none has been asked (on the first call). */
  get model(): string {
    return this.endpoint.model;
  }

  /** Closes the kept-alive connections of a client this instance made itself. */
  async close(): Promise<void> {
    if (this.endpoint.ownsClient) await this.endpoint.client.close();
  }

  /** Every passage's score against the query, best first; batches of `maxBatchSize` go out at once. */
  async rank(query: string, passages: string[], options: RankOptions = {}): Promise<Ranking[]> {
    if (passages.length === 0) return [];
    const model = await this.endpoint.resolveModel();
    const url = rankingUrlFor(this.endpoint.client.baseUrl, model, this.endpoint.hosted);
    const batches: Promise<Ranking[]>[] = [];
    for (let start = 0; start < passages.length; start += this.maxBatchSize) {
      const batch = passages.slice(start, start + this.maxBatchSize);
      batches.push(this.rankBatch(url, model, query, batch, start, options));
    }
    return (await Promise.all(batches)).flat().sort((a, b) => b.logit - a.logit);
  }

  async compressDocuments(documents: DocumentInterface[], query: string): Promise<DocumentInterface[]> {
    const rankings = await this.rank(
      query,
      documents.map((document) => document.pageContent),
    );
    return rankings.slice(0, this.topN).map(({ index, logit }) => {
      const document = documents[index] as DocumentInterface;
      return { ...document, metadata: { ...document.metadata, relevance_score: logit } };
    });
  }

  private async rankBatch(url: string, model: string, query: string, passages: string[], offset: number, options: RankOptions): Promise<Ranking[]> {
    const body = { model, query: { text: query }, passages: passages.map((text) => ({ text })), truncate: this.truncate };
    const response = await this.endpoint.client.postJson<RankingResponse>(url, body, { model, signal: options.signal, ...this.endpoint.callRetries });
    const rankings = response.rankings;
    const seen = new Set<number>();
    const valid =
      Array.isArray(rankings) &&
      rankings.length === passages.length &&
      rankings.every(
        (ranking) =>
          Number.isInteger(ranking.index) &&
          (ranking.index as number) >= 0 &&
          (ranking.index as number) < passages.length &&
          !seen.has(ranking.index as number) &&
          seen.add(ranking.index as number) &&
          typeof ranking.logit === 'number',
      );
    if (!valid) throw this.endpoint.client.badResponse({ model }, `expected ${passages.length} rankings with distinct indexes and numeric logits`);
    return rankings.map((ranking) => ({ index: (ranking.index as number) + offset, logit: ranking.logit as number }));
  }
}
