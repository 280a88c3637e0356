/** A structural piece of a file: a PDF page, or the text under one heading. Chunking starts from these. */
export interface Section {
  text: string;
  /** 1-based page number, for PDFs. */
  page?: number;
  /** The nearest heading above the text, for Markdown, HTML and DOCX. */
  heading?: string;
}

/** Whitespace runs become one space, paragraphs stay apart, and empty lines at the edges go. */
export function tidyText(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(/[^\S\n]+/g, ' ')
    .replace(/ ?\n ?/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
