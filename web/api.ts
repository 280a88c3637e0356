import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from '../src/api/openapi-types.js';

export type Problem = components['schemas']['Problem'];
export type Source = components['schemas']['Source'];

const KEY_STORAGE = 'nim-rag-api-key';

/** The API key lives in sessionStorage only: gone with the tab, never in the URL or a log. */
export const apiKey = {
  get: (): string | undefined => sessionStorage.getItem(KEY_STORAGE) ?? undefined,
  set: (key: string): void => (key ? sessionStorage.setItem(KEY_STORAGE, key) : sessionStorage.removeItem(KEY_STORAGE)),
};

const unauthorizedListeners = new Set<() => void>();
/** Called whenever the service answers 401: it wants a (valid) key. */
export const onUnauthorized = (listener: () => void): void => void unauthorizedListeners.add(listener);

const auth: Middleware = {
  onRequest({ request }) {
    const key = apiKey.get();
    if (key) request.headers.set('authorization', `Bearer ${key}`);
    return request;
  },
  onResponse({ response }) {
    if (response.status === 401) for (const listener of unauthorizedListeners) listener();
    return response;
  },
};

/** The page's own origin and path, so it also works behind a proxy that serves the service under a prefix. */
export const baseUrl = new URL('.', window.location.href).href.replace(/\/$/, '');

/** The client generated from openapi.yaml: the page calls only what any client of the API can. */
export const api = createClient<paths>({ baseUrl });
api.use(auth);

/** A one-line reading of a failed call: the problem's detail when the service sent one. */
export function problemText(error: unknown, status?: number): string {
  if (error && typeof error === 'object' && 'detail' in error && typeof error.detail === 'string') {
    const title = 'title' in error && typeof error.title === 'string' ? `${error.title}: ` : '';
    return `${title}${error.detail}`;
  }
  if (error instanceof Error) return error.message;
  return `the service answered ${status ?? 'an error'}`;
}
