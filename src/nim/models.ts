import type { Logger } from 'pino';
import { type NormalizedBaseUrl, normalizeBaseUrl } from './base-url.js';
import type { NimClient } from './nim-client.js';

/** The hosted catalog's default embedding model (1024 dimensions): the one the compose files run, so one store serves both. */
export const DEFAULT_HOSTED_EMBEDDINGS_MODEL = 'nvidia/nv-embedqa-e5-v5';

interface KnownModel {
  id: string;
  /** Old catalog names that still resolve, with a deprecation warning, as in the Python client. */
  aliases: string[];
  /** Hosted models served away from the catalog's /v1 root. */
  hostedBaseUrl?: string;
}

const KNOWN_MODELS: KnownModel[] = [
  {
    id: 'mistralai/mixtral-8x7b-instruct-v0.1',
    aliases: ['ai-mixtral-8x7b-instruct', 'playground_mixtral_8x7b', 'mixtral_8x7b'],
  },
  {
    id: 'mistralai/mistral-7b-instruct-v0.2',
    aliases: ['ai-mistral-7b-instruct-v2', 'playground_mistral_7b', 'mistral_7b'],
  },
  { id: 'mistralai/mixtral-8x22b-instruct-v0.1', aliases: ['ai-mixtral-8x22b-instruct'] },
  { id: 'mistralai/mistral-large', aliases: ['ai-mistral-large'] },
  { id: 'meta/llama2-70b', aliases: ['ai-llama2-70b', 'playground_llama2_70b', 'llama2_70b', 'playground_llama2_13b', 'llama2_13b'] },
  { id: 'meta/llama3-8b-instruct', aliases: ['ai-llama3-8b'] },
  { id: 'meta/llama3-70b-instruct', aliases: ['ai-llama3-70b'] },
  { id: 'google/gemma-7b', aliases: ['ai-gemma-7b', 'playground_gemma_7b', 'gemma_7b'] },
  { id: 'google/gemma-2b', aliases: ['ai-gemma-2b', 'playground_gemma_2b', 'gemma_2b'] },
  { id: 'microsoft/phi-3-mini-4k-instruct', aliases: ['ai-phi-3-mini-4k', 'playground_phi2', 'phi2'] },
  {
    id: 'NV-Embed-QA',
    aliases: ['ai-embed-qa-4', 'playground_nvolveqa_40k', 'nvolveqa_40k'],
    hostedBaseUrl: 'https://ai.api.nvidia.com/v1/retrieval/nvidia',
  },
  { id: 'nvidia/nv-embedqa-e5-v5', aliases: [] },
  { id: 'nvidia/nv-embed-v1', aliases: ['ai-nv-embed-v1'] },
  { id: 'snowflake/arctic-embed-l', aliases: ['ai-arctic-embed-l'] },
];

/** The canonical id for a model name; an old catalog alias resolves with a deprecation warning. */
export function resolveModelAlias(name: string, logger: Logger): string {
  const known = KNOWN_MODELS.find((model) => model.aliases.includes(name));
  if (!known) return name;
  logger.warn({ alias: name, model: known.id }, `Model ${name} is deprecated. Using ${known.id} instead.`);
  return known.id;
}

/**
 * The base URL to call for a model: the hosted catalog's own address for it, taken as the catalog
 * gives it (NV-Embed-QA lives under /v1/retrieval/nvidia, with no /v1 at the end), else the
 * configured URL, normalised.
 */
export function baseUrlFor(configuredUrl: string, hostedModel: string | undefined): NormalizedBaseUrl {
  const hosted = hostedModel && KNOWN_MODELS.find((known) => known.id === hostedModel)?.hostedBaseUrl;
  return hosted ? { url: hosted, warning: undefined } : normalizeBaseUrl(configuredUrl);
}

interface ModelList {
  data?: Array<{ id?: unknown; root?: unknown }>;
}

/**
 * The model a self-hosted NIM serves, from GET {base}/models: the first listed model that is not
 * a derivative (no `root`, or `root` equal to its id), as the Python client picks it.
 */
export async function discoverModel(client: NimClient, logger: Logger): Promise<string> {
  const list = await client.getJson<ModelList>('/models', { model: '(discovery)' });
  const ids = (list.data ?? [])
    .filter((entry) => typeof entry.id === 'string' && (entry.root === undefined || entry.root === null || entry.root === entry.id))
    .map((entry) => entry.id as string);
  const [first] = ids;
  if (!first) throw new Error(`the NIM at ${client.baseUrl} lists no models at GET /models; set the model explicitly`);
  logger.info({ url: client.baseUrl, model: first, served: ids }, `using model ${first}, discovered from ${client.baseUrl}/models`);
  return first;
}
