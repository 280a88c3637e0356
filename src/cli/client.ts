import { createParser } from 'eventsource-parser';
import createClient from 'openapi-fetch';
import type { components, paths } from '../api/openapi-types.js';

export type Schemas = components['schemas'];
export type ApiClient = ReturnType<typeof createClient<paths, `${string}/${string}json`>>;

/** Exit codes scripts can rely on. */
export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3, interrupted: 130 } as const;

/** A failure the CLI reports in one line and exits with `code`; `status` when the service refused. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export interface Connection {
  client: ApiClient;
  baseUrl: string;
  headers: Record<string, string>;
}

/** A client for NIM_RAG_URL (default http://127.0.0.1:8080), with NIM_RAG_API_KEY as its bearer key. */
export function connect(env: NodeJS.ProcessEnv): Connection {
  const baseUrl = (env.NIM_RAG_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  const headers: Record<string, string> = env.NIM_RAG_API_KEY ? { authorization: `Bearer ${env.NIM_RAG_API_KEY}` } : {};
  const fetchOrExplain: typeof fetch = async (input, init) => {
    try {
      return await fetch(input, init);
    } catch (error) {
      const { cause, message } = error as Error;
      const reason = cause instanceof Error ? cause.message : message;
      throw new CliError(`cannot reach the service at ${baseUrl} (${reason}); set NIM_RAG_URL`, EXIT.unreachable);
    }
  };
  return { client: createClient<paths, `${string}/${string}json`>({ baseUrl, headers, fetch: fetchOrExplain }), baseUrl, headers };
}

/** A refusal by the service, quoting its problem document. */
export function refusal(response: Response, error: unknown): CliError {
  const problem = error as { detail?: string; title?: string } | undefined;
  return new CliError(`${response.status} ${problem?.title ?? response.statusText}: ${problem?.detail ?? 'no details'}`, EXIT.failed, response.status);
}

/** The data of an openapi-fetch result, or its refusal. */
export function dataOf<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.error !== undefined || result.data === undefined) throw refusal(result.response, result.error);
  return result.data;
}

/** The events of a Server-Sent Events body, JSON data parsed. */
export async function* serverEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<{ event: string; data: unknown }> {
  const queue: Array<{ event: string; data: unknown }> = [];
  const parser = createParser({ onEvent: ({ event, data }) => queue.push({ event: event ?? 'message', data: JSON.parse(data) as unknown }) });
  const decoder = new TextDecoder();
  for await (const piece of body as unknown as AsyncIterable<Uint8Array>) {
    parser.feed(decoder.decode(piece, { stream: true }));
    yield* queue.splice(0);
  }
}
