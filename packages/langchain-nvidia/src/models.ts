import type { ModelProfile } from '@langchain/core/language_models/profile';
import type { NVIDIAClient } from './client.js';
import { type NormalizedBaseUrl, normalizeBaseUrl } from './base-url.js';
import type { NVIDIALogger } from './logger.js';

/** NVIDIA's hosted API catalog, the default address of every model class. */
export const HOSTED_BASE_URL = 'https://integrate.api.nvidia.com/v1';
/** The hosted catalog's default embedding model (1024 dimensions), as in the Python package and the NIM the compose files run. */
export const DEFAULT_EMBEDDINGS_MODEL = 'nvidia/nv-embedqa-e5-v5';
export const DEFAULT_CHAT_MODEL = 'mistralai/mixtral-8x7b-instruct-v0.1';
export const DEFAULT_RERANK_MODEL = 'nvidia/llama-3.2-nv-rerankqa-1b-v2';

interface KnownModel {
  id: string;
  /** Old catalog names that still resolve, with a deprecation warning, as in the Python client. */
  aliases: string[];
  /** Hosted models served away from the catalog's /v1 root (a base URL, or a reranker's full endpoint). */
  hostedUrl?: string;
  /** What a chat model can do on the catalog, in LangChain's ModelProfile terms. */
  profile?: ModelProfile;
}

/** A catalog chat model with tool calling: tools, a forced `tool_choice`, structured output through them. */
const TOOLS: ModelProfile = { toolCalling: true, toolChoice: true, structuredOutput: true };
/** A catalog chat model that takes text only and no tools, as the Python package's table marks it. */
const TEXT_ONLY: ModelProfile = { toolCalling: false, toolChoice: false, structuredOutput: false, imageInputs: false };
/** A vision-language model: image parts in user messages, as URLs or data URLs. */
const VISION: ModelProfile = { toolCalling: false, toolChoice: false, structuredOutput: false, imageInputs: true, imageUrlInputs: true };

const KNOWN_MODELS: KnownModel[] = [
  {
    id: 'mistralai/mixtral-8x7b-instruct-v0.1',
    aliases: ['ai-mixtral-8x7b-instruct', 'playground_mixtral_8x7b', 'mixtral_8x7b'],
    profile: TEXT_ONLY,
  },
  {
    id: 'mistralai/mistral-7b-instruct-v0.2',
    aliases: ['ai-mistral-7b-instruct-v2', 'playground_mistral_7b', 'mistral_7b'],
    profile: TEXT_ONLY,
  },
  { id: 'mistralai/mixtral-8x22b-instruct-v0.1', aliases: ['ai-mixtral-8x22b-instruct'], profile: TEXT_ONLY },
  { id: 'mistralai/mistral-large', aliases: ['ai-mistral-large'], profile: TEXT_ONLY },
  { id: 'mistralai/mistral-large-2-instruct', aliases: [], profile: TOOLS },
  { id: 'meta/llama2-70b', aliases: ['ai-llama2-70b', 'playground_llama2_70b', 'llama2_70b', 'playground_llama2_13b', 'llama2_13b'], profile: TEXT_ONLY },
  { id: 'meta/llama3-8b-instruct', aliases: ['ai-llama3-8b'], profile: TEXT_ONLY },
  { id: 'meta/llama3-70b-instruct', aliases: ['ai-llama3-70b'], profile: TEXT_ONLY },
  { id: 'meta/llama-3.1-8b-instruct', aliases: [], profile: TOOLS },
  { id: 'meta/llama-3.1-70b-instruct', aliases: [], profile: TOOLS },
  { id: 'meta/llama-3.1-405b-instruct', aliases: [], profile: TOOLS },
  { id: 'meta/llama-3.3-70b-instruct', aliases: [], profile: TOOLS },
  { id: 'nvidia/llama-3.1-nemotron-70b-instruct', aliases: [], profile: TOOLS },
  { id: 'meta/llama-3.2-11b-vision-instruct', aliases: [], profile: VISION },
  { id: 'meta/llama-3.2-90b-vision-instruct', aliases: [], profile: VISION },
  { id: 'microsoft/phi-3.5-vision-instruct', aliases: [], profile: VISION },
  { id: 'nvidia/llama-3.1-nemotron-nano-vl-8b-v1', aliases: [], profile: VISION },
  { id: 'google/gemma-7b', aliases: ['ai-gemma-7b', 'playground_gemma_7b', 'gemma_7b'], profile: TEXT_ONLY },
  { id: 'google/gemma-2b', aliases: ['ai-gemma-2b', 'playground_gemma_2b', 'gemma_2b'], profile: TEXT_ONLY },
  { id: 'microsoft/phi-3-mini-4k-instruct', aliases: ['ai-phi-3-mini-4k', 'playground_phi2', 'phi2'], profile: TEXT_ONLY },
  {
    id: 'NV-Embed-QA',
    aliases: ['ai-embed-qa-4', 'playground_nvolveqa_40k', 'nvolveqa_40k'],
    hostedUrl: 'https://ai.api.nvidia.com/v1/retrieval/nvidia',
  },
  { id: 'nvidia/nv-embedqa-e5-v5', aliases: [] },
  { id: 'nvidia/nv-embed-v1', aliases: ['ai-nv-embed-v1'] },
  { id: 'snowflake/arctic-embed-l', aliases: ['ai-arctic-embed-l'] },
  {
    id: 'nvidia/llama-3.2-nv-rerankqa-1b-v2',
    aliases: [],
    hostedUrl: 'https://ai.api.nvidia.com/v1/retrieval/nvidia/llama-3_2-nv-rerankqa-1b-v2/reranking',
  },
  {
    id: 'nvidia/nv-rerankqa-mistral-4b-v3',
    aliases: [],
    hostedUrl: 'https://ai.api.nvidia.com/v1/retrieval/nvidia/nv-rerankqa-mistral-4b-v3/reranking',
  },
  {
    id: 'nv-rerank-qa-mistral-4b:1',
    aliases: ['ai-rerank-qa-mistral-4b'],
    hostedUrl: 'https://ai.api.nvidia.com/v1/retrieval/nvidia/reranking',
  },
];

