import { createParser } from 'eventsource-parser';
import { api, problemText, type Source } from './api.js';
import type { components } from '../src/api/openapi-types.js';

export type AskRequest = components['schemas']['AskRequest'];
export type AskDone = components['schemas']['AskDoneEvent'];

export interface AskHandlers {
  sources(sources: Source[]): void;
  token(text: string): void;
  done(done: AskDone): void;
}

/**
 * POST /v1/ask as Server-Sent Events through the generated client, handing each event over as it
 * arrives. Aborting `signal` closes the connection, which makes the service cancel its NIM call.
 */
export async function askStreaming(request: AskRequest, handlers: AskHandlers, signal: AbortSignal): Promise<void> {
  const { response, error } = await api.POST('/v1/ask', {
    body: { ...request, stream: true },
    headers: { accept: 'text/event-stream' },
    parseAs: 'stream',
    signal,
  });
  if (!response.ok || !response.body) throw new Error(problemText(error, response.status));

  let failure: string | undefined;
  const parser = createParser({
    onEvent(event) {
      const data: unknown = JSON.parse(event.data);
      if (event.event === 'sources') handlers.sources((data as { sources: Source[] }).sources);
      else if (event.event === 'token') handlers.token((data as { text: string }).text);
      else if (event.event === 'done') handlers.done(data as AskDone);
      else if (event.event === 'error') failure = problemText(data);
    },
  });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parser.feed(value);
  }
  if (failure) throw new Error(failure);
}
