import { rm } from 'node:fs/promises';
import { EMBED_MODEL, LLM_MODEL, NimEmulator, RERANK_MODEL } from '../../test/support/nim-emulator.js';
import { pgvectorBackend } from '../../test/support/store-backends.js';
import { benchFlags, print, temporaryDir, writeResultsSection } from '../support.js';
import { generateCorpus } from './corpus.js';
import { type BenchService, evaluate, ingest, qualityTable, type Retrieval, type RunResult, startService } from './evaluate.js';
import { measureLatencyAtScale } from './latency.js';

/**
 * bench:retrieval — recall@10 and nDCG@10 of each retrieval mode (vector, keyword, hybrid, hybrid
 * + the emulated reranker) on the generated labelled corpus (bench/retrieval/corpus.ts), on both
 * stores, with the offline lexical embedder and with the emulated NIM; a sweep of fusion weights;
 * then search latency per mode on the embedded store at 100,000 chunks (10,000 with --quick).
 */

const flags = benchFlags();
const corpus = generateCorpus();
const nim = await NimEmulator.start({ models: [EMBED_MODEL, LLM_MODEL, RERANK_MODEL] });
const database = pgvectorBackend();
await database.setUp();

const EMBEDDERS: Array<{ name: string; env: Record<string, string> }> = [
  { name: 'offline lexical', env: { EMBEDDINGS_PROVIDER: 'local' } },
  { name: 'emulated NIM', env: { NIM_EMBEDDINGS_URL: nim.url, NIM_EMBEDDINGS_MODEL: EMBED_MODEL } },
];
const RERANK = { NIM_RERANK_URL: nim.url, RERANK_MODEL, RERANK_CANDIDATES: '20' };
const MODES: Retrieval[] = [{ mode: 'vector' }, { mode: 'keyword' }, { mode: 'hybrid', rrf_k: 60, weights: { vector: 1, keyword: 1 } }];
const SWEEP: Retrieval[] = [
  { mode: 'hybrid', rrf_k: 60, weights: { vector: 2, keyword: 1 } },
  { mode: 'hybrid', rrf_k: 60, weights: { vector: 1, keyword: 2 } },
  { mode: 'hybrid', rrf_k: 60, weights: { vector: 5, keyword: 1 } },
  { mode: 'hybrid', rrf_k: 20, weights: { vector: 1, keyword: 1 } },
];
const describeRetrieval = (retrieval: Retrieval) =>
  retrieval.mode === 'hybrid' ? `hybrid (rrf_k ${retrieval.rrf_k}, weights ${retrieval.weights?.vector}:${retrieval.weights?.keyword})` : retrieval.mode;

const WHAT_IT_SHOWS = `What these embedders can and cannot show. Both are lexical: the offline embedder hashes words and character trigrams, the emulated NIM hashes whole tokens; neither knows that "gets too hot" means "overheats", nor that "Pumpe" is "pump". So the vector rows measure lexical matching with a different tokenization, not a neural model: they show how fusion treats identifiers (exact codes, where BM25 is exact and hashed vectors blur E4417 into E4418), typos (trigrams survive a swapped letter, BM25 does not), CJK segmentation, filters and latency, and that both stores rank alike. They cannot show how much a neural model gains on paraphrases or across languages, nor which weights suit one; that takes bench:retrieval:nim (the same evaluation against a real NIM, NVIDIA_API_KEY) on questions like your users'. The emulated reranker scores by the same bag of words as the emulated embedder, so "+ rerank" here shows the plumbing (fused candidates reordered, k kept), not a reranking model's gain: it lowers the scores.`;

const quality: RunResult[] = [];
const sweep: RunResult[] = [];
for (const backend of ['hnsw', 'pgvector'] as const) {
  for (const embedder of EMBEDDERS) {
    const dataDir = await temporaryDir('bench-retrieval-');
    if (backend === 'pgvector') await database.reset();
    const storeEnv: Record<string, string> =
      backend === 'hnsw' ? { VECTOR_STORE: 'hnsw', DATA_DIR: dataDir } : { VECTOR_STORE: 'pgvector', DATABASE_URL: database.url(), DATABASE_POOL_SIZE: '4', DATA_DIR: dataDir };
    const env = { ...storeEnv, ...embedder.env, LLM_PROVIDER: 'local' };
    const label = (what: string) => `${backend}, ${embedder.name}: ${what}`;
    let service: BenchService = await startService(env);
    await ingest(service, corpus);
    for (const retrieval of MODES) quality.push(await evaluate(label(describeRetrieval(retrieval)), service, corpus, retrieval));
    if (backend === 'hnsw') for (const retrieval of SWEEP) sweep.push(await evaluate(label(describeRetrieval(retrieval)), service, corpus, retrieval));
    await service.close();
    service = await startService({ ...env, ...RERANK });
    quality.push(await evaluate(label(`${describeRetrieval(MODES[2] as Retrieval)} + rerank (20 candidates)`), service, corpus, MODES[2] as Retrieval));
    await service.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}
await nim.stop();
await database.tearDown();

const latency = await measureLatencyAtScale(flags.quick ? 10_000 : 100_000);

const kinds = Object.entries(corpus.questions.reduce<Record<string, number>>((counts, question) => ({ ...counts, [question.kind]: (counts[question.kind] ?? 0) + 1 }), {}))
  .map(([kind, count]) => `${count} ${kind}`)
  .join(', ');
const body = [
  `Corpus: ${corpus.documents.length} documents (English, German, French, Chinese product notes and code notes, one chunk each), ${corpus.questions.length} questions (${kinds}), generated by bench/retrieval/corpus.ts (seeded). k 10; a document counts once, at its best chunk. Searches through POST /v1/search (fastify inject), one at a time; the emulated NIM on loopback answers at once.`,
  '',
  '### Quality and latency per mode',
  '',
  qualityTable(quality),
  '',
  '### Fusion weights (embedded store)',
  '',
  qualityTable(sweep),
  '',
  WHAT_IT_SHOWS,
  '',
  latency,
].join('\n');
print(body);
await writeResultsSection({ id: 'bench:retrieval', title: 'Retrieval modes: vector, keyword (BM25), hybrid (RRF), + rerank', body });
