import { api, apiKey, onUnauthorized, problemText } from '../api.js';
import type { components } from '../../src/api/openapi-types.js';
import { byId, el, say } from '../dom.js';
import { applyKeyAccess, describeKeyAccess } from '../key-access.js';

type Readiness = components['schemas']['Readiness'];

function fact(term: string, value: string): DocumentFragment {
  const fragment = document.createDocumentFragment();
  fragment.append(el('dt', { text: term }), el('dd', { text: value }));
  return fragment;
}

type Provider = NonNullable<Readiness['providers']>['embeddings'];

const describeProvider = (provider: Provider) =>
  `${provider.provider === 'local' ? 'offline (local)' : 'NIM'} · ${provider.model}${provider.ready ? '' : ` · not ready: ${provider.detail}`}`;

/** Providers, models, offline mode, the store and its collections; asks for a key when one is needed. */
export function statusView(onKeyChange: () => void): { refresh(): Promise<void> } {
  const list = byId<HTMLDListElement>('status-list');
  const banner = byId<HTMLParagraphElement>('offline-banner');
  const message = byId<HTMLParagraphElement>('status-message');
  const keyForm = byId<HTMLFormElement>('key-form');
  const keyInput = byId<HTMLInputElement>('api-key');

  onUnauthorized(() => {
    keyForm.hidden = false;
    say(message, apiKey.get() ? 'The API key was refused: enter a valid one.' : 'Enter an API key to use this service.', 'error');
  });
  keyForm.addEventListener('submit', (event) => {
    event.preventDefault();
    apiKey.set(keyInput.value.trim());
    keyInput.value = '';
    keyForm.hidden = true;
    onKeyChange();
  });

  async function refresh(): Promise<void> {
    // 503 (not ready) carries the same body as 200, so both are read.
    const ready = await api.GET('/v1/health/ready');
    const readiness = ready.data ?? (ready.response.status === 503 ? (ready.error as Readiness) : undefined);
    list.replaceChildren();
    if (!readiness) {
      say(message, `Status unavailable: ${problemText(ready.error, ready.response.status)}`, 'error');
      return;
    }
    const { providers, store } = readiness;
    const offline = [
      providers?.embeddings.provider === 'local' ? 'embeddings are lexical (shared words, not meaning)' : '',
      providers?.llm.provider === 'local' ? 'answers are sentences quoted from your texts, not generated' : '',
    ].filter(Boolean);
    if (!providers && readiness.offline) offline.push('the service runs on its offline providers');
    banner.hidden = offline.length === 0;
    banner.textContent = offline.length > 0 ? `Offline mode: ${offline.join(', and ')}. Configure a NIM to change this.` : '';
    list.append(fact('Service', readiness.status === 'ready' ? 'ready' : 'not ready'));
    // Without a key, a service that requires one tells only whether it is ready.
    if (providers) list.append(fact('Embeddings', describeProvider(providers.embeddings)), fact('Answers', describeProvider(providers.llm)));
    if (store) {
      list.append(
        fact('Store', `${store.backend ?? 'unknown backend'} · ${store.embedding_model}${store.dimensions ? ` · ${store.dimensions} dimensions` : ''}`),
        fact('Totals', `${store.collections} collections · ${store.documents} documents · ${store.chunks} chunks`),
      );
    }
    const me = await api.GET('/v1/me');
    if (me.data) {
      applyKeyAccess(me.data);
      if (me.data.name !== null) list.append(fact('Key', describeKeyAccess(me.data)));
    }
    const collections = await api.GET('/v1/collections');
    if (collections.data) {
      const sizes = collections.data.collections.map((item) => `${item.name}: ${item.documents} documents, ${item.chunks} chunks`);
      list.append(fact('Collections', sizes.length > 0 ? sizes.join(' · ') : 'none yet'));
      if (keyForm.hidden) say(message, '');
    }
  }
  return { refresh };
}
