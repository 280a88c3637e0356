import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Semaphore } from 'async-mutex';

/**
 * A NIM emulator on a loopback port: the embeddings (float or base64), chat completions (plain and
 * SSE), ranking, models and health endpoints, with the protocol rules a real NIM enforces (input_type required by the QA
 * embedding models, truncate with a token limit, at most 50 inputs a request, Bearer auth when a
 * key is set) and knobs to inject what real NIMs and the hosted catalog do (429 + Retry-After, 5xx,
 * 410, 404, DEGRADED, hangs, errors inside an SSE stream, latency, a concurrency cap).
 */

export interface EmulatorOptions {
  /** Models /v1/models lists, embedding first; defaults to the QA embedding model and Mixtral. */
  models?: string[];
  dimensions?: number;
  maxInputTokens?: number;
  maxBatch?: number;
  /** When set, every request must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  embedLatencyMs?: number;
  embedLatencyPerInputMs?: number;
  /** Embedding requests processed at once; more wait in line, as on a busy GPU. */
  maxConcurrentEmbeddings?: number;
  /** Time to the first token, then between tokens. */
  chatLatencyMs?: number;
  tokenIntervalMs?: number;
  /** What the emulated LLM answers; by default a deterministic sentence built from the prompt. */
  reply?: (messages: ChatMessage[]) => string;
  /** Returns embedding items in reverse order (their `index` still right), as a NIM may. */
  reverseEmbeddingOrder?: boolean;
  /** Answers `encoding_format: "base64"` with a 422, as a NIM that only sends floats does. */
  refuseBase64?: boolean;
  ready?: boolean;
}

export interface ChatMessage {
  role: string;
  content: string;
  tool_calls?: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }>;
  tool_call_id?: string;
}

interface ToolDefinition {
  type: 'function';
  function: { name: string; parameters?: { properties?: Record<string, { type?: string }> } };
}

/**
 * What the emulated LLM does with tools, as a tool-calling NIM does: unless tool_choice is "none"
 * or a tool has already answered, it calls the chosen tool (else the first) with every string
 * property set to the user's last message and every number to its length.
 */
function emulatedToolCall(body: any, messages: ChatMessage[]): ChatMessage['tool_calls'] {
  const tools: ToolDefinition[] = Array.isArray(body.tools) ? body.tools : [];
  if (tools.length === 0 || body.tool_choice === 'none' || messages.at(-1)?.role === 'tool') return undefined;
  const named = typeof body.tool_choice === 'object' ? body.tool_choice?.function?.name : undefined;
  const tool = tools.find((candidate) => candidate.function.name === named) ?? tools[0];
  if (!tool) return undefined;
  const question = [...messages].reverse().find((message) => message.role === 'user')?.content ?? '';
  const args = Object.fromEntries(
    Object.entries(tool.function.parameters?.properties ?? {}).map(([key, schema]) => [key, schema.type === 'number' || schema.type === 'integer' ? question.length : question]),
  );
  return [{ id: `call-${fnv(question).toString(16)}`, type: 'function', function: { name: tool.function.name, arguments: JSON.stringify(args) } }];
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: any;
}

export interface InjectedFailure {
  /** Path the failure applies to, e.g. /v1/embeddings. */
  path: string;
  status?: number;
  body?: unknown;
  retryAfter?: string;
  /** Never answer (the client must time out). */
  hang?: boolean;
  /** Stream this many tokens, then send an error object inside the stream. */
  streamErrorAfterTokens?: number;
  times?: number;
}

/** The models of the self-hosted deployment (docker-compose.yml), for emulators standing in for its NIMs. */
export const EMBED_MODEL = 'nvidia/nv-embedqa-e5-v5';
export const LLM_MODEL = 'mistralai/mixtral-8x7b-instruct-v0.1';
export const RERANK_MODEL = 'nvidia/llama-3.2-nv-rerankqa-1b-v2';

const DEFAULT_MODELS = ['NV-Embed-QA', LLM_MODEL, RERANK_MODEL];
const ASYMMETRIC = /(embed-?qa|e5|nv-embed)/i;
const TOKEN = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]|[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu;

export const tokensOf = (text: string): string[] => text.match(TOKEN) ?? [];

function fnv(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * A deterministic bag-of-words embedding, so retrieval through the emulator is meaningful. Its
 * values are float32s, as a real NIM's are, so floats and base64 carry exactly the same vector.
 */
export function emulatedEmbedding(text: string, dimensions: number): number[] {
  const vector = new Array<number>(dimensions).fill(0);
  for (const token of tokensOf(text.toLowerCase())) {
    if (token.length === 1 && !/[\p{L}\p{N}]/u.test(token)) continue;
    const h = fnv(token);
    vector[h % dimensions]! += h & 1 ? 1 : -1;
  }
  const norm = Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0));
  if (norm === 0) vector[0] = 1;
  return norm === 0 ? vector : vector.map((value) => Math.fround(value / norm));
}

