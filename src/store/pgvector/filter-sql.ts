import type { MetadataFilter } from '../metadata-filter.js';

/**
 * A metadata filter as a SQL condition on a jsonb column, with every value passed as a query
 * parameter (never spliced into the SQL). The filter must already be validated by
 * compileFilter; this gives it the same meaning: `rag_metadata_at` walks a dotted path through
 * objects only, and `rag_metadata_values` makes a value and an array's elements alike, as
 * MongoDB-style `$eq` on an array field matches when the array holds the value.
 * Strings order by code point (COLLATE "C"), which differs from JavaScript's order only
 * between astral characters and U+E000–U+FFFF.
 */
export function filterSql(filter: MetadataFilter, column: string, params: unknown[]): string {
  const parameter = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };

  const valuesAt = (field: string) => `rag_metadata_values(rag_metadata_at(${column}, ${parameter(field.split('.'))}::text[]))`;
  const holds = (field: string, condition: string) => `EXISTS (SELECT 1 FROM ${valuesAt(field)} AS e(v) WHERE ${condition})`;
  const ordered = (field: string, operator: string, operand: number | string) =>
    typeof operand === 'number'
      ? holds(field, `CASE WHEN jsonb_typeof(e.v) = 'number' THEN e.v::numeric ${operator} ${parameter(operand)}::numeric ELSE false END`)
      : holds(field, `CASE WHEN jsonb_typeof(e.v) = 'string' THEN (e.v #>> '{}') COLLATE "C" ${operator} ${parameter(operand)}::text ELSE false END`);

  const comparison = (field: string, operator: string, operand: unknown): string => {
    switch (operator) {
      case '$eq':
        return holds(field, `e.v = ${parameter(JSON.stringify(operand))}::jsonb`);
      case '$ne':
        return `NOT ${holds(field, `e.v = ${parameter(JSON.stringify(operand))}::jsonb`)}`;
      case '$in':
        return holds(field, `e.v = ANY(${parameter((operand as unknown[]).map((item) => JSON.stringify(item)))}::jsonb[])`);
      case '$nin':
        return `NOT ${holds(field, `e.v = ANY(${parameter((operand as unknown[]).map((item) => JSON.stringify(item)))}::jsonb[])`)}`;
      case '$gt':
        return ordered(field, '>', operand as number | string);
      case '$gte':
        return ordered(field, '>=', operand as number | string);
      case '$lt':
        return ordered(field, '<', operand as number | string);
      case '$lte':
        return ordered(field, '<=', operand as number | string);
      default:
        throw new Error(`unvalidated filter operator ${operator}`);
    }
  };

  const clause = (key: string, value: unknown): string => {
    if (key === '$and' || key === '$or') {
      const parts = (value as MetadataFilter[]).map((part) => `(${conjunction(part)})`);
      return parts.join(key === '$and' ? ' AND ' : ' OR ');
    }
    if (value !== null && typeof value === 'object') {
      return Object.entries(value).map(([operator, operand]) => comparison(key, operator, operand)).join(' AND ');
    }
    return comparison(key, '$eq', value);
  };

  const conjunction = (part: MetadataFilter): string => {
    const clauses = Object.entries(part).map(([key, value]) => `(${clause(key, value)})`);
    return clauses.length === 0 ? 'true' : clauses.join(' AND ');
  };

  return conjunction(filter);
}
