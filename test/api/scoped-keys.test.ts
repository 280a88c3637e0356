import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { capturingLogger, startTestApp, temporaryDir, type TestApp } from '../support/test-app.js';

const ADMIN = 'admin-key-0123456789abcdef';
const A_RW = 'app-a-key-0123456789abcdef';
const A_READ = 'app-a-reader-0123456789abcdef';
const B_RW = 'app-b-key-0123456789abcdef';
const A_WRITE_ONLY = 'app-a-writer-0123456789abcdef';
const LIMITED = 'limited-key-0123456789abcdef';
const QUOTA = 'quota-key-0123456789abcdef';
const SECRETS = [ADMIN, A_RW, A_READ, B_RW, A_WRITE_ONLY, LIMITED, QUOTA];

const KEYS_FILE = `
keys:
  - name: app-a
    key: ${A_RW}
    scopes: [read, write]
    collections: ["app-a-*"]
  - name: app-a-reader
    key: ${A_READ}
    scopes: [read]
    collections: ["app-a-*"]
  - name: app-a-writer
    key: ${A_WRITE_ONLY}
    scopes: [write]
    collections: ["app-a-*"]
  - name: app-b
    sha256: ${createHash('sha256').update(B_RW).digest('hex')}
    scopes: [read, write]
    collections: [app-b, "app-b-*"]
  - name: limited
    key: ${LIMITED}
    scopes: [read]
    collections: ["*"]
    rate_limit: {max: 2, window_ms: 60000}
  - name: quota
    key: ${QUOTA}
    scopes: [read, write]
    collections: ["quota-*"]
    max_chunks: 1
`;

type Json = Record<string, any>;

