import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';
import { loadContract } from '../../src/api/contract.js';

/**
 * Checks responses against openapi.yaml: that the operation declares the status and media type,
 * and that a JSON body matches the declared schema. Every app the tests build goes through it
 * (test-app.ts), so any response a test provokes that drifts from the contract fails that test.
 */

type Json = Record<string, any>;

const CONTRACT_ID = 'urn:nim-rag:openapi';
const { document } = loadContract() as { document: Json };

const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addSchema({ ...document, $id: CONTRACT_ID });

const pointer = (...parts: string[]) => parts.map((part) => encodeURIComponent(part.replaceAll('~', '~0').replaceAll('/', '~1'))).join('/');
const validators = new Map<string, ValidateFunction>();

function validatorAt(path: string): ValidateFunction {
  let validate = validators.get(path);
  if (!validate) {
    validate = ajv.compile({ $ref: `${CONTRACT_ID}#/${path}` });
    validators.set(path, validate);
  }
  return validate;
}

/** A response object, following one level of `$ref` to components/responses. */
function responseObject(operationPath: string[], status: string): { json: Json; path: string[] } | undefined {
  let node: any = document;
  for (const part of operationPath) node = node?.[part];
  const response = node?.responses?.[status];
  if (!response) return undefined;
  if (typeof response.$ref === 'string') {
    const parts = (response.$ref as string).replace(/^#\//, '').split('/');
    let target: any = document;
    for (const part of parts) target = target?.[part];
    return { json: target as Json, path: parts };
  }
  return { json: response as Json, path: [...operationPath, 'responses', status] };
}

/** Fastify's route template (`/v1/documents/:id`) as the contract's path (`/v1/documents/{id}`). */
const contractPath = (route: string) => route.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

export function contractOperations(): Array<{ method: string; path: string }> {
  return Object.entries(document.paths as Json).flatMap(([path, item]) =>
    Object.keys(item as Json)
      .filter((key) => ['get', 'post', 'put', 'patch', 'delete'].includes(key))
      .map((method) => ({ method: method.toUpperCase(), path })),
  );
}

/** What is wrong with a response, or undefined when it conforms. */
export function responseViolation(response: {
  method: string;
  route: string | undefined;
  status: number;
  contentType: string | undefined;
  body: string;
}): string | undefined {
  const where = `${response.method} ${response.route ?? '(no route)'} → ${response.status}`;
  const mediaType = (response.contentType ?? '').split(';')[0]?.trim() ?? '';
  const isJson = /^application\/(.+\+)?json$/.test(mediaType);
  const parse = () => JSON.parse(response.body) as unknown;
  if (!response.route) {
    return mediaType === 'application/problem+json' ? schemaViolation(where, ['components', 'schemas', 'Problem'], parse()) : `${where}: not a problem document`;
  }
  const operation = ['paths', contractPath(response.route), response.method.toLowerCase()];
  const declared = responseObject(operation, String(response.status));
  if (!declared) return `${where}: status not declared in openapi.yaml`;
  if (!declared.json.content) return response.body.length === 0 ? undefined : `${where}: a body where the contract declares none`;
  if (!declared.json.content[mediaType]) return `${where}: media type ${mediaType} not declared`;
  if (!isJson) return undefined;
  return schemaViolation(where, [...declared.path, 'content', mediaType, 'schema'], parse());
}

function schemaViolation(where: string, path: string[], body: unknown): string | undefined {
  const validate = validatorAt(pointer(...path));
  if (validate(body)) return undefined;
  return `${where}: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(body).slice(0, 300)}`;
}

/** Checks the data of a Server-Sent Event against a schema of components/schemas. */
export function eventViolation(schema: string, data: unknown): string | undefined {
  return schemaViolation(`event ${schema}`, ['components', 'schemas', schema], data);
}
