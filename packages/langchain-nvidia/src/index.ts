export { ChatNVIDIA, type ChatNVIDIACallOptions, type ChatNVIDIAFields, type GenerationOptions, type OpenAITool, type ToolChoice } from './chat.js';
export {
  type AttemptReport,
  type CallOptions,
  type CallOutcome,
  type FailedAttemptHandler,
  type JsonCallOptions,
  NVCF_POLLING_URL,
  NVIDIAClient,
  type NVIDIAClientHooks,
  type NVIDIAClientOptions,
  parseRetryAfter,
} from './client.js';
export {
  type EmbedOptions,
  type EncodingFormat,
  type InputType,
  NVIDIAEmbeddings,
  type NVIDIAEmbeddingsParams,
  type Truncate,
} from './embeddings.js';
export type { NVIDIAConnectionFields } from './endpoint.js';
export { InputTooLongError, NVIDIAError, type NVIDIAErrorDetails, type NVIDIAErrorKind } from './errors.js';
export type { NVIDIALogger } from './logger.js';
export { type NormalizedBaseUrl, normalizeBaseUrl } from './base-url.js';
export {
  baseUrlFor,
  DEFAULT_CHAT_MODEL,
  DEFAULT_EMBEDDINGS_MODEL,
  DEFAULT_RERANK_MODEL,
  discoverModel,
  HOSTED_BASE_URL,
  knownProfile,
  modelKind,
  type ModelKind,
  resolveModelAlias,
  toolCallingModels,
} from './models.js';
export { NVIDIARerank, type NVIDIARerankParams, type RankOptions, type Ranking } from './rerank.js';
export { decodeBase64, vectorProblem } from './vectors.js';