const known = (id: string) => KNOWN_MODELS.find((model) => model.id === id);

/** The canonical id for a model name; an old catalog alias resolves with a deprecation warning. */
export function resolveModelAlias(name: string, logger: NVIDIALogger): string {
  const model = KNOWN_MODELS.find((candidate) => candidate.aliases.includes(name));
  if (!model) return name;
  logger.warn({ alias: name, model: model.id }, `Model ${name} is deprecated. Using ${model.id} instead.`);
  return model.id;
}

/** True when a base URL is the hosted catalog's (no URL means the catalog). */
export function isHosted(baseUrl: string | undefined): boolean {
  return baseUrl === undefined || normalizeBaseUrl(baseUrl).url === HOSTED_BASE_URL;
}

/**
 * The base URL to call for a model: the hosted catalog's own address for it, taken as the catalog
 * gives it (NV-Embed-QA lives under /v1/retrieval/nvidia, with no /v1 at the end), else the
 * configured URL, normalised.
 */
export function baseUrlFor(configuredUrl: string, hostedModel: string | undefined): NormalizedBaseUrl {
  const hosted = hostedModel && known(hostedModel)?.hostedUrl;
  return hosted && !hosted.endsWith('/reranking') ? { url: hosted, warning: undefined } : normalizeBaseUrl(configuredUrl);
}

/** Where a reranking model answers: its own endpoint on the hosted catalog, `{base}/ranking` on a self-hosted NIM. */
export function rankingUrlFor(baseUrl: string, model: string, hosted: boolean): string {
  const endpoint = known(model)?.hostedUrl;
  return hosted && endpoint?.endsWith('/reranking') ? endpoint : `${baseUrl}/ranking`;
}

/**
 * What the package's table knows of a catalog chat model (undefined for a model it does not list,
 * such as a self-hosted fine-tune): callers declare those themselves with ChatNVIDIA's `profile`.
 */
export function knownProfile(model: string): ModelProfile | undefined {
  const profile = known(model)?.profile;
  return profile ? { ...profile } : undefined;
}

/** The catalog chat models the table lists with tool calling, for errors that point somewhere. */
export function toolCallingModels(): string[] {
  return KNOWN_MODELS.filter((model) => model.profile?.toolCalling === true).map((model) => model.id);
}

interface ModelList {
  data?: Array<{ id?: unknown; root?: unknown }>;
}

export type ModelKind = 'embedding' | 'chat' | 'rerank';

const RERANK_NAME = /rerank/i;
const EMBEDDING_NAME = /embed|e5-|bge-|retriev/i;
const CHAT_NAME = /instruct|chat|mixtral|mistral|llama|gemma|phi-|nemotron|qwen|gpt/i;

/** What a model does, from its name (NIM model lists do not say); undefined when the name does not tell. */
export function modelKind(id: string): ModelKind | undefined {
  if (RERANK_NAME.test(id)) return 'rerank';
  if (EMBEDDING_NAME.test(id)) return 'embedding';
  if (CHAT_NAME.test(id)) return 'chat';
  return undefined;
}

/**
 * The model a self-hosted NIM serves, from GET {base}/models: among the listed models that are not
 * derivatives (no `root`, or `root` equal to its id), as the Python client picks them, the first of
 * the kind wanted. One address may serve several models (a NIM proxy): a chat model must not become
 * the embedding model because it was listed first. A NIM listing one model whose name does not tell
 * its kind serves that one; with no kind asked, the first listed model is taken.
 */
export async function discoverModel(client: NVIDIAClient, logger?: NVIDIALogger, kind?: ModelKind): Promise<string> {
  const list = await client.getJson<ModelList>('/models', { model: '(discovery)' });
  const ids = (list.data ?? [])
    .filter((entry) => typeof entry.id === 'string' && (entry.root === undefined || entry.root === null || entry.root === entry.id))
    .map((entry) => entry.id as string);
  if (ids.length === 0) throw client.badResponse({ model: '(discovery)' }, `GET /models lists no models; set the model explicitly`);
  const [only] = ids;
  const chosen = kind
    ? (ids.find((id) => modelKind(id) === kind) ?? (ids.length === 1 && only && modelKind(only) === undefined ? only : undefined))
    : only;
  if (!chosen) {
    throw client.badResponse({ model: '(discovery)' }, `GET /models lists no ${kind} model (it lists ${ids.join(', ')}); set the model explicitly`);
  }
  const what = kind ? `${kind} model` : 'model';
  logger?.info?.({ url: client.baseUrl, model: chosen, served: ids }, `using ${what} ${chosen}, discovered from ${client.baseUrl}/models`);
  return chosen;
}
