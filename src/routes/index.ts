import type { OperationRoutes } from '../api/operations.js';
import type { Config } from '../config.js';
import type { Services } from '../services/create-services.js';
import { collectionRoutes } from './collections.js';
import { conversationRoutes } from './conversations.js';
import { documentRoutes } from './documents.js';
import { fileRoutes } from './files.js';
import { healthRoutes } from './health.js';
import { jobRoutes } from './jobs.js';
import { openaiRoutes } from './openai.js';
import { operationsRoutes } from './operations.js';
import { playgroundRoutes } from './playground.js';
import { retrievalRoutes } from './retrieval.js';
import { whoamiRoutes } from './whoami.js';

/** One route per operation of openapi.yaml; the type makes a missing one a compile error. */
export function operationRoutes(services: Services, config: Config): OperationRoutes {
  return {
    ...documentRoutes(services, config.files.asyncThresholdBytes),
    ...fileRoutes(services, config.files),
    ...jobRoutes(services),
    ...collectionRoutes(services),
    ...retrievalRoutes(services, config.retrieval.k),
    ...conversationRoutes(services),
    ...openaiRoutes(services),
    ...healthRoutes(services, config.auth.apiKeys.length > 0 || config.auth.keysFile !== undefined),
    ...operationsRoutes(services),
    ...playgroundRoutes(config.playground),
    ...whoamiRoutes(),
  };
}
