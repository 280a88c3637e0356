import { rm } from 'node:fs/promises';
import { print, progress, temporaryDir, writeResultsSection } from '../support.js';
import { generateCorpus } from './corpus.js';
import { evaluate, ingest, qualityTable, type Retrieval, type RunResult, startService } from './evaluate.js';

/**
 * bench:retrieval:nim — the evaluation of bench:retrieval against real NIMs: the hosted API
 * catalog when NVIDIA_API_KEY is set (or self-hosted ones at NIM_EMBEDDINGS_URL / NIM_RERANK_URL),
 * on the embedded store. This is the run that says something about a neural embedding model;
 * the emulated one cannot. It makes about 5 × 477 query embeddings, 477 rerank calls and the
 * corpus's document embeddings: mind the catalog's rate limits (NIM_MAX_REQUESTS_PER_MINUTE).
 */

if (!process.env.NVIDIA_API_KEY && !process.env.NIM_EMBEDDINGS_URL) {
  progress('bench:retrieval:nim needs NVIDIA_API_KEY (hosted catalog) or NIM_EMBEDDINGS_URL (self-hosted NIM); nothing was run');
  process.exit(1);
}

const corpus = generateCorpus();
const dataDir = await temporaryDir('bench-retrieval-nim-');
const env: Record<string, string> = { VECTOR_STORE: 'hnsw', DATA_DIR: dataDir, LLM_PROVIDER: 'local', EMBEDDINGS_PROVIDER: 'nim' };
for (const name of ['NVIDIA_API_KEY', 'NIM_EMBEDDINGS_URL', 'NIM_EMBEDDINGS_MODEL', 'NIM_RERANK_URL', 'NIM_MAX_REQUESTS_PER_MINUTE']) {
  const value = process.env[name];
  if (value) env[name] = value;
}
const MODES: Retrieval[] = [
  { mode: 'vector' },
  { mode: 'keyword' },
  { mode: 'hybrid', rrf_k: 60, weights: { vector: 1, keyword: 1 } },
  { mode: 'hybrid', rrf_k: 60, weights: { vector: 2, keyword: 1 } },
  { mode: 'hybrid', rrf_k: 60, weights: { vector: 5, keyword: 1 } },
];
const describe = (retrieval: Retrieval) =>
  retrieval.mode === 'hybrid' ? `hybrid (rrf_k ${retrieval.rrf_k}, weights ${retrieval.weights?.vector}:${retrieval.weights?.keyword})` : retrieval.mode;

const results: RunResult[] = [];
let service = await startService(env);
const model = service.services.store.embeddingModel;
await ingest(service, corpus);
for (const retrieval of MODES) results.push(await evaluate(`real NIM (${model}): ${describe(retrieval)}`, service, corpus, retrieval));
await service.close();
service = await startService({ ...env, RERANK_MODEL: process.env.RERANK_MODEL ?? 'nvidia/llama-3.2-nv-rerankqa-1b-v2', RERANK_CANDIDATES: '20' });
results.push(await evaluate(`real NIM (${model}): hybrid 1:1 + rerank (20 candidates)`, service, corpus, MODES[2] as Retrieval));
await service.close();
await rm(dataDir, { recursive: true, force: true });

const body = [
  `The corpus and questions of bench:retrieval (bench/retrieval/corpus.ts), embedded store, embeddings from ${model}; search latency includes the NIM's query embedding over the network.`,
  '',
  qualityTable(results),
].join('\n');
print(body);
await writeResultsSection({ id: 'bench:retrieval:nim', title: 'Retrieval modes against a real NIM', body });
