import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadContract } from '../../src/api/contract.js';
import { operationAccess } from '../../src/api/operation-access.js';

type Json = Record<string, any>;
const operations = () =>
  Object.entries(loadContract().document.paths as Json).flatMap(([path, item]) =>
    Object.entries(item as Json)
      .filter(([method]) => ['get', 'put', 'post', 'delete', 'patch'].includes(method))
      .map(([method, operation]) => ({ path, method, operation: operation as Json })),
  );

describe('what each operation of openapi.yaml needs of a key', () => {
  it('names a scope for every operation, public exactly where no key is needed', () => {
    const access = operationAccess(loadContract().document);
    for (const { path, method, operation } of operations()) {
      const scope = access.get(operation.operationId)?.scope;
      assert.ok(scope, `${method} ${path} has an x-scope`);
      const keyless = JSON.stringify(operation.security) === '[{}]';
      assert.equal(scope === 'public', keyless, `${method} ${path}: x-scope public if and only if security allows no key`);
    }
    assert.equal(access.size, operations().length);
  });

  it('refuses a contract with an operation that has none', () => {
    const document = structuredClone(loadContract().document) as Json;
    delete document.paths['/v1/search'].post['x-scope'];
    document.paths['/v1/ask'].post['x-scope'] = 'delete';
    assert.throws(() => operationAccess(document), /search: x-scope must be public, any, read, write, admin; it is undefined\n {2}- ask: .* it is "delete"/);
  });

  it('finds the collection every operation that touches one names, in its query, path or body', () => {
    const access = operationAccess(loadContract().document);
    const touching = Object.fromEntries([...access.values()].filter((a) => Object.keys(a.collectionIn).length > 0).map((a) => [a.operationId, a.collectionIn]));
    assert.deepEqual(touching, {
      ingestDocuments: { body: true },
      listDocuments: { query: 'collection' },
      deleteDocumentsByFilter: { body: true },
      getDocument: { query: 'collection' },
      deleteDocument: { query: 'collection' },
      uploadFiles: { query: 'collection' },
      dropCollection: { path: 'name' },
      search: { body: true },
      ask: { body: true },
      askStream: { body: true },
      createChatCompletion: { body: true },
      createConversation: { body: true },
    });
    assert.deepEqual([...access.values()].filter((a) => a.chunkQuota).map((a) => a.operationId), ['ingestDocuments', 'uploadFiles']);
  });
});
