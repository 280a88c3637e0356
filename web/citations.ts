/**
 * Where an answer draws on its sources: runs of the answer's words that also occur, three words
 * in a row or more, in a source. Extractive answers quote whole sentences; an LLM's answer
 * usually shares phrases with what it was given.
 */
export interface Segment {
  text: string;
  /** Index of the source this run of words is found in; undefined for the answer's own words. */
  source: number | undefined;
}

const WORD = /[\p{L}\p{N}]+/gu;
const RUN = 3;

const words = (text: string) => [...text.matchAll(WORD)].map((match) => ({ word: match[0].toLowerCase(), start: match.index, end: match.index + match[0].length }));

export function citedSegments(answer: string, sources: readonly string[]): Segment[] {
  const answerWords = words(answer);
  const grams = sources.map((text) => {
    const list = words(text).map((item) => item.word);
    const set = new Set<string>();
    for (let i = 0; i + RUN <= list.length; i++) set.add(list.slice(i, i + RUN).join(' '));
    return set;
  });
  const owner = new Array<number | undefined>(answerWords.length).fill(undefined);
  for (let i = 0; i + RUN <= answerWords.length; i++) {
    const gram = answerWords.slice(i, i + RUN).map((item) => item.word).join(' ');
    const source = grams.findIndex((set) => set.has(gram));
    if (source < 0) continue;
    for (let j = i; j < i + RUN; j++) owner[j] ??= source;
  }

  const segments: Segment[] = [];
  let cursor = 0;
  const push = (end: number, source: number | undefined) => {
    if (end <= cursor) return;
    const last = segments.at(-1);
    if (last && last.source === source) last.text += answer.slice(cursor, end);
    else segments.push({ text: answer.slice(cursor, end), source });
    cursor = end;
  };
  answerWords.forEach((item, index) => {
    const source = owner[index];
    const previous = index > 0 ? owner[index - 1] : undefined;
    // The gap before a word belongs to the run only when both of its sides do.
    push(item.start, source !== undefined && source === previous ? source : undefined);
    push(item.end, source);
  });
  push(answer.length, undefined);
  return segments;
}
