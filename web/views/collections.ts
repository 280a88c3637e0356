import { api, problemText } from '../api.js';
import { byId, el, say } from '../dom.js';
import { EXAMPLE_DOCUMENTS } from '../examples.js';
import { collection } from '../state.js';

type DocumentInput = { id?: string; text: string; metadata?: Record<string, unknown> };

/** Requests stay well under the service's limits: 1000 documents, BODY_LIMIT_BYTES. */
const BATCH_DOCUMENTS = 100;
const BATCH_CHARACTERS = 1_000_000;
const PAGE = 50;

export function splitTexts(text: string, mode: string): string[] {
  const parts = mode === 'whole' ? [text] : text.split(mode === 'paragraph' ? /\n\s*\n/ : /\n/);
  return parts.map((part) => part.trim()).filter(Boolean);
}

function batches(documents: DocumentInput[]): DocumentInput[][] {
  const result: DocumentInput[][] = [];
  let batch: DocumentInput[] = [];
  let characters = 0;
  for (const document of documents) {
    if (batch.length > 0 && (batch.length >= BATCH_DOCUMENTS || characters + document.text.length > BATCH_CHARACTERS)) {
      result.push(batch);
      batch = [];
      characters = 0;
    }
    batch.push(document);
    characters += document.text.length;
  }
  if (batch.length > 0) result.push(batch);
  return result;
}

function parseMetadata(text: string): Record<string, unknown> | undefined {
  if (!text.trim()) return undefined;
  const value: unknown = JSON.parse(text);
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('metadata must be a JSON object');
  return value as Record<string, unknown>;
}

