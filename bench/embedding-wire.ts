import { NVIDIAEmbeddings, type EncodingFormat } from '@nim-rag/langchain-nvidia';
import { EMBED_MODEL } from '../test/support/nim-emulator.js';
import { DIMENSIONS, type Process, startNim, stop } from './serving.js';
import { benchFlags, count, markdownTable, median, print, progress, randomWords, seededRandom, silentLogger, writeResultsSection } from './support.js';

/**
 * bench:wire — the CPU the embeddings client spends per ingested chunk, with vectors as JSON
 * floats (before) and as base64 float32s (after, the default). TEXTS texts of about 100 words go
 * through NVIDIAEmbeddings.embedDocuments in calls of CALL_SIZE (as the service sends an ingest
 * request's chunks), 8 requests in flight, to the NIM emulator in its own process (1024
 * dimensions, no latency), so that this process's CPU is the client's alone: building requests,
 * reading and decoding responses, putting vectors in order. Formats alternate over ROUNDS rounds;
 * the table gives each format's median.
 */

const flags = benchFlags();
const TEXTS = flags.quick ? 2_000 : 20_000;
const ROUNDS = flags.quick ? 1 : 3;
const CALL_SIZE = 200;
const FORMATS: EncodingFormat[] = ['float', 'base64'];

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
    await writeResultsSection({ id: 'bench:wire', title: 'Embedding vectors on the wire (bench:wire)', body });
  } finally {
    await stop(nim);
  }
}

await main();
