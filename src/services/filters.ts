import { badRequest } from '../errors.js';
import { compileFilter, FilterError, type MetadataPredicate } from '../store/metadata-filter.js';

/** A request's metadata filter as a predicate; a malformed one is a 400 that says where and why. */
export function parseFilter(filter: unknown): MetadataPredicate {
  try {
    return compileFilter(filter);
  } catch (error) {
    if (error instanceof FilterError) throw badRequest(`invalid filter at ${error.message}`, { filter_path: error.path });
    throw error;
  }
}
