import { api, problemText, type Source } from '../api.js';
import { AskFailed, askStreaming } from '../ask-stream.js';
import { byId, el, formatScore, say } from '../dom.js';
import { collection } from '../state.js';
import type { components } from '../../src/api/openapi-types.js';

type Conversation = components['schemas']['Conversation'];
type Turn = components['schemas']['ConversationTurn'];

const CONVERSATION_STORAGE = 'nim-rag-conversation';

/**
 * The id of the conversation the chat continues, in localStorage so that it outlives a reload and
 * the tab: the turns themselves stay with the service, readable only with the key that made them.
 */
const storedConversation = {
  get: (): string | undefined => localStorage.getItem(CONVERSATION_STORAGE) ?? undefined,
  set: (id: string): void => localStorage.setItem(CONVERSATION_STORAGE, id),
  clear: (): void => localStorage.removeItem(CONVERSATION_STORAGE),
};

const SNIPPET = 90;

/** What a source is called: its title or file when its metadata names one, else the start of its text. */
function sourceName(source: Source): string {
  const { title, source: file } = source.metadata as { title?: unknown; source?: unknown };
  const named = [title, file].find((value): value is string => typeof value === 'string' && value.trim() !== '');
  if (named) return named;
  const text = source.text.replace(/\s+/g, ' ').trim();
  return text.length > SNIPPET ? `${text.slice(0, SNIPPET)}…` : text;
}

/** A source in one line (name and score), opened for its id and whole text. */
function sourceItem(source: Source, index: number): HTMLLIElement {
  return el(
    'li',
    { 'data-id': source.id, 'data-score': source.score },
    el(
      'details',
      {},
      el('summary', {}, el('span', { class: 'badge', text: `[${index + 1}]` }), el('span', { class: 'score', text: `score ${formatScore(source.score)}` }), sourceName(source)),
      el('p', { class: 'doc', text: `${source.id} · chunk ${source.chunk.index}` }),
      el('blockquote', { text: source.text }),
    ),
  );
}

/** One question and its answer; the search query and the sources fill in as the answer streams. */
function turnItem(question: string) {
  const answer = el('div', { class: 'answer', 'aria-busy': 'false' });
  const query = el('p', { class: 'standalone-query hint', hidden: true });
  const sources = el('ol', { class: 'sources compact', 'aria-label': 'Sources of this answer' });
  const item = el('li', { class: 'turn' }, el('p', { class: 'question' }, el('span', { class: 'who', text: 'You: ' }), question), answer, query, sources);
  return {
    item,
    answer,
    showRetrieval(received: Source[], standaloneQuery: string) {
      query.replaceChildren('Searched for: ', el('q', { text: standaloneQuery }));
      query.hidden = false;
      sources.replaceChildren(...received.map(sourceItem));
    },
  };
}

function restoredTurn(turn: Turn): HTMLLIElement {
  const view = turnItem(turn.question);
  view.answer.textContent = turn.answer;
  view.answer.dataset.done = 'true';
  view.showRetrieval(turn.sources, turn.standalone_query);
  return view.item;
}

/**
 * A conversation stored by the service: each question is sent with its id only, and the service
 * answers it in the context of the earlier turns (the search query it made of it is shown above
 * the sources). The conversation is created with the first question, on the chosen collection, and
 * restored after a reload; "New conversation" forgets it.
 */
