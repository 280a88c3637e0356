import { Ajv } from 'ajv';
import fp from 'fastify-plugin';

/**
 * Request validation from the contract's schemas, strict where callers send JSON: a body field of
 * the wrong type is a 400, not silently coerced, and an unknown field is an error, not dropped.
 * Query strings and paths are text by nature, so there numbers are coerced.
 */
export default fp(
  async (fastify) => {
    const common = { allErrors: false, useDefaults: true, removeAdditional: false, strict: true } as const;
    const bodies = new Ajv({ ...common, coerceTypes: false });
    const strings = new Ajv({ ...common, coerceTypes: 'array' });
    fastify.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodies : strings).compile(schema));
  },
  { name: 'validation' },
);
