import pThrottle from 'p-throttle';
import type { Logger } from 'pino';
import type { Config, NimEndpointConfig } from '../config.js';
import { extractiveAnswer, LOCAL_ANSWERER_MODEL } from '../local/extractive-answerer.js';
import { LexicalEmbeddings, LOCAL_EMBEDDINGS_MODEL } from '../local/lexical-embeddings.js';
import { sectionExtractor } from '../files/section-extractor.js';
import {
  baseUrlFor,
  ChatNVIDIA,
  DEFAULT_CHAT_MODEL,
  DEFAULT_EMBEDDINGS_MODEL,
  DEFAULT_RERANK_MODEL,
  discoverModel,
  type ModelKind,
  NVIDIAClient,
  NVIDIAEmbeddings,
  NVIDIARerank,
  resolveModelAlias,
} from '@nim-rag/langchain-nvidia';
import { ModelHealth } from '../nim/model-health.js';
import { kindCheckedProbe, localProbe, nimProbe, type ProviderProbe } from '../nim/readiness.js';
import { llmAnswerer } from '../rag/ask-chain.js';
import { llmCondenser, localCondenser } from '../rag/condense.js';
import { RunnableLambda } from '@langchain/core/runnables';
import { Metrics } from '../metrics.js';
import { EmbeddedStore } from '../store/embedded-store.js';
import { HnswStore } from '../store/hnsw-store.js';
import { PgvectorStore } from '../store/pgvector/pgvector-store.js';
import { DEFAULT_COLLECTION, type DocumentStore } from '../store/store-contract.js';
import { type Answering, AskService } from './ask-service.js';
import { ChatCompletionsService } from './chat-completions.js';
import { CollectionService } from './collection-service.js';
import type { ConversationRepository } from './conversation-repository.js';
import { ConversationService } from './conversation-service.js';
import { DiskConversationRepository } from './disk-conversation-repository.js';
import { PostgresConversationRepository } from './postgres-conversation-repository.js';
import { DocumentService, type TextEmbedder } from './document-service.js';
import { FileService } from './file-service.js';
import { HealthService } from './health-service.js';
import { DiskJobRepository } from './disk-job-repository.js';
import type { JobRepository } from './job-repository.js';
import { JobService } from './job-service.js';
import { PostgresJobRepository } from './postgres-job-repository.js';
import { type Reranking, RetrievalService, type Source } from './retrieval-service.js';
import { SimilarityService } from './similarity-service.js';

export interface Services {
  documents: DocumentService;
  collections: CollectionService;
  retrieval: RetrievalService;
  ask: AskService;
  similarity: SimilarityService;
  chatCompletions: ChatCompletionsService;
  health: HealthService;
  files: FileService;
  jobs: JobService;
  conversations: ConversationService;
  store: DocumentStore;
  metrics: Metrics;
  /** Flushes the store (a snapshot per changed collection), closes its logs and the connections to the NIMs. */
  close(): Promise<void>;
}

type Pace = () => Promise<void>;

function pacer(requestsPerMinute: number): Pace {
  if (requestsPerMinute <= 0) return async () => undefined;
  return pThrottle({ limit: requestsPerMinute, interval: 60_000, strict: true })(async () => undefined);
}

interface NimSetup {
  client: NVIDIAClient;
  health: ModelHealth;
  model: string;
}

/** A client for one NIM endpoint (added to `clients`, to be closed), and the model it will call (alias resolved, or discovered). */
async function connectNim(
  clients: NVIDIAClient[],
  endpoint: NimEndpointConfig,
  fallbackHostedModel: string,
  kind: ModelKind,
  config: Config,
  maxConcurrency: number,
  pace: Pace,
  metrics: Metrics,
  logger: Logger,
): Promise<NimSetup> {
  const named = endpoint.model ? resolveModelAlias(endpoint.model, logger) : undefined;
  const hostedModel = endpoint.hosted ? (named ?? fallbackHostedModel) : undefined;
  const { url, warning } = baseUrlFor(endpoint.url, hostedModel);
  if (warning) logger.warn(warning);
  if (endpoint.hosted && endpoint.apiKey && !endpoint.apiKey.startsWith('nvapi-')) {
    logger.warn('NVIDIA_API_KEY does not start with "nvapi-"; the hosted catalog will probably reject it');
  }
  const health = new ModelHealth();
  const client = nimClient(url, endpoint.apiKey, config.nim.timeoutMs, config, maxConcurrency, pace, metrics, logger, health);
  clients.push(client);
  const model = hostedModel ?? named ?? (await discoverModel(client, logger, kind));
  return { client, health, model };
}