/** The default emulated answer: names the first context line it was given, so tests can check what reached the LLM. */
export function defaultReply(messages: ChatMessage[]): string {
  const system = messages.find((message) => message.role === 'system')?.content ?? '';
  const context = /<Documents>\n([\s\S]*?)\n<\/Documents>/.exec(system)?.[1] ?? '';
  const firstLine = context.split('\n').find((line) => line.trim()) ?? 'nothing';
  const language = /Speak only in the following language: (.+)$/m.exec(system)?.[1];
  return `Emulated answer${language ? ` in ${language}` : ''} from: ${firstLine}`;
}

/** A vector as `encoding_format: "base64"` sends it: little-endian float32s. */
export function base64Floats(vector: number[]): string {
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((value, index) => bytes.writeFloatLE(value, index * 4));
  return bytes.toString('base64');
}

export class NimEmulator {
  readonly requests: RecordedRequest[] = [];
  /** Streams whose client went away before the end. */
  cancelledStreams = 0;
  /** Most embedding requests seen in flight at once. */
  peakEmbeddingConcurrency = 0;
  private embeddingsInFlight = 0;
  ready: boolean;
  private readonly failures: InjectedFailure[] = [];
  /** Undefined without a cap: async-mutex's release costs time in proportion to the slots (2 ms for a million). */
  private readonly embedSlots: Semaphore | undefined;
  private readonly hanging = new Set<ServerResponse>();
  private server!: Server;
  private port = 0;

  private constructor(readonly options: EmulatorOptions) {
    this.ready = options.ready ?? true;
    this.embedSlots = options.maxConcurrentEmbeddings === undefined ? undefined : new Semaphore(options.maxConcurrentEmbeddings);
  }

