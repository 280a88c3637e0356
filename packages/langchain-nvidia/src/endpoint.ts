import { getEnvironmentVariable } from '@langchain/core/utils/env';
import { type FailedAttemptHandler, NVIDIAClient, type NVIDIAClientHooks } from './client.js';
import type { NVIDIALogger } from './logger.js';
import { processWarnings } from './logger.js';
import { baseUrlFor, discoverModel, HOSTED_BASE_URL, isHosted, type ModelKind, resolveModelAlias } from './models.js';

/** How every model class reaches its NIM; the defaults are the hosted catalog and `NVIDIA_API_KEY`. */
export interface NVIDIAConnectionFields {
  /**
   * A self-hosted NIM such as `http://nim:8000/v1` (a missing /v1 is appended, with a warning).
   * Default: `NVIDIA_BASE_URL` when set (as in the Python package), else the hosted catalog.
   */
  baseUrl?: string | undefined;
  /** Sent as `Authorization: Bearer …`. Default: `NVIDIA_API_KEY`, read with LangChain's getEnvironmentVariable. */
  apiKey?: string | undefined;
  /** The same as `apiKey`, under the Python package's name for it. */
  nvidiaApiKey?: string | undefined;
  /** Milliseconds per attempt (for a stream: between two pieces). Default 60 000. */
  timeout?: number | undefined;
  /** As in every LangChain model: retries after the first attempt (here on 408, 429, 5xx and network failures, honouring Retry-After). Default 6. */
  maxRetries?: number | undefined;
  /** As in every LangChain model: requests in flight at once (a stream counts until it ends). Default unbounded. */
  maxConcurrency?: number | undefined;
  /** As in every LangChain model: told each failed attempt's error; throwing from it stops the retries. */
  onFailedAttempt?: FailedAttemptHandler | undefined;
  /** Where a request the hosted catalog accepted with HTTP 202 is polled, `{request_id}` standing for its NVCF-REQID. Default NVCF's. */
  pollingUrl?: string | undefined;
  /** Extra headers on every request (never serialised: they may carry credentials). */
  headers?: Record<string, string> | undefined;
  /** The client's optional hooks (pacing, metrics, health), for a client this model makes itself. */
  hooks?: NVIDIAClientHooks | undefined;
  /**
   * A client to share with other models (one connection pool, one concurrency bound). `baseUrl`,
   * the key, `timeout`, `maxConcurrency`, `pollingUrl`, `headers` and `hooks` then come from it; this model's
   * own `maxRetries` and `onFailedAttempt`, when given, still apply to its calls.
   */
  client?: NVIDIAClient | undefined;
  logger?: NVIDIALogger | undefined;
}

/** The fields of NVIDIAConnectionFields that LangChain serialises: data, never a client, a logger or a function. */
export const CONNECTION_SERIALIZABLE_KEYS = ['baseUrl', 'apiKey', 'timeout', 'maxRetries', 'maxConcurrency', 'pollingUrl'];

/** Secrets and their aliases, the same for the three model classes. */
export const CONNECTION_SECRETS = { apiKey: 'NVIDIA_API_KEY' };
export const CONNECTION_ALIASES = { apiKey: 'nvidia_api_key' };

/**
 * The client and model name one model class calls. A self-hosted NIM given no model name is asked
 * `GET /v1/models` on the first call, as the Python client does at construction.
 */
export class NVIDIAEndpoint {
  readonly client: NVIDIAClient;
  readonly hosted: boolean;
  readonly ownsClient: boolean;
  /** The base URL as configured (the catalog's root for a hosted model served elsewhere), which serialisation keeps. */
  readonly configuredBaseUrl: string;
  readonly logger: NVIDIALogger;
  /** The retry settings this model gives each call, over the client's. */
  readonly callRetries: { maxRetries?: number | undefined; onFailedAttempt?: FailedAttemptHandler | undefined };
  private modelName: string | undefined;
  private discovery: Promise<string> | undefined;

  constructor(
    fields: NVIDIAConnectionFields & { model?: string | undefined },
    defaultHostedModel: string,
    /** What the model must do: discovery on an address serving several models picks one of this kind. */
    private readonly kind: ModelKind,
  ) {
    this.logger = fields.logger ?? processWarnings;
    const named = fields.model ? resolveModelAlias(fields.model, this.logger) : undefined;
    this.callRetries = { maxRetries: fields.maxRetries, onFailedAttempt: fields.onFailedAttempt };
    if (fields.client) {
      this.client = fields.client;
      this.hosted = isHosted(fields.client.baseUrl);
      this.ownsClient = false;
      this.configuredBaseUrl = fields.client.baseUrl;
    } else {
      const baseUrl = fields.baseUrl ?? (getEnvironmentVariable('NVIDIA_BASE_URL') || undefined);
      this.hosted = isHosted(baseUrl);
      this.configuredBaseUrl = baseUrl ?? HOSTED_BASE_URL;
      const { url, warning } = baseUrlFor(baseUrl ?? HOSTED_BASE_URL, this.hosted ? (named ?? defaultHostedModel) : undefined);
      if (warning) this.logger.warn({ url }, warning);
      const apiKey = fields.apiKey ?? fields.nvidiaApiKey ?? (getEnvironmentVariable('NVIDIA_API_KEY') || undefined);
      if (this.hosted && !apiKey) {
        this.logger.warn({ url }, 'no API key for the hosted NVIDIA API catalog: set NVIDIA_API_KEY or pass apiKey');
      }
      this.client = new NVIDIAClient({
        baseUrl: url,
        apiKey,
        timeoutMs: fields.timeout,
        maxRetries: fields.maxRetries,
        maxConcurrency: fields.maxConcurrency,
        onFailedAttempt: fields.onFailedAttempt,
        pollingUrl: fields.pollingUrl,
        headers: fields.headers,
        hooks: fields.hooks,
        logger: this.logger,
      });
      this.ownsClient = true;
    }
    this.modelName = named ?? (this.hosted ? defaultHostedModel : undefined);
  }

  /** The model name, or empty until a self-hosted NIM has been asked which model it serves. */
  get model(): string {
    return this.modelName ?? '';
  }

  async resolveModel(): Promise<string> {
    if (this.modelName) return this.modelName;
    this.discovery ??= discoverModel(this.client, this.logger, this.kind).then(
      (model) => (this.modelName = model),
      (error: unknown) => {
        this.discovery = undefined;
        throw error;
      },
    );
    return this.discovery;
  }
}
