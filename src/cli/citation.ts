import type { Schemas } from './client.js';

/** "report.pdf, page 7" or "guide.docx, Setup": how a source is cited. */
export function citation(source: Schemas['Source']): string {
  const { source: file, page, heading } = source.metadata as { source?: string; page?: number; heading?: string };
  const where = page !== undefined ? `page ${page}` : heading;
  return [file ?? source.id, where].filter(Boolean).join(', ');
}

/** The numbered source lines printed under an answer. */
export function sourceLines(sources: Array<Schemas['Source']>): string {
  if (sources.length === 0) return 'Sources: no ingested text matched\n';
  return `Sources:\n${sources.map((source, index) => `  [${index + 1}] ${citation(source)} (score ${source.score.toFixed(2)})\n`).join('')}`;
}
