import { type Scope, SCOPES } from '../auth/principal.js';

/**
 * What an operation needs of the key a request comes with, from openapi.yaml: `x-scope` is
 * `public` (served without a key: the operations whose `security` allows none), `any` (any
 * accepted key) or the scope needed; `x-quota: max_chunks` marks the writes that add chunks. The
 * collection it touches is found from its parameters and body: a query or path parameter named
 * `collection` or typed CollectionName, or a `collection` property of its JSON body.
 */
export interface OperationAccess {
  operationId: string;
  scope: Scope | 'public' | 'any';
  collectionIn: { query?: string; path?: string; body?: boolean };
  chunkQuota: boolean;
}

type Json = Record<string, unknown>;
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];
const COLLECTION_NAME = '#/components/schemas/CollectionName';

function resolve(document: Json, value: unknown): Json {
  let node = value as Json | undefined;
  for (let depth = 0; node && typeof node.$ref === 'string' && depth < 10; depth++) {
    node = (node.$ref)
      .replace(/^#\//, '')
      .split('/')
      .reduce<unknown>((at, part) => (at as Json | undefined)?.[part], document) as Json | undefined;
  }
  return node ?? {};
}

function bodyHasCollection(document: Json, schema: Json): boolean {
  const resolved = resolve(document, schema);
  if ((resolved.properties as Json | undefined)?.collection) return true;
  return [resolved.allOf, resolved.oneOf, resolved.anyOf].some(
    (parts) => Array.isArray(parts) && parts.some((part) => bodyHasCollection(document, part as Json)),
  );
}

/** Every operation's access, by operationId; an operation without a valid `x-scope` is an error, so none can be forgotten. */
export function operationAccess(document: Json): Map<string, OperationAccess> {
  const access = new Map<string, OperationAccess>();
  const problems: string[] = [];
  for (const pathItem of Object.values((document.paths ?? {}) as Record<string, Json>)) {
    const shared = (pathItem.parameters ?? []) as Json[];
    for (const method of METHODS) {
      const operation = pathItem[method] as Json | undefined;
      if (!operation) continue;
      const operationId = String(operation.operationId);
      const scope = operation['x-scope'];
      if (scope !== 'public' && scope !== 'any' && !SCOPES.includes(scope as Scope)) {
        problems.push(`${operationId}: x-scope must be public, any, ${SCOPES.join(', ')}; it is ${JSON.stringify(scope)}`);
        continue;
      }
      const collectionIn: OperationAccess['collectionIn'] = {};
      for (const parameter of [...shared, ...((operation.parameters ?? []) as Json[])].map((p) => resolve(document, p))) {
        const named = parameter.name === 'collection' || (parameter.schema as Json | undefined)?.$ref === COLLECTION_NAME;
        if (!named) continue;
        if (parameter.in === 'query') collectionIn.query = String(parameter.name);
        if (parameter.in === 'path') collectionIn.path = String(parameter.name);
      }
      const jsonBody = ((operation.requestBody as Json | undefined)?.content as Record<string, Json> | undefined)?.['application/json'];
      if (jsonBody?.schema && bodyHasCollection(document, jsonBody.schema as Json)) collectionIn.body = true;
      access.set(operationId, { operationId, scope: scope as OperationAccess['scope'], collectionIn, chunkQuota: operation['x-quota'] === 'max_chunks' });
    }
  }
  if (problems.length > 0) throw new Error(`openapi.yaml: operations without a valid scope:\n  - ${problems.join('\n  - ')}`);
  return access;
}
