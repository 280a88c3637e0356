import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** openapi.yaml at the repository root: the single source of truth for the HTTP contract. */
export const CONTRACT_PATH = fileURLToPath(new URL('../../openapi.yaml', import.meta.url));

export function loadContract(): { text: string; document: Record<string, unknown> } {
  const text = readFileSync(CONTRACT_PATH, 'utf8');
  return { text, document: parse(text) as Record<string, unknown> };
}