/** A client of one NIM base URL, its calls timed out after `timeoutMs`, paced, measured and (with `health`) followed for readiness. */
function nimClient(
  url: string,
  apiKey: string | undefined,
  timeoutMs: number,
  config: Config,
  maxConcurrency: number,
  pace: Pace,
  metrics: Metrics,
  logger: Logger,
  health?: ModelHealth,
): NVIDIAClient {
  return new NVIDIAClient({
    baseUrl: url,
    apiKey,
    timeoutMs,
    streamTimeoutMs: config.nim.streamTimeoutMs,
    streamMinBytesPerSecond: config.nim.streamMinBytesPerSecond,
    maxRetries: config.nim.maxRetries,
    maxConcurrency,
    logger,
    hooks: {
      beforeAttempt: pace,
      onAttempt: ({ endpoint, model, status, seconds }) => {
        metrics.nimDuration.observe({ endpoint, model, status }, seconds);
        // A caller that went away is not the NIM failing.
        if (!status.startsWith('2') && status !== 'cancelled') metrics.nimFailures.inc({ endpoint, model, reason: status });
      },
      ...(health ? { onCallEnd: health.record } : {}),
    },
  });
}

/**
 * Builds everything the routes call, from configuration: providers (NIM or the embedded offline
 * ones), the store (refusing one built with another embedding model), and the services.
 */
export async function createServices(config: Config, logger: Logger): Promise<Services> {
  const pace = pacer(config.nim.maxRequestsPerMinute);
  const metrics = new Metrics();
  const nimClients: NVIDIAClient[] = [];
  let embedder: TextEmbedder;
  let embeddingsProbe: ProviderProbe;
  let dimensions: number | undefined;
  let lexical: LexicalEmbeddings | undefined;
  // The store opens once the providers are known; the embeddings client then checks replies against its dimensions.
  const opened: { store?: DocumentStore } = {};
  if (config.embeddings.provider === 'nim') {
    const { client, health, model } = await connectNim(
      nimClients,
      config.embeddings,
      DEFAULT_EMBEDDINGS_MODEL,
      'embedding',
      config,
      config.nim.embeddingsConcurrency,
      pace,
      metrics,
      logger,
    );
    embedder = new NVIDIAEmbeddings({
      client,
      model,
      truncate: config.embeddings.truncate,
      dimensions: config.embeddings.dimensions,
      batchSize: config.embeddings.batchSize,
      expectedDimensions: () => opened.store?.dimensions,
    });
    dimensions = config.embeddings.dimensions;
    embeddingsProbe = kindCheckedProbe(nimProbe(client, health, model, config.embeddings.hosted), model, 'embedding');
    logger.info({ model, url: client.baseUrl, truncate: config.embeddings.truncate }, 'embeddings: NIM');
  } else {
    lexical = new LexicalEmbeddings(config.embeddings.dimensions);
    embedder = lexical;
    dimensions = config.embeddings.dimensions;
    embeddingsProbe = localProbe(LOCAL_EMBEDDINGS_MODEL, 'offline lexical embedder (feature hashing; no model, no GPU)');
  }

  let answering: Answering;
  let llmProbe: ProviderProbe;
  if (config.llm.provider === 'nim') {
    const { client, health, model } = await connectNim(nimClients, config.llm, DEFAULT_CHAT_MODEL, 'chat', config, config.nim.llmConcurrency, pace, metrics, logger);
    const llm = new ChatNVIDIA({
      client,
      model,
      maxTokens: config.llm.maxTokens,
      temperature: config.llm.temperature,
      topP: config.llm.topP,
      seed: config.llm.seed,
    });
    // The condense step has its own client, for its own (shorter) timeout; same NIM, same pacing.
    const condenseClient = nimClient(client.baseUrl, config.llm.apiKey, config.condense.timeoutMs, config, config.nim.llmConcurrency, pace, metrics, logger);
    nimClients.push(condenseClient);
    const condenseLlm = new ChatNVIDIA({ client: condenseClient, model, maxTokens: config.condense.maxTokens, temperature: config.condense.temperature });
    answering = {
      model,
      condenser: llmCondenser(model, condenseLlm),
      answerer: (generation, recorder) => llmAnswerer<Source>(llm.withConfig({ ...generation, callbacks: [recorder], streaming: recorder.streaming })),
    };
    llmProbe = kindCheckedProbe(nimProbe(client, health, model, config.llm.hosted), model, 'chat');
    logger.info({ model, url: client.baseUrl }, 'answers: NIM chat model');
  } else {
    // The answerer ranks retrieved sentences against the question lexically, whatever embeds the store.
    const quoting = lexical ?? new LexicalEmbeddings(1024);
    // A follow-up's sentences are ranked against its standalone query, which names what the question only points at.
    const extractive = RunnableLambda.from((input: { question: string; standalone_query?: string; language?: string | undefined; sources: Source[] }) =>
      extractiveAnswer(input.standalone_query ?? input.question, input.sources, quoting, input.language),
    ).withConfig({ runName: 'extractive_answerer' });
    answering = { model: LOCAL_ANSWERER_MODEL, condenser: localCondenser, answerer: () => extractive };
    llmProbe = localProbe(LOCAL_ANSWERER_MODEL, 'offline extractive answerer: quotes retrieved sentences, generates nothing');
  }

  let reranking: Reranking | undefined;
  if (config.rerank) {
    const { client, model } = await connectNim(nimClients, config.rerank, DEFAULT_RERANK_MODEL, 'rerank', config, config.nim.embeddingsConcurrency, pace, metrics, logger);
    reranking = { reranker: new NVIDIARerank({ client, model }), candidates: config.rerank.candidates };
    logger.info({ model, url: client.baseUrl, candidates: config.rerank.candidates }, 'reranking: NIM');
  }

  if (config.embeddings.provider === 'local' || config.llm.provider === 'local') {
    logger.warn(
      {
        embeddings: config.embeddings.provider === 'local' ? LOCAL_EMBEDDINGS_MODEL : embedder.model,
        answers: answering.model,
      },
      'OFFLINE MODE: no NIM configured for ' +
        [config.embeddings.provider === 'local' ? 'embeddings' : '', config.llm.provider === 'local' ? 'answers' : '']
          .filter(Boolean)
          .join(' and ') +
        '; using the embedded local providers (lexical matching and quoted sentences, not a neural model). ' +
        'Set NVIDIA_API_KEY or NIM_EMBEDDINGS_URL / NIM_LLM_URL to use NVIDIA NIM.',
    );
  }

  const store = await openStore(config, embedder, dimensions, logger);
  opened.store = store;
  metrics.watchStore(store);
  const retrieval = new RetrievalService(store, embedder, reranking, config.retrieval);
  // A lexical score of 0 means not one word in common: nothing such a source could be cited for.
  const ask = new AskService(retrieval, answering, { dropUnmatched: config.embeddings.provider === 'local', history: config.history });
  const documents = new DocumentService(store, embedder, config.chunking, metrics, logger);
  const extractor = sectionExtractor(config.files.extractThreads);
  const files = new FileService(documents, { maxPages: config.files.maxPages }, config.chunking, extractor);
  const jobs = await JobService.open(await openJobRepository(config, logger), files, documents, logger, config.jobRetentionMs);
  const conversations = await ConversationService.open(await openConversationRepository(config, logger), logger, config.conversationRetentionMs);
  return {
    documents,
    collections: new CollectionService(store),
    retrieval,
    ask,
    similarity: new SimilarityService(embedder),
    chatCompletions: new ChatCompletionsService(ask, { collection: DEFAULT_COLLECTION, k: config.retrieval.k }),
    health: new HealthService(store, { embeddings: embeddingsProbe, llm: llmProbe }, answering.condenser.name),
    files,
    jobs,
    conversations,
    store,
    metrics,
    close: async () => {
      try {
        await jobs.close();
        await conversations.close();
        await extractor.close();
        await store.close();
      } finally {
        await Promise.allSettled(nimClients.map((client) => client.close()));
      }
    },
  };
}