/** Pick or create a collection, ingest pasted or dropped texts in batches with progress, list and delete documents. */
export function collectionsView(onChanged: () => void): { refresh(): Promise<void> } {
  const pick = byId<HTMLSelectElement>('collection-pick');
  const newForm = byId<HTMLFormElement>('collection-new');
  const newName = byId<HTMLInputElement>('collection-name');
  const form = byId<HTMLFormElement>('ingest-form');
  const text = byId<HTMLTextAreaElement>('ingest-text');
  const split = byId<HTMLSelectElement>('ingest-split');
  const metadata = byId<HTMLInputElement>('ingest-metadata');
  const files = byId<HTMLInputElement>('ingest-files');
  const dropZone = byId<HTMLDivElement>('drop-zone');
  const progress = byId<HTMLProgressElement>('ingest-progress');
  const message = byId<HTMLParagraphElement>('ingest-message');
  const rows = byId<HTMLTableElement>('documents-table').tBodies[0]!;
  const caption = byId<HTMLTableCaptionElement>('documents-caption');
  const more = byId<HTMLButtonElement>('documents-more');
  const listMessage = byId<HTMLParagraphElement>('documents-message');
  let dropped: File[] = [];
  let cursor: string | null = null;
  let stored = new Set<string>();

  async function refreshCollections(): Promise<void> {
    const { data } = await api.GET('/v1/collections');
    stored = new Set((data?.collections ?? []).map((item) => item.name));
    const names = new Set(stored);
    names.add('default');
    names.add(collection.get());
    pick.replaceChildren(...[...names].sort().map((name) => el('option', { value: name, text: name, selected: name === collection.get() })));
  }

  async function loadDocuments(reset: boolean): Promise<void> {
    if (reset) {
      rows.replaceChildren();
      cursor = null;
    }
    caption.textContent = `Documents in ${collection.get()}`;
    // A collection that has no document yet is not stored yet: there is nothing to ask for.
    if (!stored.has(collection.get())) {
      more.hidden = true;
      return say(listMessage, 'No documents yet.');
    }
    const { data, error, response } = await api.GET('/v1/documents', {
      params: { query: { collection: collection.get(), limit: PAGE, ...(cursor ? { cursor } : {}) } },
    });
    if (!data) {
      more.hidden = true;
      return say(listMessage, problemText(error, response.status), 'error');
    }
    for (const document of data.documents) {
      const remove = el('button', { type: 'button', text: 'Delete', 'aria-label': `Delete ${document.id}` });
      remove.addEventListener('click', () => void deleteDocument(document.id));
      rows.append(
        el(
          'tr',
          { 'data-id': document.id },
          el('td', { text: document.id }),
          el('td', { text: document.chunks }),
          el('td', { text: document.characters }),
          el('td', { class: 'mono', text: JSON.stringify(document.metadata) }),
          el('td', {}, remove),
        ),
      );
    }
    cursor = data.next_cursor;
    more.hidden = cursor === null;
    say(listMessage, rows.rows.length === 0 ? 'No documents yet.' : `${rows.rows.length} documents shown.`);
  }

  async function deleteDocument(id: string): Promise<void> {
    const { error, response } = await api.DELETE('/v1/documents/{id}', { params: { path: { id }, query: { collection: collection.get() } } });
    if (!response.ok) return say(listMessage, `Could not delete ${id}: ${problemText(error, response.status)}`, 'error');
    await loadDocuments(true);
    say(listMessage, `Deleted ${id}; ${rows.rows.length} documents shown.`);
    onChanged();
  }

  async function gather(): Promise<DocumentInput[]> {
    const common = parseMetadata(metadata.value);
    const pasted = splitTexts(text.value, split.value).map((body) => ({ text: body, ...(common ? { metadata: common } : {}) }));
    const fromFiles = await Promise.all(
      [...dropped, ...(files.files ? [...files.files] : [])].map(async (file) => ({
        id: file.name,
        text: await file.text(),
        metadata: { ...common, source: file.name },
      })),
    );
    return [...pasted, ...fromFiles.filter((document) => document.text.trim())];
  }

  async function ingest(): Promise<void> {
    let documents: DocumentInput[];
    try {
      documents = await gather();
    } catch (error) {
      return say(message, `Metadata: ${problemText(error)}`, 'error');
    }
    if (documents.length === 0) return say(message, 'Paste some text or choose files first.', 'error');
    const parts = batches(documents);
    progress.hidden = false;
    progress.max = documents.length;
    progress.value = 0;
    let done = 0;
    let chunks = 0;
    let queued = 0;
    for (const part of parts) {
      say(message, `Ingesting ${done} of ${documents.length} documents…`);
      const { data, error, response } = await api.POST('/v1/documents', { body: { documents: part, collection: collection.get() } });
      if (!data) {
        progress.hidden = true;
        return say(message, `Stopped after ${done} of ${documents.length} documents: ${problemText(error, response.status)}`, 'error');
      }
      done += part.length;
      // A body over the service's INGEST_ASYNC_THRESHOLD_BYTES answers with a background job instead.
      if ('kind' in data) queued += part.length;
      else chunks += data.documents.reduce((sum, item) => sum + item.chunks, 0);
      progress.value = done;
    }
    progress.hidden = true;
    const background = queued > 0 ? ` ${queued} more are being stored by background jobs.` : '';
    say(message, `Ingested ${done - queued} documents (${chunks} chunks) into ${collection.get()}.${background}`);
    text.value = '';
    files.value = '';
    dropped = [];
    await refresh();
    onChanged();
  }

  pick.addEventListener('change', () => collection.set(pick.value));
  newForm.addEventListener('submit', (event) => {
    event.preventDefault();
    collection.set(newName.value);
    newName.value = '';
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void ingest();
  });
  byId('load-example').addEventListener('click', () => {
    text.value = EXAMPLE_DOCUMENTS.join('\n');
    split.value = 'line';
    text.focus();
  });
  more.addEventListener('click', () => void loadDocuments(false));
  dropZone.addEventListener('dragover', (event) => {
    event.preventDefault();
    dropZone.classList.add('over');
  });
  dropZone.addEventListener('dragleave', () => dropZone.classList.remove('over'));
  dropZone.addEventListener('drop', (event) => {
    event.preventDefault();
    dropZone.classList.remove('over');
    dropped = [...(event.dataTransfer?.files ?? [])].filter((file) => /\.(txt|md)$/i.test(file.name));
    say(message, `${dropped.length} file(s) ready: ${dropped.map((file) => file.name).join(', ')}. Press Ingest.`);
  });
  collection.onChange(() => void refresh());

  async function refresh(): Promise<void> {
    await refreshCollections();
    await loadDocuments(true);
  }
  return { refresh };
}
