import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DocumentStore } from './store/store-contract.js';
import { EmbeddedStore } from './store/embedded-store.js';

/**
 * The service's Prometheus metrics, in a registry of its own (one per app, so tests can build
 * several): HTTP latency by route and status, NIM call latency and failures by endpoint, chunks
 * ingested, store size, and Node.js process metrics.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to answer an HTTP request (to the end of the stream for streamed answers), by route template and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });

  readonly nimDuration = new Histogram({
    name: 'nim_request_duration_seconds',
    help: "Time from sending a request to a NIM to its response headers, per attempt (retries count separately).",
    labelNames: ['endpoint', 'model', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });

  readonly nimFailures = new Counter({
    name: 'nim_request_failures_total',
    help: 'NIM requests that failed, per attempt: an HTTP status other than 2xx, a timeout or a network error.',
    labelNames: ['endpoint', 'model', 'reason'] as const,
    registers: [this.registry],
  });

  readonly ingestedChunks = new Counter({
    name: 'rag_ingested_chunks_total',
    help: 'Chunks stored by ingest requests, by collection and by where their vector came from (embedded, or reused from identical text).',
    labelNames: ['collection', 'vector'] as const,
    registers: [this.registry],
  });

  readonly auditEvents = new Counter({
    name: 'rag_api_key_audit_events_total',
    help: 'Requests refused for their API key (unauthenticated, scope-missing, collection-not-allowed, quota-exceeded, rate-limited) and writes (written, write-failed), by key name ("-" without a key).',
    labelNames: ['key', 'outcome'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Store size gauges, read from the store when scraped. */
  watchStore(store: DocumentStore): void {
    new Gauge({
      name: 'rag_store_documents',
      help: 'Documents stored, by collection.',
      labelNames: ['collection'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const collection of await listedOrNone(store)) this.set({ collection: collection.name }, collection.documents);
      },
    });
    new Gauge({
      name: 'rag_store_chunks',
      help: 'Chunks stored, by collection and by vector tier (exact: searched by a full scan; graph: in the HNSW graph).',
      labelNames: ['collection', 'tier'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const { name } of await listedOrNone(store)) {
          const counts = await store.vectorTiers(name);
          this.set({ collection: name, tier: 'exact' }, counts.exact);
          this.set({ collection: name, tier: 'graph' }, counts.graph);
        }
      },
    });
    // Only the embedded store has a write-ahead log of its own to replay.
    if (!(store instanceof EmbeddedStore)) return;
    const { hnsw } = store;
    new Gauge({
      name: 'rag_store_skipped_log_records',
      help: 'Write-ahead log records skipped when a collection opened because they could not be read or applied (each also logged as an error); should be 0.',
      labelNames: ['collection'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const { name } of hnsw.list()) this.set({ collection: name }, hnsw.get(name)?.skippedAtOpen ?? 0);
      },
    });
  }
}

/** A store that cannot be reached (its database down) has no size to report; the scrape goes on without it. */
const listedOrNone = (store: DocumentStore) => store.list().catch(() => []);
