/**
 * MongoDB-style metadata filters, the form LangChain and most vector stores take:
 * `{"lang": "zh"}`, `{"year": {"$gte": 2030}}`, `$eq $ne $in $nin $gt $gte $lt $lte`, combined
 * with `$and` / `$or`. Field names may be dotted paths into nested metadata. As in MongoDB, `$eq`
 * on an array field matches when the array holds the value, and `$ne` / `$nin` match a missing field.
 */

import { unstorable } from './storable-text.js';

export type Metadata = Record<string, unknown>;
export type MetadataFilter = Record<string, unknown>;
export type MetadataPredicate = (metadata: Metadata) => boolean;

export class FilterError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = 'FilterError';
  }
}

type Scalar = string | number | boolean | null;
const COMPARISONS = ['$eq', '$ne', '$in', '$nin', '$gt', '$gte', '$lt', '$lte'] as const;
type Comparison = (typeof COMPARISONS)[number];
const MAX_DEPTH = 8;
/** Values of one $in / $nin, and conditions of a whole filter: each is tested against every candidate chunk. */
const MAX_LIST = 1024;
const MAX_CONDITIONS = 256;

const isScalar = (value: unknown): value is Scalar =>
  value === null || ['string', 'number', 'boolean'].includes(typeof value);
const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function valueAt(metadata: Metadata, path: string[]): unknown {
  let current: unknown = metadata;
  for (const key of path) {
    if (!isPlainObject(current) || !Object.hasOwn(current, key)) return undefined;
    current = current[key];
  }
  return current;
}

function equals(actual: unknown, expected: Scalar): boolean {
  if (Array.isArray(actual)) return actual.some((item) => item === expected);
  return actual === expected;
}

function ordered(actual: unknown, expected: Scalar, test: (order: number) => boolean): boolean {
  const candidates = Array.isArray(actual) ? actual : [actual];
  return candidates.some((item) => {
    if (typeof item === 'number' && typeof expected === 'number') return test(item - expected);
    if (typeof item === 'string' && typeof expected === 'string') return test(item < expected ? -1 : item > expected ? 1 : 0);
    return false;
  });
}

/** A string no stored metadata can hold (see unstorable) is refused rather than compared. */
function checkStorable(text: string, path: string): void {
  const reason = unstorable(text);
  if (reason) throw new FilterError(path, `${reason}, which no stored metadata holds`);
}

function scalarOperand(operator: Comparison, operand: unknown, path: string): Scalar {
  if (!isScalar(operand)) throw new FilterError(path, `${operator} takes a string, number, boolean or null`);
  if (typeof operand === 'string') checkStorable(operand, path);
  if (['$gt', '$gte', '$lt', '$lte'].includes(operator) && typeof operand !== 'number' && typeof operand !== 'string') {
    throw new FilterError(path, `${operator} takes a number or a string`);
  }
  return operand;
}

function listOperand(operator: Comparison, operand: unknown, path: string): Scalar[] {
  if (!Array.isArray(operand) || operand.length === 0 || !operand.every(isScalar)) {
    throw new FilterError(path, `${operator} takes a non-empty array of strings, numbers, booleans or nulls`);
  }
  if (operand.length > MAX_LIST) throw new FilterError(path, `${operator} takes at most ${MAX_LIST} values`);
  operand.forEach((value, index) => {
    if (typeof value === 'string') checkStorable(value, `${path}[${index}]`);
  });
  return operand;
}

function comparison(operator: Comparison, operand: unknown, path: string): (actual: unknown) => boolean {
  switch (operator) {
    case '$eq': {
      const expected = scalarOperand(operator, operand, path);
      return (actual) => equals(actual, expected);
    }
    case '$ne': {
      const expected = scalarOperand(operator, operand, path);
      return (actual) => !equals(actual, expected);
    }
    case '$in': {
      const list = listOperand(operator, operand, path);
      return (actual) => list.some((expected) => equals(actual, expected));
    }
    case '$nin': {
      const list = listOperand(operator, operand, path);
      return (actual) => !list.some((expected) => equals(actual, expected));
    }
    case '$gt': {
      const expected = scalarOperand(operator, operand, path);
      return (actual) => ordered(actual, expected, (order) => order > 0);
    }
    case '$gte': {
      const expected = scalarOperand(operator, operand, path);
      return (actual) => ordered(actual, expected, (order) => order >= 0);
    }
    case '$lt': {
      const expected = scalarOperand(operator, operand, path);
      return (actual) => ordered(actual, expected, (order) => order < 0);
    }
    case '$lte': {
      const expected = scalarOperand(operator, operand, path);
      return (actual) => ordered(actual, expected, (order) => order <= 0);
    }
  }
}

function fieldCondition(field: string, condition: unknown, path: string): MetadataPredicate {
  if (field.length === 0 || field.split('.').some((part) => part.length === 0)) {
    throw new FilterError(path, 'field names must be non-empty (dotted paths allowed)');
  }
  checkStorable(field, path);
  const fieldPath = field.split('.');
  if (typeof condition === 'string') checkStorable(condition, path);
  if (isScalar(condition)) {
    return (metadata) => equals(valueAt(metadata, fieldPath), condition);
  }
  if (!isPlainObject(condition)) {
    throw new FilterError(path, 'a field condition is a value or an object of operators (use $in for a list)');
  }
  const entries = Object.entries(condition);
  if (entries.length === 0) throw new FilterError(path, 'an operator object needs at least one operator');
  const tests = entries.map(([operator, operand]) => {
    if (!(COMPARISONS as readonly string[]).includes(operator)) {
      throw new FilterError(`${path}.${operator}`, `unknown operator; supported: ${COMPARISONS.join(' ')}`);
    }
    return comparison(operator as Comparison, operand, `${path}.${operator}`);
  });
  return (metadata) => {
    const actual = valueAt(metadata, fieldPath);
    return tests.every((test) => test(actual));
  };
}

function compileAt(filter: unknown, path: string, depth: number, budget: { conditions: number }): MetadataPredicate {
  if (depth > MAX_DEPTH) throw new FilterError(path, `filters nest at most ${MAX_DEPTH} levels deep`);
  if (!isPlainObject(filter)) throw new FilterError(path, 'a filter is an object');
  const clauses = Object.entries(filter).map(([key, value]): MetadataPredicate => {
    const keyPath = `${path}.${key}`;
    if (++budget.conditions > MAX_CONDITIONS) throw new FilterError(keyPath, `a filter holds at most ${MAX_CONDITIONS} conditions`);
    if (key === '$and' || key === '$or') {
      if (!Array.isArray(value) || value.length === 0) throw new FilterError(keyPath, `${key} takes a non-empty array of filters`);
      const parts = value.map((part, index) => compileAt(part, `${keyPath}[${index}]`, depth + 1, budget));
      return key === '$and'
        ? (metadata) => parts.every((part) => part(metadata))
        : (metadata) => parts.some((part) => part(metadata));
    }
    if (key.startsWith('$')) throw new FilterError(keyPath, 'unknown operator; only $and and $or combine filters');
    return fieldCondition(key, value, keyPath);
  });
  return (metadata) => clauses.every((clause) => clause(metadata));
}

/** Validates a filter and turns it into a predicate; a malformed filter throws a FilterError naming where. */
export function compileFilter(filter: unknown): MetadataPredicate {
  return compileAt(filter, 'filter', 0, { conditions: 0 });
}
