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
  /** Models that take image parts; by default those whose names say vision (vision, -vl-, neva, paligemma). */
  visionModels?: string[];
}

export interface ChatMessage {
  role: string;
  content: string;
  tool_calls?: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }>;
  tool_call_id?: string;
}

interface ToolDefinition {
  type: 'function';
  function: { name: string; parameters?: Record<string, unknown> };
}

/**
 * What the emulated LLM does with tools, as a tool-calling NIM does: unless tool_choice is "none"
 * or a tool has already answered, it calls the chosen tool (else the first) with arguments that fit
 * its schema: every string the user's last message, every number its length.
 */
function emulatedToolCall(body: any, messages: ChatMessage[]): ChatMessage['tool_calls'] {
  const tools: ToolDefinition[] = Array.isArray(body.tools) ? body.tools : [];
  if (tools.length === 0 || body.tool_choice === 'none' || messages.at(-1)?.role === 'tool') return undefined;
  const named = typeof body.tool_choice === 'object' ? body.tool_choice?.function?.name : undefined;
  const tool = tools.find((candidate) => candidate.function.name === named) ?? tools[0];
  if (!tool) return undefined;
  const question = lastQuestion(messages);
  const args = valueFor(tool.function.parameters ?? { type: 'object' }, question);
  return [{ id: `call-${fnv(question).toString(16)}`, type: 'function', function: { name: tool.function.name, arguments: JSON.stringify(args) } }];
}

const lastQuestion = (messages: ChatMessage[]) => [...messages].reverse().find((message) => message.role === 'user')?.content ?? '';

/** A value that fits a JSON schema, as the emulated model's guided decoding makes one: strings are the question, numbers its length. */
function valueFor(schema: any, question: string): unknown {
  if (Array.isArray(schema?.enum)) return schema.enum[0];
  const alternative = schema?.anyOf ?? schema?.oneOf;
  if (Array.isArray(alternative)) return valueFor(alternative[0], question);
  const type = Array.isArray(schema?.type) ? schema.type[0] : schema?.type;
  if (type === 'number' || type === 'integer') return question.length;
  if (type === 'boolean') return true;
  if (type === 'array') return [valueFor(schema.items ?? { type: 'string' }, question)];
  if (type === 'object' || schema?.properties) {
    return Object.fromEntries(Object.entries(schema.properties ?? {}).map(([key, property]) => [key, valueFor(property, question)]));
  }
  return question;
}

/**
 * The JSON a structured request gets: a value of the schema that guided decoding (`nvext.guided_json`,
 * top-level `guided_json`) or `response_format: json_schema` constrains it to; with
 * `response_format: json_object`, an object holding the answer. Undefined for a plain request.
 */
function structuredReply(body: any, messages: ChatMessage[]): string | undefined {
  const schema = body.nvext?.guided_json ?? body.guided_json ?? (body.response_format?.type === 'json_schema' ? body.response_format.json_schema.schema : undefined);
  if (schema !== undefined) return JSON.stringify(valueFor(typeof schema === 'string' ? JSON.parse(schema) : schema, lastQuestion(messages)));
  if (body.response_format?.type === 'json_object') return JSON.stringify({ answer: defaultReply(messages) });
  return undefined;
}

/** The text before the first stop sequence, as generation stops there. */
function cutAtStop(text: string, stops: string[]): string {
  const cut = Math.min(...stops.map((stop) => text.indexOf(stop)).filter((position) => position >= 0), text.length);
  return text.slice(0, cut);
}

/** A message's text: the string, or its text parts joined. */
function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.filter((part) => part?.type === 'text').map((part) => String(part.text)).join('');
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
  /**
   * Answer as NVIDIA Cloud Functions does a request it queued: HTTP 202 with an NVCF-REQID header,
   * then this many more 202s to polls of /v2/nvcf/pexec/status/{id} before the result.
   */
  accepted?: number;
  times?: number;
}

/** The models of the self-hosted deployment (docker-compose.yml), for emulators standing in for its NIMs. */
export const EMBED_MODEL = 'nvidia/nv-embedqa-e5-v5';
export const LLM_MODEL = 'mistralai/mixtral-8x7b-instruct-v0.1';
export const RERANK_MODEL = 'nvidia/llama-3.2-nv-rerankqa-1b-v2';

