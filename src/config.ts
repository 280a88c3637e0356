import { z } from 'zod';
import type { RetrievalMode } from './services/rank-fusion.js';

/** The hosted NVIDIA API catalog, used when a key is set and no self-hosted NIM URL is. */
export const HOSTED_CATALOG_URL = 'https://integrate.api.nvidia.com/v1';

export type Truncate = 'NONE' | 'START' | 'END';
export type Provider = 'nim' | 'local';

export interface NimEndpointConfig {
  /** Base URL as given (normalised later by the NIM client, which warns about a missing /v1). */
  url: string;
  /** True when no URL was given and the hosted catalog is used. */
  hosted: boolean;
  /** Undefined: discovered from GET {url}/models at start (self-hosted) or the catalog default. */
  model: string | undefined;
  apiKey: string | undefined;
}

export type EmbeddingsConfig =
  | ({ provider: 'nim'; truncate: Truncate; dimensions: number | undefined; batchSize: number } & NimEndpointConfig)
  | { provider: 'local'; dimensions: number };

export type LlmConfig =
  | ({
      provider: 'nim';
      maxTokens: number;
      temperature: number | undefined;
      topP: number | undefined;
      seed: number | undefined;
    } & NimEndpointConfig)
  | { provider: 'local' };

/** An optional reranking NIM between retrieval and the prompt: retrieve `candidates`, rerank, keep k. */
export type RerankConfig = (NimEndpointConfig & { candidates: number }) | undefined;

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  http: {
    bodyLimitBytes: number;
    /** Budget of a request that is not a stream; 0 means none. */
    requestTimeoutMs: number;
    /** How long a stop waits for requests in flight before the process exits anyway. */
    shutdownTimeoutMs: number;
  };
  auth: {
    /** Bearer keys that are accepted with full access. */
    apiKeys: string[];
    /** The keys file (named keys with scopes, collections and limits), read again on SIGHUP or change; undefined: none. */
    keysFile: string | undefined;
    /** Paths served without a key; one ending in `/*` covers everything below it. */
    publicPaths: string[];
  };
  /** Host header values served (DNS rebinding protection); empty: any. */
  allowedHosts: string[];
  /** Event-loop delay above which requests are shed with 503; 0: never. */
  maxEventLoopDelayMs: number;
  /** Requests per window per API key (or client address without one); 0: no limit. */
  rateLimit: { max: number; windowMs: number };
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  embeddings: EmbeddingsConfig;
  llm: LlmConfig;
  rerank: RerankConfig;
  nim: {
    timeoutMs: number;
    /** A stream's overall deadline; 0: none. */
    streamTimeoutMs: number;
    /** Slowest a stream may deliver over each `timeoutMs` window; 0: no floor. */
    streamMinBytesPerSecond: number;
    maxRetries: number;
    embeddingsConcurrency: number;
    llmConcurrency: number;
    maxRequestsPerMinute: number;
  };
  /** Chunks per request by default, and how they are found (see RetrievalService). */
  retrieval: { k: number; mode: RetrievalMode; rrfK: number; weights: { vector: number; keyword: number }; candidates: number };
  /** Default chunking, and the most chunks one ingest request may create. */
  chunking: { size: number; overlap: number; maxChunksPerRequest: number };
  hnsw: { m: number; efConstruction: number; efSearch: number; exactSearchMaxChunks: number; maxIndexBacklog: number };
  /** `hnsw`: the embedded store on DATA_DIR; `pgvector`: Postgres, shared by replicas (the HNSW settings apply to its index). */
  vectorStore: 'hnsw' | 'pgvector';
  /** Set when vectorStore is `pgvector`. */
  database: { url: string; poolSize: number; statementTimeoutMs: number } | undefined;
  snapshots: { everyChunks: number; intervalMs: number };
  /** Whether `/` serves the browser playground. */
  playground: boolean;
  files: {
    maxFileBytes: number;
    maxFiles: number;
    maxPages: number;
    /** Uploads larger than this (all files together) are ingested by a background job. */
    asyncThresholdBytes: number;
    /** Worker threads that extract files' text; 0: on the main thread. */
    extractThreads: number;
  };
  /** How long a finished job's journal is kept for GET /v1/jobs/{id}; 0: for ever. */
  jobRetentionMs: number;
  /** Jobs in Postgres (VECTOR_STORE=pgvector): a claim's lease, and how often replicas look at jobs again. */
  jobs: { leaseMs: number; pollIntervalMs: number };
  /** OpenTelemetry traces over OTLP, on when an OTLP endpoint is set; the SDK reads its other OTEL_* variables itself. */
  tracing: boolean;
  /** Earlier turns a prompt carries: at most `maxTurns` question–answer pairs and `maxChars` characters with the question, oldest dropped first. */
  history: { maxTurns: number; maxChars: number };
  /** The LLM call that condenses a follow-up into a standalone search query. */
  condense: { temperature: number; maxTokens: number; timeoutMs: number };
  /** How long a stored conversation is kept after its last turn; 0: for ever. */
  conversationRetentionMs: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

