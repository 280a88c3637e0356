import { api, problemText } from '../api.js';
import { byId, el, formatScore, say } from '../dom.js';
import { collection } from '../state.js';

/** Search with scores and metadata, optionally filtered by a metadata filter written as JSON. */
export function searchView(): void {
  const form = byId<HTMLFormElement>('search-form');
  const query = byId<HTMLInputElement>('search-query');
  const k = byId<HTMLInputElement>('search-k');
  const filterInput = byId<HTMLInputElement>('search-filter');
  const message = byId<HTMLParagraphElement>('search-message');
  const rows = byId<HTMLTableElement>('search-results').tBodies[0]!;

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void search();
  });

  async function search(): Promise<void> {
    let filter: Record<string, unknown> | undefined;
    try {
      filter = filterInput.value.trim() ? (JSON.parse(filterInput.value) as Record<string, unknown>) : undefined;
      if (filter !== undefined && (typeof filter !== 'object' || filter === null || Array.isArray(filter))) throw new Error('it must be a JSON object');
    } catch (error) {
      filterInput.setAttribute('aria-invalid', 'true');
      return say(message, `The filter is not valid: ${problemText(error)}`, 'error');
    }
    filterInput.removeAttribute('aria-invalid');
    say(message, 'Searching…');
    const { data, error, response } = await api.POST('/v1/search', {
      body: { query: query.value, collection: collection.get(), k: Number(k.value) || undefined, ...(filter ? { filter } : {}) },
    });
    rows.replaceChildren();
    if (!data) return say(message, problemText(error, response.status), 'error');
    for (const hit of data.results) {
      rows.append(
        el(
          'tr',
          { 'data-score': hit.score, 'data-id': hit.id },
          el('td', { class: 'num', text: formatScore(hit.score) }),
          el('td', { text: hit.id }),
          el('td', { class: 'num', text: hit.chunk.index }),
          el('td', { text: hit.text }),
          el('td', { class: 'mono', text: JSON.stringify(hit.metadata) }),
        ),
      );
    }
    say(message, `${data.results.length} results in ${collection.get()}.`);
  }
}