/** Jobs live where the store does: on DATA_DIR beside the embedded store, or in the pgvector store's database, shared by every replica. */
async function openJobRepository(config: Config, logger: Logger): Promise<JobRepository> {
  if (config.database) {
    return PostgresJobRepository.open({ url: config.database.url, statementTimeoutMs: config.database.statementTimeoutMs, ...config.jobs, logger });
  }
  return DiskJobRepository.open(config.dataDir, logger);
}

/** Conversations live where the store does too: files on DATA_DIR, or rows in the pgvector store's database, continued by any replica. */
async function openConversationRepository(config: Config, logger: Logger): Promise<ConversationRepository> {
  if (config.database) return new PostgresConversationRepository({ url: config.database.url, statementTimeoutMs: config.database.statementTimeoutMs, logger });
  return DiskConversationRepository.open(config.dataDir);
}

/** The configured store: the embedded HNSW store on DATA_DIR, or Postgres with pgvector. */
async function openStore(config: Config, embedder: TextEmbedder, dimensions: number | undefined, logger: Logger): Promise<DocumentStore> {
  if (config.database) {
    return PgvectorStore.open({
      ...config.database,
      hnsw: config.hnsw,
      embeddingModel: embedder.model,
      embeddingDimensions: dimensions,
      logger,
    });
  }
  const hnsw = await HnswStore.open({
    dataDir: config.dataDir,
    hnsw: config.hnsw,
    embeddingModel: embedder.model,
    embeddingDimensions: dimensions,
    logger,
    snapshotEveryChunks: config.snapshots.everyChunks,
    snapshotIntervalMs: config.snapshots.intervalMs,
  });
  return new EmbeddedStore(hnsw);
}