const blankToUndefined = (value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value);
const optionalString = z.preprocess(blankToUndefined, z.string().trim().optional());
const number = () =>
  z.coerce.number({ error: (issue) => (issue.code === 'invalid_type' ? 'must be a number' : undefined) });
const int = (min: number, max: number) => number().int('must be a whole number').min(min).max(max);
const withDefault = <T extends z.ZodType>(schema: T, fallback: z.input<T>) =>
  z.preprocess(blankToUndefined, schema.default(fallback as never));
const optionalNumber = <T extends z.ZodType<number>>(schema: T) => z.preprocess(blankToUndefined, schema.optional());
const url = z.preprocess(
  blankToUndefined,
  z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL such as http://nim-embed:8000/v1' })
    .optional(),
);
const otlpEndpoint = z.preprocess(
  blankToUndefined,
  z.url({ protocol: /^https?$/, error: 'must be an http(s) URL such as http://otel-collector:4318' }).optional(),
);
const list = (fallback: string) =>
  z.preprocess(
    (value) => (typeof value === 'string' && value.trim() !== '' ? value : fallback),
    z.string().transform((text) =>
      text
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean),
    ),
  );
const flag = (fallback: boolean) =>
  z.preprocess(
    (value) => (typeof value === 'string' ? blankToUndefined(value.trim().toLowerCase()) : value),
    z.enum(['true', 'false'], { error: 'must be true or false' }).default(fallback ? 'true' : 'false').transform((value) => value === 'true'),
  );
const provider = z.preprocess(
  (value) => (typeof value === 'string' ? blankToUndefined(value.trim().toLowerCase()) : value),
  z.enum(['nim', 'local']).optional(),
);

