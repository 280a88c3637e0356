import type { LexicalEmbeddings } from './lexical-embeddings.js';

export const LOCAL_ANSWERER_MODEL = 'local-extractive';

export const NO_SENTENCE_ANSWER = 'The retrieved texts contain no sentence that matches the question.';

/** Sentences sharing less than this with the question are not quoted. */
const MIN_SENTENCE_SCORE = 0.08;

const sentenceSegmenter = new Intl.Segmenter(undefined, { granularity: 'sentence' });

function cosine(a: number[], b: number[]): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] as number) * (b[i] as number);
  return sum;
}

/** What the offline answerer does with a requested language, said in the answer rather than ignored. */
export const languageNote = (language: string) =>
  `(Asked for ${language}: the offline answerer quotes the texts as they are written and cannot translate. Configure a NIM LLM for answers in ${language}.)`;

/**
 * The offline answerer: quotes the retrieved sentences that best match the question, best first,
 * each marked with its source's number ([1] is the first source). It generates nothing, so it
 * cannot translate or summarise; it only points at what the documents say.
 */
export function extractiveAnswer(
  question: string,
  sources: ReadonlyArray<{ text: string }>,
  embedder: LexicalEmbeddings,
  language?: string,
  maxSentences = 3,
): string {
  const questionVector = embedder.embed(question);
  const candidates = sources.flatMap((source, position) =>
    Array.from(sentenceSegmenter.segment(source.text), (segment) => segment.segment.trim())
      .filter((sentence) => sentence.length > 0)
      .map((sentence) => ({ sentence, source: position + 1, score: cosine(questionVector, embedder.embed(sentence)) })),
  );
  const best = candidates
    .filter((candidate) => candidate.score >= MIN_SENTENCE_SCORE)
    .sort((a, b) => b.score - a.score)
    .filter((candidate, position, all) => all.findIndex((other) => other.sentence === candidate.sentence) === position)
    .slice(0, maxSentences);
  const quoted = best.length === 0 ? NO_SENTENCE_ANSWER : best.map((candidate) => `${candidate.sentence} [${candidate.source}]`).join('\n');
  return language ? `${quoted}\n${languageNote(language)}` : quoted;
}
