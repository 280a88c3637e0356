import { badRequest } from '../errors.js';
import { compileFilter, FilterError, type MetadataFilter } from '../store/metadata-filter.js';
import type { StoreFilter } from '../store/store-contract.js';

/** A request's metadata filter, validated, with its predicate; a malformed one is a 400 that says where and why. */
export function parseFilter(filter: unknown): StoreFilter {
  try {
    return { matches: compileFilter(filter), filter: filter as MetadataFilter };
  } catch (error) {
    if (error instanceof FilterError) throw badRequest(`invalid filter at ${error.message}`, { filter_path: error.path });
    throw error;
  }
}