const envSchema = z.object({
  PORT: withDefault(int(0, 65535), 8080),
  HOST: withDefault(z.string().trim().min(1), '127.0.0.1'),
  DATA_DIR: withDefault(z.string().trim().min(1), './data'),
  LOG_LEVEL: withDefault(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), 'info'),
  BODY_LIMIT_BYTES: withDefault(int(1024, 1024 ** 3), 50 * 1024 ** 2),
  REQUEST_TIMEOUT_MS: withDefault(int(0, 3_600_000), 300_000),
  SHUTDOWN_TIMEOUT_MS: withDefault(int(0, 600_000), 10_000),
  API_KEYS: list(''),
  API_KEYS_FILE: optionalString,
  PUBLIC_PATHS: list('/v1/health/live,/v1/health/ready,/openapi.yaml,/docs,/docs/*,/,/playground/*').pipe(
    z.array(z.string().startsWith('/', 'each path must start with /')),
  ),
  RATE_LIMIT_MAX: withDefault(int(0, 1_000_000), 0),
  ALLOWED_HOSTS: list(''),
  MAX_EVENT_LOOP_DELAY_MS: withDefault(int(0, 60_000), 0),
  RATE_LIMIT_WINDOW_MS: withDefault(int(1000, 86_400_000), 60_000),
  NVIDIA_API_KEY: optionalString,
  NIM_EMBEDDINGS_URL: url,
  NIM_EMBEDDINGS_MODEL: optionalString,
  NIM_LLM_URL: url,
  NIM_LLM_MODEL: optionalString,
  NIM_RERANK_URL: url,
  RERANK_MODEL: optionalString,
  RERANK_CANDIDATES: withDefault(int(1, 1000), 20),
  EMBEDDINGS_PROVIDER: provider,
  LLM_PROVIDER: provider,
  EMBEDDINGS_TRUNCATE: withDefault(
    z.preprocess((v) => (typeof v === 'string' ? v.trim().toUpperCase() : v), z.enum(['NONE', 'START', 'END'])),
    'NONE',
  ),
  EMBEDDINGS_DIMENSIONS: optionalNumber(int(1, 16384)),
  EMBEDDINGS_BATCH_SIZE: withDefault(int(1, 50), 50),
  LOCAL_EMBEDDINGS_DIMENSIONS: withDefault(int(64, 8192), 1024),
  LLM_MAX_TOKENS: withDefault(int(1, 131072), 1024),
  LLM_TEMPERATURE: optionalNumber(number().min(0).max(2)),
  LLM_TOP_P: optionalNumber(number().min(0).max(1)),
  LLM_SEED: optionalNumber(int(-(2 ** 53) + 1, 2 ** 53 - 1)),
  NIM_TIMEOUT_MS: withDefault(int(100, 600_000), 60_000),
  NIM_STREAM_TIMEOUT_MS: withDefault(int(0, 3_600_000), 300_000),
  NIM_STREAM_MIN_BYTES_PER_SECOND: withDefault(int(0, 1_000_000), 16),
  NIM_MAX_RETRIES: withDefault(int(0, 10), 4),
  EMBEDDINGS_MAX_CONCURRENCY: withDefault(int(1, 256), 8),
  LLM_MAX_CONCURRENCY: withDefault(int(1, 4096), 256),
  NIM_MAX_REQUESTS_PER_MINUTE: withDefault(int(0, 100_000), 0),
  RETRIEVER_K: withDefault(int(1, 100), 4),
  RETRIEVAL_MODE: withDefault(
    z.preprocess((v) => (typeof v === 'string' ? v.trim().toLowerCase() : v), z.enum(['vector', 'keyword', 'hybrid'])),
    'hybrid',
  ),
  RRF_K: withDefault(int(1, 10_000), 60),
  RETRIEVAL_WEIGHT_VECTOR: withDefault(number().min(0).max(100), 2),
  RETRIEVAL_WEIGHT_KEYWORD: withDefault(number().min(0).max(100), 1),
  RETRIEVAL_CANDIDATES: withDefault(int(1, 1000), 50),
  CHUNK_SIZE: withDefault(int(50, 100_000), 1000),
  CHUNK_OVERLAP: withDefault(int(0, 50_000), 150),
  INGEST_MAX_CHUNKS: withDefault(int(1, 10_000_000), 10_000),
  HNSW_M: withDefault(int(4, 96), 16),
  HNSW_EF_CONSTRUCTION: withDefault(int(10, 2000), 200),
  HNSW_EF_SEARCH: withDefault(int(10, 5000), 128),
  EXACT_SEARCH_MAX_CHUNKS: withDefault(int(0, 1_000_000), 10_000),
  INDEX_BACKLOG_MAX_CHUNKS: withDefault(int(100, 10_000_000), 20_000),
  SNAPSHOT_EVERY_CHUNKS: withDefault(int(1, 10_000_000), 10_000),
  SNAPSHOT_INTERVAL_MS: withDefault(int(1000, 86_400_000), 300_000),
  PLAYGROUND: flag(true),
  UPLOAD_MAX_FILE_BYTES: withDefault(int(1024, 1024 ** 4), 100 * 1024 ** 2),
  UPLOAD_MAX_FILES: withDefault(int(1, 10_000), 100),
  UPLOAD_MAX_PAGES: withDefault(int(1, 1_000_000), 2000),
  INGEST_ASYNC_THRESHOLD_BYTES: withDefault(int(0, 1024 ** 4), 10 * 1024 ** 2),
  FILE_EXTRACT_THREADS: withDefault(int(0, 64), 2),
  JOB_RETENTION_HOURS: withDefault(number().min(0).max(24 * 365 * 10), 168),
  JOB_LEASE_MS: withDefault(int(500, 3_600_000), 30_000),
  JOB_POLL_INTERVAL_MS: withDefault(int(20, 60_000), 1000),
  VECTOR_STORE: withDefault(z.enum(['hnsw', 'pgvector']), 'hnsw'),
  DATABASE_URL: optionalString,
  DATABASE_POOL_SIZE: withDefault(int(1, 1000), 10),
  DATABASE_STATEMENT_TIMEOUT_MS: withDefault(int(0, 3_600_000), 30_000),
  OTEL_EXPORTER_OTLP_ENDPOINT: otlpEndpoint,
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlpEndpoint,
  HISTORY_MAX_TURNS: withDefault(int(0, 1000), 10),
  HISTORY_MAX_CHARS: withDefault(int(100, 10_000_000), 12_000),
  CONDENSE_TEMPERATURE: withDefault(number().min(0).max(2), 0),
  CONDENSE_MAX_TOKENS: withDefault(int(1, 4096), 96),
  CONDENSE_TIMEOUT_MS: withDefault(int(100, 600_000), 15_000),
  CONVERSATION_RETENTION_HOURS: withDefault(number().min(0).max(24 * 365 * 10), 720),
});

type Env = z.infer<typeof envSchema>;

