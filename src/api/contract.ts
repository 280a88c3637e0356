import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { RouteTable } from './contract-routes.js';

/** openapi.yaml at the repository root: the single source of truth for the HTTP contract. */
export const CONTRACT_PATH = fileURLToPath(new URL('../../openapi.yaml', import.meta.url));
/**
 * What the build makes of the contract (scripts/build-contract.mjs): dist/openapi.json, found from
 * the built modules (dist/api/) and from the sources run through tsx (src/api/) alike.
 */
const BUILT_PATH = fileURLToPath(new URL('../../dist/openapi.json', import.meta.url));
/**
 * The built modules also take the build's route table, which the build made with this very code; the
 * sources, which may have changed since, make their own (contract-routes.ts).
 */
const RUNNING_BUILD = import.meta.url.endsWith('.js');

export interface Contract {
  readonly text: string;
  readonly document: Record<string, unknown>;
  /** fastify's routes for the document, from the build when this module is the built one. */
  readonly routeTable?: RouteTable;
}

/** The build's parse of `text` when it was made from this very text, else a parse of it now. */
function parseContract(text: string): Omit<Contract, 'text'> {
  const sha256 = createHash('sha256').update(text).digest('hex');
  try {
    const built = JSON.parse(readFileSync(BUILT_PATH, 'utf8')) as { sha256: string; document: Record<string, unknown>; routeTable?: RouteTable };
    if (built.sha256 === sha256) return { document: built.document, ...(RUNNING_BUILD && built.routeTable && { routeTable: built.routeTable }) };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return { document: parse(text) as Record<string, unknown> };
}

let loaded: Contract | undefined;

/** The contract's text and its parsed document, read once per process (parsing it is a sizeable part of a start). */
export function loadContract(): Contract {
  if (!loaded) {
    const text = readFileSync(CONTRACT_PATH, 'utf8');
    loaded = { text, ...parseContract(text) };
  }
  return loaded;
}

type Json = Record<string, unknown>;

/**
 * The contract as fastify-openapi-glue should see it: only application/json response bodies keep
 * their media types. The glue registers routes and JSON serialisers from the document, but it also
 * takes response media types for request ones and warns at every start that no body parser exists
 * for text/event-stream, application/problem+json and the like (and a parser for problem+json
 * would let such bodies past the operations' validation). Errors are written by the error handler,
 * the others as they are, so nothing is lost by leaving them out here; the served /openapi.yaml stays whole.
 */
export function routingContract(document: Json): Json {
  const copy = structuredClone(document);
  const keepJsonOnly = (responses: Record<string, { content?: Json }>) => {
    for (const response of Object.values(responses)) {
      if (!response.content) continue;
      for (const mediaType of Object.keys(response.content)) if (mediaType !== 'application/json') delete response.content[mediaType];
      if (Object.keys(response.content).length === 0) delete response.content;
    }
  };
  for (const pathItem of Object.values((copy.paths ?? {}) as Record<string, Json>)) {
    for (const operation of Object.values(pathItem)) {
      // A multipart body is read part by part by its handler, so fastify must not validate a body it never
      // parses; the media type stays declared (an empty schema), so that it is the one that reaches the operation.
      const requestContent = (operation as { requestBody?: { content?: Record<string, Json> } }).requestBody?.content ?? {};
      for (const [mediaType, media] of Object.entries(requestContent)) if (mediaType.startsWith('multipart/')) media.schema = {};
      keepJsonOnly((operation as { responses?: Record<string, { content?: Json }> }).responses ?? {});
    }
  }
  keepJsonOnly(((copy.components as Json | undefined)?.responses ?? {}) as Record<string, { content?: Json }>);
  return copy;
}