const DEFAULT_MODELS = ['NV-Embed-QA', LLM_MODEL, RERANK_MODEL];
const POLL_PATH = '/v2/nvcf/pexec/status/';
const VISION_NAME = /vision|-vl-|-vl$|neva|paligemma|vila/i;
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

/**
 * The default emulated answer: to a condense prompt, the standalone query (see condensedQuery);
 * otherwise it names the first context line it was given, so tests can check what reached the LLM.
 */
export function defaultReply(messages: ChatMessage[]): string {
  const condensed = condensedQuery(messages);
  if (condensed !== undefined) return condensed;
  const system = messages.find((message) => message.role === 'system')?.content ?? '';
  const context = /<Documents>\n([\s\S]*?)\n<\/Documents>/.exec(system)?.[1] ?? '';
  const firstLine = context.split('\n').find((line) => line.trim()) ?? 'nothing';
  const language = /Speak only in the following language: (.+)$/m.exec(system)?.[1];
  return `Emulated answer${language ? ` in ${language}` : ''} from: ${firstLine}`;
}

/** How a "condense question" prompt reads: a system message asking for the follow-up as a standalone search query. */
const CONDENSE_REQUEST = /standalone search query/i;
const COMMON_WORDS = new Set(
  ('the and what which who whom whose where when why how is are was were be been does did do can could would should will ' +
    'about tell me you your there their them they it its this that these those for with from into of on in at to a an and ' +
    'like please some any more most also just').split(' '),
);

/**
 * The emulated model's standalone query, for a condense prompt: the follow-up question followed by
 * the salient words (not common words, not already in it) of the earlier user turns, newest
 * first. Deterministic, so tests can tell which documents the follow-up retrieves; undefined for
 * any other prompt.
 */