/** Every environment variable the service reads (deployment files are checked against this list). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const variable = issue.path.join('.');
    return `${variable}: ${issue.message}`;
  });
}

function chooseProvider(explicit: Provider | undefined, url: string | undefined, apiKey: string | undefined): Provider {
  if (explicit) return explicit;
  return url || apiKey ? 'nim' : 'local';
}

function endpoint(url: string | undefined, model: string | undefined, apiKey: string | undefined): NimEndpointConfig {
  return { url: url ?? HOSTED_CATALOG_URL, hosted: url === undefined, model, apiKey };
}

/** Reads and validates the environment once; every problem is reported together, each naming its variable. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error));
  const env: Env = parsed.data;

  const problems: string[] = [];
  const embeddingsProvider = chooseProvider(env.EMBEDDINGS_PROVIDER, env.NIM_EMBEDDINGS_URL, env.NVIDIA_API_KEY);
  const llmProvider = chooseProvider(env.LLM_PROVIDER, env.NIM_LLM_URL, env.NVIDIA_API_KEY);
  if (embeddingsProvider === 'nim' && !env.NIM_EMBEDDINGS_URL && !env.NVIDIA_API_KEY) {
    problems.push('EMBEDDINGS_PROVIDER: "nim" needs NIM_EMBEDDINGS_URL (self-hosted NIM) or NVIDIA_API_KEY (hosted catalog)');
  }
  if (llmProvider === 'nim' && !env.NIM_LLM_URL && !env.NVIDIA_API_KEY) {
    problems.push('LLM_PROVIDER: "nim" needs NIM_LLM_URL (self-hosted NIM) or NVIDIA_API_KEY (hosted catalog)');
  }
  if (env.RERANK_MODEL && !env.NIM_RERANK_URL && !env.NVIDIA_API_KEY) {
    problems.push('RERANK_MODEL: needs NIM_RERANK_URL (self-hosted reranking NIM) or NVIDIA_API_KEY (hosted catalog)');
  }
  if (env.API_KEYS.some((key) => key.length < 16)) {
    problems.push('API_KEYS: each key must be at least 16 characters long (generate one with: openssl rand -hex 32)');
  }
  if (env.CHUNK_OVERLAP >= env.CHUNK_SIZE) {
    problems.push(`CHUNK_OVERLAP: must be smaller than CHUNK_SIZE (${env.CHUNK_SIZE})`);
  } else if (env.CHUNK_OVERLAP * 2 > env.CHUNK_SIZE) {
    problems.push(`CHUNK_OVERLAP: must be at most half of CHUNK_SIZE (${env.CHUNK_SIZE})`);
  }
  if (env.RETRIEVAL_WEIGHT_VECTOR + env.RETRIEVAL_WEIGHT_KEYWORD <= 0) {
    problems.push('RETRIEVAL_WEIGHT_KEYWORD: RETRIEVAL_WEIGHT_VECTOR and RETRIEVAL_WEIGHT_KEYWORD cannot both be 0');
  }
  if (env.VECTOR_STORE === 'pgvector') problems.push(...pgvectorProblems(env));
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    host: env.HOST,
    port: env.PORT,
    dataDir: env.DATA_DIR,
    logLevel: env.LOG_LEVEL,
    http: {
      bodyLimitBytes: env.BODY_LIMIT_BYTES,
      requestTimeoutMs: env.REQUEST_TIMEOUT_MS,
      shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    },
    auth: { apiKeys: env.API_KEYS, keysFile: env.API_KEYS_FILE, publicPaths: env.PUBLIC_PATHS },
    rateLimit: { max: env.RATE_LIMIT_MAX, windowMs: env.RATE_LIMIT_WINDOW_MS },
    allowedHosts: env.ALLOWED_HOSTS.map((host) => host.toLowerCase()),
    maxEventLoopDelayMs: env.MAX_EVENT_LOOP_DELAY_MS,
    embeddings:
      embeddingsProvider === 'nim'
        ? {
            provider: 'nim',
            ...endpoint(env.NIM_EMBEDDINGS_URL, env.NIM_EMBEDDINGS_MODEL, env.NVIDIA_API_KEY),
            truncate: env.EMBEDDINGS_TRUNCATE,
            dimensions: env.EMBEDDINGS_DIMENSIONS,
            batchSize: env.EMBEDDINGS_BATCH_SIZE,
          }
        : { provider: 'local', dimensions: env.LOCAL_EMBEDDINGS_DIMENSIONS },
    llm:
      llmProvider === 'nim'
        ? {
            provider: 'nim',
            ...endpoint(env.NIM_LLM_URL, env.NIM_LLM_MODEL, env.NVIDIA_API_KEY),
            maxTokens: env.LLM_MAX_TOKENS,
            temperature: env.LLM_TEMPERATURE,
            topP: env.LLM_TOP_P,
            seed: env.LLM_SEED,
          }
        : { provider: 'local' },
    rerank:
      env.NIM_RERANK_URL || env.RERANK_MODEL
        ? { ...endpoint(env.NIM_RERANK_URL, env.RERANK_MODEL, env.NVIDIA_API_KEY), candidates: env.RERANK_CANDIDATES }
        : undefined,
    nim: {
      timeoutMs: env.NIM_TIMEOUT_MS,
      streamTimeoutMs: env.NIM_STREAM_TIMEOUT_MS,
      streamMinBytesPerSecond: env.NIM_STREAM_MIN_BYTES_PER_SECOND,
      maxRetries: env.NIM_MAX_RETRIES,
      embeddingsConcurrency: env.EMBEDDINGS_MAX_CONCURRENCY,
      llmConcurrency: env.LLM_MAX_CONCURRENCY,
      maxRequestsPerMinute: env.NIM_MAX_REQUESTS_PER_MINUTE,
    },
    retrieval: {
      k: env.RETRIEVER_K,
      mode: env.RETRIEVAL_MODE,
      rrfK: env.RRF_K,
      weights: { vector: env.RETRIEVAL_WEIGHT_VECTOR, keyword: env.RETRIEVAL_WEIGHT_KEYWORD },
      candidates: env.RETRIEVAL_CANDIDATES,
    },
    chunking: { size: env.CHUNK_SIZE, overlap: env.CHUNK_OVERLAP, maxChunksPerRequest: env.INGEST_MAX_CHUNKS },
    hnsw: {
      m: env.HNSW_M,
      efConstruction: env.HNSW_EF_CONSTRUCTION,
      efSearch: env.HNSW_EF_SEARCH,
      exactSearchMaxChunks: env.EXACT_SEARCH_MAX_CHUNKS,
      maxIndexBacklog: env.INDEX_BACKLOG_MAX_CHUNKS,
    },
    snapshots: { everyChunks: env.SNAPSHOT_EVERY_CHUNKS, intervalMs: env.SNAPSHOT_INTERVAL_MS },
    playground: env.PLAYGROUND,
    files: {
      maxFileBytes: env.UPLOAD_MAX_FILE_BYTES,
      maxFiles: env.UPLOAD_MAX_FILES,
      maxPages: env.UPLOAD_MAX_PAGES,
      asyncThresholdBytes: env.INGEST_ASYNC_THRESHOLD_BYTES,
      extractThreads: env.FILE_EXTRACT_THREADS,
    },
    jobRetentionMs: env.JOB_RETENTION_HOURS * 3_600_000,
    jobs: { leaseMs: env.JOB_LEASE_MS, pollIntervalMs: env.JOB_POLL_INTERVAL_MS },
    history: { maxTurns: env.HISTORY_MAX_TURNS, maxChars: env.HISTORY_MAX_CHARS },
    condense: { temperature: env.CONDENSE_TEMPERATURE, maxTokens: env.CONDENSE_MAX_TOKENS, timeoutMs: env.CONDENSE_TIMEOUT_MS },
    conversationRetentionMs: env.CONVERSATION_RETENTION_HOURS * 3_600_000,
    vectorStore: env.VECTOR_STORE,
    database:
      env.VECTOR_STORE === 'pgvector'
        ? { url: env.DATABASE_URL as string, poolSize: env.DATABASE_POOL_SIZE, statementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS }
        : undefined,
    tracing: env.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined,
  };
}

/** pgvector's own bounds on its HNSW settings are tighter than hnswlib's. */
function pgvectorProblems(env: Env): string[] {
  const problems: string[] = [];
  if (!env.DATABASE_URL) problems.push('DATABASE_URL: VECTOR_STORE=pgvector needs a Postgres URL, such as postgres://rag:secret@db:5432/rag');
  else if (!/^postgres(ql)?:\/\//.test(env.DATABASE_URL)) problems.push('DATABASE_URL: must start with postgres:// or postgresql://');
  if (env.HNSW_M > 100) problems.push('HNSW_M: pgvector accepts at most 100');
  if (env.HNSW_EF_CONSTRUCTION > 1000) problems.push('HNSW_EF_CONSTRUCTION: pgvector accepts at most 1000');
  if (env.HNSW_EF_CONSTRUCTION < 2 * env.HNSW_M) problems.push(`HNSW_EF_CONSTRUCTION: pgvector needs at least twice HNSW_M (${2 * env.HNSW_M})`);
  if (env.HNSW_EF_SEARCH > 1000) problems.push('HNSW_EF_SEARCH: pgvector accepts at most 1000');
  return problems;
}
