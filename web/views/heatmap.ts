import { api, problemText } from '../api.js';
import { byId, el, formatScore, say } from '../dom.js';
import { EXAMPLE_DOCUMENTS, EXAMPLE_QUERIES } from '../examples.js';
import { bestPerRow, colourOf, range, textColourOn } from '../heatmap-draw.js';
import { collection } from '../state.js';

/** Tables beyond this many cells would slow the page; the canvas has every value on hover. */
const TABLE_MAX_CELLS = 2500;
/** Documents taken from a collection, and how much of each (the API takes 20 000 characters). */
const COLLECTION_MAX_DOCUMENTS = 200;
const DOCUMENT_MAX_CHARACTERS = 2000;
const LABEL = 36;

interface Matrix {
  queries: string[];
  documents: string[];
  values: number[][];
}

const lines = (text: string) => text.split('\n').map((line) => line.trim()).filter(Boolean);

/** The example's cross-similarity heat map: canvas drawing, colour scale, value on hover and by keyboard. */
export function heatmapView(): void {
  const form = byId<HTMLFormElement>('heatmap-form');
  const queriesInput = byId<HTMLTextAreaElement>('heatmap-queries');
  const documentsInput = byId<HTMLTextAreaElement>('heatmap-documents');
  const message = byId<HTMLParagraphElement>('heatmap-message');
  const figure = byId<HTMLDivElement>('heatmap-figure');
  const canvas = byId<HTMLCanvasElement>('heatmap-canvas');
  const tip = byId<HTMLDivElement>('heatmap-tip');
  const scale = byId<HTMLCanvasElement>('heatmap-scale');
  const table = byId<HTMLTableElement>('heatmap-table');
  let shown: Matrix | undefined;
  let cell = { width: 0, height: 0 };
  let focus = { row: 0, column: 0 };

  function draw(): void {
    if (!shown) return;
    const { values } = shown;
    const rows = values.length;
    const columns = values[0]?.length ?? 0;
    const { min, max } = range(values);
    const best = bestPerRow(values);
    const available = Math.max(200, (figure.parentElement?.clientWidth ?? 600) - LABEL - 8);
    const size = Math.max(3, Math.min(64, Math.floor(available / columns)));
    cell = { width: size, height: Math.max(3, Math.min(48, size)) };
    const width = LABEL + columns * cell.width;
    const height = LABEL + rows * cell.height;
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.ceil(width * ratio);
    canvas.height = Math.ceil(height * ratio);
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
    const context = canvas.getContext('2d');
    if (!context) return;
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);
    context.font = '12px system-ui, sans-serif';
    context.textBaseline = 'middle';
    context.textAlign = 'center';
    const labels = cell.width >= 22;
    values.forEach((row, r) => {
      row.forEach((value, c) => {
        const x = LABEL + c * cell.width;
        const y = LABEL + r * cell.height;
        context.fillStyle = colourOf(value, min, max);
        context.fillRect(x, y, cell.width, cell.height);
        if (cell.width >= 44 && cell.height >= 20) {
          context.fillStyle = textColourOn(value, min, max);
          context.fillText(value.toFixed(2), x + cell.width / 2, y + cell.height / 2);
        }
      });
      // The best document of each query: a ring around its cell.
      context.strokeStyle = '#e4007c';
      context.lineWidth = Math.max(1, Math.min(3, cell.width / 10));
      context.strokeRect(LABEL + best[r]! * cell.width + 1.5, LABEL + r * cell.height + 1.5, cell.width - 3, cell.height - 3);
    });
    context.fillStyle = '#1b1b1b';
    if (labels) {
      values.forEach((_row, r) => context.fillText(`Q${r + 1}`, LABEL / 2, LABEL + r * cell.height + cell.height / 2));
      values[0]?.forEach((_value, c) => context.fillText(`D${c + 1}`, LABEL + c * cell.width + cell.width / 2, LABEL / 2));
    }
    if (document.activeElement === canvas) {
      context.strokeStyle = '#000';
      context.lineWidth = 2;
      context.strokeRect(LABEL + focus.column * cell.width, LABEL + focus.row * cell.height, cell.width, cell.height);
    }
    drawScale(min, max);
  }

  function drawScale(min: number, max: number): void {
    const context = scale.getContext('2d');
    if (!context) return;
    for (let x = 0; x < scale.width; x++) {
      context.fillStyle = colourOf(min + ((max - min) * x) / (scale.width - 1), min, max);
      context.fillRect(x, 0, 1, scale.height);
    }
    byId('heatmap-min').textContent = formatScore(min);
    byId('heatmap-max').textContent = formatScore(max);
  }

  function showTip(row: number, column: number, x: number, y: number): void {
    if (!shown) return;
    const value = shown.values[row]?.[column];
    if (value === undefined) {
      tip.hidden = true;
      return;
    }
    tip.replaceChildren(
      el('strong', { text: `Q${row + 1} × D${column + 1}: ${formatScore(value)}` }),
      el('span', { text: shown.queries[row] ?? '' }),
      el('span', { text: shown.documents[column] ?? '' }),
    );
    tip.dataset.row = String(row);
    tip.dataset.column = String(column);
    tip.dataset.value = String(value);
    tip.style.left = `${Math.min(x + 12, canvas.clientWidth - 160)}px`;
    tip.style.top = `${y + 12}px`;
    tip.hidden = false;
  }

  function renderTable(matrix: Matrix): void {
    const best = bestPerRow(matrix.values);
    const head = table.tHead!;
    const body = table.tBodies[0]!;
    const cells = matrix.values.length * matrix.documents.length;
    byId<HTMLDetailsElement>('heatmap-details').hidden = cells > TABLE_MAX_CELLS;
    if (cells > TABLE_MAX_CELLS) {
      head.replaceChildren();
      body.replaceChildren();
      return;
    }
    head.replaceChildren(el('tr', {}, el('th', { scope: 'col', text: 'Query' }), ...matrix.documents.map((document, c) => el('th', { scope: 'col', title: document, text: `D${c + 1}` }))));
    body.replaceChildren(
      ...matrix.values.map((row, r) =>
        el(
          'tr',
          {},
          el('th', { scope: 'row', title: matrix.queries[r], text: `Q${r + 1}` }),
          ...row.map((value, c) =>
            el('td', { 'data-value': value, class: c === best[r] ? 'best' : undefined, text: `${formatScore(value)}${c === best[r] ? ' ★' : ''}` }),
          ),
        ),
      ),
    );
  }

  function show(matrix: Matrix): void {
    shown = matrix;
    focus = { row: 0, column: 0 };
    figure.hidden = false;
    tip.hidden = true;
    const list = (id: string, items: string[]) => byId(id).replaceChildren(...items.map((item) => el('li', { text: item })));
    list('heatmap-query-list', matrix.queries);
    list('heatmap-document-list', matrix.documents);
    canvas.setAttribute('aria-label', `Heat map of ${matrix.queries.length} queries by ${matrix.documents.length} documents`);
    renderTable(matrix);
    draw();
  }

  async function compute(): Promise<void> {
    const queries = lines(queriesInput.value);
    const documents = lines(documentsInput.value);
    if (queries.length === 0 || documents.length === 0) return say(message, 'Give at least one query and one document.', 'error');
    say(message, 'Embedding…');
    const { data, error, response } = await api.POST('/v1/similarity', { body: { queries, documents } });
    if (!data) return say(message, problemText(error, response.status), 'error');
    show({ queries, documents, values: data.matrix });
    say(message, `${queries.length} × ${documents.length}, embedded with ${data.model}.`);
  }

  async function takeCollection(): Promise<void> {
    say(message, `Reading the documents of ${collection.get()}…`);
    const listed = await api.GET('/v1/documents', { params: { query: { collection: collection.get(), limit: COLLECTION_MAX_DOCUMENTS } } });
    if (!listed.data) return say(message, problemText(listed.error, listed.response.status), 'error');
    const texts: string[] = [];
    for (const summary of listed.data.documents) {
      const { data } = await api.GET('/v1/documents/{id}', { params: { path: { id: summary.id }, query: { collection: collection.get() } } });
      if (data) texts.push(data.text.replace(/\s+/g, ' ').trim().slice(0, DOCUMENT_MAX_CHARACTERS));
    }
    if (texts.length === 0) return say(message, `${collection.get()} has no documents yet.`, 'error');
    documentsInput.value = texts.join('\n');
    const more = listed.data.next_cursor ? ` (the first ${COLLECTION_MAX_DOCUMENTS})` : '';
    say(message, `Took ${texts.length} documents${more} of ${collection.get()}, each cut to ${DOCUMENT_MAX_CHARACTERS} characters at most. Press Draw.`);
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void compute();
  });
  byId('heatmap-example').addEventListener('click', () => {
    queriesInput.value = EXAMPLE_QUERIES.join('\n');
    documentsInput.value = EXAMPLE_DOCUMENTS.join('\n');
  });
  byId('heatmap-collection').addEventListener('click', () => void takeCollection());

  const cellAt = (event: MouseEvent) => {
    const bounds = canvas.getBoundingClientRect();
    const x = event.clientX - bounds.left;
    const y = event.clientY - bounds.top;
    return { row: Math.floor((y - LABEL) / cell.height), column: Math.floor((x - LABEL) / cell.width), x, y };
  };
  canvas.addEventListener('mousemove', (event) => {
    const { row, column, x, y } = cellAt(event);
    if (row < 0 || column < 0) tip.hidden = true;
    else showTip(row, column, x, y);
  });
  canvas.addEventListener('mouseleave', () => (tip.hidden = true));
  canvas.addEventListener('focus', draw);
  canvas.addEventListener('blur', () => {
    tip.hidden = true;
    draw();
  });
  canvas.addEventListener('keydown', (event) => {
    if (!shown) return;
    const moves: Record<string, [number, number]> = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    const move = moves[event.key];
    if (!move) return;
    event.preventDefault();
    focus = {
      row: Math.min(shown.values.length - 1, Math.max(0, focus.row + move[0])),
      column: Math.min(shown.documents.length - 1, Math.max(0, focus.column + move[1])),
    };
    draw();
    showTip(focus.row, focus.column, LABEL + (focus.column + 1) * cell.width, LABEL + focus.row * cell.height);
  });
  window.addEventListener('resize', draw);
}
