import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProblemError } from '../../src/errors.js';
import { searchFailure, writeFailure } from '../../src/services/write-failures.js';
import { CollectionDroppedError, InvalidVectorError } from '../../src/store/semantics/store-errors.js';

const MODEL = 'nvidia/nv-embedqa-e5-v5';

/**
 * The store's refusals become the same problem whichever backend raised them (the store contract
 * suite shows both raise the same errors); these are the problems.
 */
describe('what a caller is told when the store refuses', () => {
  it('a bad vector to store: a 502 naming the embedding model, nothing stored', () => {
    const problem = writeFailure(new InvalidVectorError('document "b": chunk 0 has NaN at position 0'), 'manuals', MODEL);
    assert.ok(problem instanceof ProblemError);
    assert.equal(problem.status, 502);
    assert.equal(problem.type, '/problems/nim-bad-response');
    assert.equal(problem.detail, `embedding model ${MODEL} returned a vector the store cannot hold (document "b": chunk 0 has NaN at position 0); nothing of this request was stored`);
    assert.deepEqual(problem.extensions, { model: MODEL });
  });

  it('a bad query vector: the same 502, for a search', () => {
    const problem = searchFailure(new InvalidVectorError('the query vector has no direction (its norm is 0 or overflows)'), MODEL);
    assert.ok(problem instanceof ProblemError);
    assert.equal(problem.status, 502);
    assert.equal(problem.type, '/problems/nim-bad-response');
    assert.match(problem.detail, /returned a query vector the store cannot search with \(the query vector has no direction/);
  });

  it('a collection dropped during the write: a 409 to send again', () => {
    const problem = writeFailure(new CollectionDroppedError('manuals'), 'manuals', MODEL);
    assert.ok(problem instanceof ProblemError);
    assert.equal(problem.status, 409);
    assert.equal(problem.type, '/problems/collection-dropped');
  });

  it('passes anything else through as it is', () => {
    const other = new Error('boom');
    assert.equal(writeFailure(other, 'manuals', MODEL), other);
    assert.equal(searchFailure(other, MODEL), other);
  });
});
