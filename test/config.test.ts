import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, HOSTED_CATALOG_URL, loadConfig } from '../src/config.js';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('configuration', () => {
  it('runs offline on the embedded providers when no NIM and no key are configured', () => {
    const config = loadConfig({});
    assert.equal(config.embeddings.provider, 'local');
    assert.equal(config.llm.provider, 'local');
    assert.equal(config.port, 8080);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.retrieval.k, 4);
    assert.deepEqual(config.retrieval, { k: 4, mode: 'hybrid', rrfK: 60, weights: { vector: 2, keyword: 1 }, candidates: 50 });
    assert.equal(config.hnsw.efSearch, 128);
  });

  it('uses the hosted catalog for both models when only NVIDIA_API_KEY is set', () => {
    const config = loadConfig({ NVIDIA_API_KEY: 'nvapi-abc' });
    assert.ok(config.embeddings.provider === 'nim' && config.llm.provider === 'nim');
    assert.equal(config.embeddings.url, HOSTED_CATALOG_URL);
    assert.equal(config.embeddings.hosted, true);
    assert.equal(config.llm.url, HOSTED_CATALOG_URL);
    assert.equal(config.embeddings.truncate, 'NONE');
    assert.equal(config.llm.maxTokens, 1024);
  });

  it('uses a self-hosted NIM per model when its URL is set, and the offline provider for the other', () => {
    const config = loadConfig({ NIM_EMBEDDINGS_URL: 'http://nim-embed:8000/v1', NIM_EMBEDDINGS_MODEL: 'nvidia/nv-embedqa-e5-v5' });
    assert.ok(config.embeddings.provider === 'nim');
    assert.equal(config.embeddings.hosted, false);
    assert.equal(config.embeddings.model, 'nvidia/nv-embedqa-e5-v5');
    assert.equal(config.llm.provider, 'local');
  });

  it('lets EMBEDDINGS_PROVIDER / LLM_PROVIDER force the offline providers even with a key', () => {
    const config = loadConfig({ NVIDIA_API_KEY: 'nvapi-abc', EMBEDDINGS_PROVIDER: 'local', LLM_PROVIDER: 'LOCAL' });
    assert.equal(config.embeddings.provider, 'local');
    assert.equal(config.llm.provider, 'local');
  });

  it('takes API_KEYS as full-access keys and API_KEYS_FILE as the path of the keys file, read by the auth layer', () => {
    assert.deepEqual(loadConfig({}).auth.keysFile, undefined);
    const config = loadConfig({ API_KEYS: 'key-0123456789abcdef', API_KEYS_FILE: ' /etc/nim-rag/keys.yaml ' });
    assert.deepEqual([config.auth.apiKeys, config.auth.keysFile], [['key-0123456789abcdef'], '/etc/nim-rag/keys.yaml']);
  });

  it('reads the conversation settings: history budget, condense call, retention', () => {
    const defaults = loadConfig({});
    assert.deepEqual(defaults.history, { maxTurns: 10, maxChars: 12_000 });
    assert.deepEqual(defaults.condense, { temperature: 0, maxTokens: 96, timeoutMs: 15_000 });
    assert.equal(defaults.conversationRetentionMs, 720 * 3_600_000);
    const set = loadConfig({ HISTORY_MAX_TURNS: '0', HISTORY_MAX_CHARS: '500', CONDENSE_TEMPERATURE: '0.2', CONDENSE_MAX_TOKENS: '32', CONDENSE_TIMEOUT_MS: '2000', CONVERSATION_RETENTION_HOURS: '0.5' });
    assert.deepEqual([set.history, set.condense, set.conversationRetentionMs], [{ maxTurns: 0, maxChars: 500 }, { temperature: 0.2, maxTokens: 32, timeoutMs: 2000 }, 1_800_000]);
    assert.deepEqual(problemsOf({ HISTORY_MAX_CHARS: '10', CONDENSE_MAX_TOKENS: 'many' }).map((problem) => problem.split(':')[0]), ['HISTORY_MAX_CHARS', 'CONDENSE_MAX_TOKENS']);
  });

  it('treats empty variables as unset, as compose files leave them', () => {
    const config = loadConfig({ NVIDIA_API_KEY: '', NIM_LLM_URL: '', LLM_TEMPERATURE: '', PORT: '' });
    assert.equal(config.llm.provider, 'local');
    assert.equal(config.port, 8080);
  });

  it('reports every bad variable at once, each by name', () => {
    const problems = problemsOf({
      PORT: 'eighty',
      NIM_LLM_URL: 'ftp://nim',
      EMBEDDINGS_TRUNCATE: 'MIDDLE',
      LLM_TEMPERATURE: '3',
      RETRIEVER_K: '0',
      LOG_LEVEL: 'loud',
    });
    const named = problems.map((problem) => problem.split(':')[0]);
    assert.deepEqual(named.sort(), ['EMBEDDINGS_TRUNCATE', 'LLM_TEMPERATURE', 'LOG_LEVEL', 'NIM_LLM_URL', 'PORT', 'RETRIEVER_K']);
    assert.match(problems.find((problem) => problem.startsWith('PORT')) ?? '', /must be a number/);
  });

  it('refuses a NIM provider with nowhere to call, and an overlap as large as the chunk', () => {
    assert.deepEqual(problemsOf({ LLM_PROVIDER: 'nim', CHUNK_SIZE: '200', CHUNK_OVERLAP: '200' }), [
      'LLM_PROVIDER: "nim" needs NIM_LLM_URL (self-hosted NIM) or NVIDIA_API_KEY (hosted catalog)',
      'CHUNK_OVERLAP: must be smaller than CHUNK_SIZE (200)',
    ]);
  });

  it('keeps the embedded store by default; pgvector needs a Postgres URL and settings within pgvector\'s bounds', () => {
    assert.deepEqual([loadConfig({}).vectorStore, loadConfig({}).database], ['hnsw', undefined]);
    const config = loadConfig({ VECTOR_STORE: 'pgvector', DATABASE_URL: 'postgres://rag:pw@db:5432/rag', DATABASE_POOL_SIZE: '4' });
    assert.deepEqual(config.database, { url: 'postgres://rag:pw@db:5432/rag', poolSize: 4, statementTimeoutMs: 30_000 });
    assert.deepEqual(problemsOf({ VECTOR_STORE: 'pgvector', HNSW_EF_SEARCH: '2000' }), [
      'DATABASE_URL: VECTOR_STORE=pgvector needs a Postgres URL, such as postgres://rag:secret@db:5432/rag',
      'HNSW_EF_SEARCH: pgvector accepts at most 1000',
    ]);
    assert.deepEqual(problemsOf({ VECTOR_STORE: 'pgvector', DATABASE_URL: 'mysql://db/rag', HNSW_M: '64', HNSW_EF_CONSTRUCTION: '100' }), [
      'DATABASE_URL: must start with postgres:// or postgresql://',
      'HNSW_EF_CONSTRUCTION: pgvector needs at least twice HNSW_M (128)',
    ]);
  });

  it('turns tracing on when an OTLP endpoint is set, for all signals or for traces alone, and refuses one that is no URL', () => {
    assert.equal(loadConfig({}).tracing, false);
    assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: ' ' }).tracing, false);
    assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318' }).tracing, true);
    assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example/v1/traces' }).tracing, true);
    assert.deepEqual(problemsOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'otel-collector:4318' }), [
      'OTEL_EXPORTER_OTLP_ENDPOINT: must be an http(s) URL such as http://otel-collector:4318',
    ]);
  });
});
