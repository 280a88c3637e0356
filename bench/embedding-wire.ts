import { execFileSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { NVIDIAEmbeddings, type EncodingFormat } from '@nim-rag/langchain-nvidia';
import { EMBED_MODEL } from '../test/support/nim-emulator.js';
import { DIMENSIONS, type Process, processCpuMs, startNim, startService, stop } from './serving.js';
import { checkoutTree } from './checkout-tree.js';
import { benchFlags, count, markdownTable, median, postJson, print, progress, randomWords, REPOSITORY_ROOT, seededRandom, silentLogger, temporaryDir, writeResultsSection } from './support.js';

/**
 * bench:wire — the CPU the embeddings client spends per ingested chunk, with vectors as JSON
 * floats (before) and as base64 float32s (after, the default). TEXTS texts of about 100 words go
 * through NVIDIAEmbeddings.embedDocuments in calls of CALL_SIZE (as the service sends an ingest
 * request's chunks), 8 requests in flight, to the NIM emulator in its own process (1024
 * dimensions, no latency), so that this process's CPU is the client's alone: building requests,
 * reading and decoding responses, putting vectors in order. Formats alternate over ROUNDS rounds;
 * the table gives each format's median.
 *
 * Then the whole service: SERVICE_CHUNKS one-chunk documents ingested through POST /v1/documents
 * (batches of INGEST_BATCH, 4 in flight) into a fresh store, the service's process CPU (every
 * thread, /proc) per chunk. For floats its emulator refuses base64, as a NIM that only sends
 * floats does, so the service's client falls back to them; the service is otherwise the same. The
 * service as committed at BENCH_BASELINE (default `main`) and at HEAD, each checked out on its
 * own, take turns in every round, so the two are compared under the same machine load.
 */

const flags = benchFlags();
const TEXTS = flags.quick ? 2_000 : 20_000;
const ROUNDS = flags.quick ? 1 : 3;
const CALL_SIZE = 200;
const FORMATS: EncodingFormat[] = ['float', 'base64'];
const SERVICE_CHUNKS = flags.quick ? 1_000 : 5_000;
const INGEST_BATCH = 100;
const BASELINE = process.env.BENCH_BASELINE ?? 'main';
const CANDIDATE = 'HEAD';
const commit = (ref: string) => execFileSync('git', ['rev-parse', '--short', ref], { cwd: REPOSITORY_ROOT, encoding: 'utf8' }).trim();

const random = seededRandom(11);
const texts = Array.from({ length: TEXTS }, (_, index) => `${index} ${randomWords(random, 100)}`);

interface Run {
  cpuMicrosPerChunk: number;
  seconds: number;
}

async function embedAll(nim: Process, encodingFormat: EncodingFormat): Promise<Run> {
  const embeddings = new NVIDIAEmbeddings({ baseUrl: nim.url, model: EMBED_MODEL, encodingFormat, maxConcurrency: 8, logger: silentLogger });
  try {
    const started = performance.now();
    const cpu = process.cpuUsage();
    const calls: Promise<number[][]>[] = [];
    for (let start = 0; start < texts.length; start += CALL_SIZE) calls.push(embeddings.embedDocuments(texts.slice(start, start + CALL_SIZE)));
    const vectors = (await Promise.all(calls)).flat();
    const used = process.cpuUsage(cpu);
    if (vectors.length !== TEXTS || vectors[0]?.length !== DIMENSIONS) throw new Error('wrong number or size of vectors');
    return { cpuMicrosPerChunk: (used.user + used.system) / TEXTS, seconds: (performance.now() - started) / 1000 };
  } finally {
    await embeddings.close();
  }
}

/** The service's CPU µs per chunk ingested over HTTP, its NIM answering with `format` vectors; the service checked out at `root`. */
async function serviceIngest(format: EncodingFormat, root: string): Promise<number> {
  const nim = await startNim({ dimensions: DIMENSIONS, models: [EMBED_MODEL], refuseBase64: format === 'float' });
  const dataDir = await temporaryDir('wire-service');
  let service: Process | undefined;
  try {
    service = await startService({ DATA_DIR: dataDir, NIM_EMBEDDINGS_URL: nim.url, NIM_EMBEDDINGS_MODEL: EMBED_MODEL, LLM_PROVIDER: 'local' }, root);
    const url = `${service.url}/v1/documents`;
    const batch = (offset: number) => ({ documents: texts.slice(offset, offset + INGEST_BATCH).map((text, index) => ({ id: `${format}-${offset + index}`, text })) });
    // Warm-up, and for floats the refusal that turns the client to them.
    await postJson(url, batch(0));
    const before = processCpuMs(service.child);
    let embedded = 0;
    let next = INGEST_BATCH;
    const end = INGEST_BATCH + SERVICE_CHUNKS;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < end) {
          const offset = next;
          next += INGEST_BATCH;
          const result = await postJson<{ embedded: number }>(url, batch(offset));
          embedded += result.embedded;
        }
      }),
    );
    const cpu = processCpuMs(service.child) - before;
    if (embedded !== SERVICE_CHUNKS) throw new Error(`embedded ${embedded} chunks, expected ${SERVICE_CHUNKS}`);
    return (cpu * 1000) / embedded;
  } finally {
    await stop(service);
    await stop(nim);
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const nim = await startNim({ dimensions: DIMENSIONS, models: [EMBED_MODEL] });
  try {
    await embedAll(nim, 'float');
    await embedAll(nim, 'base64');
    const runs = new Map<EncodingFormat, Run[]>(FORMATS.map((format) => [format, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const format of FORMATS) {
        progress(`round ${round + 1}/${ROUNDS}: ${count(TEXTS)} chunks as ${format}`);
        runs.get(format)?.push(await embedAll(nim, format));
      }
    }
    const summary = FORMATS.map((format) => {
      const all = runs.get(format) ?? [];
      return { format, micros: median(all.map((run) => run.cpuMicrosPerChunk)), seconds: median(all.map((run) => run.seconds)) };
    });
    const [floats, base64] = summary as [(typeof summary)[0], (typeof summary)[0]];
    const table = markdownTable(
      ['encoding_format', 'client CPU µs per chunk', 'CPU ms per 1,000 chunks', 'seconds for all chunks'],
      summary.map(({ format, micros, seconds }) => [format, micros.toFixed(1), (micros).toFixed(0), seconds.toFixed(2)]),
    );
    const body = [
      `Parameters: ${count(TEXTS)} texts of about 100 words, embedDocuments calls of ${CALL_SIZE}, 8 requests in flight, the NIM emulator (${DIMENSIONS} dimensions, no latency) in its own process; the median of ${ROUNDS} alternating rounds per format. CPU is this process's, that is the embeddings client's own work per chunk.`,
      '',
      table,
      '',
      `- base64 costs ${(base64.micros / floats.micros).toFixed(2)}× the client CPU of JSON floats: ${(floats.micros - base64.micros).toFixed(0)} µs less per chunk, ${(floats.micros - base64.micros).toFixed(0)} ms less per 1,000 chunks.`,
    ].join('\n');
    print(body);
    const trees = [
      { name: `before: \`${BASELINE}\` (${commit(BASELINE)})`, root: await checkoutTree(BASELINE) },
      { name: `after: ${commit(CANDIDATE)}`, root: await checkoutTree(CANDIDATE) },
    ];
    const variants = trees.flatMap((tree) => FORMATS.map((format) => ({ ...tree, format, samples: [] as number[] })));
    try {
      for (let round = 0; round < ROUNDS; round++) {
        for (const variant of variants) {
          progress(`the service, round ${round + 1}/${ROUNDS}: ${count(SERVICE_CHUNKS)} chunks ingested as ${variant.format}, ${variant.name}`);
          variant.samples.push(await serviceIngest(variant.format, variant.root));
        }
      }
    } finally {
      for (const tree of trees) await rm(tree.root, { recursive: true, force: true });
    }
    const micros = (tree: number, format: EncodingFormat) => median(variants.find((variant) => variant.root === trees[tree]?.root && variant.format === format)?.samples ?? []);
    const serviceBody = [
      '',
      `The whole service: ${count(SERVICE_CHUNKS)} one-chunk documents of about 100 words ingested through \`POST /v1/documents\` (${INGEST_BATCH} a request, 4 requests in flight) into a fresh store (write-ahead log, exact tier), the embedding NIM emulated in its own process; for floats it refuses base64 as a float-only NIM does and the service falls back. CPU is the service process's (user + system, every thread, /proc) per chunk, the median of ${ROUNDS} rounds in which the two trees and two formats take turns.`,
      '',
      markdownTable(
        ['service', 'CPU µs per chunk, base64', 'CPU µs per chunk, float', 'chunks/s per core, base64'],
        trees.map((tree, index) => [tree.name, micros(index, 'base64').toFixed(0), micros(index, 'float').toFixed(0), count(Math.round(1e6 / micros(index, 'base64')))]),
      ),
      '',
      `- After ÷ before, base64: ${(micros(1, 'base64') / micros(0, 'base64')).toFixed(2)}×; float: ${(micros(1, 'float') / micros(0, 'float')).toFixed(2)}× (target ≤ 80 µs a chunk: ${micros(1, 'base64') <= 80 ? 'met' : 'missed'}).`,
    ].join('\n');
    print(serviceBody);
    await writeResultsSection({ id: 'bench:wire', title: 'Embedding vectors on the wire (bench:wire)', body: `${body}\n${serviceBody}` });
  } finally {
    await stop(nim);
  }
}

await main();
