import { Parser } from 'htmlparser2';
import { type Section, tidyText } from './sections.js';

/** Elements whose content is never document text: code, styling, page furniture and navigation. */
const DROPPED = new Set(['script', 'style', 'noscript', 'template', 'svg', 'head', 'nav', 'aside', 'footer', 'iframe', 'button', 'form']);
const HEADING = /^h[1-6]$/;
const BLOCKS = new Set([
  'p', 'div', 'section', 'article', 'main', 'header', 'li', 'ul', 'ol', 'dl', 'dt', 'dd', 'table', 'tr', 'pre',
  'blockquote', 'figure', 'figcaption', 'hr', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6',
]);

const dropsContent = (name: string, attributes: Record<string, string>) =>
  DROPPED.has(name) || attributes.role === 'navigation' || 'hidden' in attributes || attributes['aria-hidden'] === 'true';

/**
 * The text of an HTML document, one section per heading, parsed with htmlparser2: scripts,
 * styles, navigation and hidden elements are left out, block elements become paragraph breaks.
 */
export function htmlSections(html: string): Section[] {
  const sections: Section[] = [];
  let heading: string | undefined;
  let body = '';
  let headingText: string | undefined;
  // Element names that opened a dropped subtree, innermost last; text inside any of them is skipped.
  const dropped: string[] = [];
  const open: string[] = [];

  const finishSection = () => {
    const text = tidyText(body);
    if (text) sections.push({ text: heading ? `${heading}\n\n${text}` : text, ...(heading ? { heading } : {}) });
    body = '';
  };

  const parser = new Parser(
    {
      onopentag(name, attributes) {
        open.push(name);
        if (dropped.length > 0 || dropsContent(name, attributes)) {
          dropped.push(name);
          return;
        }
        if (HEADING.test(name)) {
          finishSection();
          headingText = '';
        } else if (name === 'br') body += '\n';
        else if (BLOCKS.has(name)) body += '\n\n';
      },
      ontext(text) {
        if (dropped.length > 0) return;
        if (headingText !== undefined) headingText += text;
        else body += text;
      },
      onclosetag(name) {
        open.pop();
        if (dropped.length > 0) {
          if (dropped.at(-1) === name) dropped.pop();
          return;
        }
        if (HEADING.test(name) && headingText !== undefined) {
          heading = tidyText(headingText).replace(/\n+/g, ' ') || heading;
          headingText = undefined;
        } else if (BLOCKS.has(name)) body += '\n\n';
      },
    },
    { decodeEntities: true, lowerCaseTags: true },
  );
  parser.write(html);
  parser.end();
  finishSection();
  return sections;
}
