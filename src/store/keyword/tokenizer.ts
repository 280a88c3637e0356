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
/** IDENTIFIER for pure ASCII text, where it matches the same and runs without Unicode classes. */
const ASCII_IDENTIFIER = /[a-z0-9]+(?:[-_./:][a-z0-9]+)*/gi;
const JOIN = /[-_./:]/;
const DIGIT = /\p{N}/u;
const ASCII_DIGIT = /[0-9]/;
/** Longest term kept; longer "words" (base64, hashes) would only bloat the index. */
const MAX_TERM_LENGTH = 64;

const segmenter = new Intl.Segmenter(undefined, { granularity: 'word' });

const NON_ASCII = /[\u0080-\uffff]/;
const NON_ASCII_ANYWHERE = /[\u0080-\uffff]/g;
/**
 * Unicode word segmentation (UAX #29, as Intl.Segmenter does it) restricted to ASCII, where its
 * rules come down to this: runs of letters, digits and underscores, joined by : . ' between
 * letters and by , ; . ' between digits; a lone underscore is not a word. About 40 times faster
 * than the segmenter, which cost 1.7 ms a 1000-character chunk; the keyword tests check both
 * agree on random ASCII text.
 */
const ASCII_WORD = /[a-z0-9_]+(?:(?:(?<=[a-z])[:.'](?=[a-z])|(?<=[0-9])[,;.'](?=[0-9]))[a-z0-9_]+)*/gi;

function asciiWords(text: string, words: string[]): void {
  for (const word of text.match(ASCII_WORD) ?? []) if (word !== '_') words.push(word);
}

/** Tab, line feed, vertical tab, form feed, carriage return and space: no UAX #29 word spans them. */
function isAsciiSpace(code: number): boolean {
  return code === 32 || (code >= 9 && code <= 13);
}

/**
 * The word-like segments of the text, by Intl.Segmenter: only the space-delimited pieces that
 * hold a non-ASCII character go through it, the ASCII between them through its equivalent, so
 * one curly quote does not make a whole chunk 40 times slower to segment. Each such piece is
 * segmented with the space before it, to which a leading combining mark or format character
 * attaches (UAX #29 WB4), so the words come out as segmenting the whole text gives them.
 */
export function wordSegments(text: string): string[] {
  const words: string[] = [];
  let from = 0;
  NON_ASCII_ANYWHERE.lastIndex = 0;
  for (let found = NON_ASCII_ANYWHERE.exec(text); found; found = NON_ASCII_ANYWHERE.exec(text)) {
    let start = found.index;
    while (start > from && !isAsciiSpace(text.charCodeAt(start - 1))) start -= 1;
    let end = found.index + 1;
    while (end < text.length && !isAsciiSpace(text.charCodeAt(end))) end += 1;
    asciiWords(text.slice(from, start), words);
    for (const segment of segmenter.segment(text.slice(Math.max(0, start - 1), end))) if (segment.isWordLike) words.push(segment.segment);
    from = end;
    NON_ASCII_ANYWHERE.lastIndex = end;
  }
  asciiWords(text.slice(from), words);
  return words;
}

function cjkBigrams(run: string, take: (term: string) => void): void {
  const chars = Array.from(run);
  if (chars.length === 1) {
    if (!STOPWORDS.has(run)) take(run);
    return;
  }
  for (let i = 0; i + 2 <= chars.length; i++) {
    const bigram = `${chars[i]}${chars[i + 1]}`;
    if (!STOPWORDS.has(bigram)) take(bigram);
  }
}

/** Calls `take` with every term of the text in order, repeats included (their count is the term frequency). */
function eachTerm(text: string, take: (term: string) => void): void {
  const normalized = normalizeText(text);
  // Pure ASCII (most chunks) has no CJK runs and no Unicode digits: the per-word Unicode tests are skipped.
  const ascii = !NON_ASCII.test(normalized);
  for (const segment of wordSegments(normalized)) {
    const word = endsWithPossessive(segment) ? segment.slice(0, -2) : segment;
    if ((!ascii && CJK.test(word)) || STOPWORDS.has(word) || word.length > MAX_TERM_LENGTH) continue;
    take(word);
  }
  if (!ascii) for (const run of normalized.match(CJK_RUN) ?? []) cjkBigrams(run, take);
  if (ascii ? !ASCII_DIGIT.test(normalized) : !DIGIT.test(normalized)) return;
  for (const identifier of normalized.match(ascii ? ASCII_IDENTIFIER : IDENTIFIER) ?? []) {
    if (JOIN.test(identifier) && (ascii ? ASCII_DIGIT : DIGIT).test(identifier) && identifier.length <= MAX_TERM_LENGTH) take(identifier);
  }
}

function endsWithPossessive(word: string): boolean {
  const last = word.length - 1;
  if (last < 1 || word.charCodeAt(last) !== 0x73) return false;
  const before = word.charCodeAt(last - 1);
  return before === 0x27 || before === 0x2019;
}

/** Every term of the text in order, repeats included (their count is the term frequency). */
export function keywordTerms(text: string): string[] {
  const terms: string[] = [];
  eachTerm(text, (term) => terms.push(term));
  return terms;
}

/** Each distinct term with its count, and how many terms the text has in all (its BM25 length). */
export function termFrequencies(text: string): { frequencies: Map<string, number>; length: number } {
  const frequencies = new Map<string, number>();
  let length = 0;
  eachTerm(text, (term) => {
    frequencies.set(term, (frequencies.get(term) ?? 0) + 1);
    length += 1;
  });
  return { frequencies, length };
}

/** A query's distinct terms, sorted so that every backend adds up the same terms in the same order. */
export function queryTerms(query: string): string[] {
  return [...new Set(keywordTerms(query))].sort();
}
