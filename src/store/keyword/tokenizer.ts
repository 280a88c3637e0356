import { normalizeText, STOPWORDS } from '../../local/text-features.js';

/**
 * The keyword index's terms, one tokenizer for both stores so that they rank a query alike.
 * Text is folded as the lexical embedder folds it (case, width, Latin accents); words come from
 * Unicode word segmentation; runs of Chinese, Japanese or Korean characters become overlapping
 * character bigrams (as the lexical embedder's CJK features and Lucene's CJK analyzer do), so a
 * question segmented differently from the document still shares its terms. Identifiers that
 * word segmentation splits (ZX-4417, v1.2.3, foo_bar) are kept whole as well as in parts.
 */

const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;
const CJK_RUN = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]+/gu;
/**
 * Letters and digits joined by - _ . / : (with a digit somewhere: a part number, error code or
 * version). Matched with the joins optional, so that the scan is linear; runs without a join are dropped.
 */
const IDENTIFIER = /[\p{L}\p{N}]+(?:[-_./:][\p{L}\p{N}]+)*/gu;
const JOIN = /[-_./:]/;
const DIGIT = /\p{N}/u;
/** Longest term kept; longer "words" (base64, hashes) would only bloat the index. */
const MAX_TERM_LENGTH = 64;

const segmenter = new Intl.Segmenter(undefined, { granularity: 'word' });

const NON_ASCII = /[\u0080-\uffff]/;
/**
 * Unicode word segmentation (UAX #29, as Intl.Segmenter does it) restricted to ASCII, where its
 * rules come down to this: runs of letters, digits and underscores, joined by : . ' between
 * letters and by , ; . ' between digits; a lone underscore is not a word. About 40 times faster
 * than the segmenter, which cost 1.7 ms a 1000-character chunk; the keyword tests check both
 * agree on random ASCII text.
 */
const ASCII_WORD = /[a-z0-9_]+(?:(?:(?<=[a-z])[:.'](?=[a-z])|(?<=[0-9])[,;.'](?=[0-9]))[a-z0-9_]+)*/gi;

/** The word-like segments of the text, by Intl.Segmenter (or its ASCII equivalent). */
export function wordSegments(text: string): string[] {
  if (!NON_ASCII.test(text)) return (text.match(ASCII_WORD) ?? []).filter((word) => word !== '_');
  const words: string[] = [];
  for (const segment of segmenter.segment(text)) if (segment.isWordLike) words.push(segment.segment);
  return words;
}

function cjkBigrams(run: string, terms: string[]): void {
  const chars = Array.from(run);
  if (chars.length === 1) {
    if (!STOPWORDS.has(run)) terms.push(run);
    return;
  }
  for (let i = 0; i + 2 <= chars.length; i++) {
    const bigram = `${chars[i]}${chars[i + 1]}`;
    if (!STOPWORDS.has(bigram)) terms.push(bigram);
  }
}

/** Every term of the text in order, repeats included (their count is the term frequency). */
export function keywordTerms(text: string): string[] {
  const normalized = normalizeText(text);
  const terms: string[] = [];
  for (const segment of wordSegments(normalized)) {
    const word = segment.replace(/['’]s$/u, '');
    if (CJK.test(word) || STOPWORDS.has(word) || word.length > MAX_TERM_LENGTH) continue;
    terms.push(word);
  }
  for (const run of normalized.match(CJK_RUN) ?? []) cjkBigrams(run, terms);
  for (const identifier of normalized.match(IDENTIFIER) ?? []) {
    if (JOIN.test(identifier) && DIGIT.test(identifier) && identifier.length <= MAX_TERM_LENGTH) terms.push(identifier);
  }
  return terms;
}

/** Each distinct term with its count, and how many terms the text has in all (its BM25 length). */
export function termFrequencies(text: string): { frequencies: Map<string, number>; length: number } {
  const terms = keywordTerms(text);
  const frequencies = new Map<string, number>();
  for (const term of terms) frequencies.set(term, (frequencies.get(term) ?? 0) + 1);
  return { frequencies, length: terms.length };
}

/** A query's distinct terms, sorted so that every backend adds up the same terms in the same order. */
export function queryTerms(query: string): string[] {
  return [...new Set(keywordTerms(query))].sort();
}
