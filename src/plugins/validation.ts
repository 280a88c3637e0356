import { type RouteDefinition, SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import { Ajv } from 'ajv';
import type { FastifySchemaCompiler, FastifySchemaValidationError } from 'fastify';
import fp from 'fastify-plugin';
import type { FastifySerializerCompiler, FastifyValidationResult } from 'fastify/types/schema.js';

type Validator = FastifyValidationResult & { errors?: FastifySchemaValidationError[] | null | undefined };

/**
 * The service's schema compilers. Request validation from the contract's schemas is strict where
 * callers send JSON: a body field of the wrong type is a 400, not silently coerced, and an unknown
 * field is an error, not dropped. Query strings and paths are text by nature, so there numbers are
 * coerced. Responses are serialised by fast-json-stringify, fastify's own serialiser.
 */
export function schemaCompilers(): { validator: FastifySchemaCompiler<unknown>; serializer: FastifySerializerCompiler<unknown> } {
  const common = { allErrors: false, useDefaults: true, removeAdditional: false, strict: true } as const;
  const bodies = new Ajv({ ...common, coerceTypes: false });
  const strings = new Ajv({ ...common, coerceTypes: 'array' });
  const serializers = SerializerSelector()({}, {});
  return {
    validator: ({ schema, httpPart }) => (httpPart === 'body' ? bodies : strings).compile(schema as object),
    serializer: (route) => serializers(route as RouteDefinition),
  };
}

/**
 * Each route's validators and response serialisers are compiled when first used, not when the app
 * is built: compiling all of them was a sizeable part of every start (and of every app a test
 * builds), mostly for routes that a given process never serves. test/api/contract.test.ts
 * compiles every one of them, so a schema that either compiler refuses fails the suite, not a request.
 */
export default fp(
  async (fastify) => {
    const { validator, serializer } = schemaCompilers();
    fastify.setValidatorCompiler((route) => {
      let validate: Validator | undefined;
      // fastify reads a failed validation's errors off the function it was given.
      const firstUse: Validator = (data) => {
        validate ??= validator(route) as Validator;
        const valid = validate(data);
        firstUse.errors = validate.errors;
        return valid;
      };
      return firstUse;
    });
    fastify.setSerializerCompiler((route) => {
      let serialize: ((data: unknown) => string) | undefined;
      return (data: unknown) => (serialize ??= serializer(route))(data);
    });
  },
  { name: 'validation' },
);
