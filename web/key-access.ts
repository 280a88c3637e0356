import type { components } from '../src/api/openapi-types.js';

type KeyAccess = components['schemas']['KeyAccess'];

/**
 * Offers only what the key may do: without the write scope the ingest form is disabled (and
 * says why), and the page's body carries the scopes (`data-scopes`) for styles and tests.
 */
export function applyKeyAccess(access: KeyAccess): void {
  document.body.dataset.scopes = access.scopes.join(' ');
  const ingest = document.querySelector<HTMLFieldSetElement | HTMLFormElement>('#ingest-form');
  const canWrite = access.scopes.includes('write');
  for (const control of ingest?.querySelectorAll<HTMLButtonElement | HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement>('button, input, textarea, select') ?? []) {
    control.disabled = !canWrite;
  }
  if (ingest) ingest.title = canWrite ? '' : `The key ${access.name ?? ''} may not write (it has ${access.scopes.join(', ')})`;
}

/** The key as the status view shows it: its name, what it may do, and where. */
export const describeKeyAccess = (access: KeyAccess): string =>
  `${access.name ?? 'none needed'} · may ${access.scopes.join(', ')} · collections ${access.collections.join(', ')}${access.max_chunks === null ? '' : ` · at most ${access.max_chunks} chunks`}`;
