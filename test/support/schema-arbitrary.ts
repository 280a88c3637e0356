import fc from 'fast-check';

type Json = Record<string, any>;

/** The longest strings and arrays generated: long enough to cross limits kept small, short enough to stay fast. */
const MAX_STRING = 80;
const MAX_ITEMS = 4;

/**
 * Values that satisfy a JSON Schema of openapi.yaml (the subset it uses: $ref, const, enum,
 * oneOf, type lists, string lengths and patterns, numeric bounds, objects and arrays), for
 * property-based requests. Lengths are capped, so a value may fall short of a large minimum: the
 * contract then promises a 400, which the fuzz accepts like any declared answer.
 */
export function schemaArbitrary(schema: Json, resolve: (ref: string) => Json, depth = 0): fc.Arbitrary<unknown> {
  if (schema.$ref) return schemaArbitrary(resolve(schema.$ref as string), resolve, depth);
  if ('const' in schema) return fc.constant(schema.const);
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
  const alternatives = (schema.oneOf ?? schema.anyOf) as Json[] | undefined;
  if (alternatives) return fc.oneof(...alternatives.map((option) => schemaArbitrary(option, resolve, depth)));
  if (Array.isArray(schema.type)) return fc.oneof(...(schema.type as string[]).map((type) => schemaArbitrary({ ...schema, type }, resolve, depth)));
  switch (schema.type) {
    case 'string': {
      const minLength = (schema.minLength as number | undefined) ?? 0;
      const maxLength = Math.max(minLength, Math.min((schema.maxLength as number | undefined) ?? MAX_STRING, MAX_STRING));
      if (typeof schema.pattern === 'string') {
        const pattern = new RegExp(schema.pattern, 'u');
        return schema.pattern.startsWith('^')
          ? fc.stringMatching(pattern).filter((text) => text.length >= minLength && text.length <= maxLength)
          : fc.string({ minLength: Math.max(minLength, 1), maxLength, unit: 'grapheme' }).filter((text) => pattern.test(text));
      }
      return fc.string({ minLength, maxLength, unit: 'grapheme' });
    }
    case 'integer':
      return fc.integer({ min: Math.max((schema.minimum as number | undefined) ?? -1e9, -1e9), max: Math.min((schema.maximum as number | undefined) ?? 1e9, 1e9) });
    case 'number':
      return fc.double({ min: (schema.minimum as number | undefined) ?? -1e9, max: (schema.maximum as number | undefined) ?? 1e9, noNaN: true, noDefaultInfinity: true });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(schemaArbitrary((schema.items as Json | undefined) ?? {}, resolve, depth + 1), {
        minLength: (schema.minItems as number | undefined) ?? 0,
        maxLength: Math.max((schema.minItems as number | undefined) ?? 0, Math.min((schema.maxItems as number | undefined) ?? MAX_ITEMS, MAX_ITEMS)),
      });
    case 'object': {
      const properties = (schema.properties ?? {}) as Record<string, Json>;
      const fields = Object.fromEntries(Object.entries(properties).map(([name, property]) => [name, schemaArbitrary(property, resolve, depth + 1)]));
      const record = fc.record(fields, { requiredKeys: (schema.required as string[] | undefined) ?? [] });
      if (Object.keys(properties).length > 0 || schema.additionalProperties === false || depth > 3) return record;
      // A free-form object (metadata, filters): often empty, else any JSON of modest depth.
      return fc.oneof(fc.constant({}), fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }));
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}
