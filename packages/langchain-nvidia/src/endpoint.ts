import { NVIDIAClient } from './client.js';
import type { NVIDIALogger } from './logger.js';
import { processWarnings } from './logger.js';
import { baseUrlFor, discoverModel, HOSTED_BASE_URL, isHosted, type ModelKind, resolveModelAlias } from './models.js';

/** How every model class reaches its NIM; the defaults are the hosted catalog and `NVIDIA_API_KEY`. */
export interface NVIDIAConnectionFields {
  /** A self-hosted NIM such as `http://nim:8000/v1` (a missing /v1 is appended, with a warning). Default: the hosted catalog. */
  baseUrl?: string | undefined;
  /** Sent as `Authorization: Bearer …`. Default: `process.env.NVIDIA_API_KEY`. */
  apiKey?: string | undefined;
  /** Milliseconds per attempt (for a stream: between two pieces). Default 60 000. */
  timeout?: number | undefined;
  /** Retries on 408, 429, 5xx and network failures, honouring Retry-After. Default 2. */
  maxRetries?: number | undefined;
  /** Requests in flight at once (a stream counts until it ends). Default unbounded. */
  maxConcurrency?: number | undefined;
  /** A client to share with other models (one connection pool, one concurrency bound); the fields above then come from it. */
  client?: NVIDIAClient | undefined;
  logger?: NVIDIALogger | undefined;
}

/**
 * The client and model name one model class calls. A self-hosted NIM given no model name is asked
 * `GET /v1/models` on the first call, as the Python client does at construction.
 */
export class NVIDIAEndpoint {
  readonly client: NVIDIAClient;
  readonly hosted: boolean;
  readonly ownsClient: boolean;
  readonly logger: NVIDIALogger;
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
    if (fields.client) {
      this.client = fields.client;
      this.hosted = isHosted(fields.client.baseUrl);
      this.ownsClient = false;
    } else {
      this.hosted = isHosted(fields.baseUrl);
      const { url, warning } = baseUrlFor(fields.baseUrl ?? HOSTED_BASE_URL, this.hosted ? (named ?? defaultHostedModel) : undefined);
      if (warning) this.logger.warn({ url }, warning);
      const apiKey = fields.apiKey ?? process.env.NVIDIA_API_KEY;
      if (this.hosted && !apiKey) {
        this.logger.warn({ url }, 'no API key for the hosted NVIDIA API catalog: set NVIDIA_API_KEY or pass apiKey');
      }
      this.client = new NVIDIAClient({
        baseUrl: url,
        apiKey,
        timeoutMs: fields.timeout,
        maxRetries: fields.maxRetries,
        maxConcurrency: fields.maxConcurrency,
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
