/**
 * Turns text into weighted lexical features, for any script: Unicode word segmentation (ICU
 * splits Chinese and Japanese into words), plus character bigrams of CJK runs so that a question
 * segmented differently from a document still matches it, plus character trigrams of other words
 * so that spelling variants (Komchatka, Kamchatka) and inflections still overlap.
 */

export const STOPWORDS = new Set(
  (
    'a an and are as at be been being but by can could did do does doing for from had has have how i if in into ' +
    'is it its itself me my of on or our ours so than that the their them then there these they this those to ' +
    'was we were what when where which while who whom why will with would you your yours about above after ' +
    'again against all am any because before below between both during each few further he her here hers him ' +
    'his just more most no nor not now only other own same she should some such too under until up very ' +
    "s t don't isn't aren't what's where's who's it's tell please " +
    '的 了 是 在 和 与 及 有 我 你 他 她 它 们 这 那 吗 呢 吧 啊 什么 怎么 如何 哪 哪里 为什么 请 一个'
  ).split(/\s+/),
);

const CJK_RUN = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]+/gu;
const HAS_CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;
const LATIN_DIACRITICS = /[\u0300-\u036f]/g;

/** Whole words and terms carry full weight; n-grams back them up at a lower one. */
const WEIGHTS: Record<string, number> = { w: 1, t: 1, g: 0.35, c: 0.35 };

const wordSegmenter = new Intl.Segmenter(undefined, { granularity: 'word' });

/** Case-folded, width-folded text with Latin accents removed (café → cafe), other scripts intact. */
export function normalizeText(text: string): string {
  return text.normalize('NFKD').replace(LATIN_DIACRITICS, '').normalize('NFKC').toLowerCase();
}

function words(normalized: string): string[] {
  const found: string[] = [];
  for (const segment of wordSegmenter.segment(normalized)) {
    if (segment.isWordLike) found.push(segment.segment.replace(/['’]s$/u, ''));
  }
  return found;
}

/** The words of a text that carry meaning, normalised, in order (repeats kept), stopwords left out; none when it has only stopwords. */
export function contentWords(text: string): string[] {
  return words(normalizeText(text)).filter((word) => !STOPWORDS.has(word));
}

function add(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

/**
 * Feature → weight: the feature kind's weight times a sublinear term frequency (1 + ln count).
 * Stopwords count only when nothing else is left.
 */
export function textFeatures(text: string): Map<string, number> {
  const counts = featureCounts(text);
  const weighted = new Map<string, number>();
  for (const [key, count] of counts) weighted.set(key, (WEIGHTS[key[0] as string] ?? 1) * (1 + Math.log(count)));
  return weighted;
}

function featureCounts(text: string): Map<string, number> {
  const normalized = normalizeText(text);
  const counts = new Map<string, number>();
  const all = words(normalized);
  const content = all.filter((word) => !STOPWORDS.has(word));
  for (const word of content.length > 0 ? content : all) {
    add(counts, `w:${word}`);
    if (HAS_CJK.test(word)) continue;
    const padded = `#${word}#`;
    for (let i = 0; i + 3 <= padded.length; i++) add(counts, `g:${padded.slice(i, i + 3)}`);
  }
  for (const run of normalized.match(CJK_RUN) ?? []) {
    const chars = Array.from(run);
    if (chars.length === 1) add(counts, `c:${run}`);
    for (let i = 0; i + 2 <= chars.length; i++) {
      const bigram = `${chars[i]}${chars[i + 1]}`;
      if (!STOPWORDS.has(bigram)) add(counts, `c:${bigram}`);
    }
  }
  if (counts.size === 0 && normalized.trim()) add(counts, `t:${normalized.trim()}`);
  return counts;
}
