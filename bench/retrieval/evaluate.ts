import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createServices, type Services } from '../../src/services/create-services.js';
import { markdownTable, percentile, progress, silentLogger } from '../support.js';
import type { Corpus, CorpusQuestion, QuestionKind } from './corpus.js';

/** The evaluation shared by bench:retrieval (offline and emulated providers) and bench/retrieval/real-nim.ts. */

export const K = 10;
export const KINDS: QuestionKind[] = ['code', 'paraphrase', 'typo', 'multilingual', 'function'];

export interface Retrieval {
  mode: 'vector' | 'keyword' | 'hybrid';
  rrf_k?: number;
  weights?: { vector: number; keyword: number };
}

export interface RunResult {
  label: string;
  recall: number;
  ndcg: number;
  byKind: Record<string, { recall: number; ndcg: number; questions: number }>;
  p50Ms: number;
  p95Ms: number;
}

/** A service built in-process from an environment, as the process builds it, queried through its HTTP routes. */
export interface BenchService {
  app: FastifyInstance;
  services: Services;
  close(): Promise<void>;
}

export async function startService(env: Record<string, string>): Promise<BenchService> {
  const config = loadConfig({ LOG_LEVEL: 'silent', RATE_LIMIT_MAX: '0', ...env });
  const services = await createServices(config, silentLogger);
  const app = await buildApp({ config, services, logger: silentLogger });
  await app.ready();
  return {
    app,
    services,
    close: async () => {
      await app.close();
      await services.close();
    },
  };
}

export async function ingest(service: BenchService, corpus: Corpus): Promise<void> {
  for (let start = 0; start < corpus.documents.length; start += 50) {
    const response = await service.app.inject({ method: 'POST', url: '/v1/documents', payload: { documents: corpus.documents.slice(start, start + 50) } });
    if (response.statusCode !== 201) throw new Error(`ingest failed: ${response.statusCode} ${response.body}`);
  }
}

/** Document ids of the first K distinct documents among the hits, best first. */
async function retrieve(service: BenchService, question: CorpusQuestion, retrieval: Retrieval): Promise<{ ids: string[]; ms: number }> {
  const started = performance.now();
  const response = await service.app.inject({ method: 'POST', url: '/v1/search', payload: { query: question.text, k: K, retrieval } });
  const ms = performance.now() - started;
  if (response.statusCode !== 200) throw new Error(`search failed: ${response.statusCode} ${response.body}`);
  const ids = [...new Set((response.json().results as Array<{ id: string }>).map((hit) => hit.id))].slice(0, K);
  return { ids, ms };
}

function recallAt(ids: string[], relevant: string[]): number {
  return relevant.filter((id) => ids.includes(id)).length / relevant.length;
}

/** Binary-relevance nDCG@K. */
function ndcgAt(ids: string[], relevant: string[]): number {
  const dcg = ids.reduce((sum, id, rank) => sum + (relevant.includes(id) ? 1 / Math.log2(rank + 2) : 0), 0);
  let ideal = 0;
  for (let rank = 0; rank < Math.min(K, relevant.length); rank++) ideal += 1 / Math.log2(rank + 2);
  return dcg / ideal;
}

export async function evaluate(label: string, service: BenchService, corpus: Corpus, retrieval: Retrieval): Promise<RunResult> {
  progress(`${label}: ${corpus.questions.length} questions`);
  const latencies: number[] = [];
  const totals = new Map<string, { recall: number; ndcg: number; questions: number }>();
  let recall = 0;
  let ndcg = 0;
  for (const question of corpus.questions) {
    const { ids, ms } = await retrieve(service, question, retrieval);
    latencies.push(ms);
    const r = recallAt(ids, question.relevant);
    const n = ndcgAt(ids, question.relevant);
    recall += r;
    ndcg += n;
    const kind = totals.get(question.kind) ?? { recall: 0, ndcg: 0, questions: 0 };
    totals.set(question.kind, { recall: kind.recall + r, ndcg: kind.ndcg + n, questions: kind.questions + 1 });
  }
  latencies.sort((a, b) => a - b);
  const byKind = Object.fromEntries([...totals].map(([kind, total]) => [kind, { recall: total.recall / total.questions, ndcg: total.ndcg / total.questions, questions: total.questions }]));
  const count = corpus.questions.length;
  return { label, recall: recall / count, ndcg: ndcg / count, byKind, p50Ms: percentile(latencies, 50), p95Ms: percentile(latencies, 95) };
}

const fixed = (value: number) => value.toFixed(3);

export function qualityTable(results: RunResult[]): string {
  return markdownTable(
    ['run', 'recall@10', 'nDCG@10', ...KINDS.map((kind) => `nDCG@10 ${kind}`), 'search p50', 'search p95'],
    results.map((result) => [
      result.label,
      fixed(result.recall),
      fixed(result.ndcg),
      ...KINDS.map((kind) => (result.byKind[kind] ? fixed(result.byKind[kind].ndcg) : '–')),
      `${result.p50Ms.toFixed(2)} ms`,
      `${result.p95Ms.toFixed(2)} ms`,
    ]),
  );
}
