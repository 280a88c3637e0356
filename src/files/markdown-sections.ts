import { type Section, tidyText } from './sections.js';

const ATX_HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const SETEXT_UNDERLINE = /^ {0,3}(=+|-+)[ \t]*$/;
const FENCE = /^ {0,3}(`{3,}|~{3,})/;

/**
 * Markdown cut at its headings (ATX `#` and setext underlines), ignoring `#` lines inside fenced
 * code. Each section keeps its Markdown as written, heading line included, so a chunk reads
 * the way the author wrote it.
 */
export function markdownSections(markdown: string): Section[] {
  const lines = markdown.replace(/\r\n?/g, '\n').split('\n');
  const sections: Section[] = [];
  let heading: string | undefined;
  let current: string[] = [];
  let fence: string | undefined;

  const finishSection = () => {
    const text = current.join('\n').trim();
    if (text) sections.push({ text, ...(heading ? { heading } : {}) });
    current = [];
  };

  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] as string;
    const marker = FENCE.exec(line)?.[1];
    if (marker && fence === undefined) fence = marker;
    else if (marker && fence && marker[0] === fence[0] && marker.length >= fence.length) fence = undefined;
    if (marker || fence !== undefined) {
      current.push(line);
      continue;
    }
    const atx = ATX_HEADING.exec(line);
    const next = lines[index + 1];
    const paragraphStart = (current.at(-1) ?? '').trim() === '';
    const setext = !atx && line.trim() !== '' && paragraphStart && next !== undefined && SETEXT_UNDERLINE.test(next);
    if (atx || setext) {
      finishSection();
      heading = tidyText(atx ? (atx[2] ?? '') : line) || heading;
      current.push(line);
      if (setext) {
        current.push(next);
        index += 1;
      }
      continue;
    }
    current.push(line);
  }
  finishSection();
  return sections;
}