  static async start(options: EmulatorOptions = {}): Promise<NimEmulator> {
    const emulator = new NimEmulator(options);
    emulator.server = createServer((request, response) => {
      emulator.handle(request, response).catch((error: unknown) => {
        if (!response.headersSent) emulator.json(response, 500, { error: String(error) });
        else response.end();
      });
    });
    emulator.server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => emulator.server.listen(0, '127.0.0.1', resolve));
    emulator.port = (emulator.server.address() as AddressInfo).port;
    return emulator;
  }

  /** Base URL with /v1, as a self-hosted NIM is configured. */
  get url(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  /** Base URL without /v1, to check the client's normalisation. */
  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get models(): string[] {
    return this.options.models ?? DEFAULT_MODELS;
  }

  requestsTo(path: string): RecordedRequest[] {
    return this.requests.filter((request) => request.path === path);
  }

  failNext(failure: InjectedFailure): void {
    this.failures.push({ times: 1, ...failure });
  }

  reset(): void {
    this.requests.length = 0;
    this.failures.length = 0;
    this.cancelledStreams = 0;
    this.peakEmbeddingConcurrency = 0;
  }

  async stop(): Promise<void> {
    for (const response of this.hanging) response.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private takeFailure(path: string): InjectedFailure | undefined {
    const position = this.failures.findIndex((failure) => failure.path === path);
    if (position < 0) return undefined;
    const failure = this.failures[position] as InjectedFailure;
    failure.times = (failure.times ?? 1) - 1;
    if (failure.times <= 0) this.failures.splice(position, 1);
    return failure;
  }

  private json(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    response.writeHead(status, { 'content-type': 'application/json', ...headers });
    response.end(JSON.stringify(body));
  }

  private async readBody(request: IncomingMessage): Promise<any> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    if (!text) return undefined;
    try {
      return JSON.parse(text);
    } catch {
      return { unparsable: text };
    }
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?')[0] as string;
    const body = await this.readBody(request);
    this.requests.push({ method: request.method ?? 'GET', path, headers: request.headers, body });

    if (path === '/v1/health/live') return this.json(response, 200, { object: 'health.response', message: 'live', live: true });
    if (path === '/v1/health/ready') {
      return this.ready
        ? this.json(response, 200, { object: 'health.response', message: 'ready', ready: true })
        : this.json(response, 503, { object: 'health.response', message: 'not ready', ready: false });
    }
    if (this.options.apiKey && request.headers.authorization !== `Bearer ${this.options.apiKey}`) {
      return this.json(response, 401, { status: 401, title: 'Unauthorized', detail: 'Bearer token is invalid or missing' });
    }
    const failure = this.takeFailure(path);
    if (failure?.hang) {
      this.hanging.add(response);
      response.on('close', () => this.hanging.delete(response));
      return;
    }
    if (failure?.status) {
      const headers: Record<string, string> = failure.retryAfter ? { 'retry-after': failure.retryAfter } : {};
      return this.json(response, failure.status, failure.body ?? { error: `injected ${failure.status}` }, headers);
    }
    if (!this.ready && path !== '/v1/models') return this.json(response, 503, { error: 'model is loading' });

    if (request.method === 'GET' && path === '/v1/models') {
      return this.json(response, 200, {
        object: 'list',
        data: this.models.map((id) => ({ id, object: 'model', created: 0, owned_by: 'system', root: id })),
      });
    }
    if (request.method === 'POST' && path === '/v1/embeddings') return this.embeddings(body, response);
    if (request.method === 'POST' && path === '/v1/chat/completions') return this.chat(body, response, failure);
    if (request.method === 'POST' && path === '/v1/ranking') return this.ranking(body, response);
    return this.json(response, 404, { detail: 'Not Found' });
  }

  private async embeddings(body: any, response: ServerResponse): Promise<void> {
    this.embeddingsInFlight += 1;
    this.peakEmbeddingConcurrency = Math.max(this.peakEmbeddingConcurrency, this.embeddingsInFlight);
    try {
      await this.embed(body, response);
    } finally {
      this.embeddingsInFlight -= 1;
    }
  }

  private async embed(body: any, response: ServerResponse): Promise<void> {
    const { maxBatch = 50, maxInputTokens = 512, dimensions = 1024 } = this.options;
    const input: unknown = body?.input;
    const inputs = typeof input === 'string' ? [input] : input;
    if (!Array.isArray(inputs) || !inputs.every((item) => typeof item === 'string')) {
      return this.json(response, 422, { detail: [{ loc: ['body', 'input'], msg: 'input must be a string or a list of strings' }] });
    }
    if (!this.models.includes(body.model)) return this.json(response, 404, { error: `Model ${body.model} not found` });
    if (inputs.length > maxBatch) {
      return this.json(response, 400, { error: `Batch size ${inputs.length} is larger than the maximum of ${maxBatch}` });
    }
    if (ASYMMETRIC.test(body.model) && body.input_type !== 'query' && body.input_type !== 'passage') {
      return this.json(response, 400, { error: "'input_type' parameter is required for asymmetric models" });
    }
    const truncate = body.truncate ?? 'NONE';
    if (!['NONE', 'START', 'END'].includes(truncate)) {
      return this.json(response, 422, { detail: [{ loc: ['body', 'truncate'], msg: `invalid truncate ${truncate}` }] });
    }
    const encoding = body.encoding_format ?? 'float';
    const formats = this.options.refuseBase64 ? ['float'] : ['float', 'base64'];
    if (!formats.includes(encoding)) {
      const expected = formats.map((format) => `'${format}'`).join(' or ');
      return this.json(response, 422, {
        detail: [{ type: 'literal_error', loc: ['body', 'encoding_format'], msg: `Input should be ${expected}`, input: encoding }],
      });
    }
    const texts: string[] = [];
    for (const text of inputs) {
      const tokens = tokensOf(text);
      if (tokens.length > maxInputTokens && truncate === 'NONE') {
        return this.json(response, 400, { error: `Input length ${tokens.length} exceeds maximum allowed token size ${maxInputTokens}` });
      }
      const kept = tokens.length <= maxInputTokens ? tokens : truncate === 'END' ? tokens.slice(0, maxInputTokens) : tokens.slice(-maxInputTokens);
      texts.push(kept.join(' '));
    }
    const size = typeof body.dimensions === 'number' ? body.dimensions : dimensions;
    const latency = (this.options.embedLatencyMs ?? 0) + (this.options.embedLatencyPerInputMs ?? 0) * texts.length;
    const work = async () => {
      if (latency > 0) await sleep(latency);
    };
    await (this.embedSlots ? this.embedSlots.runExclusive(work) : work());
    const data = texts.map((text, index) => {
      const vector = emulatedEmbedding(text, size);
      return { index, object: 'embedding', embedding: encoding === 'base64' ? base64Floats(vector) : vector };
    });
    if (this.options.reverseEmbeddingOrder) data.reverse();
    const promptTokens = texts.reduce((sum, text) => sum + tokensOf(text).length, 0);
    this.json(response, 200, { object: 'list', data, model: body.model, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } });
  }

  /** The reranking NIM's API: every passage scored against the query, best first, as logits. */
  private async ranking(body: any, response: ServerResponse): Promise<void> {
    const { maxInputTokens = 512, dimensions = 1024 } = this.options;
    const query: unknown = body?.query?.text;
    const passages: unknown = body?.passages;
    if (typeof query !== 'string') return this.json(response, 422, { detail: [{ loc: ['body', 'query', 'text'], msg: 'Field required' }] });
    if (!Array.isArray(passages) || !passages.every((passage) => typeof passage?.text === 'string')) {
      return this.json(response, 422, { detail: [{ loc: ['body', 'passages'], msg: 'passages must be a list of {text}' }] });
    }
    if (!this.models.includes(body.model)) return this.json(response, 404, { error: `Model ${body.model} not found` });
    const truncate = body.truncate ?? 'NONE';
    if (!['NONE', 'END'].includes(truncate)) {
      return this.json(response, 422, { detail: [{ loc: ['body', 'truncate'], msg: `Input should be 'NONE' or 'END'` }] });
    }
    const queryTokens = tokensOf(query);
    for (const passage of passages as Array<{ text: string }>) {
      const pairTokens = queryTokens.length + tokensOf(passage.text).length;
      if (pairTokens > maxInputTokens && truncate === 'NONE') {
        return this.json(response, 400, { error: `Input length ${pairTokens} exceeds maximum allowed token size ${maxInputTokens}` });
      }
    }
    const queryVector = emulatedEmbedding(query, dimensions);
    const rankings = (passages as Array<{ text: string }>)
      .map((passage, index) => {
        const kept = tokensOf(passage.text).slice(0, Math.max(0, maxInputTokens - queryTokens.length)).join(' ');
        const vector = emulatedEmbedding(kept, dimensions);
        const cosine = vector.reduce((sum, value, position) => sum + value * (queryVector[position] as number), 0);
        return { index, logit: Math.round((cosine * 16 - 8) * 1000) / 1000 };
      })
      .sort((a, b) => b.logit - a.logit);
    const latency = this.options.embedLatencyMs ?? 0;
    if (latency > 0) await sleep(latency);
    this.json(response, 200, { rankings });
  }

  private async chat(body: any, response: ServerResponse, failure: InjectedFailure | undefined): Promise<void> {
    if (!this.models.includes(body?.model)) return this.json(response, 404, { error: `Model ${body?.model} not found` });
    const messages: ChatMessage[] = Array.isArray(body.messages) ? body.messages : [];
    if (messages.length === 0) return this.json(response, 422, { detail: [{ loc: ['body', 'messages'], msg: 'messages is required' }] });
    const toolCalls = emulatedToolCall(body, messages);
    const text = toolCalls ? '' : (this.options.reply ?? defaultReply)(messages);
    const pieces = text.match(/\S+\s*/g) ?? [];
    const usage = {
      prompt_tokens: messages.reduce((sum, message) => sum + tokensOf(message.content ?? '').length, 0),
      completion_tokens: pieces.length,
      total_tokens: 0,
    };
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    const created = Math.floor(Date.now() / 1000);
    const id = `chatcmpl-${created}`;
    const { chatLatencyMs = 0, tokenIntervalMs = 0 } = this.options;

    if (!body.stream) {
      await sleep(chatLatencyMs + tokenIntervalMs * pieces.length);
      return this.json(response, 200, {
        id,
        object: 'chat.completion',
        created,
        model: body.model,
        choices: [
          toolCalls
            ? { index: 0, message: { role: 'assistant', content: null, tool_calls: toolCalls }, finish_reason: 'tool_calls' }
            : { index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' },
        ],
        usage,
      });
    }

    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    let closed = false;
    response.on('close', () => {
      if (!response.writableFinished) {
        closed = true;
        this.cancelledStreams += 1;
      }
    });
    const send = (payload: unknown) => response.write(`data: ${JSON.stringify(payload)}\n\n`);
    const chunk = (delta: object, finishReason: string | null) => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model: body.model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    });
    await sleep(chatLatencyMs);
    if (toolCalls) {
      send(chunk({ role: 'assistant', content: null, tool_calls: toolCalls.map((call, index) => ({ index, ...call })) }, null));
      send(chunk({}, 'tool_calls'));
      response.end('data: [DONE]\n\n');
      return;
    }
    for (const [position, piece] of pieces.entries()) {
      if (closed) return;
      if (failure?.streamErrorAfterTokens !== undefined && position === failure.streamErrorAfterTokens) {
        send({ error: { object: 'error', type: 'internal_server_error', message: 'the model worker crashed' } });
        response.end();
        return;
      }
      send(chunk(position === 0 ? { role: 'assistant', content: piece } : { content: piece }, null));
      if (tokenIntervalMs > 0) await sleep(tokenIntervalMs);
    }
    if (closed) return;
    send(chunk({}, 'stop'));
    if (body.stream_options?.include_usage) send({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [], usage });
    response.end('data: [DONE]\n\n');
  }
}