const BOUNDARY = 'scoped-keys-test';
const UPLOAD = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="note.txt"\r\nContent-Type: text/plain\r\n\r\nA note.\r\n--${BOUNDARY}--\r\n`;

describe('scoped API keys (API_KEYS_FILE)', () => {
  let test: TestApp;
  const { logger, lines } = capturingLogger('info');
  /** An upload to /v1/files carries one small text file. */
  const call = (key: string | undefined, method: string, url: string, payload?: unknown) => {
    const upload = url.startsWith('/v1/files');
    const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
    if (upload) headers['content-type'] = `multipart/form-data; boundary=${BOUNDARY}`;
    return test.app.inject({ method: method as 'GET', url, payload: upload ? UPLOAD : (payload as Json), headers });
  };
  /** A problem with what names the collection taken out, to compare two refusals. */
  const shape = (body: Json, collection: string) => JSON.stringify({ ...body, request_id: undefined }).replaceAll(collection, '<c>');

  before(async () => {
    const dir = await temporaryDir('rag-keys-');
    const file = join(dir, 'keys.yaml');
    await writeFile(file, KEYS_FILE);
    test = await startTestApp({ API_KEYS: ADMIN, API_KEYS_FILE: file }, undefined, logger);
    for (const [key, collection] of [[A_RW, 'app-a-docs'], [B_RW, 'app-b']] as const) {
      const stored = await call(key, 'POST', '/v1/documents', { collection, documents: [{ id: 'doc-1', text: `Notes of ${collection}: Italy is famous for pasta.` }] });
      assert.equal(stored.statusCode, 201, stored.body);
    }
  });
  after(() => test.close());

  it('refuses a read key every write with a 403 naming the missing scope', async () => {
    const writes: Array<[string, string, unknown?]> = [
      ['POST', '/v1/documents', { collection: 'app-a-docs', documents: [{ text: 'more' }] }],
      ['DELETE', '/v1/documents/doc-1?collection=app-a-docs'],
      ['POST', '/v1/documents/delete', { collection: 'app-a-docs', filter: { a: 1 } }],
      ['POST', '/v1/files?collection=app-a-docs'],
      ['DELETE', '/v1/collections/app-a-docs'],
    ];
    for (const [method, url, body] of writes) {
      const response = await call(A_READ, method, url, body);
      assert.equal(response.statusCode, 403, `${method} ${url}`);
      assert.equal(response.json().type, '/problems/scope-missing');
      assert.equal(response.json().missing_scope, method === 'DELETE' && url.startsWith('/v1/collections') ? 'admin' : 'write');
      assert.match(response.json().detail, /the API key "app-a-reader" lacks the (write|admin) scope/);
    }
    assert.equal((await call(A_READ, 'GET', '/v1/documents/doc-1?collection=app-a-docs')).statusCode, 200, 'but it reads');
    const drop = (await call(A_RW, 'DELETE', '/v1/collections/app-a-docs')).json();
    assert.equal(drop.missing_scope, 'admin', 'dropping a collection is admin');
    assert.match(drop.detail, /that DELETE \/v1\/collections\/\{name\} needs/, 'the operation is named as openapi.yaml writes it');
  });

  it('refuses a key without read every read, the OpenAI routes included, in their own error format', async () => {
    for (const [method, url, body] of [
      ['POST', '/v1/search', { query: 'pasta', collection: 'app-a-docs' }],
      ['POST', '/v1/ask', { question: 'pasta?', collection: 'app-a-docs' }],
      ['POST', '/v1/similarity', { queries: ['a'], documents: ['b'] }],
      ['GET', '/v1/collections'],
      ['GET', '/v1/models'],
    ] as const) {
      const response = await call(A_WRITE_ONLY, method, url, body);
      assert.equal(response.statusCode, 403, url);
      assert.equal(response.json().missing_scope, 'read', url);
    }
    const chat = await call(A_WRITE_ONLY, 'POST', '/v1/chat/completions', { model: 'any', messages: [{ role: 'user', content: 'pasta?' }], collection: 'app-a-docs' });
    assert.equal(chat.statusCode, 403);
    assert.equal(chat.json().error.type, '/problems/scope-missing');
    assert.match(chat.json().error.message, /lacks the read scope/);
  });

  it('keeps an app-a-* key out of app-b on every route, with the same answer whether the collection exists or not', async () => {
    const attempts = (collection: string): Array<[string, string, unknown?]> => [
      ['POST', '/v1/search', { query: 'pasta', collection }],
      ['POST', '/v1/ask', { question: 'What is Italy famous for?', collection }],
      ['POST', '/v1/ask/stream', { question: 'What is Italy famous for?', collection }],
      ['POST', '/v1/chat/completions', { model: 'any', messages: [{ role: 'user', content: 'pasta?' }], collection }],
      ['GET', `/v1/documents?collection=${collection}`],
      ['GET', `/v1/documents/doc-1?collection=${collection}`],
      ['DELETE', `/v1/documents/doc-1?collection=${collection}`],
      ['POST', '/v1/documents/delete', { collection, filter: { a: 1 } }],
      ['POST', '/v1/documents', { collection, documents: [{ text: 'intruder' }] }],
      ['POST', `/v1/files?collection=${collection}`],
    ];
    const existing = attempts('app-b');
    const missing = attempts('app-c');
    for (const [index, [method, url, body]] of existing.entries()) {
      const refused = await call(A_RW, method, url, body);
      assert.equal(refused.statusCode, 403, `${method} ${url}: ${refused.body}`);
      const problem = refused.json().error ?? refused.json();
      assert.equal(problem.type, '/problems/collection-not-allowed', `${method} ${url}`);
      const [, missingUrl, missingBody] = missing[index] as [string, string, unknown?];
      const other = await call(A_RW, method, missingUrl, missingBody);
      assert.equal(other.statusCode, 403);
      assert.equal(shape(other.json(), 'app-c'), shape(refused.json(), 'app-b'), `${method} ${url}: nothing tells app-b exists`);
    }
    assert.equal((await call(A_RW, 'POST', '/v1/search', { query: 'pasta' })).json().type, '/problems/collection-not-allowed', 'nor the default collection');
    assert.equal((await call(B_RW, 'GET', '/v1/documents/doc-1?collection=app-b')).statusCode, 200, 'app-b still has its document');
  });

  it("keeps a conversation to the key that made it, in that key's collections, owned by the key's name", async () => {
    const created = await call(A_RW, 'POST', '/v1/conversations', { collection: 'app-a-docs' });
    assert.equal(created.statusCode, 201, created.body);
    const { id } = created.json();
    assert.equal((await test.services.conversations.get(id, 'app-a')).collection, 'app-a-docs', 'its owner is the name "app-a"');
    const asked = await call(A_RW, 'POST', '/v1/ask', { question: 'What is Italy famous for?', conversation_id: id });
    assert.equal(asked.statusCode, 200, 'the collection is the conversation\'s');
    assert.equal(asked.json().conversation_id, id);
    assert.equal((await call(A_RW, 'GET', `/v1/conversations/${id}`)).json().turns.length, 1);
    const missing = `conv_${'0'.repeat(32)}`;
    for (const [method, url, body] of [
      ['GET', `/v1/conversations/${id}`],
      ['DELETE', `/v1/conversations/${id}`],
      ['POST', '/v1/ask', { question: 'And?', conversation_id: id }],
    ] as const) {
      const refused = await call(B_RW, method, url, body);
      const absent = await call(B_RW, method, url.replace(id, missing), body && { ...body, conversation_id: missing });
      assert.equal(refused.statusCode, 404, `${method} ${url}`);
      assert.equal(shape(refused.json(), id), shape(absent.json(), missing), `${method} ${url}: as if it did not exist`);
    }
    assert.equal((await call(A_RW, 'POST', '/v1/conversations', { collection: 'app-b' })).json().type, '/problems/collection-not-allowed');
    const elsewhere = await call(A_RW, 'POST', '/v1/ask', { question: 'And?', conversation_id: id, collection: 'app-b' });
    assert.equal(elsewhere.json().type, '/problems/collection-not-allowed');
  });

  it('lists only the collections a key may see', async () => {
    const names = async (key: string) => (await call(key, 'GET', '/v1/collections')).json().collections.map((c: Json) => c.name).sort();
    assert.deepEqual(await names(A_RW), ['app-a-docs']);
    assert.deepEqual(await names(B_RW), ['app-b']);
    assert.deepEqual(await names(ADMIN), ['app-a-docs', 'app-b']);
    const sizes = async (key: string) => (await call(key, 'GET', '/v1/health/ready')).json().store;
    assert.deepEqual([(await sizes(A_RW)).collections, (await sizes(A_RW)).documents], [1, 1], "readiness counts only the key's collections");
    assert.equal((await sizes(ADMIN)).collections >= 2, true);
  });

  it('holds a key to its scopes except on PUBLIC_PATHS, open to anyone', async () => {
    const open = await startTestApp({ API_KEYS_FILE: test.config.auth.keysFile as string, PUBLIC_PATHS: '/metrics' });
    try {
      const metrics = await open.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${A_READ}` } });
      assert.equal(metrics.statusCode, 200);
      assert.equal((await call(A_READ, 'GET', '/metrics')).json().missing_scope, 'admin', 'where it is not public, /metrics is admin');
    } finally {
      await open.close();
    }
  });

  it('answers GET /v1/me with what the key may do, never the key', async () => {
    const me = await call(A_RW, 'GET', '/v1/me');
    assert.equal(me.statusCode, 200);
    assert.deepEqual(me.json(), { name: 'app-a', scopes: ['read', 'write'], collections: ['app-a-*'], rate_limit: null, max_chunks: null });
    assert.equal((await call(QUOTA, 'GET', '/v1/me')).json().max_chunks, 1);
    assert.deepEqual((await call(ADMIN, 'GET', '/v1/me')).json().scopes, ['read', 'write', 'admin'], 'API_KEYS are full access');
    assert.equal((await call(undefined, 'GET', '/v1/me')).statusCode, 401);
  });

  it("rate limits a key by its own rate_limit, naming it, without touching the other keys", async () => {
    const me = await call(LIMITED, 'GET', '/v1/me');
    assert.deepEqual(me.json().rate_limit, { max: 2, window_ms: 60000 });
    const statuses = [me.statusCode];
    for (let i = 0; i < 2; i++) statuses.push((await call(LIMITED, 'GET', '/v1/collections')).statusCode);
    assert.deepEqual(statuses, [200, 200, 429]);
    const limited = await call(LIMITED, 'GET', '/v1/collections');
    assert.ok(Number(limited.headers['retry-after']) > 0);
    assert.equal(limited.json().limit, 'rate_limit');
    assert.equal(limited.json().max, 2);
    assert.match(limited.json().detail, /the rate_limit of key "limited" in API_KEYS_FILE/);
    assert.equal((await call(A_READ, 'GET', '/v1/collections')).statusCode, 200);
  });

  it('refuses writes once a key\'s collections hold max_chunks, with 403 quota-exceeded', async () => {
    const write = (id: string) => call(QUOTA, 'POST', '/v1/documents', { collection: 'quota-1', documents: [{ id, text: 'One short chunk.' }] });
    assert.equal((await write('first')).statusCode, 201);
    const refused = await write('second');
    assert.equal(refused.statusCode, 403);
    assert.equal(refused.json().type, '/problems/quota-exceeded');
    assert.deepEqual([refused.json().limit, refused.json().max_chunks, refused.json().stored_chunks], ['max_chunks', 1, 1]);
    assert.equal((await call(QUOTA, 'POST', '/v1/search', { query: 'chunk', collection: 'quota-1' })).statusCode, 200, 'reads go on');
    assert.equal((await call(QUOTA, 'DELETE', '/v1/documents/first?collection=quota-1')).statusCode, 204, 'deletes too');
    assert.equal((await write('second')).statusCode, 201, 'room again');
  });

  it('audits each refusal and each write: one log line and a count by key name, never the key', async () => {
    const mark = lines.length;
    await call(A_READ, 'POST', '/v1/documents', { collection: 'app-a-docs', documents: [{ text: 'x' }] });
    await call(A_RW, 'POST', '/v1/documents', { collection: 'app-a-docs', documents: [{ id: 'doc-2', text: 'Audited.' }] });
    await call(A_RW, 'GET', '/v1/documents?collection=app-b');
    await call('not-a-key-0123456789', 'GET', '/v1/collections');
    const audits = lines.slice(mark).filter((line) => line.audit).map((line) => line.audit);
    assert.deepEqual(
      audits.map((audit) => [audit.key, audit.outcome, audit.operation, audit.status]),
      [
        ['app-a-reader', 'scope-missing', 'ingestDocuments', 403],
        ['app-a', 'written', 'ingestDocuments', 201],
        ['app-a', 'collection-not-allowed', 'listDocuments', 403],
        ['-', 'unauthenticated', 'listCollections', 401],
      ],
    );
    const metrics = (await call(ADMIN, 'GET', '/metrics')).body;
    assert.match(metrics, /rag_api_key_audit_events_total\{key="app-a",outcome="written"\} [1-9]/);
    assert.match(metrics, /rag_api_key_audit_events_total\{key="app-a-reader",outcome="scope-missing"\} [1-9]/);
    assert.match(metrics, /rag_api_key_audit_events_total\{key="limited",outcome="rate-limited"\} [1-9]/);
    const logged = lines.map((line) => JSON.stringify(line)).join('\n');
    for (const secret of SECRETS) assert.ok(!logged.includes(secret), 'no key in the logs');
    assert.ok(!metrics.includes(A_RW));
  });
});