export function chatView(): { restore(): Promise<void> } {
  const form = byId<HTMLFormElement>('chat-form');
  const input = byId<HTMLTextAreaElement>('chat-question');
  const send = byId<HTMLButtonElement>('chat-submit');
  const stop = byId<HTMLButtonElement>('chat-stop');
  const fresh = byId<HTMLButtonElement>('chat-new');
  const about = byId<HTMLParagraphElement>('chat-about');
  const turns = byId<HTMLOListElement>('chat-turns');
  const message = byId<HTMLParagraphElement>('chat-message');
  let conversation: Pick<Conversation, 'id' | 'collection'> | undefined;
  let controller: AbortController | undefined;

  const describe = () => {
    about.textContent = conversation
      ? `Conversation ${conversation.id} on collection ${conversation.collection}.`
      : `A new conversation starts on collection ${collection.get()} with your first question.`;
    about.dataset.conversation = conversation?.id ?? '';
  };
  const forget = () => {
    conversation = undefined;
    storedConversation.clear();
    turns.replaceChildren();
    describe();
  };
  const busy = (on: boolean) => {
    send.disabled = on;
    stop.disabled = !on;
  };
  collection.onChange(describe);
  describe();

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void ask();
  });
  // Enter sends, Shift+Enter starts a new line, as in chat applications.
  input.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter' || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    form.requestSubmit();
  });
  stop.addEventListener('click', () => controller?.abort());
  fresh.addEventListener('click', () => {
    controller?.abort();
    forget();
    say(message, 'New conversation: ask a question.');
    input.focus();
  });

  async function started(): Promise<Pick<Conversation, 'id' | 'collection'>> {
    if (conversation) return conversation;
    const { data, error, response } = await api.POST('/v1/conversations', { body: { collection: collection.get() } });
    if (!data) throw new AskFailed(problemText(error, response.status), response.status);
    conversation = data;
    storedConversation.set(data.id);
    describe();
    return data;
  }

  async function ask(): Promise<void> {
    const question = input.value.trim();
    if (!question) return;
    controller = new AbortController();
    busy(true);
    const view = turnItem(question);
    turns.append(view.item);
    view.answer.setAttribute('aria-busy', 'true');
    say(message, 'Retrieving…');
    try {
      const { id, collection: asked } = await started();
      input.value = '';
      await askStreaming(
        // The conversation's collection, named: a key limited to some collections is checked against the one asked.
        { question, conversation_id: id, collection: asked },
        {
          sources(received, standaloneQuery) {
            view.showRetrieval(received, standaloneQuery);
            say(message, received.length > 0 ? `${received.length} sources; answering…` : 'No ingested text matches; answering…');
          },
          token(piece) {
            view.answer.append(document.createTextNode(piece));
          },
          done(done) {
            view.answer.textContent = done.answer;
            view.answer.dataset.done = 'true';
            say(message, 'Answered; ask a follow-up.');
          },
        },
        controller.signal,
      );
    } catch (error) {
      view.item.classList.add('unsaved');
      if (controller.signal.aborted) {
        // A turn that New conversation took away needs no word of its own.
        if (view.item.isConnected) say(message, 'Stopped: this turn is not stored.');
      } else if (error instanceof AskFailed && error.status === 404 && conversation) {
        forget();
        input.value = question;
        say(message, 'This conversation no longer exists (deleted or expired): send again to start a new one.', 'error');
      } else say(message, `The answer failed: ${error instanceof Error ? error.message : String(error)}`, 'error');
    } finally {
      view.answer.setAttribute('aria-busy', 'false');
      busy(false);
      controller = undefined;
    }
  }

  /** Shows the stored conversation again, as the service keeps it. */
  async function restore(): Promise<void> {
    const id = storedConversation.get();
    if (!id || controller) return;
    const { data, error, response } = await api.GET('/v1/conversations/{id}', { params: { path: { id } } });
    if (data) {
      conversation = data;
      turns.replaceChildren(...data.turns.map(restoredTurn));
      describe();
      say(message, `Restored the conversation: ${data.turns.length} ${data.turns.length === 1 ? 'turn' : 'turns'}.`);
    } else if (response.status === 404) {
      forget();
      say(message, 'The stored conversation is gone (deleted or expired): your next question starts a new one.');
    } else if (response.status !== 401) {
      // 401: the status view asks for a key, and the page restores again once it is given.
      say(message, `Could not restore the conversation: ${problemText(error, response.status)}`, 'error');
    }
  }

  return { restore };
}