export function condensedQuery(messages: ChatMessage[]): string | undefined {
  if (!CONDENSE_REQUEST.test(messages.find((message) => message.role === 'system')?.content ?? '')) return undefined;
  const users = messages.filter((message) => message.role === 'user');
  const question = users.at(-1)?.content ?? '';
  const wordsOf = (text: string) => text.match(/[\p{L}\p{N}]+/gu) ?? [];
  const seen = new Set(wordsOf(question).map((word) => word.toLowerCase()));
  const salient: string[] = [];
  for (const message of users.slice(0, -1).reverse()) {
    for (const word of wordsOf(message.content)) {
      const key = word.toLowerCase();
      if (word.length < 3 || COMMON_WORDS.has(key) || seen.has(key)) continue;
      seen.add(key);
      salient.push(word);
    }
  }
  return salient.length === 0 ? question : `${question} ${salient.join(' ')}`;
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
  /** Requests answered 202, by NVCF-REQID, until a poll collects their result. */
  private readonly queued = new Map<string, { request: RecordedRequest; pollsLeft: number }>();
  private acceptedCount = 0;
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

  /** Where requests answered 202 are polled, in the form the client's `pollingUrl` takes. */
  get pollingUrl(): string {
    return `${this.origin}${POLL_PATH}{request_id}`;
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

  /** The messages of each chat completion received, in order: what the model was told, earlier turns included. */
  chatMessages(): ChatMessage[][] {
    return this.requestsTo('/v1/chat/completions').map((request) => (Array.isArray(request.body?.messages) ? request.body.messages : []));
  }

  /** The chat completions received that were condense prompts (a follow-up rewritten as a standalone query), and the others. */
  chatCalls(): { condense: number; answer: number } {
    const all = this.chatMessages();
    const condense = all.filter((messages) => condensedQuery(messages.map((message) => ({ ...message, content: textOf(message.content) }))) !== undefined).length;
    return { condense, answer: all.length - condense };
  }

  failNext(failure: InjectedFailure): void {
    this.failures.push({ times: 1, ...failure });
  }

  reset(): void {
    this.requests.length = 0;
    this.failures.length = 0;
    this.queued.clear();
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

  /** Waits as a busy NIM would: false, at once, when the client goes away, so that no timer outlives its request. */
  private async pause(response: ServerResponse, ms: number): Promise<boolean> {
    if (ms <= 0) return true;
    const gone = new AbortController();
    const abort = () => gone.abort();
    response.on('close', abort);
    try {
      return await sleep(ms, true, { signal: gone.signal }).catch(() => false);
    } finally {
      response.off('close', abort);
    }
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
    const recorded: RecordedRequest = { method: request.method ?? 'GET', path, headers: request.headers, body };
    this.requests.push(recorded);
    await this.route(recorded, response);
  }

  private async route(request: RecordedRequest, response: ServerResponse): Promise<void> {
    const { path, body } = request;
    if (path === '/v1/health/live') return this.json(response, 200, { object: 'health.response', message: 'live', live: true });
    if (path === '/v1/health/ready') {
      return this.ready
        ? this.json(response, 200, { object: 'health.response', message: 'ready', ready: true })
        : this.json(response, 503, { object: 'health.response', message: 'not ready', ready: false });
    }
    if (this.options.apiKey && request.headers.authorization !== `Bearer ${this.options.apiKey}`) {
      return this.json(response, 401, { status: 401, title: 'Unauthorized', detail: 'Bearer token is invalid or missing' });
    }
    if (request.method === 'GET' && path.startsWith(POLL_PATH)) return this.poll(decodeURIComponent(path.slice(POLL_PATH.length)), response);
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
    if (failure?.accepted !== undefined) {
      const id = `nvcf-${++this.acceptedCount}`;
      this.queued.set(id, { request, pollsLeft: failure.accepted });
      response.writeHead(202, { 'nvcf-reqid': id, 'nvcf-status': 'pending-evaluation' });
      response.end();
      return;
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

  /** NVCF's status endpoint: 202 while the queued request is pending, then its result, once; an unknown id is a 404. */
  private async poll(id: string, response: ServerResponse): Promise<void> {
    const queued = this.queued.get(id);
    if (!queued) return this.json(response, 404, { detail: `request ${id} not found` });
    if (queued.pollsLeft > 0) {
      queued.pollsLeft -= 1;
      response.writeHead(202, { 'nvcf-reqid': id, 'nvcf-status': 'pending-evaluation' });
      response.end();
      return;
    }
    this.queued.delete(id);
    await this.route(queued.request, response);
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
    const work = () => this.pause(response, latency);
    if (!(await (this.embedSlots ? this.embedSlots.runExclusive(work) : work()))) return;
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
    if (!(await this.pause(response, this.options.embedLatencyMs ?? 0))) return;
    this.json(response, 200, { rankings });
  }

  private async chat(body: any, response: ServerResponse, failure: InjectedFailure | undefined): Promise<void> {
    if (!this.models.includes(body?.model)) return this.json(response, 404, { error: `Model ${body?.model} not found` });
    const wireMessages: any[] = Array.isArray(body.messages) ? body.messages : [];
    if (wireMessages.length === 0) return this.json(response, 422, { detail: [{ loc: ['body', 'messages'], msg: 'messages is required' }] });
    const refusal = this.chatRequestProblem(body, wireMessages);
    if (refusal) return this.json(response, refusal.status, refusal.body);
    // The reply callbacks see each message's text, as a text-only model would.
    const messages: ChatMessage[] = wireMessages.map((message) => ({ ...message, content: textOf(message.content) }));
    const toolCalls = emulatedToolCall(body, messages);
    const stops: string[] = Array.isArray(body.stop) ? body.stop : typeof body.stop === 'string' ? [body.stop] : [];
    const text = toolCalls ? '' : cutAtStop(structuredReply(body, messages) ?? (this.options.reply ?? defaultReply)(messages), stops);
    const pieces = text.match(/\S+\s*/g) ?? [];
    const choices = Number.isInteger(body.n) ? (body.n as number) : 1;
    const usage = {
      prompt_tokens: messages.reduce((sum, message) => sum + tokensOf(message.content ?? '').length, 0),
      completion_tokens: pieces.length * choices,
      total_tokens: 0,
    };
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    const created = Math.floor(Date.now() / 1000);
    const id = `chatcmpl-${created}`;
    const { chatLatencyMs = 0, tokenIntervalMs = 0 } = this.options;
    const logprobsOf = (tokens: string[]) =>
      body.logprobs
        ? {
            content: tokens.map((token) => ({
              token,
              logprob: -0.25,
              bytes: [...Buffer.from(token)],
              top_logprobs: Array.from({ length: body.top_logprobs ?? 0 }, (_, rank) => ({ token: rank === 0 ? token : `${token}~${rank}`, logprob: -0.25 - rank })),
            })),
          }
        : null;

    const pause = (ms: number) => this.pause(response, ms);

    if (!body.stream) {
      if (!(await pause(chatLatencyMs + tokenIntervalMs * pieces.length))) return;
      return this.json(response, 200, {
        id,
        object: 'chat.completion',
        created,
        model: body.model,
        choices: Array.from({ length: choices }, (_, index) =>
          toolCalls
            ? { index, message: { role: 'assistant', content: null, tool_calls: toolCalls }, logprobs: null, finish_reason: 'tool_calls' }
            : { index, message: { role: 'assistant', content: text }, logprobs: logprobsOf(pieces), finish_reason: 'stop' },
        ),
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
    const chunk = (delta: object, finishReason: string | null, logprobs: unknown = null) => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model: body.model,
      choices: [{ index: 0, delta, logprobs, finish_reason: finishReason }],
    });
    if (!(await pause(chatLatencyMs))) return;
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
      send(chunk(position === 0 ? { role: 'assistant', content: piece } : { content: piece }, null, logprobsOf([piece])));
      if (tokenIntervalMs > 0 && !(await pause(tokenIntervalMs))) return;
    }
    if (closed) return;
    send(chunk({}, 'stop'));
    if (body.stream_options?.include_usage) send({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [], usage });
    response.end('data: [DONE]\n\n');
  }

  /** What an OpenAI-compatible NIM (vLLM's server) refuses before generating anything, as it answers it. */
  private chatRequestProblem(body: any, messages: any[]): { status: number; body: unknown } | undefined {
    const invalid = (loc: string[], msg: string) => ({ status: 422, body: { detail: [{ loc: ['body', ...loc], msg }] } });
    const vision = this.options.visionModels ? this.options.visionModels.includes(body.model) : VISION_NAME.test(body.model);
    for (const [position, message] of messages.entries()) {
      const content = message?.content;
      if (typeof content === 'string' || (content === null && message.role === 'assistant')) continue;
      if (!Array.isArray(content)) return invalid(['messages', String(position), 'content'], 'content must be a string or a list of parts');
      for (const part of content) {
        if (part?.type === 'text' && typeof part.text === 'string') continue;
        if (part?.type !== 'image_url') return invalid(['messages', String(position), 'content'], `unsupported content part type ${JSON.stringify(part?.type)}`);
        const url: unknown = part.image_url?.url;
        if (typeof url !== 'string' || !/^(https?:\/\/|data:image\/[\w.+-]+;base64,)/.test(url)) {
          return invalid(['messages', String(position), 'content', 'image_url'], 'image_url.url must be an http(s) URL or a base64 data URL of an image');
        }
        if (!vision) return { status: 400, body: { object: 'error', message: `model ${body.model} does not accept image input`, type: 'BadRequestError' } };
      }
    }
    const tools: ToolDefinition[] = Array.isArray(body.tools) ? body.tools : [];
    const choice = body.tool_choice;
    if (choice !== undefined && choice !== null) {
      if (tools.length === 0) return { status: 400, body: { object: 'error', message: 'When using `tool_choice`, `tools` must be set.' } };
      if (typeof choice === 'string' && !['auto', 'none', 'required'].includes(choice)) {
        return invalid(['tool_choice'], `Input should be 'none', 'auto', 'required' or a named tool choice, got ${JSON.stringify(choice)}`);
      }
      const named = typeof choice === 'object' ? choice?.function?.name : undefined;
      if (typeof choice === 'object' && !tools.some((tool) => tool.function.name === named)) {
        return { status: 400, body: { object: 'error', message: `Tool ${JSON.stringify(named)} was chosen but is not among the tools given` } };
      }
    }
    if (body.n !== undefined && (!Number.isInteger(body.n) || body.n < 1 || body.n > 128)) return invalid(['n'], 'n must be an integer from 1 to 128');
    if (body.top_logprobs !== undefined && !body.logprobs) return invalid(['top_logprobs'], 'top_logprobs needs logprobs to be true');
    const format = body.response_format?.type;
    if (format !== undefined && !['text', 'json_object', 'json_schema'].includes(format)) return invalid(['response_format', 'type'], `unknown response_format ${format}`);
    if (format === 'json_schema' && typeof body.response_format.json_schema?.schema !== 'object') {
      return invalid(['response_format', 'json_schema', 'schema'], 'json_schema.schema is required');
    }
    return undefined;
  }
}
