import { createParser } from 'eventsource-parser';
import { api, problemText, type Source } from './api.js';
import type { components } from '../src/api/openapi-types.js';

export type AskRequest = components['schemas']['AskRequest'];
export type AskDone = components['schemas']['AskDoneEvent'];
type AskSources = components['schemas']['AskSourcesEvent'];

export interface AskHandlers {
  /** The sources the model is given, and the search query the service made of the question (the question itself without history). */
  sources(sources: Source[], standaloneQuery: string): void;
  token(text: string): void;
  done(done: AskDone): void;
}

/** A refused or failed answer; `status` is the HTTP status of a refusal before the stream began. */
export class AskFailed extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'AskFailed';
  }
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
  if (!response.ok || !response.body) throw new AskFailed(problemText(error, response.status), response.status);

  let failure: string | undefined;
  const parser = createParser({
    onEvent(event) {
      const data: unknown = JSON.parse(event.data);
      if (event.event === 'sources') {
        const retrieved = data as AskSources;
        handlers.sources(retrieved.sources, retrieved.standalone_query);
      }
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
  if (failure) throw new AskFailed(failure);
}
