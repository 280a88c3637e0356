import type { Source } from '../api.js';
import { askStreaming } from '../ask-stream.js';
import { citedSegments } from '../citations.js';
import { byId, el, formatScore, say } from '../dom.js';
import { collection } from '../state.js';

function sourceItem(source: Source, index: number): HTMLLIElement {
  return el(
    'li',
    { id: `source-${index}`, 'data-score': source.score, 'data-id': source.id },
    el('span', { class: 'badge', text: `[${index + 1}]` }),
    el('span', { class: 'score', text: `score ${formatScore(source.score)}` }),
    el('span', { class: 'doc', text: `${source.id} · chunk ${source.chunk.index}` }),
    el('blockquote', { text: source.text }),
  );
}

/** The answer with the runs it shares with a source marked and numbered; the sources used are flagged. */
function renderCited(answer: HTMLElement, list: HTMLOListElement, text: string, sources: Source[]): void {
  const segments = citedSegments(
    text,
    sources.map((source) => source.text),
  );
  answer.replaceChildren(
    ...segments.map((segment) =>
      segment.source === undefined
        ? document.createTextNode(segment.text)
        : el('mark', { 'data-source': segment.source, title: `from source [${segment.source + 1}]` }, segment.text, el('sup', { text: `[${segment.source + 1}]` })),
    ),
  );
  const used = new Set(segments.flatMap((segment) => (segment.source === undefined ? [] : [segment.source])));
  [...list.children].forEach((item, index) => {
    item.classList.toggle('used', used.has(index));
    if (used.has(index)) item.append(el('span', { class: 'used-label', text: 'used in the answer' }));
  });
}

/** Streams an answer: sources first, then tokens as they arrive; Cancel aborts the request. */
export function askView(): void {
  const form = byId<HTMLFormElement>('ask-form');
  const question = byId<HTMLTextAreaElement>('ask-question');
  const language = byId<HTMLSelectElement>('ask-language');
  const k = byId<HTMLInputElement>('ask-k');
  const submit = byId<HTMLButtonElement>('ask-submit');
  const cancel = byId<HTMLButtonElement>('ask-cancel');
  const message = byId<HTMLParagraphElement>('ask-message');
  const sourcesList = byId<HTMLOListElement>('ask-sources');
  const answer = byId<HTMLDivElement>('ask-answer');
  const meta = byId<HTMLParagraphElement>('ask-meta');
  let controller: AbortController | undefined;

  const busy = (on: boolean) => {
    submit.disabled = on;
    cancel.disabled = !on;
    answer.setAttribute('aria-busy', String(on));
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void ask();
  });
  cancel.addEventListener('click', () => controller?.abort());

  async function ask(): Promise<void> {
    controller = new AbortController();
    let sources: Source[] = [];
    let text = '';
    let tokens = 0;
    sourcesList.replaceChildren();
    answer.replaceChildren();
    delete answer.dataset.tokens;
    delete answer.dataset.done;
    meta.textContent = '';
    busy(true);
    say(message, 'Retrieving…');
    try {
      await askStreaming(
        {
          question: question.value,
          collection: collection.get(),
          k: Number(k.value) || undefined,
          ...(language.value ? { language: language.value } : {}),
        },
        {
          sources(received) {
            sources = received;
            sourcesList.replaceChildren(...received.map(sourceItem));
            say(message, received.length > 0 ? `${received.length} sources; answering…` : 'No ingested text matches; answering…');
          },
          token(piece) {
            text += piece;
            tokens += 1;
            answer.append(document.createTextNode(piece));
            answer.dataset.tokens = String(tokens);
          },
          done(done) {
            renderCited(answer, sourcesList, done.answer, sources);
            const first = done.timings.first_token_ms === undefined ? '' : ` · first token after ${Math.round(done.timings.first_token_ms)} ms`;
            meta.textContent = `${done.model} · ${Math.round(done.timings.total_ms)} ms${first}`;
            answer.dataset.done = 'true';
            say(message, 'Done.');
          },
        },
        controller.signal,
      );
    } catch (error) {
      if (controller.signal.aborted) say(message, `Cancelled after ${tokens} pieces of the answer.`);
      else say(message, `The answer failed: ${error instanceof Error ? error.message : String(error)}`, 'error');
      if (text) renderCited(answer, sourcesList, text, sources);
    } finally {
      busy(false);
      controller = undefined;
    }
  }
}
